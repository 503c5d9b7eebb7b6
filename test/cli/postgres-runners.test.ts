/**
 * Runners on many machines sharing PostgreSQL (the `postgres` project): each "machine" is its own
 * clone of the bare origin, its own PW_HOME (so its own default runner id) and worktrees root.
 * A spawn only queues the worker and the runner that claims it makes the worktree on its machine;
 * `--here` makes it at once, for this machine's runner only; a runner with a long poll interval is
 * woken by the database's notice; `pw runners` lists every machine's runner.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Worker } from "../../src/core/worker.js";
import { PW_BIN } from "../helpers/cli.js";
import { removeTempDirs } from "../helpers/git.js";
import { machine as onMachine, type Machine } from "../helpers/machines.js";
import { testDatabase } from "../helpers/postgres.js";
import { fakeAgent, REPOSITORY, runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";
import { until } from "../helpers/serve.js";

const database = testDatabase();

let sandbox: RunnerSandbox | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  await sandbox?.close();
  sandbox = undefined;
  removeTempDirs();
});

/** Another machine: a clone of origin, a PW_HOME and worktrees root of its own, the same database. */
const machine = (sb: RunnerSandbox, name: string): Machine => onMachine(sb, name, database!.url);

async function workerOf(m: Machine, id: string): Promise<Worker> {
  const result = await m.pw(["worker", "get", id, "--json"]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Worker;
}

describe.skipIf(!database)("runners on many machines, on PostgreSQL", () => {
  it("a spawn only queues; the runner that claims the worker makes its worktree on its own machine", async () => {
    const sb = (sandbox = await runnerSandbox({ agents: { "code-author": fakeAgent("write-file.mjs") } }));
    const [a, b] = [machine(sb, "a"), machine(sb, "b")];
    const spawned = await a.pw(["worker", "spawn", "--task-id", "Q-1", "--description", "write a file"]);
    expect(spawned.code, spawned.stderr).toBe(0);
    const id = spawned.stdout.split(/\s+/)[0]!;
    expect(spawned.stdout).toBe(`${id}  Q-1  queued for any runner of ${REPOSITORY}\n`);
    expect(await workerOf(a, id)).toMatchObject({ state: "NEEDS_INIT", repoPath: null, worktreePath: null, runnerId: null });
    // nothing made on machine a
    expect(existsSync(join(a.env.PW_WORKTREES_ROOT!))).toBe(false);

    const loop = await b.pw(["runner", "--until-idle", "--poll-interval", "0.1", "--runner-id", "machine-b"]);
    expect(loop.code, loop.stderr).toBe(0);
    const done = await workerOf(a, id);
    expect(done).toMatchObject({ state: "PR_OPEN", runnerId: "machine-b", repoPath: b.checkout });
    expect(done.worktreePath!.startsWith(b.env.PW_WORKTREES_ROOT!)).toBe(true);
    expect(existsSync(done.worktreePath!)).toBe(true);

    const runners = JSON.parse((await a.pw(["runners", "--json"])).stdout) as Array<{ id: string; workers: number; stale: boolean }>;
    expect(runners.find((r) => r.id === "machine-b")).toMatchObject({ workers: 1, stale: false });
  });

  it("--here makes the worktree at once, for this machine's runner only", async () => {
    const sb = (sandbox = await runnerSandbox({ agents: { "code-author": fakeAgent("write-file.mjs") } }));
    const [a, b] = [machine(sb, "a"), machine(sb, "b")];
    const spawned = await a.pw(["worker", "spawn", "--task-id", "H-1", "--description", "write a file", "--here"]);
    expect(spawned.code, spawned.stderr).toBe(0);
    const id = spawned.stdout.split(/\s+/)[0]!;
    const queued = await workerOf(a, id);
    expect(queued.repoPath).toBe(a.checkout);
    expect(existsSync(queued.worktreePath!)).toBe(true);
    expect(queued.runnerId).toMatch(/^[a-z0-9.-]+-[0-9a-f]{6}$/);

    expect((await b.pw(["runner", "--until-idle", "--poll-interval", "0.1"])).code).toBe(0);
    expect(await workerOf(a, id)).toMatchObject({ state: "NEEDS_INIT", owner: null });
    // machine a's runner, with its default id (the one the spawn recorded)
    expect((await a.pw(["runner", "--until-idle", "--poll-interval", "0.1"])).code).toBe(0);
    expect(await workerOf(a, id)).toMatchObject({ state: "PR_OPEN", runnerId: queued.runnerId });
  });

  it("wakes a waiting runner the moment a worker is queued, long before its poll interval", async () => {
    const sb = (sandbox = await runnerSandbox({ agents: { "code-author": fakeAgent("write-file.mjs") } }));
    const [a, b] = [machine(sb, "a"), machine(sb, "b")];
    const runner = spawn(process.execPath, [PW_BIN, "runner", "--poll-interval", "600", "--runner-id", "sleepy-1", "--log-format", "json"], {
      cwd: b.checkout,
      env: b.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(runner);
    let out = "";
    runner.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
    runner.stderr!.on("data", (chunk: Buffer) => (out += chunk.toString()));
    // its first pass is done (nothing queued): the next one is 10 minutes away but for a notice
    await until(() => out.includes("runner sleepy-1 started"), 15_000, "the runner started");
    await until(async () => (JSON.parse((await a.pw(["runners", "--json"])).stdout) as unknown[]).length > 0, 15_000, "the runner registered");
    const spawned = await a.pw(["worker", "spawn", "--task-id", "N-1", "--description", "write a file"]);
    const id = spawned.stdout.split(/\s+/)[0]!;
    await until(async () => (await workerOf(a, id)).state === "PR_OPEN", 60_000, "the worker ran");
    expect((await workerOf(a, id)).runnerId).toBe("sleepy-1");
  });
});
