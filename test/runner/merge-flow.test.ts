/**
 * The runner's part of the merge flow, through the built CLI: a real repository with a bare
 * origin, the GitHub stand-in, and the fake agent of fixtures/agents/rework.mjs. What the app
 * records on a push or a parent's merge (base feedback, a stacked child moved to its parent's
 * base) is recorded with the app's own functions; the runner rebases in the worktrees, pushes
 * with leases, turns a conflict into a rework round, and starts stacked tasks on their parent's branch.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { servedRepositories, type AppDeps } from "../../src/app/index.js";
import { afterParentMerged } from "../../src/app/merge-flow.js";
import { updateKey } from "../../src/core/merge-flow.js";
import type { Worker } from "../../src/core/worker.js";
import { createLogger } from "../../src/log/logger.js";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import { SqliteAsyncWorkerStore } from "../../src/store/sqlite-async.js";
import { defaultServed } from "../app/harness.js";
import { git, removeTempDirs } from "../helpers/git.js";
import { fakeAgent, REPOSITORY, runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";

let sandbox: RunnerSandbox | undefined;
const stores: SqliteWorkerStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) store.close();
  if (sandbox) {
    expect(sandbox.github.unknownRequests()).toEqual([]);
    await sandbox.close();
  }
  sandbox = undefined;
  removeTempDirs();
});

interface Setup {
  sb: RunnerSandbox;
  record: string;
  store: SqliteWorkerStore;
}

async function sandboxWith(modes: string[] = [], mergeFlow: Record<string, unknown> = { update: "rebase" }): Promise<Setup> {
  const sb = (sandbox = await runnerSandbox({}));
  const record = join(sb.out, "record");
  mkdirSync(record);
  if (modes.length > 0) writeFileSync(join(record, "mode"), modes.join("\n"));
  sb.configure({ agents: { "code-author": fakeAgent("rework.mjs", record, "{prompt}") }, rework: { debounce: 0 }, merge_flow: mergeFlow });
  const store = new SqliteWorkerStore(join(sb.home, "state.db"));
  stores.push(store);
  return { sb, record, store };
}

async function spawned(setup: Setup, task: string, extra: string[] = ["--wait"]): Promise<Worker> {
  const result = await setup.sb.pw(["worker", "spawn", "--task-id", task, "--description", `Build ${task}`, ...extra]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return setup.store.listWorkers().find((w) => w.taskId === task)!;
}

/** A commit on main, pushed to origin (someone else's PR merged): its sha. */
function mainMoves(sb: RunnerSandbox, file: string, text: string, subject: string): string {
  git(sb.repo, "checkout", "--quiet", "main");
  git(sb.repo, "pull", "--quiet", "--ff-only", "origin", "main");
  writeFileSync(join(sb.repo, file), text);
  git(sb.repo, "add", file);
  git(sb.repo, "commit", "--quiet", "-m", subject);
  git(sb.repo, "push", "--quiet", "origin", "main");
  return git(sb.repo, "rev-parse", "HEAD").trim();
}

/** What the app records for a push of `after` to main (`onPush`, update: rebase), twice as a redelivery would. */
function baseMoved(store: SqliteWorkerStore, worker: Worker, after: string): void {
  const key = updateKey(REPOSITORY, worker.prNumber!, "main", after);
  const detail = { cause: "base" as const, base: "main", baseSha: after, upstream: null, retarget: false, omitted: [] };
  expect(store.addFeedback({ workerId: worker.id, key, scope: key, detail })).toBeDefined();
  expect(store.addFeedback({ workerId: worker.id, key, scope: key, detail })).toBeUndefined();
}

const loop = (sb: RunnerSandbox) => sb.pw(["loop", "--until-idle", "--poll-interval", "0.1"]);
const originHead = (sb: RunnerSandbox, branch: string) => git(sb.origin, "rev-parse", branch).trim();
const isAncestor = (sb: RunnerSandbox, ancestor: string, of: string) => {
  try {
    git(sb.origin, "merge-base", "--is-ancestor", ancestor, of);
    return true;
  } catch {
    return false;
  }
};

