import { describe, expect, it } from "vitest";
import { harnessPerTest, REPO, type Harness } from "./harness.js";

const open = harnessPerTest();

/** One pass of the watcher, then its follow-ups run; returns how many it queued. */
async function pass(app: Harness): Promise<number> {
  const queued = await app.deps.statusComments.syncChanged(app.deps.followUps);
  await app.deps.followUps.drain();
  return queued;
}

describe("the status-comment watcher", () => {
  it("edits an issue's one status comment once per change the runner makes, reading only the local store otherwise", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Watch me" });
    const comment = app.github.addComment(REPO, issue.number, { body: "old", user: app.github.actorLogin });
    await app.addWorker({ id: "worker-aaaaa1", taskId: "issue-1", issueNumber: issue.number, statusCommentId: comment.id });

    expect(await pass(app)).toBe(1);
    expect(await pass(app)).toBe(0);
    await app.store.transition("worker-aaaaa1", "NEEDS_INIT", "WORKING", { source: "runner", patch: { pid: 123 } });
    await app.store.updateWorker("worker-aaaaa1", { leaseUntil: new Date().toISOString() });
    expect(await pass(app)).toBe(1);
    expect(await pass(app)).toBe(0);

    const comments = app.github.comments(REPO, issue.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toContain("is **WORKING**");
    expect(app.github.calls()).toEqual([
      `PATCH /repos/${REPO}/issues/comments/${comment.id}`,
      `PATCH /repos/${REPO}/issues/comments/${comment.id}`,
    ]);
  });

  it("finds its own comment by the marker when it knows none, and makes a new one when it was deleted", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Lost" });
    app.github.addComment(REPO, issue.number, { body: "unrelated", user: "alice" });
    const mine = app.github.addComment(REPO, issue.number, {
      body: "<!-- parallel-workers:status worker=worker-aaaaa2 -->\nold",
      user: app.github.actorLogin,
    });
    await app.addWorker({ id: "worker-aaaaa2", taskId: "issue-1", issueNumber: issue.number, state: "WORKING" });
    await pass(app);
    expect((await app.store.requireWorker("worker-aaaaa2")).statusCommentId).toBe(mine.id);
    expect(app.github.comments(REPO, issue.number)).toHaveLength(2);

    await app.store.updateWorker("worker-aaaaa2", { statusCommentId: 999_999, statusCommentKey: null });
    await pass(app);
    expect(app.github.comments(REPO, issue.number)).toHaveLength(2);
    expect((await app.store.requireWorker("worker-aaaaa2")).statusCommentId).toBe(mine.id);
    expect(app.github.calls()).toEqual([
      `GET /repos/${REPO}/issues/${issue.number}/comments`,
      `PATCH /repos/${REPO}/issues/comments/${mine.id}`,
      `PATCH /repos/${REPO}/issues/comments/999999`,
      `GET /repos/${REPO}/issues/${issue.number}/comments`,
      `PATCH /repos/${REPO}/issues/comments/${mine.id}`,
    ]);
  });

  it("leaves workers that ended before they had a comment alone, and tries a failed write again through the queue", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Quiet" });
    await app.addWorker({ id: "worker-aaaaa3", taskId: "issue-1", issueNumber: issue.number, state: "MERGED" });
    expect(await pass(app)).toBe(0);
    await app.addWorker({ id: "worker-aaaaa4", taskId: "issue-2", issueNumber: issue.number, state: "WORKING" });
    app.github.failNext({ method: "GET", path: `/repos/${REPO}/issues/${issue.number}/comments`, status: 500 });
    expect(await pass(app)).toBe(1);
    // queued once per version of the worker: the next pass adds nothing
    expect(await pass(app)).toBe(0);
    expect(app.github.calls()).toEqual([
      `GET /repos/${REPO}/issues/${issue.number}/comments`,
      `GET /repos/${REPO}/issues/${issue.number}/comments`,
      `POST /repos/${REPO}/issues/${issue.number}/comments`,
    ]);
    expect(app.logLines().filter((l) => l.msg === "follow-up failed; trying again")).toEqual([
      expect.objectContaining({ kind: "status", status: 500, lane: `${REPO}#${issue.number}`, retry_in_ms: 10 }),
    ]);
    expect((await app.store.requireWorker("worker-aaaaa4")).statusCommentId).not.toBeNull();
  });
});
