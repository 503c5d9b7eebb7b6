/**
 * Runners at scale on PostgreSQL (the `postgres` project): three machines (each its own clone of
 * origin, PW_HOME and worktrees root) run `pw runner` at once on one queue of many workers, and
 * every worker is started exactly once, by one runner, never more than `max_workers` at a time on
 * any runner. A runner killed mid-work goes stale; its workers are retried anywhere and another
 * runner finishes them. PW_SCALE_WORKERS sets the size of the queue (default 300).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Worker } from "../../src/core/worker.js";
import { PW_BIN } from "../helpers/cli.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";
import { machine, type Machine } from "../helpers/machines.js";
import { queryDatabase, testDatabase } from "../helpers/postgres.js";
import { fakeAgent, REPOSITORY, runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";
import { until } from "../helpers/serve.js";

const database = testDatabase();

/** How many workers the scale test queues: PW_SCALE_WORKERS, default 300. */
const SCALE_WORKERS = (() => {
  const value = process.env.PW_SCALE_WORKERS ?? "300";
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1) throw new Error(`PW_SCALE_WORKERS "${value}" is not a whole number of workers: use e.g. 300`);
  return count;
})();
const MAX_WORKERS = 3;

let sandbox: RunnerSandbox | undefined;
const children: ChildProcess[] = [];
/** Where hanging agents wrote their process ids: the agents a killed runner left behind, and their children, are killed after each test. */
const hangingAgents: string[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const dir of hangingAgents.splice(0)) {
    for (const file of readdirSync(dir).filter((name) => name.endsWith(".json"))) {
      const { agent, child } = JSON.parse(readFileSync(join(dir, file), "utf8")) as { agent: number; child: number };
      // the agent's process group (the agent and its child), then the child on its own
      for (const target of [-agent, child]) {
        try {
          process.kill(target, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
  }
  await sandbox?.close();
  sandbox = undefined;
  removeTempDirs();
});

interface RunningRunner {
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal) once the process ended. */
  exited: Promise<number | null>;
  output(): string;
}

/** `pw runner` as a child process on machine `m`, with id `runnerId`. */
function startRunner(m: Machine, runnerId: string, ...extra: string[]): RunningRunner {
  const child = spawn(process.execPath, [PW_BIN, "runner", "--poll-interval", "0.2", "--runner-id", runnerId, "--log-format", "json", ...extra], {
    cwd: m.checkout,
    env: { ...process.env, ...m.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, exited, output: () => out };
}

async function queueWorkers(m: Machine, taskIds: string[]): Promise<string[]> {
  const spec = join(tempDir("pw-spec-"), "tasks.yml");
  writeFileSync(spec, `tasks:\n${taskIds.map((id) => `  - { id: ${id}, description: do ${id} }`).join("\n")}\n`);
  const spawned = await m.pw(["worker", "spawn-batch", "--spec-file", spec]);
  expect(spawned.code, spawned.stderr).toBe(0);
  const ids = spawned.stdout.trim().split("\n").map((line) => line.split(/\s+/)[0]!);
  expect(ids).toHaveLength(taskIds.length);
  return ids;
}

/** The workers `ids` (the file's tests share one database), as `pw worker list --json` shows them. */
async function listWorkers(m: Machine, ids: readonly string[]): Promise<Worker[]> {
  const listed = await m.pw(["worker", "list", "--json"]);
  expect(listed.code, listed.stderr).toBe(0);
  return (JSON.parse(listed.stdout) as Worker[]).filter((w) => ids.includes(w.id));
}

interface RunnerJson {
  id: string;
  stale: boolean;
  workers: number;
}

async function listRunners(m: Machine, staleAfter: string): Promise<RunnerJson[]> {
  const listed = await m.pw(["runners", "--json", "--stale-after", staleAfter]);
  expect(listed.code, listed.stderr).toBe(0);
  return JSON.parse(listed.stdout) as RunnerJson[];
}

interface AgentEvent {
  kind: "start" | "end";
  task: string;
  at: number;
  cwd: string;
}

function agentEvents(record: string): AgentEvent[] {
  return readFileSync(record, "utf8")
    .trim()
    .split("\n")
    .map((line) => {
      const [kind, task, at, cwd] = line.split(" ");
      return { kind: kind as AgentEvent["kind"], task: task!, at: Number(at), cwd: cwd! };
    });
}

/** The most agents that ran at once in `events` (an end and a start in the same millisecond: the end first). */
function mostAtOnce(events: readonly AgentEvent[]): number {
  const ordered = [...events].sort((a, b) => a.at - b.at || (a.kind === "end" ? -1 : 1));
  let running = 0;
  let most = 0;
  for (const event of ordered) {
    running += event.kind === "start" ? 1 : -1;
    most = Math.max(most, running);
  }
  return most;
}

describe.skipIf(!database)("runners at scale, on PostgreSQL", () => {
  it(`three runners on three machines start each of ${SCALE_WORKERS} queued workers exactly once, none above max_workers`, { timeout: 20 * 60_000 }, async () => {
    const record = join(tempDir("pw-scale-record-"), "agents.log");
    const sb = (sandbox = await runnerSandbox({ max_workers: MAX_WORKERS, agents: { "code-author": fakeAgent("record-run.mjs", record, "250") } }));
    const names = ["scale-a", "scale-b", "scale-c"];
    const machines = names.map((name) => machine(sb, name, database!.url));
    const taskIds = Array.from({ length: SCALE_WORKERS }, (_, i) => `S-${i + 1}`);
    const queuing = Date.now();
    const ids = await queueWorkers(machines[0]!, taskIds);
    const running = Date.now();

    const runners = machines.map((m, i) => startRunner(m, names[i]!, "--until-idle"));
    const codes = await Promise.all(runners.map((r) => r.exited));
    const ran = Date.now();
    expect(codes, runners.map((r) => r.output().split("\n").slice(-5).join("\n")).join("\n---\n")).toEqual([0, 0, 0]);

    const workers = await listWorkers(machines[0]!, ids);
    expect(workers).toHaveLength(SCALE_WORKERS);
    expect(workers.filter((w) => w.state !== "PR_OPEN")).toEqual([]);
    expect(new Set(workers.map((w) => w.prNumber)).size).toBe(SCALE_WORKERS);
    expect(sb.github.pulls(REPOSITORY)).toHaveLength(SCALE_WORKERS);

    // started once: one NEEDS_INIT -> WORKING each in the history, one agent start each
    const starts = await queryDatabase<{ worker_id: string; starts: string }>(
      database!.url,
      "SELECT worker_id, count(*) AS starts FROM transitions WHERE from_state = 'NEEDS_INIT' AND to_state = 'WORKING' GROUP BY worker_id",
    );
    expect(starts.filter((s) => ids.includes(s.worker_id)).map((s) => Number(s.starts))).toEqual(Array(SCALE_WORKERS).fill(1));
    const events = agentEvents(record);
    expect(events.filter((e) => e.kind === "start").map((e) => e.task).sort()).toEqual([...taskIds].sort());

    // each agent ran in the worktree of the machine whose runner the worker records
    const byTask = new Map(workers.map((w) => [w.taskId!, w]));
    for (const event of events) {
      const m = machines[names.indexOf(byTask.get(event.task)!.runnerId!)]!;
      expect(event.cwd.startsWith(`${m.env.PW_WORKTREES_ROOT!}/`), `${event.task} ran in ${event.cwd}`).toBe(true);
    }
    const perRunner = names.map((name, i) => {
      const root = `${machines[i]!.env.PW_WORKTREES_ROOT!}/`;
      const own = events.filter((e) => e.cwd.startsWith(root));
      return { name, workers: own.length / 2, mostAtOnce: mostAtOnce(own) };
    });
    for (const runner of perRunner) expect(runner.mostAtOnce, `${runner.name} ran ${runner.mostAtOnce} agents at once`).toBeLessThanOrEqual(MAX_WORKERS);
    expect(perRunner.reduce((sum, r) => sum + r.workers, 0)).toBe(SCALE_WORKERS);
    // every runner took part (the queue outlasts any one runner's start)
    expect(perRunner.filter((r) => r.workers === 0)).toEqual([]);
    // what it took, for choosing PW_SCALE_WORKERS on a slow machine (not asserted)
    console.log(
      `scale: ${SCALE_WORKERS} workers queued in ${((running - queuing) / 1000).toFixed(1)} s, run in ${((ran - running) / 1000).toFixed(1)} s: ` +
        `${perRunner.map((r) => `${r.name} ${r.workers} (at most ${r.mostAtOnce} at once)`).join(", ")}`,
    );
  });

  it("a runner killed mid-work goes stale; its workers, retried anywhere, are finished by another runner", { timeout: 120_000 }, async () => {
    const pids = tempDir("pw-hang-pids-");
    hangingAgents.push(pids);
    const sb = (sandbox = await runnerSandbox({ max_workers: MAX_WORKERS, agents: { "code-author": fakeAgent("hang-first.mjs", pids) } }));
    const [doomed, rescuer] = [machine(sb, "doomed", database!.url), machine(sb, "rescuer", database!.url)];
    const ids = await queueWorkers(doomed, ["K-1", "K-2"]);

    const runner = startRunner(doomed, "doomed-1");
    const pidFiles = ["K-1", "K-2"].map((task) => join(pids, `${task}.json`));
    await until(
      async () => pidFiles.every((file) => existsSync(file)) && (await listWorkers(doomed, ids)).every((w) => w.state === "WORKING" && w.runnerId === "doomed-1"),
      60_000,
      "both agents hanging under runner doomed-1",
    );
    runner.child.kill("SIGKILL");
    expect(await runner.exited).toBeNull();

    // no heartbeat any more: stale after 2 s, holding both workers
    const stale = await until(
      async () => (await listRunners(rescuer, "2s")).find((r) => r.id === "doomed-1" && r.stale),
      15_000,
      "runner doomed-1 stale after 2 s",
    );
    expect(stale).toMatchObject({ id: "doomed-1", stale: true, workers: 2 });
    const table = await rescuer.pw(["worker", "list", "--stale-after", "2s"]);
    expect(table.code, table.stderr).toBe(0);
    for (const [i, id] of ids.entries()) expect(table.stdout).toMatch(new RegExp(`^${id}\\s+K-${i + 1}\\s+WORKING\\s+code-author\\s+doomed-1 \\(stale\\)\\s`, "m"));

    for (const id of ids) {
      const retried = await rescuer.pw(["worker", "retry", id, "--anywhere", "--stale-after", "2s"]);
      expect(retried.stderr).toBe("");
      expect(retried.stdout).toBe(`${id}: NEEDS_INIT, for any runner of ${REPOSITORY} (it starts afresh in a new worktree)\n`);
    }
    const rescue = startRunner(rescuer, "rescuer-1", "--until-idle");
    expect(await rescue.exited, rescue.output()).toBe(0);
    const done = await listWorkers(rescuer, ids);
    expect(done.map((w) => [w.id, w.state, w.runnerId]).sort()).toEqual(ids.map((id) => [id, "PR_OPEN", "rescuer-1"]).sort());
    for (const w of done) expect(w.worktreePath!.startsWith(`${rescuer.env.PW_WORKTREES_ROOT!}/`)).toBe(true);
    const listed = await listRunners(rescuer, "2s");
    expect(listed.find((r) => r.id === "doomed-1")).toMatchObject({ stale: true, workers: 0 });
    expect(listed.find((r) => r.id === "rescuer-1")).toMatchObject({ workers: 2 });
  });
});