describe("main moves (update: rebase)", () => {
  it("three open PRs: each rebased onto the new main and pushed once, with no round; a second pass changes nothing", async () => {
    const setup = await sandboxWith();
    const { sb, store } = setup;
    const workers = [];
    for (const task of ["T-1", "T-2", "T-3"]) workers.push(await spawned(setup, task));
    // shared.txt is each PR's own: a different file moves on main
    const heads = workers.map((w) => originHead(sb, w.branch!));
    const after = mainMoves(sb, "main.txt", "main\n", "someone else's change");
    for (const worker of workers) baseMoved(store, worker, after);
    expect((await loop(sb)).code).toBe(0);

    for (const [i, worker] of workers.entries()) {
      const head = originHead(sb, worker.branch!);
      expect(head).not.toBe(heads[i]);
      expect(isAncestor(sb, after, head)).toBe(true);
      expect(git(sb.origin, "log", "--format=%s", `${after}..${head}`).trim().split("\n")).toHaveLength(1);
      const now = store.requireWorker(worker.id);
      expect(now).toMatchObject({ state: "PR_OPEN", reworkRounds: 0 });
      expect(now.mergeFlow.update).toMatchObject({ how: "rebase", base: "main", baseSha: after, outcome: "updated" });
      expect(store.listFeedback({ workerId: worker.id })).toEqual([expect.objectContaining({ cause: "base", round: 0 })]);
    }
    const before = workers.map((w) => originHead(sb, w.branch!));
    expect((await loop(sb)).code).toBe(0);
    expect(workers.map((w) => originHead(sb, w.branch!))).toEqual(before);
    const shown = (await sb.pw(["worker", "get", workers[0]!.id])).stdout;
    expect(shown).toContain(`brought up to date with \`main\` at ${after.slice(0, 7)} (rebased)`);
  });

  it("a rebase that conflicts becomes a rework round naming the files and main's commits; the agent resolves it, pushed with a lease", async () => {
    const setup = await sandboxWith(["resolve"]);
    const { sb, store, record } = setup;
    const worker = await spawned(setup, "T-1");
    const prHead = originHead(sb, worker.branch!);
    const after = mainMoves(sb, "shared.txt", "main\n", "main writes shared.txt");
    baseMoved(store, worker, after);
    expect((await loop(sb)).code).toBe(0);

    const prompt = readFileSync(join(record, "prompt-1.txt"), "utf8");
    expect(prompt).toContain("Rework round 1:");
    expect(prompt).toContain("is being rebased onto `main`");
    expect(prompt).toContain("- `shared.txt`, changed on the base by:");
    expect(prompt).toContain(`  - ${after.slice(0, 7)} main writes shared.txt`);
    const head = originHead(sb, worker.branch!);
    expect(head).not.toBe(prHead);
    expect(isAncestor(sb, after, head)).toBe(true);
    expect(git(sb.origin, "show", `${head}:shared.txt`)).toBe("resolved\n");
    expect(store.requireWorker(worker.id)).toMatchObject({ state: "PR_OPEN", reworkRounds: 1, reworkCause: "conflict" });
    expect(store.requireWorker(worker.id).mergeFlow.update).toMatchObject({ outcome: "updated", baseSha: after });
    const comments = sb.github.comments(REPOSITORY, worker.prNumber!).map((c) => c.body);
    expect(comments.filter((c) => c.includes("rework round 1"))).toHaveLength(1);
    expect(comments.find((c) => c.includes("rework round 1"))).toContain("for a conflict with main in shared.txt");
  });

  it("an agent that cannot resolve it: UNKNOWN naming the files, the worktree kept mid-rebase", async () => {
    const setup = await sandboxWith(["noop"]);
    const { sb, store } = setup;
    const worker = await spawned(setup, "T-1");
    const prHead = originHead(sb, worker.branch!);
    const after = mainMoves(sb, "shared.txt", "main\n", "main writes shared.txt");
    baseMoved(store, worker, after);
    // a worker that ends UNKNOWN is a failed operation for `pw loop`
    expect((await loop(sb)).code).toBe(1);

    const failed = store.requireWorker(worker.id);
    expect(failed.state).toBe("UNKNOWN");
    expect(failed.error).toContain("the agent left conflict markers in shared.txt");
    expect(failed.error).toContain(`the worktree ${worker.worktreePath} keeps the rebase under way`);
    expect(existsSync(worker.worktreePath!)).toBe(true);
    expect(readFileSync(join(worker.worktreePath!, "shared.txt"), "utf8")).toMatch(/^<<<<<<< /m);
    expect(originHead(sb, worker.branch!)).toBe(prHead);
  });
});

