/**
 * The app's side of the rework loop against the GitHub stand-in: which reviews, failed checks and
 * comments become feedback for a worker's next round, and which change nothing.
 */
import { describe, expect, it } from "vitest";
import type { Worker } from "../../src/core/worker.js";
import type { Feedback } from "../../src/store/store.js";
import { loadPayload, retarget, withCheckRun, withCheckSuite, withComment, withReview } from "../helpers/webhooks.js";
import { defaultServed, harnessPerTest, REPO, type Harness } from "./harness.js";

const open = harnessPerTest();

const BRANCH = "feature/task-1";
const WORKER = "worker-rrrrr1";

async function workerPullRequest(app: Harness, fields: Partial<Worker> = {}) {
  const pr = app.github.addPullRequest(REPO, { head: BRANCH, body: "Task.\n\n<!-- parallel-workers: worker=worker-rrrrr1 task=TASK-1 -->" });
  await app.addWorker({ id: WORKER, state: "PR_OPEN", prNumber: pr.number, prUrl: pr.html_url, ...fields });
  return pr;
}

function reviewPayload(pr: { number: number; body: string | null; head: { sha: string } }, review: Parameters<typeof withReview>[1]) {
  const payload = retarget(loadPayload("pull_request_review.submitted"), { repo: REPO, number: pr.number, headRef: BRANCH, headSha: pr.head.sha, body: pr.body });
  return withReview(payload, { state: "changes_requested", ...review });
}

function feedback(app: Harness): Promise<Feedback[]> {
  return app.store.listFeedback({ workerId: WORKER });
}

