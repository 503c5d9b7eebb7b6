import { spawn } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { isProcessAlive } from "../../src/runner/process.js";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import { PW_BIN } from "../helpers/cli.js";
import { git, removeTempDirs } from "../helpers/git.js";
import { fakeAgent, originBranches, runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";

const INSTALL = fileURLToPath(new URL("../../fixtures/setup/install.mjs", import.meta.url));

let sandbox: RunnerSandbox | undefined;
const orphans: number[] = [];
afterEach(async () => {
  for (const pid of orphans.splice(0)) if (isProcessAlive(pid)) process.kill(pid, "SIGKILL");
  await sandbox?.close();
  sandbox = undefined;
  removeTempDirs();
});

interface WorkerJson {
  id: string;
  taskId: string;
  state: string;
  error: string | null;
  branch: string;
  worktreePath: string | null;
  port: number | null;
}

interface SpareJson {
  id: string;
  state: string;
  path: string;
  port: number | null;
  baseCommit: string | null;
  note: string | null;
}

interface PoolJson {
  size: number;
  ready: number;
  spares: SpareJson[];
  stale: string[];
}

/** A sandbox whose repository has a lockfile and ignores deps/, where the fake setup installs. */
async function open(config: Record<string, unknown>, files: Record<string, string> = {}): Promise<RunnerSandbox> {
  const sb = (sandbox = await runnerSandbox({}));
  writeFileSync(join(sb.repo, ".gitignore"), "deps/\n.env\nscratch/\n");
  writeFileSync(join(sb.repo, "package-lock.json"), '{ "lockfileVersion": 1 }\n');
  for (const [name, content] of Object.entries(files)) writeFileSync(join(sb.repo, name), content);
  git(sb.repo, "add", "-A");
  git(sb.repo, "commit", "--quiet", "-m", "a project with a lockfile");
  sb.configure({ agents: { "code-author": fakeAgent("write-file.mjs") }, ...config });
  return sb;
}

function setupCommand(sb: RunnerSandbox, ...args: string[]): string[][] {
  return [[process.execPath, INSTALL, join(sb.out, "setup-runs"), ...args]];
}

function setupRuns(sb: RunnerSandbox): string[] {
  const file = join(sb.out, "setup-runs");
  return existsSync(file) ? readFileSync(file, "utf8").trim().split("\n") : [];
}

async function workers(sb: RunnerSandbox): Promise<WorkerJson[]> {
  return JSON.parse((await sb.pw(["worker", "list", "--json"])).stdout) as WorkerJson[];
}

async function poolStatus(sb: RunnerSandbox): Promise<PoolJson> {
  const result = await sb.pw(["pool", "status", "--json"]);
  expect(result.stderr).toBe("");
  return JSON.parse(result.stdout) as PoolJson;
}

function workerLog(sb: RunnerSandbox, id: string): string {
  return readFileSync(join(sb.home, "logs", `${id}.log`), "utf8");
}

function spec(sb: RunnerSandbox, ids: string[]): string {
  const file = join(sb.out, "tasks.yml");
  writeFileSync(file, `tasks:\n${ids.map((id) => `  - { id: ${id}, description: do ${id} }`).join("\n")}\n`);
  return file;
}

/** The worktree's untracked and changed files, ignored ones too, as git status names them. */
function everythingUntracked(dir: string): string[] {
  return git(dir, "status", "--porcelain", "--ignored", "--untracked-files=all").split("\n").filter(Boolean).sort();
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("the warm pool", () => {
  it("a pool of 2 serves 5 spawns: 2 from spares with setup done, 3 made anew; right branches, clean trees", { timeout: 60_000 }, async () => {
    const sb = await open({});
    sb.configure({ agents: { "code-author": fakeAgent("write-file.mjs") }, pool: { size: 2 }, setup: setupCommand(sb) });
    const filled = await sb.pw(["pool", "fill"]);
    expect(filled.stderr).toBe("");
    expect(filled.code).toBe(0);
    expect(filled.stdout).toMatch(/^made spare-[a-z0-9]{6} at main \([0-9a-f]{10}\), port 4100: .*\nmade spare-[a-z0-9]{6} at main \([0-9a-f]{10}\), port 4110: .*\npool of .*: 2 of 2 ready\n$/);
    const before = await poolStatus(sb);
    expect(before).toMatchObject({ size: 2, ready: 2 });
    expect(setupRuns(sb)).toHaveLength(2);
    // filling again with a full pool makes nothing
    expect((await sb.pw(["pool", "fill"])).stdout).toMatch(/: 2 of 2 ready\n$/);

    const tasks = ["P-1", "P-2", "P-3", "P-4", "P-5"];
    expect((await sb.pw(["worker", "spawn-batch", "--spec-file", spec(sb, tasks)])).code).toBe(0);
    const head = git(sb.repo, "rev-parse", "main").trim();
    const spawned = await workers(sb);
    const warm = spawned.filter((w) => workerLog(sb, w.id).includes("from the pool"));
    expect(warm).toHaveLength(2);
    for (const w of spawned) {
      const wt = w.worktreePath!;
      expect(git(wt, "symbolic-ref", "--short", "HEAD").trim()).toBe(`feature/${w.taskId.toLowerCase()}`);
      expect(git(wt, "rev-parse", "HEAD").trim()).toBe(head);
      expect(git(wt, "status", "--porcelain", "--untracked-files=all")).toBe("");
      // a warm worktree holds what setup made there, nothing else; a cold one nothing yet
      expect(everythingUntracked(wt)).toEqual(warm.includes(w) ? ["!! deps/installed"] : []);
    }
    // the spares' ports went with them; every worker's port is its own
    expect(warm.map((w) => w.port).sort()).toEqual([4100, 4110]);
    expect((await poolStatus(sb)).spares).toEqual([]);

    const run = await sb.pw(["loop", "--poll-interval", "0.1", "--until-idle"]);
    expect(run.code).toBe(0);
    const done = (await workers(sb)).sort((a, b) => a.taskId.localeCompare(b.taskId));
    expect(done.map((w) => [w.taskId, w.state, w.error])).toEqual(tasks.map((t) => [t, "PR_OPEN", null]));
    expect(new Set(done.map((w) => w.port)).size).toBe(5);
    // setup ran twice in the pool and once in each cold worktree, never again in a warm one
    expect(setupRuns(sb)).toHaveLength(5);
    for (const t of tasks) {
      expect(originBranches(sb.origin)).toContain(`feature/${t.toLowerCase()}`);
      expect(git(sb.origin, "ls-tree", "-r", "--name-only", `feature/${t.toLowerCase()}`).split("\n")).not.toContain("deps/installed");
    }
  });

  it("never hands out a spare changed by hand; an ignored file dropped in one is cleaned away", { timeout: 60_000 }, async () => {
    const sb = await open({});
    sb.configure({ agents: { "code-author": fakeAgent("write-file.mjs") }, pool: { size: 2 }, setup: setupCommand(sb) });
    expect((await sb.pw(["pool", "fill"])).code).toBe(0);
    const [first, second] = (await poolStatus(sb)).spares;
    writeFileSync(join(first!.path, "README.md"), "edited by hand\n");
    writeFileSync(join(second!.path, ".env"), "LEFT=behind\n");

    expect((await sb.pw(["worker", "spawn-batch", "--spec-file", spec(sb, ["D-1", "D-2"])])).code).toBe(0);
    const spawned = await workers(sb);
    const fromPool = spawned.filter((w) => workerLog(sb, w.id).includes("from the pool"));
    expect(fromPool.map((w) => workerLog(sb, w.id).match(/spare-[a-z0-9]{6}/)?.[0])).toEqual([second!.id]);
    for (const w of spawned) {
      expect(readFileSync(join(w.worktreePath!, "README.md"), "utf8")).toBe("# demo\n");
      expect(existsSync(join(w.worktreePath!, ".env"))).toBe(false);
    }
    // the changed one stays for a person to look at, and is never handed out
    const status = await poolStatus(sb);
    expect(status.spares).toMatchObject([{ id: first!.id, state: "dirty", note: "changed since it was made (README.md)" }]);
    expect(readFileSync(join(first!.path, "README.md"), "utf8")).toBe("edited by hand\n");
    expect((await sb.pw(["worker", "spawn", "--task-id", "D-3", "--description", "x"])).code).toBe(0);
    expect(workerLog(sb, (await workers(sb)).find((w) => w.taskId === "D-3")!.id)).not.toContain("from the pool");

    const drained = await sb.pw(["pool", "drain"]);
    expect(drained.stdout).toContain(`removed ${first!.id} (${first!.path})`);
    expect(existsSync(first!.path)).toBe(false);
    expect((await poolStatus(sb)).spares).toEqual([]);
  });

  it("a spare's setup sees what the main checkout brings, and its worker gets it afresh", { timeout: 60_000 }, async () => {
    const sb = await open({}, { ".worktreeinclude": ".env\n" });
    writeFileSync(join(sb.repo, ".env"), "TOKEN_URL=first\n");
    const saw = join(sb.out, "saw-env");
    const readsEnv = [process.execPath, "-e", `require("node:fs").appendFileSync(${JSON.stringify(saw)}, require("node:fs").readFileSync(".env", "utf8"))`];
    sb.configure({ agents: { "code-author": fakeAgent("write-file.mjs") }, pool: { size: 1 }, setup: [readsEnv] });
    expect((await sb.pw(["pool", "fill"])).code).toBe(0);
    expect(readFileSync(saw, "utf8")).toBe("TOKEN_URL=first\n");
    writeFileSync(join(sb.repo, ".env"), "TOKEN_URL=second\n");
    expect((await sb.pw(["worker", "spawn", "--task-id", "B-1", "--description", "x", "--wait"])).code).toBe(0);
    const worker = (await workers(sb))[0]!;
    expect(workerLog(sb, worker.id)).toContain("from the pool");
    expect(readFileSync(join(worker.worktreePath!, ".env"), "utf8")).toBe("TOKEN_URL=second\n");
    // setup ran once, in the spare
    expect(readFileSync(saw, "utf8")).toBe("TOKEN_URL=first\n");
  });

  it("runs setup again in a spare whose lockfile changed on the base, and not when only other files did", { timeout: 60_000 }, async () => {
    const sb = await open({});
    sb.configure({ agents: { "code-author": fakeAgent("write-file.mjs") }, pool: { size: 2 }, setup: setupCommand(sb) });
    expect((await sb.pw(["pool", "fill"])).code).toBe(0);
    expect(setupRuns(sb)).toHaveLength(2);

    // the base moves without touching the lockfile: the spare is switched, setup kept
    writeFileSync(join(sb.repo, "src.txt"), "more code\n");
    git(sb.repo, "add", "src.txt");
    git(sb.repo, "commit", "--quiet", "-m", "code");
    expect((await sb.pw(["worker", "spawn", "--task-id", "L-1", "--description", "x"])).code).toBe(0);
    const kept = (await workers(sb)).find((w) => w.taskId === "L-1")!;
    expect(workerLog(sb, kept.id)).toContain("setup was done there");
    expect(readFileSync(join(kept.worktreePath!, "src.txt"), "utf8")).toBe("more code\n");
    expect(readFileSync(join(kept.worktreePath!, "deps/installed"), "utf8")).toContain('"lockfileVersion": 1');

    // the lockfile changes: what setup made goes, and setup runs again before the agent
    writeFileSync(join(sb.repo, "package-lock.json"), '{ "lockfileVersion": 2 }\n');
    git(sb.repo, "commit", "--quiet", "-am", "bump the lockfile");
    expect((await sb.pw(["worker", "spawn", "--task-id", "L-2", "--description", "x"])).code).toBe(0);
    const redone = (await workers(sb)).find((w) => w.taskId === "L-2")!;
    expect(workerLog(sb, redone.id)).toContain("its lockfiles changed, setup runs again");
    expect(everythingUntracked(redone.worktreePath!)).toEqual([]);

    expect((await sb.pw(["loop", "--poll-interval", "0.1", "--until-idle"])).code).toBe(0);
    expect(setupRuns(sb)).toHaveLength(3);
    expect(readFileSync(join(redone.worktreePath!, "deps/installed"), "utf8")).toContain('"lockfileVersion": 2');
    expect((await workers(sb)).map((w) => w.state)).toEqual(["PR_OPEN", "PR_OPEN"]);
  });

  it("takes a merged worker's worktree back, clean, when the pool is short; a runner refills it in the background", { timeout: 60_000 }, async () => {
    const sb = await open({});
    sb.configure({ agents: { "code-author": fakeAgent("write-file.mjs") }, pool: { size: 1 }, setup: setupCommand(sb) });
    expect((await sb.pw(["worker", "spawn", "--task-id", "M-1", "--description", "merge me", "--wait"])).code).toBe(0);
    const worker = (await workers(sb))[0]!;
    const path = worker.worktreePath!;
    writeFileSync(join(path, "notes.txt"), "left uncommitted\n");
    // a worktree holding uncommitted work does not go back
    expect((await sb.pw(["state", "set", worker.id, "MERGED"])).code).toBe(0);
    expect((await sb.pw(["loop", "--poll-interval", "0.1", "--max-iterations", "1"])).code).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect((await poolStatus(sb)).spares.filter((s) => s.path === path)).toEqual([]);

    // one that holds only what setup and the agent's ignored files made does
    expect((await sb.pw(["worker", "spawn", "--task-id", "M-2", "--description", "merge me too", "--wait"])).code).toBe(0);
    const second = (await workers(sb)).find((w) => w.taskId === "M-2")!;
    expect(second.port).not.toBeNull();
    writeFileSync(join(second.worktreePath!, ".env"), "made by the agent\n");
    const runsBefore = setupRuns(sb).length;
    await sb.pw(["pool", "drain"]);
    expect((await sb.pw(["state", "transition", second.id, "PR_OPEN", "MERGED"])).code).toBe(0);
    expect((await sb.pw(["loop", "--poll-interval", "0.1", "--max-iterations", "2"])).code).toBe(0);

    const merged = (await workers(sb)).find((w) => w.id === second.id)!;
    expect(merged).toMatchObject({ state: "MERGED", worktreePath: null, port: null });
    expect(existsSync(second.worktreePath!)).toBe(false);
    expect(git(sb.repo, "branch", "--list", "feature/m-2").trim()).toBe("");
    const [spare] = (await poolStatus(sb)).spares;
    expect(spare).toMatchObject({ state: "ready", baseCommit: git(sb.repo, "rev-parse", "main").trim(), port: second.port });
    expect(workerLog(sb, second.id)).toContain(`went back to the pool as ${spare!.id}`);
    // detached at the base, nothing of the worker's left, what setup made kept (not run again)
    expect(git(spare!.path, "rev-parse", "--abbrev-ref", "HEAD").trim()).toBe("HEAD");
    expect(existsSync(join(spare!.path, "M-2.txt"))).toBe(false);
    expect(everythingUntracked(spare!.path)).toEqual(["!! deps/installed"]);
    expect(setupRuns(sb)).toHaveLength(runsBefore);
  });

  it("kill -9 of a runner while it fills the pool leaves no half-made spare that is later handed out", { timeout: 60_000 }, async () => {
    const sb = await open({});
    const started = join(sb.out, "setup-started");
    sb.configure({ agents: { "code-author": fakeAgent("write-file.mjs") }, pool: { size: 1 }, setup: setupCommand(sb, "30000", started) });
    const loop = spawn(process.execPath, [PW_BIN, "loop", "--poll-interval", "0.1"], { cwd: sb.repo, env: { ...process.env, ...sb.env }, stdio: "ignore" });
    const exited = new Promise<void>((resolve) => loop.once("exit", () => resolve()));
    await until(() => existsSync(started));
    const setupPid = Number(readFileSync(started, "utf8").trim());
    orphans.push(setupPid);
    const [halfMade] = (await poolStatus(sb)).spares;
    expect(halfMade).toMatchObject({ state: "filling" });
    loop.kill("SIGKILL");
    await exited;

    // the spare says whose it was; a spawn does not take it, and makes its worktree anew
    expect((await poolStatus(sb)).stale).toEqual([halfMade!.id]);
    expect((await sb.pw(["worker", "spawn", "--task-id", "K-1", "--description", "x"])).code).toBe(0);
    const worker = (await workers(sb))[0]!;
    expect(workerLog(sb, worker.id)).not.toContain("from the pool");
    expect(everythingUntracked(worker.worktreePath!)).toEqual([]);

    // the next runner removes it, and fills the pool afresh once the worker needs nothing
    process.kill(setupPid, "SIGKILL");
    sb.configure({ agents: { "code-author": fakeAgent("write-file.mjs") }, pool: { size: 1 }, setup: setupCommand(sb) });
    expect((await sb.pw(["loop", "--poll-interval", "0.1", "--max-iterations", "3"])).code).toBe(0);
    expect(existsSync(halfMade!.path)).toBe(false);
    const after = await poolStatus(sb);
    expect(after.spares.map((s) => [s.state, s.id === halfMade!.id])).toEqual([["ready", false]]);
    expect((await workers(sb))[0]!.state).toBe("PR_OPEN");
  });
});

describe("pw pool and the runner", () => {
  it("a worker queued from a comment takes a spare when the runner starts it", { timeout: 60_000 }, async () => {
    const sb = await open({});
    sb.configure({ agents: { "code-author": fakeAgent("write-file.mjs") }, pool: { size: 1 }, setup: setupCommand(sb) });
    expect((await sb.pw(["pool", "fill"])).code).toBe(0);
    // as the app records a `/worker spawn`: the task and the repository, no local paths yet
    const store = new SqliteWorkerStore(join(sb.home, "state.db"));
    store.createWorker({ id: "worker-cmmnt1", taskId: "C-1", repo: "acme/widgets", agent: "code-author", description: "from a comment" }, { source: "command" });
    store.close();
    expect((await sb.pw(["loop", "--poll-interval", "0.1", "--until-idle"])).code).toBe(0);
    const [worker] = await workers(sb);
    expect(worker).toMatchObject({ id: "worker-cmmnt1", state: "PR_OPEN", port: 4100 });
    expect(workerLog(sb, worker!.id)).toContain("from the pool");
    expect(setupRuns(sb)).toHaveLength(1);
  });

  it("says when the pool is off, and refuses to fill it", async () => {
    const sb = await open({});
    const status = await sb.pw(["pool", "status"]);
    expect(status.stdout).toMatch(/^pool of .*: 0 of 0 ready, base main \([0-9a-f]{10}\)\nthe pool is off: set pool: \{ size: 2 \} in \.parallel-workers\.yml\n$/);
    expect(await sb.pw(["pool", "fill"])).toMatchObject({
      code: 2,
      stdout: "",
      stderr: "pw: the pool is off (pool.size is 0): set pool: { size: 2 } in .parallel-workers.yml\n",
    });
    expect((await sb.pw(["pool", "drain"])).stdout).toBe("no spare worktrees to remove\n");
  });

  it("a setup that fails in a spare leaves no spare and says why", { timeout: 60_000 }, async () => {
    const sb = await open({});
    sb.configure({ agents: { "code-author": fakeAgent("write-file.mjs") }, pool: { size: 1 }, setup: [[process.execPath, "-e", "process.exit(3)"]] });
    const filled = await sb.pw(["pool", "fill"]);
    expect(filled.code).toBe(1);
    expect(filled.stderr).toMatch(/^pw: a spare worktree could not be made: setup command \[.*\] exited with code 3\n$/);
    expect((await poolStatus(sb)).spares).toEqual([]);
    expect(git(sb.repo, "worktree", "list").trim().split("\n")).toHaveLength(1);
  });
});

describe("a worker's own environment", () => {
  it("gives two workers different ports, a Compose project and a database name of their own, and frees the ports when they end", { timeout: 60_000 }, async () => {
    const sb = await open({});
    sb.configure({
      agents: { "code-author": { command: [process.execPath, join(fileURLToPath(new URL("../../fixtures/agents/", import.meta.url)), "dump-env.mjs"), join(sb.out, "{task_id}.env.json"), "--port={port}"] } },
      ports: { from: 5200, per_worker: 5 },
    });
    expect((await sb.pw(["worker", "spawn-batch", "--spec-file", spec(sb, ["E-1", "E-2"]), "--wait"])).code).toBe(0);
    const [one, two] = await workers(sb);
    expect([one!.port, two!.port].sort()).toEqual([5200, 5205]);
    for (const w of [one!, two!]) {
      const env = JSON.parse(readFileSync(join(sb.out, `${w.taskId}.env.json`), "utf8")) as Record<string, string>;
      expect(env).toMatchObject({ PW_PORT: String(w.port), COMPOSE_PROJECT_NAME: w.id, PW_DB_NAME: w.id.replace("-", "_") });
    }
    const shown = await sb.pw(["worker", "get", one!.id]);
    expect(shown.stdout).toContain(`port         ${one!.port} (PW_PORT)`);
    expect(shown.stdout).toContain(`compose      ${one!.id} (COMPOSE_PROJECT_NAME)`);
    expect(shown.stdout).toContain(`database     ${one!.id.replace("-", "_")} (PW_DB_NAME)`);

    expect((await sb.pw(["state", "transition", one!.id, "PR_OPEN", "MERGED"])).code).toBe(0);
    expect((await sb.pw(["state", "transition", two!.id, "PR_OPEN", "ABANDONED"])).code).toBe(0);
    expect((await workers(sb)).map((w) => w.port)).toEqual([null, null]);
    expect((await sb.pw(["worker", "spawn", "--task-id", "E-3", "--description", "x", "--wait"])).code).toBe(0);
    expect((await workers(sb)).find((w) => w.taskId === "E-3")?.port).toBe(5200);
  });

  it("copies the ignored files .worktreeinclude names and links links:, and commits none of them", { timeout: 60_000 }, async () => {
    const sb = await open({}, { ".worktreeinclude": ".env\nconfig/*.local.json\nREADME.md\nnot-ignored.txt\n" });
    writeFileSync(join(sb.repo, ".env"), "API_URL=http://localhost\n");
    writeFileSync(join(sb.repo, "not-ignored.txt"), "would be committed\n");
    mkdirSync(join(sb.repo, "config"));
    writeFileSync(join(sb.repo, "config", "db.local.json"), "{}\n");
    // a link is a symlink: `scratch` ignores it, `cache/` (a directory only) would not
    writeFileSync(join(sb.repo, ".gitignore"), "deps/\n.env\nscratch\ncache/\nconfig/*.local.json\n");
    for (const dir of ["scratch", "cache"]) {
      mkdirSync(join(sb.repo, dir));
      writeFileSync(join(sb.repo, dir, "big.bin"), "a large cache\n");
    }
    git(sb.repo, "commit", "--quiet", "-m", "ignore local config", ".gitignore");
    // the agent adds everything it finds, as a careless agent would
    const careless = join(sb.out, "careless.mjs");
    writeFileSync(
      careless,
      `import { execFileSync } from "node:child_process";
       import { writeFileSync } from "node:fs";
       writeFileSync("work.txt", "work\\n");
       execFileSync("git", ["add", "-A"]);
       execFileSync("git", ["-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "--quiet", "-m", "agent"]);`,
    );
    sb.configure({ agents: { "code-author": { command: [process.execPath, careless] } }, links: ["scratch", "cache"] });
    const first = await sb.pw(["worker", "spawn", "--task-id", "I-1", "--description", "x", "--wait"]);
    expect(first.code).toBe(0);
    const worker = (await workers(sb))[0]!;
    const wt = worker.worktreePath!;
    expect(readFileSync(join(wt, ".env"), "utf8")).toBe("API_URL=http://localhost\n");
    expect(readFileSync(join(wt, "config", "db.local.json"), "utf8")).toBe("{}\n");
    expect(lstatSync(join(wt, "scratch")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(wt, "scratch"))).toBe(join(sb.repo, "scratch"));
    expect(existsSync(join(wt, "cache"))).toBe(false);
    expect(existsSync(join(wt, "not-ignored.txt"))).toBe(false);
    const pushed = git(sb.origin, "ls-tree", "-r", "--name-only", "feature/i-1").split("\n").filter(Boolean).sort();
    expect(pushed).toEqual([".gitignore", ".parallel-workers.yml", ".worktreeinclude", "README.md", "package-lock.json", "work.txt"]);
    expect(workerLog(sb, worker.id)).toMatch(/copied \.env from the main checkout[\s\S]*linked scratch to the main checkout's/);
    expect(workerLog(sb, worker.id)).toContain("not linked cache: git does not ignore a symlink there (write `cache` in .gitignore, without a trailing slash)");

    // an agent that forces a brought file into a commit gets nothing pushed
    const forcing = join(sb.out, "forcing.mjs");
    writeFileSync(
      forcing,
      `import { execFileSync } from "node:child_process";
       execFileSync("git", ["add", "--force", ".env"]);
       execFileSync("git", ["-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "--quiet", "-m", "oops"]);`,
    );
    sb.configure({ agents: { "code-author": { command: [process.execPath, forcing] } }, links: ["scratch"] });
    expect((await sb.pw(["worker", "spawn", "--task-id", "I-2", "--description", "x", "--wait"])).code).toBe(1);
    const refused = (await workers(sb)).find((w) => w.taskId === "I-2")!;
    expect(refused.state).toBe("UNKNOWN");
    expect(refused.error).toMatch(/^the branch commits \.env, brought from the main checkout .* which is never pushed/);
    expect(originBranches(sb.origin)).not.toContain("feature/i-2");
  });
});
