/**
 * The app's part of the merge flow, through real deliveries (payloads from
 * @octokit/webhooks-examples) to a real Probot, a real store and the GitHub stand-in: a push to
 * a base branch (update-branch, or rebase requests for the runner), stacked PRs when their parent
 * merges or closes, merging through GitHub once the phase-5-to-6 gate passes, merge groups.
 */
import { describe, expect, it } from "vitest";
import type { MergeFlowSettings } from "../../src/core/merge-flow.js";
import { queueAgain } from "../../src/store/moves.js";
import { loadPayload, retarget, withRepository, withReview } from "../helpers/webhooks.js";
import { defaultServed, harnessPerTest, REPO, type Harness } from "./harness.js";

const open = harnessPerTest();

const QUALITY_FILE = ".parallel-workers/gates/phase-5-to-6.yml";

function served(mergeFlow: Partial<MergeFlowSettings>) {
  return [defaultServed({ mergeFlow: { update: "merge", stack: false, merge: "off", method: "squash", ...mergeFlow } })];
}

/** A worker's open PR on `base`, the worker in the store. */
async function workerPullRequest(app: Harness, task: string, fields: { base?: string; dependsOn?: string[]; state?: "PR_OPEN" | "WORKING" } = {}) {
  const branch = `feature/${task.toLowerCase()}`;
  const pr = app.github.addPullRequest(REPO, { head: branch, base: fields.base ?? "main" });
  app.github.setPullFiles(REPO, pr.number, [{ filename: `${task}.txt`, status: "added", patch: "@@ -0,0 +1 @@\n+done" }]);
  const worker = await app.addWorker({
    id: `worker-${task.toLowerCase().replace(/[^a-z0-9]/g, "").padEnd(6, "0").slice(0, 6)}`,
    taskId: task,
    branch,
    baseBranch: fields.base ?? "main",
    state: fields.state ?? "PR_OPEN",
    prNumber: pr.number,
    prUrl: pr.html_url,
    dependsOn: fields.dependsOn ?? [],
  });
  return { pr, worker };
}

/** A push of `after` to `branch` of acme/widgets, as GitHub delivers it. */
function push(branch: string, after: string, before = "1".repeat(40)) {
  const payload = withRepository(loadPayload("push"), REPO);
  return { ...payload, ref: `refs/heads/${branch}`, before, after, forced: false, deleted: false };
}

function synchronize(number: number, headRef: string, headSha: string, baseRef = "main") {
  return retarget(loadPayload("pull_request.synchronize"), { repo: REPO, number, headRef, headSha, baseRef });
}

const sha = (seed: string) => seed.repeat(40).slice(0, 40);

