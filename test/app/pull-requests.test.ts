import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { pullRequestMarker } from "../../src/core/pr.js";
import { InvalidInputError } from "../../src/core/errors.js";
import { loadPayload, retarget } from "../helpers/webhooks.js";
import { parsePrometheusText, sampleValue } from "../log/prometheus-text.js";
import { defaultServed, harnessPerTest, REPO } from "./harness.js";

const open = harnessPerTest();

const BRANCH = "feature/task-1";

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** What the gates ask of GitHub for a worker's PR on commit `sha` the first time (see test/app/checks.test.ts). */
function gateCalls(number: number, sha: string): string[] {
  const runs = `GET /repos/${REPO}/commits/${sha}/check-runs`;
  return [
    `GET /repos/${REPO}/pulls/${number}/files`,
    runs,
    `GET /repos/${REPO}/contents/.parallel-workers/gates/security-gate.yml`,
    runs,
    `POST /repos/${REPO}/check-runs`,
    `GET /repos/${REPO}/contents/.parallel-workers/gates/phase-5-to-6.yml`,
    runs,
    `POST /repos/${REPO}/check-runs`,
  ];
}

function opened(number: number, extra: Parameters<typeof retarget>[1] = {}) {
  return retarget(loadPayload("pull_request.opened"), { repo: REPO, number, headRef: BRANCH, ...extra });
}

function merged(number: number, extra: Parameters<typeof retarget>[1] = {}) {
  return retarget(loadPayload("pull_request.closed.merged"), { repo: REPO, number, headRef: BRANCH, ...extra });
}

function closed(number: number) {
  return retarget(loadPayload("pull_request.closed"), { repo: REPO, number, headRef: BRANCH });
}

/** A harness with follow-up work as in pw serve, a WORKING worker `id` and an open PR on its branch. */
async function workingWithFollowUps(id: string) {
  const app = await open({ drainAfterReceive: false });
  await app.addWorker({ id, state: "WORKING" });
  return { app, pr: app.github.addPullRequest(REPO, { head: BRANCH }) };
}

