import { describe, expect, it } from "vitest";
import { reconcile } from "../../src/app/reconcile.js";
import { pullRequestMarker } from "../../src/core/pr.js";
import { harnessPerTest, REPO, restOctokit, type Harness } from "./harness.js";

const openApp = harnessPerTest();

function octokitFor(app: Harness) {
  return async () => restOctokit(app.github);
}

describe("reconcile", () => {
  it("brings WORKING and PR_OPEN workers in line with one pull-request listing per repository", async () => {
    const app = await openApp();
    app.github.addRepo("acme/other");
    const open = app.github.addPullRequest(REPO, { head: "feature/a" });
    const merged = app.github.addPullRequest(REPO, { head: "feature/b" });
    app.github.mergePullRequest(REPO, merged.number);
    const closed = app.github.addPullRequest(REPO, { head: "feature/c" });
    app.github.closePullRequest(REPO, closed.number);
    const marked = app.github.addPullRequest(REPO, { head: "renamed", body: pullRequestMarker("worker-aaaaa5", "T-5") });
    app.github.mergePullRequest(REPO, marked.number);
    app.github.addPullRequest(REPO, { head: "forker:feature/d" });
    const elsewhere = app.github.addPullRequest("acme/other", { head: "feature/e" });
    app.github.mergePullRequest("acme/other", elsewhere.number);

    await app.addWorker({ id: "worker-aaaaa1", taskId: "T-1", branch: "feature/a", state: "WORKING" });
    await app.addWorker({ id: "worker-aaaaa2", taskId: "T-2", branch: "feature/b", state: "PR_OPEN", prNumber: merged.number });
    await app.addWorker({ id: "worker-aaaaa3", taskId: "T-3", branch: "feature/c", state: "PR_OPEN" });
    await app.addWorker({ id: "worker-aaaaa4", taskId: "T-4", branch: "feature/d", state: "PR_OPEN" });
    await app.addWorker({ id: "worker-aaaaa5", taskId: "T-5", branch: "feature/t-5", state: "PR_OPEN" });
    // a runner holds this one and is still working on it: left to the runner
    await app.addWorker({ id: "worker-aaaaa6", taskId: "T-6", branch: "feature/a", state: "WORKING", leaseUntil: new Date(Date.now() + 60_000).toISOString() });
    await app.store.createWorker({ id: "worker-bbbbb1", repo: "acme/other", taskId: "E", branch: "feature/e", state: "PR_OPEN" }, { source: "cli" });
    await app.addWorker({ id: "worker-bbbbb2", taskId: "T-7", branch: "feature/b", state: "MERGED" });

    const result = await reconcile({ store: app.store, logger: app.logger, octokitFor: octokitFor(app), correlationId: "reconcile-1" });

    const moves = Object.fromEntries(result.changes.map((c) => [c.worker.id, `${c.from} -> ${c.to} #${c.pullRequest.number}`]));
    expect(moves).toEqual({
      "worker-aaaaa1": `WORKING -> PR_OPEN #${open.number}`,
      "worker-aaaaa2": `PR_OPEN -> MERGED #${merged.number}`,
      "worker-aaaaa3": `PR_OPEN -> ABANDONED #${closed.number}`,
      "worker-aaaaa5": `PR_OPEN -> MERGED #${marked.number}`,
      "worker-bbbbb1": `PR_OPEN -> MERGED #${elsewhere.number}`,
    });
    expect((await app.store.requireWorker("worker-aaaaa4")).state).toBe("PR_OPEN");
    expect((await app.store.requireWorker("worker-aaaaa6")).state).toBe("WORKING");
    expect((await app.store.requireWorker("worker-aaaaa1"))).toMatchObject({ prNumber: open.number, prUrl: open.html_url });
    expect((await app.store.history("worker-aaaaa2")).at(-1)).toMatchObject({ source: "reconcile", correlationId: "reconcile-1" });
    expect(result.checked).toBe(6);
    expect(result.failures).toEqual([]);
    // and the reviews of the one PR left open, for requests for changes no rework round answered
    expect(app.github.calls().sort()).toEqual(["GET /repos/acme/other/pulls", `GET /repos/${REPO}/pulls`, `GET /repos/${REPO}/pulls/${open.number}/reviews`]);
    expect(result.reviews).toEqual([]);
  });

  it("pages through a long list, and reports a repository it cannot list without stopping", async () => {
    const app = await openApp();
    for (let i = 0; i < 120; i++) app.github.addPullRequest(REPO, { head: `feature/x-${i}` });
    await app.addWorker({ id: "worker-aaaaa1", taskId: "T-1", branch: "feature/x-0", state: "WORKING" });
    await app.store.createWorker({ id: "worker-bbbbb1", repo: "acme/missing", taskId: "E", branch: "feature/e", state: "PR_OPEN" }, { source: "cli" });
    const result = await reconcile({ store: app.store, logger: app.logger, octokitFor: octokitFor(app) });
    expect(result.changes.map((c) => c.worker.id)).toEqual(["worker-aaaaa1"]);
    expect(result.failures).toEqual([{ repository: "acme/missing", message: expect.stringContaining("Not Found") }]);
    expect(app.github.calls()).toEqual([
      `GET /repos/${REPO}/pulls`,
      `GET /repos/${REPO}/pulls`,
      `GET /repos/${REPO}/pulls/1/reviews`,
      "GET /repos/acme/missing/pulls",
    ]);
    // the 404 for the unknown repository is a known route; unknownRequests stays empty
  });

  it("queues a standing request for changes that no rework round answered, once, as its delivery would", async () => {
    const app = await openApp();
    app.github.setPermission(REPO, "alice", "write");
    const pr = app.github.addPullRequest(REPO, { head: "feature/t-1" });
    await app.addWorker({ id: "worker-aaaaa1", taskId: "T-1", branch: "feature/t-1", state: "PR_OPEN", prNumber: pr.number });
    // answered by a round already, superseded by an approval, from a bot: none of these
    const answered = app.github.addReview(REPO, pr.number, { user: "dave", body: "old" });
    await app.store.addFeedback({
      workerId: "worker-aaaaa1",
      key: `review:${REPO}:${answered.id}`,
      scope: `review:${REPO}:${answered.id}`,
      detail: { cause: "review", reviewId: answered.id, author: "dave", body: "old", url: null, comments: [], omitted: [] },
    });
    app.github.addReview(REPO, pr.number, { user: "bob", body: "no" });
    app.github.addReview(REPO, pr.number, { user: "bob", state: "APPROVED" });
    app.github.addReview(REPO, pr.number, { user: "lint[bot]", userType: "Bot", body: "style" });
    app.github.addReview(REPO, pr.number, { user: "carol", state: "COMMENTED", body: "nit" });
    const standing = app.github.addReview(REPO, pr.number, { user: "alice", body: "Handle the empty list.", comments: [{ path: "src/a.ts", line: 3, body: "here" }] });

    const result = await reconcile({ store: app.store, logger: app.logger, octokitFor: octokitFor(app), correlationId: "reconcile-2" });
    expect(result.reviews.map((r) => ({ worker: r.worker.id, reviewId: r.reviewId, author: r.author }))).toEqual([
      { worker: "worker-aaaaa1", reviewId: standing.id, author: "alice" },
    ]);
    // the queued follow-up does what the review's delivery would: alice may, so it is recorded
    await app.deps.followUps.drain();
    const recorded = (await app.store.listFeedback({ workerId: "worker-aaaaa1" })).filter((f) => f.key !== `review:${REPO}:${answered.id}`);
    expect(recorded.map((f) => f.detail)).toEqual([
      expect.objectContaining({ cause: "review", reviewId: standing.id, author: "alice", body: "Handle the empty list.", comments: [expect.objectContaining({ path: "src/a.ts", line: 3, body: "here" })] }),
    ]);
    // a second reconcile queues nothing new
    expect((await reconcile({ store: app.store, logger: app.logger, octokitFor: octokitFor(app) })).reviews).toEqual([]);
  });
});