describe("a push to a base branch", () => {
  it("update: merge: each worker PR on it is updated once through update-branch; a redelivery or the same head again changes nothing", async () => {
    const app = await open({ served: served({ update: "merge" }) });
    const prs = [];
    for (const task of ["T-1", "T-2", "T-3"]) prs.push(await workerPullRequest(app, task));
    const elsewhere = await workerPullRequest(app, "T-4", { base: "release" });
    const after = sha("a");
    await app.receive("push", push("main", after), "delivery-push-1");
    await app.receive("push", push("main", after), "delivery-push-1");
    await app.receive("push", push("main", after), "delivery-push-2");

    const updates = app.github.requestsTo("PUT", /\/pulls\/\d+\/update-branch$/);
    expect(updates.map((r) => r.path).sort()).toEqual(prs.map(({ pr }) => `/repos/${REPO}/pulls/${pr.number}/update-branch`).sort());
    expect(updates.map((r) => (r.body as { expected_head_sha: string }).expected_head_sha).sort()).toEqual(prs.map(({ pr }) => pr.head.sha).sort());
    for (const { pr, worker } of prs) {
      expect((await app.store.requireWorker(worker.id)).mergeFlow.update).toMatchObject({ how: "merge", base: "main", baseSha: after, outcome: "updated" });
      expect(app.github.pull(REPO, pr.number).head.sha).not.toBe(pr.head.sha);
    }
    expect((await app.store.requireWorker(elsewhere.worker.id)).mergeFlow.update ?? null).toBeNull();
    expect(app.logLines().filter((l) => l.msg === "pull request brought up to date with its base (update-branch)")).toHaveLength(3);

    // the update's push comes back as synchronize: the gates run again on the new head
    const { pr } = prs[0]!;
    const head = app.github.pull(REPO, pr.number).head.sha;
    await app.receive("pull_request.synchronize", synchronize(pr.number, pr.head.ref, head));
    expect(app.github.checkRuns(REPO).filter((r) => r.head_sha === head).map((r) => r.name).sort()).toEqual(["phase-5-to-6", "security-gate"]);
  });

  it("update: merge: a PR already up to date is left alone; a conflict is said once on the PR, with GitHub's reason", async () => {
    const app = await open({ served: served({ update: "merge" }) });
    const current = await workerPullRequest(app, "T-1");
    const conflicted = await workerPullRequest(app, "T-2");
    app.github.setMerging(REPO, { behind: { [current.pr.number]: 0 }, conflicts: [conflicted.pr.number] });
    await app.receive("push", push("main", sha("b")));
    await app.receive("push", push("main", sha("c")));

    expect(app.github.requestsTo("PUT", `/repos/${REPO}/pulls/${current.pr.number}/update-branch`)).toHaveLength(0);
    expect((await app.store.requireWorker(current.worker.id)).mergeFlow.update).toMatchObject({ outcome: "current" });
    expect((await app.store.requireWorker(conflicted.worker.id)).mergeFlow.update).toMatchObject({ outcome: "conflict", detail: "merge conflict between base and head" });
    const said = app.github.comments(REPO, conflicted.pr.number).map((c) => c.body);
    expect(said).toHaveLength(1);
    expect(said[0]).toContain("could not bring this pull request up to date with `main`");
    expect(said[0]).toContain("> merge conflict between base and head");
  });

  it("update: rebase: one request per PR per base head for the runner that holds its worktree; off: nothing", async () => {
    const app = await open({ served: served({ update: "rebase" }) });
    const prs = [];
    for (const task of ["T-1", "T-2", "T-3"]) prs.push(await workerPullRequest(app, task));
    const after = sha("d");
    await app.receive("push", push("main", after), "push-1");
    await app.receive("push", push("main", after), "push-2");
    for (const { worker } of prs) {
      const feedback = (await app.store.listFeedback({ workerId: worker.id }));
      expect(feedback).toEqual([expect.objectContaining({ cause: "base", round: null, detail: expect.objectContaining({ base: "main", baseSha: after, upstream: null, retarget: false }) })]);
    }
    expect(app.github.requestsTo("PUT", /update-branch$/)).toHaveLength(0);

    const off = await open({ served: served({ update: "off" }) });
    const { worker } = await workerPullRequest(off, "T-9");
    await off.receive("push", push("main", sha("e")));
    expect((await off.store.listFeedback({ workerId: worker.id }))).toEqual([]);
  });

  it("a tag, a deleted branch and a branch no worker PR is on change nothing", async () => {
    const app = await open({ served: served({ update: "rebase" }) });
    const { worker } = await workerPullRequest(app, "T-1");
    await app.receive("push", { ...push("main", sha("f")), ref: "refs/tags/v1.0.0" });
    await app.receive("push", { ...push("main", "0".repeat(40)), deleted: true });
    await app.receive("push", push("develop", sha("f")));
    expect((await app.store.listFeedback({ workerId: worker.id }))).toEqual([]);
  });
});

