/**
 * Runners with ids, end to end on the embedded store: the built CLI as child processes, a real
 * repository with a bare origin (and a second clone of it, as another machine would have), real
 * agents, the GitHub stand-in. A worker is held by the runner that made its worktree; `pw runners`
 * tells the live from the stale; `retry --anywhere` moves a worker off a runner that is gone;
 * `pw serve --no-runner` serves what the runners registered.
 */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Worker } from "../../src/core/worker.js";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import { git, removeTempDirs, tempDir } from "../helpers/git.js";
import { fakeAgent, REPOSITORY, runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";
import { serveEnv, SERVE_SECRET, startServe, until, type Served } from "../helpers/serve.js";
import { deliver, loadPayload, retarget, withComment } from "../helpers/webhooks.js";
import { pw } from "../helpers/cli.js";

let sandbox: RunnerSandbox | undefined;
const stores: SqliteWorkerStore[] = [];
const serving: Served[] = [];

afterEach(async () => {
  for (const served of serving.splice(0)) await served.stop();
  for (const store of stores.splice(0)) store.close();
  await sandbox?.close();
  sandbox = undefined;
  removeTempDirs();
});

async function open(): Promise<RunnerSandbox> {
  sandbox = await runnerSandbox({ agents: { "code-author": fakeAgent("write-file.mjs") } });
  return sandbox;
}

function storeOf(sb: RunnerSandbox): SqliteWorkerStore {
  const store = new SqliteWorkerStore(join(sb.home, "state.db"));
  stores.push(store);
  return store;
}

async function spawn(sb: RunnerSandbox, taskId: string): Promise<string> {
  const result = await sb.pw(["worker", "spawn", "--task-id", taskId, "--description", `do ${taskId}`]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return result.stdout.split(/\s+/)[0]!;
}

async function workers(sb: RunnerSandbox): Promise<Worker[]> {
  const result = await sb.pw(["worker", "list", "--json"]);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as Worker[];
}

interface RunnerJson {
  id: string;
  host: string;
  repositories: string[];
  heartbeatAt: string;
  heartbeatAgeMs: number;
  stale: boolean;
  workers: number;
}

describe("runners with ids", () => {
  it("holds the worktrees a runner makes under its id, lists it live with its workers, and stale once it is quiet", async () => {
    const sb = await open();
    const id = await spawn(sb, "T-1");
    const loop = await sb.pw(["loop", "--until-idle", "--poll-interval", "0.1", "--runner-id", "ci-1"]);
    expect(loop.code).toBe(0);
    expect(loop.stdout + loop.stderr).toContain("runner ci-1 started");

    const [worker] = await workers(sb);
    expect(worker).toMatchObject({ id, state: "PR_OPEN", runnerId: "ci-1" });
    const listed = await sb.pw(["runners", "--json"]);
    expect(listed.code).toBe(0);
    const runners = JSON.parse(listed.stdout) as RunnerJson[];
    expect(runners).toEqual([
      expect.objectContaining({ id: "ci-1", host: hostname(), repositories: [REPOSITORY], stale: false, workers: 1 }),
    ]);
    expect(Date.parse(runners[0]!.heartbeatAt)).not.toBeNaN();

    const table = await sb.pw(["worker", "list"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^WORKER\s+TASK\s+STATE\s+AGENT\s+RUNNER\s+AGE/);
    expect(table.stdout).toMatch(new RegExp(`${id}\\s+T-1\\s+PR_OPEN\\s+code-author\\s+ci-1\\s`));

    await new Promise((r) => setTimeout(r, 50));
    const stale = await sb.pw(["runners", "--stale-after", "10ms"]);
    expect(stale.stdout).toMatch(/^ci-1\s+\S+\s+acme\/widgets\s+\S+ ago\s+1\s+stale \(no heartbeat for 0s\)$/m);
    expect(stale.stdout).toContain("ci-1 holds 1 worker(s) and is stale");
    expect((await sb.pw(["worker", "get", id])).stdout).toMatch(/^runner\s+ci-1$/m);
  });

  it("never starts a worker another runner holds; that runner does", async () => {
    const sb = await open();
    const id = await spawn(sb, "T-2");
    await storeOf(sb).updateWorker(id, { runnerId: "other-1" });
    expect((await sb.pw(["loop", "--until-idle", "--poll-interval", "0.1", "--runner-id", "ci-1"])).code).toBe(0);
    expect((await workers(sb))[0]).toMatchObject({ id, state: "NEEDS_INIT", owner: null, runnerId: "other-1" });
    expect((await sb.pw(["loop", "--until-idle", "--poll-interval", "0.1", "--runner-id", "other-1"])).code).toBe(0);
    expect((await workers(sb))[0]).toMatchObject({ id, state: "PR_OPEN", runnerId: "other-1" });
  });

  it("cleans up a merged worker's worktree only on the runner that holds it, when that runner comes back", async () => {
    const sb = await open();
    const id = await spawn(sb, "T-5");
    expect((await sb.pw(["loop", "--until-idle", "--poll-interval", "0.1", "--runner-id", "ci-1"])).code).toBe(0);
    const store = storeOf(sb);
    const opened = store.requireWorker(id);
    expect(opened).toMatchObject({ state: "PR_OPEN", runnerId: "ci-1" });
    // merged while ci-1 was down
    store.transition(id, "PR_OPEN", "MERGED", { source: "webhook" });
    expect((await sb.pw(["loop", "--max-iterations", "2", "--poll-interval", "0.1", "--runner-id", "ci-2"])).code).toBe(0);
    expect(existsSync(opened.worktreePath!)).toBe(true);
    expect((await sb.pw(["loop", "--max-iterations", "2", "--poll-interval", "0.1", "--runner-id", "ci-1"])).code).toBe(0);
    expect(existsSync(opened.worktreePath!)).toBe(false);
    expect(store.requireWorker(id).worktreePath).toBeNull();
  });

  it("retry --anywhere refuses while the worker's runner beats, then lets a runner on another machine start it afresh", async () => {
    const sb = await open();
    const id = await spawn(sb, "T-3");
    const store = storeOf(sb);
    store.registerRunner({ id: "gone-1", host: "elsewhere", repositories: [REPOSITORY] });
    store.claimWorker(id, "elsewhere:4242:abc", 60_000);
    store.transition(id, "NEEDS_INIT", "WORKING", { source: "runner", patch: { runnerId: "gone-1" } });

    const refused = await sb.pw(["worker", "retry", id, "--anywhere"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`^pw: worker ${id} is WORKING and its runner gone-1 is live \\(heartbeat \\d+ s ago\\): \`pw worker terminate ${id}\` stops it first\n$`));
    expect(store.requireWorker(id)).toMatchObject({ state: "WORKING", runnerId: "gone-1" });

    await new Promise((r) => setTimeout(r, 1100));
    const retried = await sb.pw(["worker", "retry", id, "--anywhere", "--stale-after", "1s"]);
    expect(retried.stderr).toBe("");
    expect(retried.stdout).toBe(`${id}: NEEDS_INIT, for any runner of ${REPOSITORY} (it starts afresh in a new worktree)\n`);
    expect(store.requireWorker(id)).toMatchObject({ state: "NEEDS_INIT", runnerId: null, repoPath: null, worktreePath: null, owner: null, repo: REPOSITORY });
    expect(store.history(id).slice(-2).map((t) => [t.from, t.to, t.detail])).toEqual([
      ["WORKING", "UNKNOWN", "runner gone-1 is stale: its agent's run is lost"],
      ["UNKNOWN", "NEEDS_INIT", "retry --anywhere"],
    ]);

    // another machine: its own clone of origin and its own worktrees root
    const machine = tempDir("pw-machine-");
    git(machine, "clone", "--quiet", sb.origin, "checkout");
    const checkout = join(machine, "checkout");
    const env = { ...sb.env, PW_WORKTREES_ROOT: join(machine, "worktrees") };
    const loop = await pw(["loop", "--until-idle", "--poll-interval", "0.1", "--runner-id", "ci-2"], { cwd: checkout, env });
    expect(loop.code).toBe(0);
    expect(store.requireWorker(id)).toMatchObject({ state: "PR_OPEN", runnerId: "ci-2", repoPath: checkout });
    expect(store.requireWorker(id).worktreePath!.startsWith(join(machine, "worktrees"))).toBe(true);
  });

  it("refuses a bad runner id, from the flag or PW_RUNNER_ID, and a bad --stale-after, changing nothing", async () => {
    const sb = await open();
    const id = await spawn(sb, "T-4");
    const bad = await sb.pw(["loop", "--until-idle", "--runner-id", "Bad Id"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('runner id "Bad Id" is not allowed');
    const badEnv = await sb.pw(["loop", "--until-idle"], { PW_RUNNER_ID: "a/b" });
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toContain('PW_RUNNER_ID: runner id "a/b" is not allowed');
    const badStale = await sb.pw(["worker", "retry", id, "--anywhere", "--stale-after", "soon"]);
    expect(badStale.code).toBe(2);
    expect(badStale.stderr).toBe('pw: --stale-after "soon" is not a duration: use e.g. 30s, 2m\n');
    expect((await workers(sb))[0]).toMatchObject({ id, state: "NEEDS_INIT", owner: null, runnerId: null });
    expect(storeOf(sb).listRunners(60_000)).toEqual([]);
  });

  it("pw serve --no-runner, where there is no checkout, serves the repositories a runner registered", async () => {
    const sb = await open();
    sb.github.setPermission(REPOSITORY, "alice", "write");
    // a runner registers what it serves, and how (its agents)
    expect((await sb.pw(["loop", "--max-iterations", "1", "--poll-interval", "0.1", "--runner-id", "ci-1"])).code).toBe(0);
    const elsewhere = tempDir("pw-app-");
    const served = await startServe(serveEnv(sb), elsewhere, ["--no-runner"], (s) => serving.push(s));
    expect(served.output()).toContain('"runner_id":null');

    const issue = sb.github.addIssue(REPOSITORY, { title: "Add the widget", body: "It must spin." });
    const comment = sb.github.addComment(REPOSITORY, issue.number, { body: "/worker spawn", user: "alice" });
    const payload = withComment(
      retarget(loadPayload("issue_comment.created"), { repo: REPOSITORY, number: issue.number, title: issue.title, body: issue.body, sender: "alice" }),
      { id: comment.id, body: "/worker spawn", user: "alice" },
    );
    payload.repository.default_branch = "main";
    expect((await deliver(served.url, { event: "issue_comment", payload, secret: SERVE_SECRET, id: randomUUID() })).status).toBe(200);
    const store = storeOf(sb);
    const queued = await until(() => store.listWorkers().find((w) => w.taskId === `issue-${issue.number}`), 5000, "the worker queued");
    expect(queued).toMatchObject({ state: "NEEDS_INIT", agent: "code-author", repo: REPOSITORY, runnerId: null });
    // the app runs no agent: the runner does
    await new Promise((r) => setTimeout(r, 500));
    expect(store.requireWorker(queued.id).state).toBe("NEEDS_INIT");
    expect((await sb.pw(["loop", "--until-idle", "--poll-interval", "0.1", "--runner-id", "ci-1"])).code).toBe(0);
    expect(store.requireWorker(queued.id)).toMatchObject({ state: "PR_OPEN", runnerId: "ci-1" });
  });
});
