/**
 * Rework rounds run by the runner, end to end through the built CLI: a real repository with a
 * bare origin, the GitHub stand-in, and a fake agent that records the prompt it got. The
 * feedback is recorded the way the app records it (in the store) or with `pw worker rework`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkFeedback, reviewFeedback } from "../../src/core/rework.js";
import type { Worker } from "../../src/core/worker.js";
import { isProcessAlive } from "../../src/runner/process.js";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import { git, removeTempDirs } from "../helpers/git.js";
import { until } from "../helpers/serve.js";
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
  worker: Worker;
}

/** A sandbox whose agent is fixtures/agents/rework.mjs, and a worker run to its open PR. */
async function workerWithPullRequest(rework: Record<string, unknown> = {}, modes: string[] = []): Promise<Setup> {
  const sb = (sandbox = await runnerSandbox({}));
  const record = join(sb.out, "record");
  mkdirSync(record);
  if (modes.length > 0) writeFileSync(join(record, "mode"), modes.map((m) => m.replace("ORIGIN", sb.origin)).join("\n"));
  sb.configure({ agents: { "code-author": fakeAgent("rework.mjs", record, "{prompt}") }, rework: { debounce: 0, ...rework } });
  const spawned = await sb.pw(["worker", "spawn", "--task-id", "T-1", "--description", "Build the frobnicator", "--wait"]);
  expect(spawned.code).toBe(0);
  const store = new SqliteWorkerStore(join(sb.home, "state.db"));
  stores.push(store);
  const worker = store.listWorkers()[0]!;
  expect(worker).toMatchObject({ state: "PR_OPEN", prNumber: 1 });
  return { sb, record, store, worker };
}

function loop(sb: RunnerSandbox) {
  return sb.pw(["loop", "--until-idle", "--poll-interval", "0.1"]);
}

/** `sha subject` of the branch on origin, newest first. */
function originLog(sb: RunnerSandbox, branch = "feature/t-1"): string[] {
  return git(sb.origin, "log", "--format=%H %s", branch).trim().split("\n");
}

function prompt(record: string, round: number): string {
  return readFileSync(join(record, `prompt-${round}.txt`), "utf8");
}

function roundComments(sb: RunnerSandbox): string[] {
  return sb.github.comments(REPOSITORY, 1).map((c) => c.body).filter((b) => b.includes("<!-- parallel-workers:round"));
}

function review(store: SqliteWorkerStore, worker: Worker, id: number, body: string, comments: Parameters<typeof reviewFeedback>[0]["comments"] = []) {
  const key = `review:${REPOSITORY}:${id}`;
  return store.addFeedback({ workerId: worker.id, key, scope: key, detail: reviewFeedback({ reviewId: id, author: "alice", body, url: null, comments }) })!;
}