describe("pull_request webhooks move workers", () => {
  it("opened: a WORKING worker goes to PR_OPEN after the live PR is read once, and records the PR", async () => {
    const app = await open();
    await app.addWorker({ id: "worker-aaaaa1", state: "WORKING" });
    const pr = app.github.addPullRequest(REPO, { head: BRANCH });
    await app.receive("pull_request.opened", opened(pr.number), "delivery-1");

    expect((await app.store.requireWorker("worker-aaaaa1"))).toMatchObject({ state: "PR_OPEN", prNumber: pr.number, prUrl: pr.html_url });
    expect((await app.store.history("worker-aaaaa1")).at(-1)).toMatchObject({
      from: "WORKING",
      to: "PR_OPEN",
      source: "webhook",
      correlationId: "delivery-1",
    });
    const sha = opened(pr.number).pull_request.head.sha;
    expect(app.github.calls()).toEqual([`GET /repos/${REPO}/pulls/${pr.number}`, ...gateCalls(pr.number, sha)]);
  });

  it("opened when the runner already moved it: nothing to read, nothing moves; only the gates run", async () => {
    const app = await open();
    const pr = app.github.addPullRequest(REPO, { head: BRANCH });
    await app.addWorker({ id: "worker-aaaaa2", state: "PR_OPEN", prNumber: pr.number, prUrl: pr.html_url });
    await app.receive("pull_request.opened", opened(pr.number));
    expect((await app.store.history("worker-aaaaa2"))).toHaveLength(1);
    expect(app.github.calls()).toEqual(gateCalls(pr.number, opened(pr.number).pull_request.head.sha));
  });

  it("ready_for_review and reopened bring a worker to PR_OPEN, also out of UNKNOWN and ABANDONED", async () => {
    const app = await open();
    const pr = app.github.addPullRequest(REPO, { head: BRANCH });
    await app.addWorker({ id: "worker-aaaaa3", state: "UNKNOWN", error: "push failed" });
    await app.receive("pull_request.ready_for_review", retarget(loadPayload("pull_request.ready_for_review"), { repo: REPO, number: pr.number, headRef: BRANCH }));
    expect((await app.store.requireWorker("worker-aaaaa3"))).toMatchObject({ state: "PR_OPEN", error: null });

    await app.store.setState("worker-aaaaa3", "ABANDONED", { source: "admin" });
    await app.receive("pull_request.reopened", retarget(loadPayload("pull_request.reopened"), { repo: REPO, number: pr.number, headRef: BRANCH }));
    expect((await app.store.requireWorker("worker-aaaaa3")).state).toBe("PR_OPEN");
  });

  it("closed and merged: MERGED without a re-read (a merge is final), the worktree left for the runner, the remote branch deleted when configured", async () => {
    const app = await open({ served: [defaultServed({ deleteBranchOnMerge: true })] });
    app.github.pushBranch(REPO, BRANCH);
    const pr = app.github.addPullRequest(REPO, { head: BRANCH });
    await app.addWorker({ id: "worker-aaaaa4", state: "PR_OPEN", prNumber: pr.number, worktreePath: "/nowhere/widgets/task-1" });
    app.github.mergePullRequest(REPO, pr.number);
    await app.receive("pull_request.closed", merged(pr.number));

    const worker = (await app.store.requireWorker("worker-aaaaa4"));
    expect(worker).toMatchObject({ state: "MERGED", worktreePath: "/nowhere/widgets/task-1" });
    expect((await app.store.history(worker.id)).at(-1)?.detail).toBe(`PR #${pr.number} merged`);
    expect(app.github.branches(REPO)).not.toHaveProperty(BRANCH);
    expect(app.github.calls()).toEqual([`DELETE /repos/${REPO}/git/refs/heads/${BRANCH}`]);
  });

  it("closed unmerged: ABANDONED; the branch stays", async () => {
    const app = await open({ served: [defaultServed({ deleteBranchOnMerge: true })] });
    const pr = app.github.addPullRequest(REPO, { head: BRANCH });
    await app.addWorker({ id: "worker-aaaaa5", state: "PR_OPEN", prNumber: pr.number });
    app.github.closePullRequest(REPO, pr.number);
    await app.receive("pull_request.closed", closed(pr.number));
    expect((await app.store.requireWorker("worker-aaaaa5")).state).toBe("ABANDONED");
    expect(app.github.calls()).toEqual([`GET /repos/${REPO}/pulls/${pr.number}`]);
  });

  it("synchronize moves nothing; it only runs the gates on the new head commit", async () => {
    const app = await open();
    const pr = app.github.addPullRequest(REPO, { head: BRANCH });
    await app.addWorker({ id: "worker-aaaaa6", state: "PR_OPEN", prNumber: pr.number });
    const payload = retarget(loadPayload("pull_request.synchronize"), { repo: REPO, number: pr.number, headRef: BRANCH });
    await app.receive("pull_request.synchronize", payload);
    expect((await app.store.history("worker-aaaaa6"))).toHaveLength(1);
    expect(app.github.calls()).toEqual(gateCalls(pr.number, payload.pull_request.head.sha));
  });

  it("a PR from a fork never moves a worker, even on the worker's branch name", async () => {
    const app = await open();
    await app.addWorker({ id: "worker-aaaaa7", state: "WORKING" });
    const body = pullRequestMarker("worker-aaaaa7", "TASK-1");
    await app.receive("pull_request.opened", opened(5, { headRepo: "forker/widgets", body }));
    await app.receive("pull_request.closed", merged(5, { headRepo: "forker/widgets", body }));
    expect((await app.store.requireWorker("worker-aaaaa7")).state).toBe("WORKING");
    expect(app.github.calls()).toEqual([]);
  });

  it("a PR of no worker's changes nothing and calls nothing", async () => {
    const app = await open();
    await app.addWorker({ id: "worker-aaaaa8", state: "WORKING" });
    await app.receive("pull_request.opened", opened(9, { headRef: "feature/someone-else" }));
    expect((await app.store.requireWorker("worker-aaaaa8")).state).toBe("WORKING");
    expect(app.github.calls()).toEqual([]);
  });

  it("the body's marker ties a PR on another branch to its worker", async () => {
    const app = await open();
    await app.addWorker({ id: "worker-aaaaa9", state: "WORKING" });
    const pr = app.github.addPullRequest(REPO, { head: "renamed-branch", body: `Work\n\n${pullRequestMarker("worker-aaaaa9", "TASK-1")}` });
    await app.receive("pull_request.opened", opened(pr.number, { headRef: "renamed-branch", body: pr.body }));
    expect((await app.store.requireWorker("worker-aaaaa9"))).toMatchObject({ state: "PR_OPEN", prNumber: pr.number });
  });

  it("the same delivery twice makes one transition", async () => {
    const app = await open();
    await app.addWorker({ id: "worker-bbbbb1", state: "PR_OPEN", prNumber: 1 });
    const pr = app.github.addPullRequest(REPO, { head: BRANCH });
    app.github.mergePullRequest(REPO, pr.number);
    const id = randomUUID();
    await app.receive("pull_request.closed", merged(pr.number), id);
    await app.receive("pull_request.closed", merged(pr.number), id);
    expect((await app.store.history("worker-bbbbb1")).map((t) => t.to)).toEqual(["PR_OPEN", "MERGED"]);
    expect(app.github.calls()).toEqual([]);
    const families = parsePrometheusText((await app.metrics.render()).body);
    expect(sampleValue(families, "pw_webhook_duration_seconds_count", { event: "pull_request.closed", outcome: "duplicate" })).toBe(1);
    expect(sampleValue(families, "pw_webhook_duration_seconds_count", { event: "pull_request.closed", outcome: "handled" })).toBe(1);
  });

  it("closed before opened: the merge lands, and the late opened event cannot undo it", async () => {
    const app = await open();
    await app.addWorker({ id: "worker-bbbbb2", state: "WORKING" });
    const pr = app.github.addPullRequest(REPO, { head: BRANCH });
    app.github.mergePullRequest(REPO, pr.number);
    await app.receive("pull_request.closed", merged(pr.number));
    expect((await app.store.requireWorker("worker-bbbbb2")).state).toBe("MERGED");
    await app.receive("pull_request.opened", opened(pr.number));
    expect((await app.store.requireWorker("worker-bbbbb2")).state).toBe("MERGED");
    expect((await app.store.history("worker-bbbbb2")).map((t) => t.to)).toEqual(["WORKING", "MERGED"]);
    // the merge needs no re-read; the late "opened" disagrees with the store and is checked
    expect(app.github.calls()).toEqual([`GET /repos/${REPO}/pulls/${pr.number}`]);
  });

  it("a stale 'closed' for a PR that was reopened since: the live PR wins", async () => {
    const app = await open();
    const pr = app.github.addPullRequest(REPO, { head: BRANCH });
    await app.addWorker({ id: "worker-bbbbb3", state: "PR_OPEN", prNumber: pr.number });
    // the PR is open on GitHub; a late "closed" arrives
    await app.receive("pull_request.closed", closed(pr.number));
    expect((await app.store.requireWorker("worker-bbbbb3")).state).toBe("PR_OPEN");
  });

  it("an earlier attempt's PR of the same branch does not move a worker that recorded another PR", async () => {
    const app = await open();
    await app.addWorker({ id: "worker-bbbbb4", state: "PR_OPEN", prNumber: 7 });
    await app.receive("pull_request.closed", closed(3));
    expect((await app.store.requireWorker("worker-bbbbb4")).state).toBe("PR_OPEN");
    expect(app.github.calls()).toEqual([]);
  });

  it("refuses a payload without what it reads, records nothing, and logs no payload", async () => {
    const app = await open();
    const payload = opened(1);
    delete (payload.pull_request as { head?: unknown }).head;
    const id = randomUUID();
    const error = await app.receive("pull_request.opened", payload, id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors[0]).toBeInstanceOf(InvalidInputError);
    expect((error as AggregateError).errors[0].message).toMatch(/pull_request payload: pull_request.head/);
    // not recorded: a corrected redelivery would be handled
    expect(app.deps.deliveries.has(id)).toBe(false);
    // one line says why, and Probot's error handler does not add another
    expect(app.logLines().filter((line) => (line.level as number) >= 40)).toEqual([
      expect.objectContaining({ msg: "webhook payload refused", correlation_id: id, event: "pull_request.opened" }),
    ]);
    expect(JSON.stringify(app.logLines())).not.toContain(payload.pull_request.title);
  });

  it("a handler that fails forgets the delivery, so GitHub's redelivery is handled; one line says why", async () => {
    const app = await open();
    await app.addWorker({ id: "worker-bbbbb5", state: "WORKING" });
    const pr = app.github.addPullRequest(REPO, { head: BRANCH });
    // a store that cannot answer: the one thing a handler waits on
    await app.store.close();
    const id = randomUUID();
    await expect(app.receive("pull_request.opened", opened(pr.number), id)).rejects.toThrow();
    expect(app.deps.deliveries.has(id)).toBe(false);
    const failure = app.logLines().find((line) => line.msg === "webhook handler failed");
    expect(failure).toMatchObject({ component: "app", correlation_id: id, event: "pull_request.opened" });
    // one failure, one line: Probot's error handler does not write it again
    expect(app.logLines().filter((line) => (line.level as number) >= 50)).toEqual([failure]);
    expect(app.logLines().find((line) => line.name === "event" && line.id === id)).toBeUndefined();
    expect(JSON.stringify(app.logLines())).not.toContain("This is a pretty simple change");
    expect(app.github.calls()).toEqual([]);
  });

  it("a delivery that needs a re-read is answered first; the re-read, the move and the gates follow", async () => {
    const { app, pr } = await workingWithFollowUps("worker-bbbbb7");
    app.github.delay({ method: "GET", path: `/repos/${REPO}/pulls/${pr.number}`, ms: 300 });
    await app.receive("pull_request.opened", opened(pr.number), "delivery-7");
    // answered while GitHub has not answered the re-read yet: nothing moved so far
    expect((await app.store.requireWorker("worker-bbbbb7")).state).toBe("WORKING");
    expect((await app.store.followUpBacklog()).unfinished).toBe(1);
    await until(async () => (await app.store.requireWorker("worker-bbbbb7")).state === "PR_OPEN");
    expect((await app.store.history("worker-bbbbb7")).at(-1)).toMatchObject({ to: "PR_OPEN", correlationId: "delivery-7" });
    await until(() => app.github.checkRuns(REPO).length === 2);
    expect(app.github.calls()).toEqual([`GET /repos/${REPO}/pulls/${pr.number}`, ...gateCalls(pr.number, opened(pr.number).pull_request.head.sha)]);
    expect(app.followUps).toEqual(["pull-request", "gates"]);
  });

  it("follow-up work not finished when the app stops is kept in the store and done by the next start, once", async () => {
    const { app, pr } = await workingWithFollowUps("worker-bbbbba");
    app.github.delay({ method: "GET", path: `/repos/${REPO}/pulls/${pr.number}`, ms: 300, times: 1 });
    await app.receive("pull_request.opened", opened(pr.number), "delivery-a");
    await until(() => app.followUps.length === 1);
    // stopped while the re-read waits on GitHub: the delivery id is kept, and so is its work
    await app.restartFollowUps();
    await app.deps.followUps.drain();
    expect((await app.store.requireWorker("worker-bbbbba")).state).toBe("PR_OPEN");
    expect(app.deps.deliveries.has("delivery-a")).toBe(true);
    expect(app.followUps).toEqual(["pull-request", "pull-request", "gates"]);
    await until(() => app.github.checkRuns(REPO).length === 2);
    expect((await app.store.history("worker-bbbbba")).filter((t) => t.to === "PR_OPEN")).toHaveLength(1);
  });

  it("a deferred re-read that fails is tried again, and the worker still moves", async () => {
    const { app, pr } = await workingWithFollowUps("worker-bbbbb8");
    app.github.failNext({ method: "GET", path: `/repos/${REPO}/pulls/${pr.number}`, status: 502 });
    await app.receive("pull_request.closed", closed(pr.number), "delivery-8");
    app.github.closePullRequest(REPO, pr.number);
    await until(async () => (await app.store.requireWorker("worker-bbbbb8")).state === "ABANDONED");
    expect(app.github.requestsTo("GET", `/repos/${REPO}/pulls/${pr.number}`).map((r) => r.status)).toEqual([502, 200]);
    const retried = app.logLines().filter((line) => line.msg === "follow-up failed; trying again");
    expect(retried).toEqual([expect.objectContaining({ correlation_id: "delivery-8", retry_in_ms: 10, level: 40 })]);
    expect(app.deps.deliveries.has("delivery-8")).toBe(true);
  });

  it("a deferred re-read that keeps failing gives up after the last try: one error line, the delivery forgotten, nothing moved", async () => {
    const { app, pr } = await workingWithFollowUps("worker-bbbbb9");
    app.github.failNext({ method: "GET", path: `/repos/${REPO}/pulls/${pr.number}`, status: 502, times: 3 });
    await app.receive("pull_request.opened", opened(pr.number), "delivery-9");
    await until(() => !app.deps.deliveries.has("delivery-9"));
    expect(app.followUps).toEqual(["pull-request", "pull-request", "pull-request"]);
    expect((await app.store.requireWorker("worker-bbbbb9")).state).toBe("WORKING");
    expect(app.logLines().filter((line) => (line.level as number) >= 50)).toEqual([
      expect.objectContaining({ msg: "follow-up gave up: redeliver the webhook or run `pw reconcile`", correlation_id: "delivery-9", attempts: 3 }),
    ]);
    // GitHub's redelivery is handled
    await app.receive("pull_request.opened", opened(pr.number), "delivery-9");
    await until(async () => (await app.store.requireWorker("worker-bbbbb9")).state === "PR_OPEN");
    await until(() => app.github.checkRuns(REPO).length === 2);
  });

  it("edits the status comment of a worker that came from an issue", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Add a widget" });
    const pr = app.github.addPullRequest(REPO, { head: BRANCH });
    const comment = app.github.addComment(REPO, issue.number, { body: "status", user: app.github.actorLogin });
    await app.addWorker({ id: "worker-bbbbb6", state: "PR_OPEN", prNumber: pr.number, issueNumber: issue.number, statusCommentId: comment.id, statusCommentKey: "old" });
    app.github.mergePullRequest(REPO, pr.number);
    await app.receive("pull_request.closed", merged(pr.number));
    const [edited] = app.github.comments(REPO, issue.number);
    expect(edited?.body).toContain("worker `worker-bbbbb6` is **MERGED**");
    expect((await app.store.requireWorker("worker-bbbbb6")).statusCommentKey).toMatch(/^MERGED\|/);
    expect(app.github.calls()).toEqual([`PATCH /repos/${REPO}/issues/comments/${comment.id}`]);
  });
});
