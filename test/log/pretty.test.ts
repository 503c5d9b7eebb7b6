import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chooseLogFormat, readLogEnv, wantsColor, type LogFormat } from "../../src/log/env.js";
import { createLogger, flushLogger, logTransition, workerLogger } from "../../src/log/logger.js";
import { startFakeLoki, type FakeLoki } from "./fake-loki.js";

let dir: string;
let loki: FakeLoki | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "pw-pretty-"));
});

afterEach(async () => {
  await loki?.close();
  loki = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const ESC = "\u001b[";

function writeEvents(env: NodeJS.ProcessEnv, color = false): { file: string; flush: () => Promise<void> } {
  const file = join(dir, "out.log");
  const logger = createLogger({ component: "runner", destination: file, format: "pretty", color, env });
  const worker = workerLogger(logger, { workerId: "worker-abc123", taskId: "TASK-1", correlationId: "corr-1" });
  logTransition(worker, { from: "NEEDS_INIT", to: "WORKING", source: "runner" });
  worker.info({ token: "ghp_supersecret", url: "https://x.test/?token=abc123secret" }, "agent started");
  worker.warn({ state: "MERGED", err: new Error("first\nsecond") }, "worktree removed");
  logger.child({ password: "hunter2" }).info("bound");
  return { file, flush: () => flushLogger(logger) };
}

describe("pretty log lines", () => {
  it("are one readable line per event, with the worker, task and state in front and secrets redacted", async () => {
    const { file, flush } = writeEvents({});
    await flush();
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: runner worker-abc123 TASK-1: state NEEDS_INIT -> WORKING \{"source":"runner"\}$/);
    expect(lines[1]).toContain("INFO: runner worker-abc123 TASK-1: agent started");
    // a state the message does not name is shown next to it
    expect(lines[2]).toContain("WARN: runner worker-abc123 TASK-1: worktree removed [MERGED]");
    expect(lines[3]).toContain("INFO: runner: bound");
    const text = lines.join("\n");
    for (const secret of ["ghp_supersecret", "abc123secret", "hunter2"]) expect(text).not.toContain(secret);
    expect(text).toContain('"token":"[REDACTED]"');
    expect(text).toContain('"password":"[REDACTED]"');
    for (const line of lines) {
      expect(() => JSON.parse(line)).toThrow();
      expect(line).not.toContain(ESC);
      // constant fields and the correlation id stay out of readable lines
      expect(line).not.toMatch(/skill|phase|corr-1/);
    }
  });

  it("are coloured only when asked", async () => {
    const { file, flush } = writeEvents({}, true);
    await flush();
    expect(readFileSync(file, "utf8")).toContain(ESC);
  });

  it("leave Loki receiving JSON lines, redacted the same", async () => {
    loki = await startFakeLoki();
    const { flush } = writeEvents({ LOKI_URL: loki.url });
    await flush();
    await loki.waitFor((pushes) => pushes.length > 0);
    const entries = loki.entries();
    expect(entries.map((e) => e.line.msg)).toEqual(["state NEEDS_INIT -> WORKING", "agent started", "worktree removed", "bound"]);
    expect(entries[0]?.line).toMatchObject({ worker_id: "worker-abc123", task_id: "TASK-1", correlation_id: "corr-1", state: "WORKING" });
    expect(entries[0]?.labels).toMatchObject({ state: "WORKING", component: "runner" });
    expect(entries[1]?.line).toMatchObject({ token: "[REDACTED]" });
    expect(entries[3]?.line).toMatchObject({ password: "[REDACTED]" });
  });
});

describe("choosing the format and colours", () => {
  it.each<[LogFormat | undefined, LogFormat | undefined, boolean, LogFormat]>([
    [undefined, undefined, true, "pretty"],
    [undefined, undefined, false, "json"],
    [undefined, "json", true, "json"],
    [undefined, "pretty", false, "pretty"],
    ["json", "pretty", true, "json"],
    ["pretty", "json", false, "pretty"],
  ])("--log-format %s, PW_LOG_FORMAT %s, terminal %s: %s", (flag, fromEnv, terminal, expected) => {
    expect(chooseLogFormat(flag, fromEnv, terminal)).toBe(expected);
  });

  it.each<[Record<string, string>, boolean, boolean]>([
    [{}, true, true],
    [{}, false, false],
    [{ NO_COLOR: "1" }, true, false],
    [{ NO_COLOR: "" }, true, true],
    [{ FORCE_COLOR: "1" }, false, true],
    [{ FORCE_COLOR: "0" }, false, false],
    [{ NO_COLOR: "1", FORCE_COLOR: "1" }, true, false],
    [{ TERM: "dumb" }, true, false],
  ])("%j on a terminal %s: colours %s", (env, terminal, expected) => {
    expect(wantsColor(env, terminal)).toBe(expected);
  });

  it("reads PW_LOG_FORMAT, and refuses an unknown one naming it", () => {
    expect(readLogEnv({ PW_LOG_FORMAT: "pretty" })).toMatchObject({ format: "pretty" });
    expect(readLogEnv({ PW_LOG_FORMAT: "" })).not.toHaveProperty("format");
    expect(() => readLogEnv({ PW_LOG_FORMAT: "fancy" })).toThrow('environment variable PW_LOG_FORMAT "fancy" is not a log format: use pretty or json');
  });
});