describe("a rework round", () => {
  it("pw worker rework: the same agent in the same worktree, a new commit on the same branch and PR, back to PR_OPEN", async () => {
    const { sb, record, store, worker } = await workerWithPullRequest();
    const before = originLog(sb);
    const asked = await sb.pw(["worker", "rework", worker.id, "--message", "Also handle an empty list"]);
    expect(asked).toMatchObject({ code: 0, stderr: "" });
    expect(asked.stdout).toContain(`${worker.id}: rework round asked`);
    expect((await loop(sb)).code).toBe(0);

    const after = originLog(sb);
    expect(after.slice(1)).toEqual(before);
    expect(after[0]).toMatch(/ fix\(T-1\): address review, round 1$/);
    expect(git(sb.origin, "show", "feature/t-1:round-1.txt")).toBe("round 1\n");
    expect(sb.github.pulls(REPOSITORY)).toHaveLength(1);
    expect(sb.github.requestsTo("POST", `/repos/${REPOSITORY}/pulls`)).toHaveLength(1);

    const text = prompt(record, 1);
    expect(text).toContain("Task: Build the frobnicator");
    expect(text).toContain(`Rework round 1: pull request ${worker.prUrl} (branch feature/t-1)`);
    expect(text).toContain("## Asked with pw worker rework\n\nAlso handle an empty list");

    const got = JSON.parse((await sb.pw(["worker", "get", worker.id, "--json"])).stdout) as Worker & { history: Array<{ from: string; to: string; detail: string }> };
    expect(got).toMatchObject({ state: "PR_OPEN", reworkRounds: 1, automaticReworkRounds: 0, reworkCause: "cli", prNumber: 1, error: null });
    expect(got.history.slice(-2)).toEqual([
      expect.objectContaining({ from: "PR_OPEN", to: "WORKING", detail: "rework round 1: pw worker rework" }),
      expect.objectContaining({ from: "WORKING", to: "PR_OPEN", detail: "rework round 1 pushed 1 commit(s), 1 file(s)" }),
    ]);
    const text2 = (await sb.pw(["worker", "get", worker.id])).stdout;
    expect(text2).toMatch(/rework\s+1 round\(s\), the last for pw worker rework/);
    const comments = roundComments(sb);
    expect(comments).toHaveLength(1);
    expect(comments[0]).toContain(`rework round 1 of worker \`${worker.id}\`, for pw worker rework.`);
    expect(comments[0]).toContain("Pushed 1 commit to `feature/t-1`:");
    expect(comments[0]).toContain("Files changed: `round-1.txt`.");
    expect(store.listFeedback({ workerId: worker.id })).toEqual([expect.objectContaining({ round: 1 })]);
  });

  it("a review: the prompt holds its text and each comment's file, line, diff hunk and text", async () => {
    const { sb, record, store, worker } = await workerWithPullRequest();
    review(store, worker, 7, "Please rename the frobnicator.", [
      { path: "T-1.txt", line: 1, startLine: null, diffHunk: "@@ -0,0 +1 @@\n+Build the frobnicator", body: "Call it a widget.", author: "alice" },
      { path: "shared.txt", line: 1, startLine: null, diffHunk: "@@ -0,0 +1 @@\n+base", body: "And here.", author: "alice" },
    ]);
    expect((await loop(sb)).code).toBe(0);
    const text = prompt(record, 1);
    expect(text).toContain("Task: Build the frobnicator");
    expect(text).toContain("## Review by @alice: changes requested\n\nPlease rename the frobnicator.");
    expect(text).toContain("### T-1.txt, line 1 (@alice)\n\n```diff\n@@ -0,0 +1 @@\n+Build the frobnicator\n```\n\nCall it a widget.");
    expect(text).toContain("### shared.txt, line 1 (@alice)");
    expect(text).toContain("And here.");
    expect(store.requireWorker(worker.id)).toMatchObject({ state: "PR_OPEN", reworkRounds: 1, automaticReworkRounds: 1, reworkCause: "review" });
    expect(roundComments(sb)[0]).toContain("for review by @alice.");
  });

  it("three reviews inside the debounce window make one round", async () => {
    const { sb, record, store, worker } = await workerWithPullRequest({ debounce: "1s" });
    for (const id of [1, 2, 3]) review(store, worker, id, `review number ${id}`);
    expect((await loop(sb)).code).toBe(0);
    const text = prompt(record, 1);
    for (const id of [1, 2, 3]) expect(text).toContain(`review number ${id}`);
    expect(existsSync(join(record, "prompt-2.txt"))).toBe(false);
    expect(store.requireWorker(worker.id)).toMatchObject({ reworkRounds: 1, automaticReworkRounds: 1 });
    expect(store.listFeedback({ workerId: worker.id }).map((f) => f.round)).toEqual([1, 1, 1]);
  });

  it("a failing check's feedback: its name, title, summary and annotations reach the agent", async () => {
    const { sb, record, store, worker } = await workerWithPullRequest();
    const detail = checkFeedback({
      suiteId: 5,
      headSha: "c".repeat(40),
      runs: [{ name: "ci / test", conclusion: "failure", title: "1 test failed", summary: "frob.test.ts", annotations: [{ path: "T-1.txt", startLine: 1, endLine: 1, level: "failure", title: "assert", message: "expected widget" }], annotationsTotal: 1 }],
    });
    store.addFeedback({ workerId: worker.id, key: "check-run:1", scope: "check-suite:5", detail });
    expect((await loop(sb)).code).toBe(0);
    const text = prompt(record, 1);
    expect(text).toContain("## Failed check: ci / test (failure)\n\nTitle: 1 test failed\n\nfrob.test.ts\n\nAnnotations:\n- T-1.txt:1 (failure) assert: expected widget");
    expect(store.requireWorker(worker.id).reworkCause).toBe("check");
  });

  it("an agent that changes nothing: back to PR_OPEN with a comment saying so, nothing pushed", async () => {
    const { sb, worker } = await workerWithPullRequest({}, ["noop"]);
    const before = originLog(sb);
    await sb.pw(["worker", "rework", worker.id]);
    expect((await loop(sb)).code).toBe(0);
    expect(originLog(sb)).toEqual(before);
    const got = JSON.parse((await sb.pw(["worker", "get", worker.id, "--json"])).stdout) as Worker & { history: Array<{ detail: string }> };
    expect(got).toMatchObject({ state: "PR_OPEN", reworkRounds: 1, error: null });
    expect(got.history.at(-1)!.detail).toBe("rework round 1: the agent changed nothing");
    expect(roundComments(sb)[0]).toContain("The agent changed nothing, so nothing was pushed");
  });

  it("an agent that fails: back to PR_OPEN (the PR is still good), what it left kept under a ref, not pushed", async () => {
    const { sb, worker } = await workerWithPullRequest({}, ["fail", "edit"]);
    const before = originLog(sb);
    await sb.pw(["worker", "rework", worker.id]);
    expect((await loop(sb)).code).toBe(0);
    expect(originLog(sb)).toEqual(before);
    const after = JSON.parse((await sb.pw(["worker", "get", worker.id, "--json"])).stdout) as Worker & { history: Array<{ detail: string }> };
    expect(after).toMatchObject({ state: "PR_OPEN", error: null });
    expect(after.history.at(-1)!.detail).toMatch(/^rework round 1 failed: agent "code-author" exited with code 1/);
    const ref = `refs/pw/rework/${worker.id}/round-1`;
    expect(git(sb.repo, "log", "--format=%s", "-1", ref).trim()).toBe("agent: half of round 1");
    expect(git(worker.worktreePath!, "rev-parse", "HEAD").trim()).toBe(before[0]!.split(" ")[0]);
    const comment = roundComments(sb)[0]!;
    expect(comment).toContain("The round failed, so nothing was pushed: the pull request is as it was.");
    expect(comment).toContain(`\`git log ${ref}\``);

    // the next round starts clean from the PR's head
    await sb.pw(["worker", "rework", worker.id]);
    expect((await loop(sb)).code).toBe(0);
    expect(originLog(sb)[0]).toMatch(/ fix\(T-1\): address review, round 2$/);
    expect(git(sb.origin, "ls-tree", "--name-only", "feature/t-1").split("\n")).not.toContain("round-1.txt");
  });

  it("a person's push during the round: fetched, the round's commit put on top, pushed without force", async () => {
    const { sb, worker } = await workerWithPullRequest({}, ["push:ORIGIN"]);
    const before = originLog(sb);
    await sb.pw(["worker", "rework", worker.id]);
    expect((await loop(sb)).code).toBe(0);
    const after = originLog(sb);
    expect(after.slice(2)).toEqual(before);
    expect(after[1]).toMatch(/ person: person-1.txt$/);
    expect(after[0]).toMatch(/ fix\(T-1\): address review, round 1$/);
    expect(git(sb.origin, "show", "feature/t-1:person-1.txt")).toBe("pushed by a person\n");
    const got = JSON.parse((await sb.pw(["worker", "get", worker.id, "--json"])).stdout) as Worker;
    expect(got).toMatchObject({ state: "PR_OPEN", reworkRounds: 1 });
    const log = (await sb.pw(["worker", "logs", worker.id])).stdout;
    expect(log).toContain("feature/t-1 moved on origin during the round");
    expect(roundComments(sb)[0]).toContain("Files changed: `round-1.txt`.");
  });

  it("a person's push that conflicts with the round: UNKNOWN with the reason, the worktree kept with the round's work", async () => {
    const { sb, worker } = await workerWithPullRequest({}, ["conflict:ORIGIN"]);
    await sb.pw(["worker", "rework", worker.id]);
    await loop(sb);
    const got = JSON.parse((await sb.pw(["worker", "get", worker.id, "--json"])).stdout) as Worker;
    expect(got.state).toBe("UNKNOWN");
    expect(got.error).toContain("the round's commits conflict with what was pushed to feature/t-1 during the round");
    expect(got.error).toContain("shared.txt");
    expect(originLog(sb)[0]).toMatch(/ person: shared.txt$/);
    expect(git(worker.worktreePath!, "log", "--format=%s", "-1").trim()).toBe("fix(T-1): address review, round 1");
    expect(readFileSync(join(worker.worktreePath!, "shared.txt"), "utf8")).toBe("agent\n");
  });

  it("a merge during the round stops the agent's process group, moves nothing back, pushes nothing", async () => {
    const { sb, record, store, worker } = await workerWithPullRequest({}, ["hang"]);
    const before = originLog(sb);
    await sb.pw(["worker", "rework", worker.id]);
    const running = loop(sb);
    const pid = Number(await until(() => existsSync(join(record, "pid-1")) && readFileSync(join(record, "pid-1"), "utf8"), 20_000, "agent started"));
    expect(store.requireWorker(worker.id).state).toBe("WORKING");
    // what the app records for a merged pull_request delivery
    store.transition(worker.id, "WORKING", "MERGED", { source: "webhook", detail: "PR #1 merged", patch: { prNumber: 1 } });
    expect((await running).code).toBe(0);
    expect(isProcessAlive(pid)).toBe(false);
    expect(store.requireWorker(worker.id).state).toBe("MERGED");
    expect(originLog(sb)).toEqual(before);
    expect(roundComments(sb)).toEqual([]);
    const log = (await sb.pw(["worker", "logs", worker.id])).stdout;
    expect(log).toContain("agent stopped: the worker is MERGED");
    expect(log).toContain("rework round 1 stopped: the worker is MERGED; nothing was pushed");
  });

  it("past max_rounds automatic feedback waits; pw worker rework starts a round that takes it along", async () => {
    const { sb, record, store, worker } = await workerWithPullRequest({ max_rounds: 1 });
    review(store, worker, 1, "first review");
    expect((await loop(sb)).code).toBe(0);
    review(store, worker, 2, "second review");
    // nothing due: the loop stops at once, no second round
    expect((await loop(sb)).code).toBe(0);
    expect(store.requireWorker(worker.id)).toMatchObject({ reworkRounds: 1, automaticReworkRounds: 1 });
    await sb.pw(["worker", "rework", worker.id, "--message", "go on"]);
    expect((await loop(sb)).code).toBe(0);
    expect(store.requireWorker(worker.id)).toMatchObject({ reworkRounds: 2, automaticReworkRounds: 1, reworkCause: "cli" });
    expect(prompt(record, 2)).toContain("second review");
    expect(prompt(record, 2)).toContain("go on");
  });

  it("a round whose runner died goes back to PR_OPEN, not UNKNOWN", async () => {
    const { sb, store, worker } = await workerWithPullRequest();
    const feedback = review(store, worker, 1, "x");
    // a runner on this host that no longer runs started it
    store.startReworkRound(worker.id, { owner: `${(await import("node:os")).hostname()}:999999999:gone`, leaseMs: 60_000, upTo: feedback.seq, source: "runner" });
    await sb.pw(["loop", "--max-iterations", "1", "--poll-interval", "0.1"]);
    const got = store.requireWorker(worker.id);
    expect(got).toMatchObject({ state: "PR_OPEN", error: null });
    expect(store.history(worker.id).at(-1)!.detail).toMatch(/^rework round 1 interrupted: runner \S+:999999999:gone stopped while it ran/);

    // what its agent left (a commit, a change) is set aside when the next round starts, never pushed
    const wt = worker.worktreePath!;
    writeFileSync(join(wt, "half.txt"), "half\n");
    git(wt, "add", "half.txt");
    git(wt, "-c", "user.name=a", "-c", "user.email=a@example.com", "commit", "--quiet", "-m", "half a change");
    writeFileSync(join(wt, "loose.txt"), "loose\n");
    await sb.pw(["worker", "rework", worker.id]);
    expect((await loop(sb)).code).toBe(0);
    const kept = `refs/pw/rework/${worker.id}/before-round-2`;
    expect(git(sb.repo, "ls-tree", "--name-only", kept).split("\n")).toEqual(expect.arrayContaining(["half.txt", "loose.txt"]));
    const pushed = git(sb.origin, "ls-tree", "--name-only", "feature/t-1").split("\n");
    expect(pushed).toContain("round-2.txt");
    expect(pushed).not.toContain("half.txt");
    expect(pushed).not.toContain("loose.txt");
  });
});

