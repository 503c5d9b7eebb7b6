import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ObservedWorkerStore } from "../../src/cli/observed-store.js";
import { requestFeedback } from "../../src/core/rework.js";
import { createLogger, flushLogger } from "../../src/log/logger.js";
import { createMetrics } from "../../src/log/metrics.js";
import { openSqliteStore } from "../../src/store/sqlite-async.js";
import { pw } from "../helpers/cli.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";
import { fakeAgent, runnerSandbox } from "../helpers/runner-env.js";
import { parsePrometheusText, sampleValue } from "../log/prometheus-text.js";

afterEach(removeTempDirs);

function lines(file: string): Array<Record<string, unknown>> {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("every state change is logged and counted once, by whoever makes it", () => {
  it("logs one line per move with the worker's ids, and counts it", async () => {
    const dir = tempDir();
    const runnerLog = join(dir, "runner.log");
    const appLog = join(dir, "app.log");
    const runner = createLogger({ component: "runner", destination: runnerLog, loki: false });
    const app = createLogger({ component: "app", destination: appLog, loki: false });
    const metrics = createMetrics({ defaultMetrics: false });
    const raw = await openSqliteStore(join(dir, "state.db"));
    const store = new ObservedWorkerStore(raw, { loggerFor: (source) => (source === "runner" ? runner : app), metrics });

    await store.createWorker({ id: "worker-obs001", taskId: "T-1" }, { source: "command", correlationId: "delivery-7" });
    await store.transition("worker-obs001", "NEEDS_INIT", "WORKING", { source: "runner", correlationId: "run-1", detail: "agent started" });
    await store.transition("worker-obs001", "WORKING", "UNKNOWN", { source: "runner", detail: "agent made no changes" });
    await store.setState("worker-obs001", "MERGED", { source: "webhook", correlationId: "delivery-8" });
    await expect(store.transition("worker-obs001", "WORKING", "PR_OPEN", { source: "runner" })).rejects.toThrow();
    await Promise.all([flushLogger(runner), flushLogger(app)]);
    await raw.close();

    expect(lines(appLog).map((l) => [l.component, l.worker_id, l.task_id, l.correlation_id, l.from_state, l.state, l.source])).toEqual([
      ["app", "worker-obs001", "T-1", "delivery-7", null, "NEEDS_INIT", "command"],
      ["app", "worker-obs001", "T-1", "delivery-8", "UNKNOWN", "MERGED", "webhook"],
    ]);
    const fromRunner = lines(runnerLog);
    expect(fromRunner.map((l) => [l.from_state, l.state, l.level, l.detail])).toEqual([
      ["NEEDS_INIT", "WORKING", 30, "agent started"],
      ["WORKING", "UNKNOWN", 50, "agent made no changes"],
    ]);
    const samples = parsePrometheusText((await metrics.render()).body);
    expect(sampleValue(samples, "pw_transitions_total", { from: "WORKING", to: "UNKNOWN", source: "runner" })).toBe(1);
    expect(sampleValue(samples, "pw_transitions_total", { from: "UNKNOWN", to: "MERGED", source: "webhook" })).toBe(1);
  });

  it("a rework round's start is one logged move with its cause, and counted by cause", async () => {
    const dir = tempDir();
    const runnerLog = join(dir, "runner.log");
    const runner = createLogger({ component: "runner", destination: runnerLog, loki: false });
    const metrics = createMetrics({ defaultMetrics: false });
    const raw = await openSqliteStore(join(dir, "state.db"));
    const store = new ObservedWorkerStore(raw, { loggerFor: () => runner, metrics });
    await raw.createWorker({ id: "worker-obs004", taskId: "T-4", state: "PR_OPEN", prNumber: 4 }, { source: "cli" });
    const feedback = (await store.addFeedback({ workerId: "worker-obs004", key: "cli:1", scope: "cli:1", detail: requestFeedback("cli", "more") }))!;
    const claim = { owner: "h:1:x", leaseMs: 60_000, source: "runner" as const, correlationId: "spawn-4" };
    await store.startReworkRound("worker-obs004", { ...claim, upTo: feedback.seq });
    await store.transition("worker-obs004", "WORKING", "PR_OPEN", { source: "runner" });
    expect(await store.startReworkRound("worker-obs004", { ...claim, upTo: feedback.seq })).toBeUndefined();
    await flushLogger(runner);
    await raw.close();
    expect(lines(runnerLog).map((l) => [l.from_state, l.state, l.detail, l.correlation_id])).toEqual([
      ["PR_OPEN", "WORKING", "rework round 1: pw worker rework", "spawn-4"],
      ["WORKING", "PR_OPEN", undefined, undefined],
    ]);
    const samples = parsePrometheusText((await metrics.render()).body);
    expect(sampleValue(samples, "pw_rework_rounds_total", { cause: "cli" })).toBe(1);
    expect(sampleValue(samples, "pw_transitions_total", { from: "PR_OPEN", to: "WORKING", source: "runner" })).toBe(1);
  });

  it("a CLI move lands in $PW_HOME/logs/pw.log with the invocation's correlation id", async () => {
    const env = { PW_HOME: join(tempDir(), "home") };
    expect((await pw(["state", "set", "worker-obs002", "WORKING"], { env })).code).toBe(0);
    expect((await pw(["state", "transition", "worker-obs002", "WORKING", "PR_OPEN"], { env })).code).toBe(0);
    const logged = lines(join(env.PW_HOME, "logs", "pw.log")).filter((l) => l.worker_id === "worker-obs002");
    expect(logged.map((l) => [l.component, l.from_state, l.state, l.source])).toEqual([
      ["cli", null, "WORKING", "admin"],
      ["cli", "WORKING", "PR_OPEN", "cli"],
    ]);
    expect(logged[0]!.correlation_id).not.toBe(logged[1]!.correlation_id);
    expect(logged[1]!.correlation_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("a runner's moves carry the correlation id of the spawn that queued the worker, once per line", async () => {
    const sb = await runnerSandbox({ agents: { "code-author": fakeAgent("write-file.mjs") } });
    try {
      const spawned = await sb.pw(["worker", "spawn", "--task-id", "OBS-3", "--description", "logged"]);
      expect(spawned.code).toBe(0);
      const id = spawned.stdout.split(/\s+/)[0]!;
      const spawnLine = lines(join(sb.home, "logs", "pw.log")).find((l) => l.worker_id === id && l.state === "NEEDS_INIT")!;
      const loop = await sb.pw(["loop", "--poll-interval", "0.1", "--until-idle"]);
      expect(loop.code).toBe(0);
      const raw = loop.stdout.split("\n").filter((line) => line.includes(`"worker_id":"${id}"`));
      // a key written twice in one JSON line is read differently by different tools
      for (const line of raw) expect(line.match(/"correlation_id":/g), line).toHaveLength(1);
      const moves = raw.map((line) => JSON.parse(line) as Record<string, unknown>).filter((l) => l.state !== undefined);
      expect(moves.map((l) => [l.from_state, l.state])).toEqual([
        ["NEEDS_INIT", "WORKING"],
        ["WORKING", "PR_OPEN"],
      ]);
      expect(moves.map((l) => l.correlation_id)).toEqual([spawnLine.correlation_id, spawnLine.correlation_id]);
    } finally {
      await sb.close();
    }
  });
});
