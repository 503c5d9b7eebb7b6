import Database from "better-sqlite3";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isProcessAlive } from "../../src/runner/process.js";
import { PW_BIN } from "../helpers/cli.js";
import { branches, removeTempDirs } from "../helpers/git.js";
import { fakeAgent, REPOSITORY, runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";

let sandbox: RunnerSandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
  removeTempDirs();
});

interface WorkerJson {
  id: string;
  taskId: string;
  state: string;
  error: string | null;
  pid: number | null;
  worktreePath: string | null;
  branch: string;
}

async function workers(sb: RunnerSandbox): Promise<WorkerJson[]> {
  return JSON.parse((await sb.pw(["worker", "list", "--json"])).stdout) as WorkerJson[];
}

/** Starts `pw` in the background; `exited` settles when it ends, however early (the caller kills it). */
function background(sb: RunnerSandbox, args: string[]) {
  const child = spawn(process.execPath, [PW_BIN, ...args], { cwd: sb.repo, env: { ...process.env, ...sb.env }, stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return Object.assign(child, { exited });
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

function startsPerTask(recordFile: string): Map<string, number> {
  const counts = new Map<string, number>();
  if (!existsSync(recordFile)) return counts;
  for (const line of readFileSync(recordFile, "utf8").trim().split("\n")) {
    const [kind, task] = line.split(" ");
    if (kind === "start") counts.set(task!, (counts.get(task!) ?? 0) + 1);
  }
  return counts;
}

describe("crash recovery", () => {
  it("after the runner is killed -9 mid-agent, a new runner stops the orphaned agent and marks the worker UNKNOWN", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    const record = join(sb.out, "record.log");
    sb.configure({ agents: { "code-author": fakeAgent("write-file.mjs", "20000", record) } });
    const id = (await sb.pw(["worker", "spawn", "--task-id", "CRASH-1", "--description", "slow"])).stdout.split(/\s+/)[0]!;
    const loop = background(sb, ["loop", "--poll-interval", "0.1"]);
    await until(() => startsPerTask(record).get("CRASH-1") === 1);
    const running = (await workers(sb)).find((w) => w.id === id)!;
    expect(running.state).toBe("WORKING");
    expect(running.pid).toBeGreaterThan(0);
    loop.kill("SIGKILL");
    await loop.exited;
    expect(isProcessAlive(running.pid!)).toBe(true); // the agent outlived its runner

    expect((await sb.pw(["loop", "--poll-interval", "0.1", "--max-iterations", "1"])).code).toBe(0);
    const recovered = (await workers(sb)).find((w) => w.id === id)!;
    expect(recovered.state).toBe("UNKNOWN");
    expect(recovered.error).toMatch(/^agent process vanished: runner .+ stopped while it ran/);
    await until(() => !isProcessAlive(running.pid!), 5000);

    // and it is recoverable: retry with a quick agent
    sb.configure({ agents: { "code-author": fakeAgent("write-file.mjs") } });
    expect((await sb.pw(["worker", "retry", id])).code).toBe(0);
    expect((await sb.pw(["loop", "--poll-interval", "0.1", "--max-iterations", "2"])).code).toBe(0);
    expect((await workers(sb)).find((w) => w.id === id)?.state).toBe("PR_OPEN");
  });

  it("after spawn-batch is killed -9 at any point, no worktree is orphaned and no worker is lost", { timeout: 90_000 }, async () => {
    const sb = (sandbox = await runnerSandbox({ max_workers: 6, agents: { "code-author": fakeAgent("write-file.mjs") } }));
    const batch = (round: number) => {
      const spec = join(sb.out, `round-${round}.yml`);
      writeFileSync(spec, `tasks:\n${[1, 2, 3].map((n) => `  - { id: R${round}-${n}, description: round ${round} task ${n} }`).join("\n")}\n`);
      return ["worker", "spawn-batch", "--spec-file", spec];
    };
    // one whole spawn tells how long one takes here; then kill others at points all along it
    const started = Date.now();
    expect((await sb.pw(batch(0))).code).toBe(0);
    const whole = Date.now() - started;
    for (const [round, fraction] of [0.4, 0.55, 0.7, 0.85].entries()) {
      const child = background(sb, batch(round + 1));
      await new Promise((r) => setTimeout(r, whole * fraction));
      // it may have finished before the kill: then nothing was interrupted this round
      child.kill("SIGKILL");
      await child.exited;
    }
    // and once just after its workers are recorded, when their worktrees are being made: on a
    // busy machine the points above can all fall before a slower start has recorded anything
    const store = new Database(join(sb.home, "state.db"), { readonly: true, fileMustExist: true });
    const count = () => (store.prepare("SELECT count(*) AS n FROM workers").get() as { n: number }).n;
    const before = count();
    const last = background(sb, batch(5));
    await until(() => count() > before || last.exitCode !== null, 30_000);
    last.kill("SIGKILL");
    await last.exited;
    store.close();
    const recorded = await workers(sb);
    expect(recorded.length).toBeGreaterThan(3);
    expect(recorded.every((w) => w.state === "NEEDS_INIT")).toBe(true);

    // every directory and branch a spawn made belongs to a recorded worker
    const projectDir = join(sb.root, "widgets");
    const dirs = existsSync(projectDir) ? readdirSync(projectDir).sort() : [];
    const recordedDirs = recorded.map((w) => w.worktreePath!.split("/").pop()!);
    for (const dir of dirs) expect(recordedDirs).toContain(dir);
    for (const branch of branches(sb.repo).filter((b) => b.startsWith("refs/heads/feature/"))) {
      expect(recorded.map((w) => `refs/heads/${w.branch}`)).toContain(branch);
    }

    // a runner finishes every recorded worker, however far its spawn got
    expect((await sb.pw(["loop", "--poll-interval", "0.1", "--until-idle"])).code).toBe(0);
    const finished = await workers(sb);
    expect(finished.map((w) => [w.taskId, w.state, w.error])).toEqual(recorded.map((w) => [w.taskId, "PR_OPEN", null]));
    expect(sb.github.pulls(REPOSITORY)).toHaveLength(recorded.length);
  });
});

describe("several runners on one store", () => {
  it("never start the same worker twice", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    const record = join(sb.out, "record.log");
    sb.configure({ max_workers: 3, agents: { "code-author": fakeAgent("write-file.mjs", "300", record) } });
    const spec = join(sb.out, "tasks.yml");
    writeFileSync(spec, `tasks:\n${[1, 2, 3, 4, 5, 6].map((n) => `  - { id: P-${n}, description: task ${n} }`).join("\n")}\n`);
    expect((await sb.pw(["worker", "spawn-batch", "--spec-file", spec])).code).toBe(0);

    const runners = [1, 2, 3].map(() => sb.pw(["loop", "--poll-interval", "0.05", "--max-iterations", "30"]));
    const results = await Promise.all(runners);
    expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
    const starts = startsPerTask(record);
    expect([...starts.keys()].sort()).toEqual(["P-1", "P-2", "P-3", "P-4", "P-5", "P-6"]);
    expect([...starts.values()]).toEqual([1, 1, 1, 1, 1, 1]);
    expect((await workers(sb)).map((w) => w.state)).toEqual(Array(6).fill("PR_OPEN"));
    expect(sb.github.pulls(REPOSITORY)).toHaveLength(6);
  });
});