describe("stacked tasks", () => {
  it("a dependent starts from its parent's branch with a PR stacked on it; after a squash merge of the parent it is retargeted and rebased without the parent's commits", async () => {
    const setup = await sandboxWith([], { update: "rebase", stack: true });
    const { sb, store } = setup;
    const parent = await spawned(setup, "A");
    await spawned(setup, "B", ["--depends-on", "A"]);
    expect((await loop(sb)).code).toBe(0);
    const child = store.listWorkers().find((w) => w.taskId === "B")!;
    expect(child).toMatchObject({ state: "PR_OPEN", baseBranch: "feature/a" });
    expect(child.mergeFlow.stackedOn).toMatchObject({ workerId: parent.id, taskId: "A", branch: "feature/a", prNumber: parent.prNumber, base: "main" });
    const pr = sb.github.pull(REPOSITORY, child.prNumber!);
    expect(pr.base.ref).toBe("feature/a");
    expect(pr.body).toContain(`Stacked on [#${parent.prNumber}](${parent.prUrl}) (task \`A\`, branch \`feature/a\`)`);
    const parentHead = originHead(sb, "feature/a");
    expect(isAncestor(sb, parentHead, originHead(sb, "feature/b"))).toBe(true);
    expect((await sb.pw(["worker", "get", child.id])).stdout).toContain("stacked on A (`feature/a`, #1)");

    // the parent is squash-merged on GitHub: one new commit on main, none of the parent's
    git(sb.repo, "checkout", "--quiet", "main");
    git(sb.repo, "fetch", "--quiet", "origin");
    git(sb.repo, "merge", "--quiet", "--squash", "origin/feature/a");
    git(sb.repo, "commit", "--quiet", "-m", "A (#1)");
    git(sb.repo, "push", "--quiet", "origin", "main");
    const squash = git(sb.repo, "rev-parse", "HEAD").trim();
    // what the app does on the parent's pull_request.closed (merged)
    const merged = store.transition(parent.id, "PR_OPEN", "MERGED", { source: "webhook", detail: "PR #1 merged" });
    const logger = createLogger({ component: "app", destination: join(sb.out, "app.log"), level: "info", loki: false });
    const deps = { store: new SqliteAsyncWorkerStore(store), logger, served: servedRepositories([defaultServed({ repository: REPOSITORY })]) } as unknown as AppDeps;
    const facts = { number: parent.prNumber!, url: parent.prUrl!, state: "closed" as const, merged: true, headRef: "feature/a", headRepository: REPOSITORY, body: null, headSha: parentHead, baseRef: "main", mergeCommitSha: squash };
    expect((await afterParentMerged(deps, REPOSITORY, merged, facts, "delivery-1")).map((w) => w.id)).toEqual([child.id]);
    expect((await loop(sb)).code).toBe(0);

    const head = originHead(sb, "feature/b");
    expect(isAncestor(sb, squash, head)).toBe(true);
    expect(isAncestor(sb, parentHead, head)).toBe(false);
    expect(git(sb.origin, "log", "--format=%s", `${squash}..${head}`).trim().split("\n")).toEqual(["feat(B): Build B"]);
    expect(git(sb.origin, "diff", "--name-only", squash, head).trim().split("\n")).toEqual(["B.txt"]);
    const moved = store.requireWorker(child.id);
    expect(moved).toMatchObject({ state: "PR_OPEN", baseBranch: "main" });
    expect(moved.mergeFlow).toMatchObject({ stackedOn: null, update: { how: "retarget", base: "main", baseSha: squash, outcome: "updated" } });
  });
});