describe("a review that asks for changes", () => {
  it("from a writer: recorded with its text and each comment's file, line, diff hunk and text", async () => {
    const app = await open();
    app.github.setPermission(REPO, "alice", "write");
    const pr = await workerPullRequest(app);
    const review = app.github.addReview(REPO, pr.number, {
      user: "alice",
      body: "Please handle the empty list.",
      comments: [
        { path: "src/list.ts", line: 12, diffHunk: "@@ -10,3 +10,3 @@\n-old\n+new", body: "What if `items` is empty?" },
        { path: "src/other.ts", line: 4, startLine: 2, body: "And here." },
      ],
    });
    app.github.addReview(REPO, pr.number, { user: "bob", comments: [{ path: "src/list.ts", line: 1, body: "another review's" }] });
    app.github.clearRequests();

    await app.receive("pull_request_review.submitted", reviewPayload(pr, { id: review.id, user: "alice", body: "Please handle the empty list." }));

    expect(await feedback(app)).toEqual([
      expect.objectContaining({
        cause: "review",
        round: null,
        held: false,
        key: `review:${REPO}:${review.id}`,
        detail: {
          cause: "review",
          reviewId: review.id,
          author: "alice",
          body: "Please handle the empty list.",
          url: `https://github.com/${REPO}/pull/${pr.number}#pullrequestreview-${review.id}`,
          comments: [
            { path: "src/list.ts", line: 12, startLine: null, diffHunk: "@@ -10,3 +10,3 @@\n-old\n+new", body: "What if `items` is empty?", author: "alice" },
            { path: "src/other.ts", line: 4, startLine: 2, diffHunk: "@@ -4,1 +4,1 @@", body: "And here.", author: "alice" },
          ],
          omitted: [],
        },
      }),
    ]);
    expect(app.github.calls()).toEqual([
      `GET /repos/${REPO}/collaborators/alice/permission`,
      `GET /repos/${REPO}/pulls/${pr.number}`,
      `GET /repos/${REPO}/pulls/${pr.number}/comments`,
    ]);
    // the review's text is never logged
    expect(JSON.stringify(app.logLines())).not.toContain("empty list");
  });

  it("a redelivery, or the same review under another delivery id, is looked at once", async () => {
    const app = await open();
    app.github.setPermission(REPO, "alice", "admin");
    const pr = await workerPullRequest(app);
    const review = app.github.addReview(REPO, pr.number, { user: "alice", body: "no" });
    const payload = reviewPayload(pr, { id: review.id, user: "alice", body: "no" });
    await app.receive("pull_request_review.submitted", payload, "delivery-1");
    await app.receive("pull_request_review.submitted", payload, "delivery-1");
    await app.receive("pull_request_review.submitted", payload, "delivery-2");
    expect(await feedback(app)).toHaveLength(1);
    expect(app.followUps.filter((k) => k === "review-feedback")).toHaveLength(1);
  });

  it.each([
    ["a bot's review", { user: "lint[bot]", userType: "Bot" as const }, "write", []],
    ["a reader's review", { user: "rita" }, "read", [`GET /repos/${REPO}/collaborators/rita/permission`]],
    ["an approval", { user: "alice", state: "approved" }, "write", []],
    ["a comment-only review", { user: "alice", state: "commented" }, "write", []],
  ] as const)("%s records nothing", async (_name, review, role, calls) => {
    const app = await open();
    app.github.setPermission(REPO, review.user, role);
    const pr = await workerPullRequest(app);
    app.github.clearRequests();
    await app.receive("pull_request_review.submitted", reviewPayload(pr, { id: 77, body: "x", ...review }));
    expect(await feedback(app)).toEqual([]);
    expect(app.github.calls()).toEqual(calls);
  });

  it("on a fork's PR, a person's PR or an ended worker's, nothing happens", async () => {
    const app = await open();
    app.github.setPermission(REPO, "alice", "write");
    const pr = await workerPullRequest(app);
    const fork = withReview(retarget(loadPayload("pull_request_review.submitted"), { repo: REPO, number: pr.number, headRef: BRANCH, headRepo: "forker/widgets" }), { state: "changes_requested", user: "alice" });
    await app.receive("pull_request_review.submitted", fork);
    const person = withReview(retarget(loadPayload("pull_request_review.submitted"), { repo: REPO, number: 99, headRef: "fix-typo", body: "mine" }), { state: "changes_requested", user: "alice" });
    await app.receive("pull_request_review.submitted", person);
    await app.store.transition(WORKER, "PR_OPEN", "MERGED", { source: "webhook" });
    await app.receive("pull_request_review.submitted", reviewPayload(pr, { id: 5, user: "alice" }));
    expect(await feedback(app)).toEqual([]);
    expect(app.github.calls()).toEqual([]);
  });

  it("while a round runs, it is recorded for the next round", async () => {
    const app = await open();
    app.github.setPermission(REPO, "alice", "write");
    const pr = await workerPullRequest(app, { state: "WORKING" });
    await app.receive("pull_request_review.submitted", reviewPayload(pr, { id: 8, user: "alice" }));
    expect(await feedback(app)).toEqual([expect.objectContaining({ round: null, held: false })]);
    // and the PR's own events during the round leave the worker to its runner
    const reopened = retarget(loadPayload("pull_request.ready_for_review"), { repo: REPO, number: pr.number, headRef: BRANCH, body: pr.body });
    await app.receive("pull_request.ready_for_review", reopened);
    expect((await app.store.requireWorker(WORKER)).state).toBe("WORKING");
    // a close does end it: the runner stops the agent when it sees ABANDONED
    app.github.closePullRequest(REPO, pr.number);
    const closed = retarget(loadPayload("pull_request.closed"), { repo: REPO, number: pr.number, headRef: BRANCH, body: pr.body });
    await app.receive("pull_request.closed", closed);
    expect((await app.store.requireWorker(WORKER)).state).toBe("ABANDONED");
  });

  it("past max_rounds: kept for a person's round, the PR labelled needs-human with one comment saying how to go on", async () => {
    const app = await open();
    app.github.setPermission(REPO, "alice", "write");
    const pr = await workerPullRequest(app, { reworkRounds: 3, automaticReworkRounds: 3 });
    await app.receive("pull_request_review.submitted", reviewPayload(pr, { id: 21, user: "alice" }));
    await app.receive("pull_request_review.submitted", reviewPayload(pr, { id: 22, user: "alice" }));
    expect((await feedback(app)).map((f) => [f.round, f.held])).toEqual([
      [null, true],
      [null, true],
    ]);
    expect(app.github.pull(REPO, pr.number).labels.map((l) => l.name)).toContain("needs-human");
    const comments = app.github.comments(REPO, pr.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain("has had its 3 automatic rework rounds (`rework.max_rounds`), so a review by @alice does not start another");
    expect(comments[0]!.body).toContain("`/worker rework [what to do]`");
  });

  it("a PR labelled needs-human keeps feedback for a person's round and adds nothing", async () => {
    const app = await open();
    app.github.setPermission(REPO, "alice", "write");
    const pr = app.github.addPullRequest(REPO, { head: BRANCH, labels: ["needs-human"] });
    await app.addWorker({ id: WORKER, state: "PR_OPEN", prNumber: pr.number, prUrl: pr.html_url });
    await app.receive("pull_request_review.submitted", reviewPayload(pr, { id: 31, user: "alice" }));
    expect((await feedback(app)).map((f) => f.held)).toEqual([true]);
    expect(app.github.comments(REPO, pr.number)).toEqual([]);
  });

  it("with max_rounds 0 the automatic loop is off: nothing is asked of GitHub", async () => {
    const app = await open({ served: [defaultServed({ rework: { maxRounds: 0, onFailedChecks: "all", debounceMs: 0 } })] });
    const pr = await workerPullRequest(app);
    app.github.clearRequests();
    await app.receive("pull_request_review.submitted", reviewPayload(pr, { id: 41, user: "alice" }));
    expect(await feedback(app)).toEqual([]);
    expect(app.github.calls()).toEqual([]);
  });
});

describe("a failed check", () => {
  function checkRunPayload(pr: { number: number }, run: { id: number; name: string; conclusion: string; suiteId?: number }, headSha: string) {
    const payload = withCheckRun(retarget(loadPayload("check_run.completed"), { repo: REPO }), {
      id: run.id,
      name: run.name,
      conclusion: run.conclusion,
      headSha,
      pullRequests: [{ number: pr.number, headRef: BRANCH, headSha, baseRef: "main" }],
    });
    if (run.suiteId !== undefined) payload.check_run.check_suite.id = run.suiteId;
    return payload;
  }

  it("a required check failing on the PR's head: recorded with its title, summary and annotations; an unrelated one is not", async () => {
    const app = await open();
    const pr = await workerPullRequest(app);
    const sha = pr.head.sha;
    app.github.setRequiredChecks(REPO, "main", ["ci / test"]);
    const failing = app.github.addCheckRun(REPO, {
      name: "ci / test",
      headSha: sha,
      conclusion: "failure",
      title: "2 tests failed",
      summary: "list.test.ts: empty list",
      annotations: [{ path: "src/list.ts", start_line: 12, end_line: 12, annotation_level: "failure", title: "TypeError", message: "items[0] is undefined" }],
    });
    const unrelated = app.github.addCheckRun(REPO, { name: "docs / spelling", headSha: sha, conclusion: "failure", title: "typo" });

    await app.receive("check_run.completed", checkRunPayload(pr, { id: unrelated.id, name: unrelated.name, conclusion: "failure", suiteId: unrelated.check_suite.id }, sha));
    expect(await feedback(app)).toEqual([]);
    await app.receive("check_run.completed", checkRunPayload(pr, { id: failing.id, name: failing.name, conclusion: "failure", suiteId: failing.check_suite.id }, sha));
    expect(await feedback(app)).toEqual([
      expect.objectContaining({
        cause: "check",
        scope: `check-suite:${REPO}:${failing.check_suite.id}`,
        detail: {
          cause: "check",
          suiteId: failing.check_suite.id,
          headSha: sha,
          runs: [
            {
              name: "ci / test",
              conclusion: "failure",
              title: "2 tests failed",
              summary: "list.test.ts: empty list",
              annotations: [{ path: "src/list.ts", startLine: 12, endLine: 12, level: "failure", title: "TypeError", message: "items[0] is undefined" }],
              moreAnnotations: 0,
            },
          ],
          omitted: [],
        },
      }),
    ]);
  });

  it("the phase-5-to-6 gate's required checks count, and a ruleset's", async () => {
    const app = await open();
    const pr = await workerPullRequest(app);
    const sha = pr.head.sha;
    app.github.setFile(REPO, "main", ".parallel-workers/gates/phase-5-to-6.yml", "rules:\n  required-checks:\n    checks: [lint]\n");
    app.github.setRequiredChecks(REPO, "main", ["build"], { ruleset: true });
    const lint = app.github.addCheckRun(REPO, { name: "lint", headSha: sha, conclusion: "timed_out" });
    const build = app.github.addCheckRun(REPO, { name: "build", headSha: sha, conclusion: "failure" });
    await app.receive("check_run.completed", checkRunPayload(pr, { id: lint.id, name: "lint", conclusion: "timed_out", suiteId: lint.check_suite.id }, sha));
    await app.receive("check_run.completed", checkRunPayload(pr, { id: build.id, name: "build", conclusion: "failure", suiteId: build.check_suite.id }, sha));
    expect((await feedback(app)).map((f) => f.detail.cause === "check" && f.detail.runs[0]!.name)).toEqual(["lint", "build"]);
  });

  it("a failed suite records each failed run that counts once, whichever delivery comes first", async () => {
    const app = await open({ served: [defaultServed({ rework: { maxRounds: 3, onFailedChecks: "all", debounceMs: 0 } })] });
    const pr = await workerPullRequest(app);
    const sha = pr.head.sha;
    const a = app.github.addCheckRun(REPO, { name: "unit", headSha: sha, conclusion: "failure" });
    app.github.addCheckRun(REPO, { name: "e2e", headSha: sha, conclusion: "failure" });
    app.github.addCheckRun(REPO, { name: "lint", headSha: sha, conclusion: "success" });
    await app.receive("check_run.completed", checkRunPayload(pr, { id: a.id, name: "unit", conclusion: "failure", suiteId: a.check_suite.id }, sha));
    const suite = withCheckSuite(retarget(loadPayload("check_suite.completed"), { repo: REPO }), {
      headSha: sha,
      conclusion: "failure",
      pullRequests: [{ number: pr.number, headRef: BRANCH, headSha: sha, baseRef: "main" }],
    });
    suite.check_suite.id = a.check_suite.id;
    await app.receive("check_suite.completed", suite);
    expect((await feedback(app)).map((f) => f.detail.cause === "check" && f.detail.runs[0]!.name)).toEqual(["unit", "e2e"]);
    expect(new Set((await feedback(app)).map((f) => f.scope)).size).toBe(1);
  });

  it("our own gates and a check of an older commit start nothing", async () => {
    const app = await open({ served: [defaultServed({ rework: { maxRounds: 3, onFailedChecks: "all", debounceMs: 0 } })] });
    const pr = await workerPullRequest(app);
    await app.receive("check_run.completed", checkRunPayload(pr, { id: 900, name: "security-gate", conclusion: "failure" }, pr.head.sha));
    const old = "0123456789abcdef0123456789abcdef01234567";
    const stale = app.github.addCheckRun(REPO, { name: "unit", headSha: old, conclusion: "failure" });
    await app.receive("check_run.completed", checkRunPayload(pr, { id: stale.id, name: "unit", conclusion: "failure", suiteId: stale.check_suite.id }, old));
    expect(await feedback(app)).toEqual([]);
  });

  it("with on_failed_checks: none, no failed check is looked at", async () => {
    const app = await open({ served: [defaultServed({ rework: { maxRounds: 3, onFailedChecks: "none", debounceMs: 0 } })] });
    const pr = await workerPullRequest(app);
    const run = app.github.addCheckRun(REPO, { name: "unit", headSha: pr.head.sha, conclusion: "failure" });
    await app.receive("check_run.completed", checkRunPayload(pr, { id: run.id, name: "unit", conclusion: "failure" }, pr.head.sha));
    expect(app.followUps.filter((k) => k === "check-feedback")).toEqual([]);
    expect(await feedback(app)).toEqual([]);
  });
});

describe("/worker rework", () => {
  async function comment(app: Harness, number: number, body: string, user = "alice", onPullRequest = true) {
    const created = app.github.addComment(REPO, number, { body, user });
    const payload = withComment(retarget(loadPayload("issue_comment.created"), { repo: REPO, number, onPullRequest, sender: user }), { id: created.id, body, user });
    await app.receive("issue_comment.created", payload);
    return created.id;
  }

  it("on a worker's PR: its text becomes feedback that starts a round at once, acted on once", async () => {
    const app = await open();
    app.github.setPermission(REPO, "alice", "write");
    const pr = await workerPullRequest(app, { taskId: "TASK-1", reworkRounds: 5, automaticReworkRounds: 3 });
    const id = await comment(app, pr.number, "/worker rework rename `frob` to `frobnicate`");
    expect(await feedback(app)).toEqual([
      expect.objectContaining({ cause: "comment", held: false, detail: { cause: "comment", commentId: id, author: "alice", text: "rename `frob` to `frobnicate`", omitted: [] } }),
    ]);
    const reply = app.github.comments(REPO, pr.number).find((c) => c.user.login === app.github.actorLogin)!.body;
    expect(reply).toContain(`Rework round asked for worker \`${WORKER}\` (task \`TASK-1\`): its runner starts it now.`);
    expect(app.github.reactions(id).map((r) => r.content)).toEqual(["eyes", "rocket"]);
  });

  it.each([
    ["on an issue", false, "`/worker rework` works on a worker's pull request, not on an issue."],
    ["on a person's PR", true, "is not a worker's pull request: nothing was done."],
  ])("%s: refused", async (_name, onPullRequest, message) => {
    const app = await open();
    app.github.setPermission(REPO, "alice", "write");
    const other = app.github.addPullRequest(REPO, { head: "someones-branch" });
    await comment(app, other.number, "/worker rework", "alice", onPullRequest);
    expect(await feedback(app)).toEqual([]);
    expect(app.github.comments(REPO, other.number).at(-1)!.body).toContain(message);
  });

  it("from someone without write access: the usual refusal, nothing recorded", async () => {
    const app = await open();
    app.github.setPermission(REPO, "rita", "read");
    const pr = await workerPullRequest(app);
    await comment(app, pr.number, "/worker rework do more", "rita");
    expect(await feedback(app)).toEqual([]);
    expect(app.github.comments(REPO, pr.number).at(-1)!.body).toContain("may be used only by people with write, maintain or admin access");
  });

  it("on an ended worker's PR: says why", async () => {
    const app = await open();
    app.github.setPermission(REPO, "alice", "write");
    const pr = await workerPullRequest(app, { state: "UNKNOWN" });
    await comment(app, pr.number, "/worker rework");
    expect(app.github.comments(REPO, pr.number).at(-1)!.body).toContain(`Worker \`${WORKER}\` is UNKNOWN: only a worker whose pull request is open can have a rework round. \`/worker retry ${WORKER}\` queues it again.`);
  });
});