describe("stacked PRs", () => {
  it("the parent merges (squash): each child's PR moves to the parent's base before the parent's branch goes, and its runner is asked to rebase it off the parent", async () => {
    const app = await open({ served: [defaultServed({ deleteBranchOnMerge: true })] });
    const parent = await workerPullRequest(app, "A");
    const child = await workerPullRequest(app, "B", { base: "feature/a", dependsOn: ["A"] });
    await app.store.updateWorker(child.worker.id, { mergeFlow: { stack: true, stackedOn: { workerId: parent.worker.id, taskId: "A", branch: "feature/a", prNumber: parent.pr.number, prUrl: parent.pr.html_url, base: "main" } } });
    const merged = app.github.mergePullRequest(REPO, parent.pr.number);
    const payload = retarget(loadPayload("pull_request.closed.merged"), { repo: REPO, number: parent.pr.number, headRef: "feature/a", headSha: parent.pr.head.sha, baseRef: "main" });
    payload.pull_request.merge_commit_sha = merged.merge_commit_sha;
    await app.receive("pull_request.closed", payload);

    expect((await app.store.requireWorker(parent.worker.id)).state).toBe("MERGED");
    expect(app.github.pull(REPO, child.pr.number)).toMatchObject({ state: "open", base: { ref: "main" } });
    const calls = app.github.calls().filter((c) => c.startsWith("PATCH") || c.startsWith("DELETE"));
    expect(calls).toEqual([`PATCH /repos/${REPO}/pulls/${child.pr.number}`, `DELETE /repos/${REPO}/git/refs/heads/feature/a`]);
    const moved = (await app.store.requireWorker(child.worker.id));
    expect(moved).toMatchObject({ state: "PR_OPEN", baseBranch: "main" });
    expect(moved.mergeFlow.stackedOn).toBeNull();
    expect((await app.store.listFeedback({ workerId: child.worker.id }))).toEqual([
      expect.objectContaining({ cause: "base", detail: expect.objectContaining({ base: "main", baseSha: merged.merge_commit_sha, upstream: parent.pr.head.sha, retarget: true }) }),
    ]);
  });

  it("the parent closes unmerged: each child is ABANDONED with the reason, said once on its PR; /worker retry of the parent would queue it again", async () => {
    const app = await open();
    const parent = await workerPullRequest(app, "A");
    const child = await workerPullRequest(app, "B", { base: "feature/a", dependsOn: ["A"] });
    const payload = retarget(loadPayload("pull_request.closed"), { repo: REPO, number: parent.pr.number, headRef: "feature/a", headSha: parent.pr.head.sha, baseRef: "main" });
    app.github.closePullRequest(REPO, parent.pr.number);
    await app.receive("pull_request.closed", payload);
    await app.receive("pull_request.closed", payload);

    const ended = (await app.store.requireWorker(child.worker.id));
    expect(ended.state).toBe("ABANDONED");
    expect((await app.store.history(child.worker.id)).at(-1)?.detail).toContain(`its parent task A (worker ${parent.worker.id}, PR #${parent.pr.number}) was closed unmerged`);
    const said = app.github.comments(REPO, child.pr.number).map((c) => c.body);
    expect(said).toHaveLength(1);
    expect(said[0]).toContain(`\`/worker retry ${parent.worker.id}\` queues the parent again`);

    // the parent retried: the child waits for its new PR again
    await queueAgain(app.store, (await app.store.requireWorker(parent.worker.id)), { source: "cli", detail: "retry" });
    expect((await app.store.requireWorker(child.worker.id)).state).toBe("NEEDS_INIT");
    expect((await app.store.history(child.worker.id)).at(-1)?.detail).toBe(`its parent A (worker ${parent.worker.id}) was queued again: it waits for its pull request`);
  });
});

