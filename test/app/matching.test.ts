import { describe, expect, it } from "vitest";
import { pullRequestMarker } from "../../src/core/pr.js";
import { plannedMove, stateForPullRequest, workerForPullRequest, type PullRequestFacts } from "../../src/core/pull-requests.js";
import type { WorkerState } from "../../src/core/states.js";
import type { Worker } from "../../src/core/worker.js";
import { workerRecord } from "../helpers/workers.js";

function worker(id: string, fields: Partial<Worker> = {}): Worker {
  return workerRecord({ id, taskId: "T-1", state: "WORKING", repo: "acme/widgets", branch: "feature/t-1", baseBranch: "main", ...fields });
}

function pr(fields: Partial<PullRequestFacts> = {}): PullRequestFacts {
  return { number: 5, url: "u", state: "open", merged: false, headRef: "feature/t-1", headRepository: "acme/widgets", body: null, ...fields };
}

describe("which worker a pull request belongs to", () => {
  const old = worker("worker-old001", { state: "ABANDONED", prNumber: 3 });
  const current = worker("worker-new001", { createdAt: "2026-02-01T00:00:00.000Z" });
  const other = worker("worker-oth001", { branch: "feature/other", taskId: "T-2" });
  const all = [old, current, other];

  it.each<[string, PullRequestFacts, string | undefined]>([
    ["the unfinished worker on its branch", pr(), "worker-new001"],
    ["the worker that recorded this PR number", pr({ number: 3 }), "worker-old001"],
    ["the worker its marker names, whatever the branch", pr({ headRef: "x", body: pullRequestMarker("worker-oth001", "T-2") }), "worker-oth001"],
    ["nobody, for a fork's PR even with a marker", pr({ headRepository: "forker/widgets", body: pullRequestMarker("worker-new001", "T-1") }), undefined],
    ["nobody, for a deleted fork", pr({ headRepository: null }), undefined],
    ["nobody, for an unknown branch", pr({ headRef: "feature/unknown" }), undefined],
    ["the branch's worker when the marker's task does not match", pr({ body: pullRequestMarker("worker-oth001", "T-9") }), "worker-new001"],
    ["the same repository in another case", pr({ headRepository: "ACME/Widgets" }), "worker-new001"],
  ])("%s", (_name, facts, expected) => {
    expect(workerForPullRequest(all, facts, "acme/widgets")?.id).toBe(expected);
  });
});

describe("what a pull request's state means for its worker", () => {
  it.each<[PullRequestFacts, WorkerState]>([
    [pr(), "PR_OPEN"],
    [pr({ state: "closed" }), "ABANDONED"],
    [pr({ state: "closed", merged: true }), "MERGED"],
  ])("%j -> %s", (facts, state) => expect(stateForPullRequest(facts)).toBe(state));

  it.each<[WorkerState, WorkerState, WorkerState | undefined]>([
    ["WORKING", "PR_OPEN", "PR_OPEN"],
    ["WORKING", "MERGED", "MERGED"],
    ["PR_OPEN", "PR_OPEN", undefined],
    ["MERGED", "PR_OPEN", undefined],
    ["ABANDONED", "PR_OPEN", "PR_OPEN"],
    ["UNKNOWN", "PR_OPEN", "PR_OPEN"],
    ["NEEDS_INIT", "PR_OPEN", undefined],
  ])("%s, PR says %s -> %s", (current, target, expected) => expect(plannedMove(current, target)).toBe(expected));
});
