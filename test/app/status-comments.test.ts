import { describe, expect, it } from "vitest";
import { harnessPerTest, REPO } from "./harness.js";

const open = harnessPerTest();

describe("the status-comment watcher", () => {
  it("edits an issue's one status comment once per change the runner makes, reading only the local store otherwise", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Watch me" });
    const comment = app.github.addComment(REPO, issue.number, { body: "old", user: app.github.actorLogin });
    app.addWorker({ id: "worker-aaaaa1", taskId: "issue-1", issueNumber: issue.number, statusCommentId: comment.id });
    const watcher = app.deps.statusComments;

    expect(await watcher.syncChanged()).toBe(1);
    expect(await watcher.syncChanged()).toBe(0);
    app.store.transition("worker-aaaaa1", "NEEDS_INIT", "WORKING", { source: "runner", patch: { pid: 123 } });
    app.store.updateWorker("worker-aaaaa1", { leaseUntil: new Date().toISOString() });
    expect(await watcher.syncChanged()).toBe(1);
    expect(await watcher.syncChanged()).toBe(0);

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
    app.addWorker({ id: "worker-aaaaa2", taskId: "issue-1", issueNumber: issue.number, state: "WORKING" });
    await app.deps.statusComments.syncChanged();
    expect(app.store.requireWorker("worker-aaaaa2").statusCommentId).toBe(mine.id);
    expect(app.github.comments(REPO, issue.number)).toHaveLength(2);

    app.store.updateWorker("worker-aaaaa2", { statusCommentId: 999_999, statusCommentKey: null });
    await app.deps.statusComments.syncChanged();
    expect(app.github.comments(REPO, issue.number)).toHaveLength(2);
    expect(app.store.requireWorker("worker-aaaaa2").statusCommentId).toBe(mine.id);
    expect(app.github.calls()).toEqual([
      `GET /repos/${REPO}/issues/${issue.number}/comments`,
      `PATCH /repos/${REPO}/issues/comments/${mine.id}`,
      `PATCH /repos/${REPO}/issues/comments/999999`,
      `GET /repos/${REPO}/issues/${issue.number}/comments`,
      `PATCH /repos/${REPO}/issues/comments/${mine.id}`,
    ]);
  });

  it("leaves workers that ended before they had a comment alone, and backs off after a failure", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Quiet" });
    app.addWorker({ id: "worker-aaaaa3", taskId: "issue-1", issueNumber: issue.number, state: "MERGED" });
    expect(await app.deps.statusComments.syncChanged()).toBe(0);
    app.addWorker({ id: "worker-aaaaa4", taskId: "issue-2", issueNumber: issue.number, state: "WORKING" });
    app.github.failNext({ method: "GET", path: `/repos/${REPO}/issues/${issue.number}/comments`, status: 500 });
    expect(await app.deps.statusComments.syncChanged()).toBe(0);
    expect(await app.deps.statusComments.syncChanged()).toBe(0);
    expect(app.github.calls()).toEqual([`GET /repos/${REPO}/issues/${issue.number}/comments`]);
    expect(app.logLines().some((l) => l.msg === "status comment not updated" && l.worker_id === "worker-aaaaa4")).toBe(true);
  });
});
