import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger, flushLogger, logTransition, workerLogger } from "../../src/log/logger.js";
import { LOKI_STREAM_LABELS } from "../../src/log/loki.js";
import { startFakeLoki, type FakeLoki } from "./fake-loki.js";

let dir: string;
let loki: FakeLoki;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "pw-loki-"));
  loki = await startFakeLoki();
});

afterEach(async () => {
  await loki.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("Loki shipping through the real pino-loki transport", () => {
  it("labels streams only with skill, phase, level, component and state; ids stay in the line", async () => {
    const file = join(dir, "pw.log");
    const logger = createLogger({ component: "runner", destination: file, env: { LOKI_URL: loki.url, PW_PHASE: "5" } });
    const log = workerLogger(logger, { workerId: "worker-abc123", taskId: "task-001", correlationId: "corr-9" });
    log.info({ agent: "claude" }, "agent started");
    logTransition(log, { from: "PR_OPEN", to: "MERGED", source: "webhook" });
    log.error({ state: "not a state" }, "something broke");
    await flushLogger(logger);
    await loki.waitFor((pushes) => pushes.length > 0);

    const entries = loki.entries();
    expect(entries.map((entry) => entry.line.msg)).toEqual(["agent started", "state PR_OPEN -> MERGED", "something broke"]);
    const [started, merged, broke] = entries;
    expect(started?.labels).toEqual({ skill: "parallel-workers", phase: "5", level: "info", component: "runner" });
    expect(merged?.labels).toEqual({ skill: "parallel-workers", phase: "5", level: "info", component: "runner", state: "MERGED" });
    expect(broke?.labels).toEqual({ skill: "parallel-workers", phase: "5", level: "error", component: "runner" });
    for (const entry of entries) {
      for (const label of Object.keys(entry.labels)) expect(LOKI_STREAM_LABELS).toContain(label);
      expect(entry.labels).not.toHaveProperty("worker_id");
      expect(entry.labels).not.toHaveProperty("task_id");
      expect(entry.labels).not.toHaveProperty("correlation_id");
      expect(entry.line).toMatchObject({ worker_id: "worker-abc123", task_id: "task-001", correlation_id: "corr-9" });
      // Loki wants nanoseconds; pino's epoch milliseconds are scaled, not replaced.
      expect(entry.timestampNs).toBe(String(Number(entry.line.time) * 1_000_000));
    }
    expect(broke?.line).toMatchObject({ state_detail: "not a state" });

    // The local destination got the same lines.
    const local = readFileSync(file, "utf8").trim().split("\n");
    expect(local).toHaveLength(3);
  });

  it("sends basic auth and the tenant header when configured, and neither otherwise", async () => {
    const withAuth = createLogger({
      component: "app",
      destination: join(dir, "a.log"),
      env: { LOKI_URL: loki.url, LOKI_USERNAME: "loki-user", LOKI_PASSWORD: "s3cret", LOKI_TENANT: "tenant-a" },
    });
    withAuth.info("with auth");
    await flushLogger(withAuth);
    const plain = createLogger({ component: "app", destination: join(dir, "b.log"), env: { LOKI_URL: `${loki.url}/` } });
    plain.info("plain");
    await flushLogger(plain);
    await loki.waitFor((pushes) => pushes.length === 2);
    const [authed, anonymous] = loki.pushes;
    expect(authed?.headers.authorization).toBe(`Basic ${Buffer.from("loki-user:s3cret").toString("base64")}`);
    expect(authed?.headers["x-scope-orgid"]).toBe("tenant-a");
    expect(anonymous?.headers.authorization).toBeUndefined();
    expect(anonymous?.headers["x-scope-orgid"]).toBeUndefined();
    // The password is a header, never part of a line.
    expect(JSON.stringify(loki.entries())).not.toContain("s3cret");
  });

  it("pushes batches on its interval while a long-running process keeps going", async () => {
    const logger = createLogger({
      component: "app",
      destination: join(dir, "serve.log"),
      env: { LOKI_URL: loki.url },
      loki: { batchIntervalSeconds: 0.2 },
    });
    logger.info("served");
    await loki.waitFor((pushes) => pushes.length > 0, 3000);
    expect(loki.entries()[0]?.line.msg).toBe("served");
    await flushLogger(logger);
  });

  it("loki: false keeps lines local even with LOKI_URL set", async () => {
    const file = join(dir, "local.log");
    const logger = createLogger({ component: "cli", destination: file, env: { LOKI_URL: loki.url }, loki: false });
    logger.info("local only");
    await flushLogger(logger);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(loki.pushes).toHaveLength(0);
    expect(readFileSync(file, "utf8")).toContain("local only");
  });
});