describe("merging through GitHub (merge: auto)", () => {
  async function gated(app: Harness, task = "T-1", fields: Parameters<typeof workerPullRequest>[2] = {}) {
    const made = await workerPullRequest(app, task, fields);
    await app.receive("pull_request.synchronize", synchronize(made.pr.number, made.pr.head.ref, made.pr.head.sha, fields.base ?? "main"));
    return made;
  }

  it("the gate passes: auto-merge is turned on with the configured method, once per head", async () => {
    const app = await open({ served: served({ merge: "auto", method: "rebase" }) });
    const { pr, worker } = await gated(app);
    await app.receive("pull_request.synchronize", synchronize(pr.number, pr.head.ref, pr.head.sha));
    expect(app.github.autoMergeOf(REPO, pr.number)).toEqual({ autoMerge: { method: "rebase" }, queued: false });
    const mutations = app.github.requestsTo("POST", "/graphql").map((r) => (r.body as { variables: Record<string, unknown> }).variables);
    expect(mutations).toEqual([{ pullRequestId: pr.node_id, mergeMethod: "REBASE", expectedHeadOid: pr.head.sha }]);
    expect((await app.store.requireWorker(worker.id)).mergeFlow.merge).toMatchObject({ how: "auto-merge", method: "rebase", headSha: pr.head.sha, outcome: "enabled" });
    // MERGED still comes from the closed webhook only
    expect((await app.store.requireWorker(worker.id)).state).toBe("PR_OPEN");
    expect(app.logLines().filter((l) => l.msg === "auto-merge turned on")).toHaveLength(1);
  });

  it("never before the gate passes: a blocking rule failing, or a required check pending", async () => {
    const app = await open({ served: served({ merge: "auto" }) });
    app.github.setFile(REPO, "main", QUALITY_FILE, "rules:\n  required-checks: { blocking: true, checks: [build] }\n");
    const { pr, worker } = await gated(app);
    expect(app.github.requestsTo("POST", "/graphql")).toHaveLength(0);
    expect((await app.store.requireWorker(worker.id)).mergeFlow.merge ?? null).toBeNull();

    // the required check passes: the gate runs again on its completion, and merges
    app.github.addCheckRun(REPO, { name: "build", headSha: pr.head.sha, conclusion: "success" });
    await app.receive("pull_request.synchronize", synchronize(pr.number, pr.head.ref, pr.head.sha));
    expect(app.github.autoMergeOf(REPO, pr.number).autoMerge).toEqual({ method: "squash" });
  });

  it("a gate that asks for an approval: merged once a person approves (the approval runs the gate again)", async () => {
    const app = await open({ served: served({ merge: "auto" }) });
    app.github.setFile(REPO, "main", QUALITY_FILE, "rules:\n  approvals: { blocking: true, min: 1 }\n");
    const { pr } = await gated(app);
    expect(app.github.autoMergeOf(REPO, pr.number).autoMerge).toBeNull();
    const review = app.github.addReview(REPO, pr.number, { user: "alice", state: "APPROVED", body: "ship it" });
    const payload = withReview(retarget(loadPayload("pull_request_review.submitted"), { repo: REPO, number: pr.number, headRef: pr.head.ref, headSha: pr.head.sha, baseRef: "main" }), {
      id: review.id,
      state: "approved",
      user: "alice",
      body: "ship it",
    });
    await app.receive("pull_request_review.submitted", payload);
    expect(app.github.autoMergeOf(REPO, pr.number).autoMerge).toEqual({ method: "squash" });
  });

  it("never on a needs-human PR, and needs-human added later turns the app's auto-merge off", async () => {
    const app = await open({ served: served({ merge: "auto" }) });
    const labelled = await workerPullRequest(app, "T-1");
    app.github.addLabels(REPO, labelled.pr.number, ["needs-human"]);
    await app.receive("pull_request.synchronize", synchronize(labelled.pr.number, labelled.pr.head.ref, labelled.pr.head.sha));
    expect(app.github.autoMergeOf(REPO, labelled.pr.number).autoMerge).toBeNull();
    expect(app.logLines().some((l) => l.msg === "pull request not merged yet" && l.reason === "labelled needs-human")).toBe(true);

    const { pr } = await gated(app, "T-2");
    expect(app.github.autoMergeOf(REPO, pr.number).autoMerge).not.toBeNull();
    app.github.addLabels(REPO, pr.number, ["needs-human"]);
    const payload = { ...retarget(loadPayload("pull_request.synchronize"), { repo: REPO, number: pr.number, headRef: pr.head.ref, headSha: pr.head.sha }), action: "labeled", label: { name: "needs-human" } };
    await app.receive("pull_request.synchronize", payload as never);
    expect(app.github.autoMergeOf(REPO, pr.number).autoMerge).toBeNull();
  });

  it("never before its parent merges: a stacked child waits, and is merged once the parent is", async () => {
    const app = await open({ served: served({ merge: "auto" }) });
    const parent = await workerPullRequest(app, "A");
    const child = await gated(app, "B", { dependsOn: ["A"] });
    expect(app.github.autoMergeOf(REPO, child.pr.number).autoMerge).toBeNull();
    expect(app.logLines().some((l) => l.msg === "pull request not merged yet" && l.reason === "it depends on A, not merged yet")).toBe(true);
    await app.store.transition(parent.worker.id, "PR_OPEN", "MERGED", { source: "webhook" });
    await app.receive("pull_request.synchronize", synchronize(child.pr.number, child.pr.head.ref, child.pr.head.sha));
    expect(app.github.autoMergeOf(REPO, child.pr.number).autoMerge).not.toBeNull();
  });

  it("a merge queue on the base: the PR is added to it", async () => {
    const app = await open({ served: served({ merge: "auto" }) });
    app.github.setMerging(REPO, { mergeQueue: ["main"] });
    const { pr, worker } = await gated(app);
    expect(app.github.autoMergeOf(REPO, pr.number)).toEqual({ autoMerge: null, queued: true });
    expect((await app.store.requireWorker(worker.id)).mergeFlow.merge).toMatchObject({ how: "merge-queue", outcome: "queued" });
  });

  it("auto-merge not allowed on the repository: merged through REST once the gate passes", async () => {
    const app = await open({ served: served({ merge: "auto" }) });
    app.github.setMerging(REPO, { allowAutoMerge: false });
    const { pr, worker } = await gated(app);
    expect(app.github.pull(REPO, pr.number)).toMatchObject({ state: "closed", merged: true });
    expect(app.github.requestsTo("PUT", `/repos/${REPO}/pulls/${pr.number}/merge`).map((r) => r.body)).toEqual([{ merge_method: "squash", sha: pr.head.sha }]);
    expect((await app.store.requireWorker(worker.id)).mergeFlow.merge).toMatchObject({ how: "merge", outcome: "merged" });
  });

  it("a refusal (a protected branch) is one PR comment with GitHub's reason, however often the gate passes", async () => {
    const app = await open({ served: served({ merge: "auto" }) });
    app.github.setMerging(REPO, { allowAutoMerge: false });
    const made = await workerPullRequest(app, "T-1");
    app.github.setMerging(REPO, { blocked: { [made.pr.number]: "At least 1 approving review is required by reviewers with write access." } });
    for (let i = 0; i < 3; i++) await app.receive("pull_request.synchronize", synchronize(made.pr.number, made.pr.head.ref, made.pr.head.sha));
    const said = app.github.comments(REPO, made.pr.number).map((c) => c.body);
    expect(said).toHaveLength(1);
    expect(said[0]).toContain("could not merge this pull request");
    expect(said[0]).toContain("> At least 1 approving review is required by reviewers with write access.");
    expect((await app.store.requireWorker(made.worker.id)).mergeFlow.merge).toMatchObject({ outcome: "refused" });
  });

  it("merge: off never merges", async () => {
    const app = await open();
    const { pr } = await gated(app);
    expect(app.github.autoMergeOf(REPO, pr.number).autoMerge).toBeNull();
    expect(app.github.requestsTo("POST", "/graphql")).toHaveLength(0);
  });
});

describe("merge groups", () => {
  it("checks_requested: both gates report on the group's head, once per head", async () => {
    const app = await open();
    const payload = withRepository(loadPayload("merge_group.checks_requested"), REPO);
    await app.receive("merge_group.checks_requested", payload, "group-1");
    await app.receive("merge_group.checks_requested", payload, "group-2");
    const head = payload.merge_group.head_sha;
    expect(app.github.checkRuns(REPO).map((r) => `${r.name}@${r.head_sha}`).sort()).toEqual([`phase-5-to-6@${head}`, `security-gate@${head}`]);
    expect(app.followUps.filter((k) => k === "merge-group-gates")).toHaveLength(1);
  });
});