describe("pw worker rework", () => {
  it.each([
    [["worker", "rework", "worker-zzzzzz"], 1, "no worker worker-zzzzzz"],
    [["worker", "rework", "bogus"], 2, "bogus"],
  ])("%j exits %i naming the problem", async (args, code, message) => {
    const sb = (sandbox = await runnerSandbox({}));
    const result = await sb.pw(args);
    expect(result.code).toBe(code);
    expect(result.stderr).toContain(message);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("refuses a worker without an open PR, saying what to do, and records nothing", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    expect((await sb.pw(["worker", "spawn", "--task-id", "T-9", "--description", "queued only"])).code).toBe(0);
    const store = new SqliteWorkerStore(join(sb.home, "state.db"));
    stores.push(store);
    const queued = store.listWorkers()[0]!;
    const result = await sb.pw(["worker", "rework", queued.id, "--message", "x"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`pw: worker ${queued.id} is NEEDS_INIT: only a worker whose pull request is open can have a rework round; wait for its pull request\n`);
    expect(store.listFeedback({})).toEqual([]);
  });

  it("refuses a message over 64 KB", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    const result = await sb.pw(["worker", "rework", "worker-aaaaaa", "--message", "x".repeat(70_000)]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--message is 70000 bytes, over 64 KB");
  });
});
