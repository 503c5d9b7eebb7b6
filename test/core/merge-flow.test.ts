import { describe, expect, it } from "vitest";
import {
  autoMergeUnavailable,
  childrenToAbandon,
  childrenToRequeue,
  mergeDecision,
  mergeLine,
  pullRequestsOnBase,
  pushedBranch,
  stackedBodyLines,
  stackedChildren,
  stackLine,
  stackParent,
  startPlan,
  updateKey,
  updateLine,
  type MergeDecisionInput,
} from "../../src/core/merge-flow.js";
import { conflictPrompt, describeFeedback, feedbackText } from "../../src/core/rework.js";
import type { Worker } from "../../src/core/worker.js";
import { workerRecord } from "../helpers/workers.js";

const REPO = "acme/widgets";
const SHA = "a".repeat(40);

/** A worker of acme/widgets for task `task`, on `feature/<task>`. */
function worker(id: string, task: string, fields: Partial<Worker> = {}): Worker {
  return workerRecord({ id, taskId: task, repo: REPO, branch: `feature/${task.toLowerCase()}`, baseBranch: "main", ...fields });
}

describe("a push to a base branch", () => {
  it.each([
    ["refs/heads/main", "main"],
    ["refs/heads/feature/a-1", "feature/a-1"],
    ["refs/tags/v1", undefined],
    ["refs/pull/1/head", undefined],
  ])("%s is branch %s", (ref, branch) => expect(pushedBranch(ref)).toBe(branch));

  it("leaves behind the open PRs on that base: PR_OPEN, or in a round; never without a PR, ended, or on another base", () => {
    const workers = [
      worker("worker-open01", "A", { state: "PR_OPEN", prNumber: 1 }),
      worker("worker-round1", "B", { state: "WORKING", prNumber: 2 }),
      worker("worker-first1", "C", { state: "WORKING" }),
      worker("worker-merge1", "D", { state: "MERGED", prNumber: 4 }),
      worker("worker-other1", "E", { state: "PR_OPEN", prNumber: 5, baseBranch: "develop" }),
      worker("worker-stack1", "F", { state: "PR_OPEN", prNumber: 6, baseBranch: "feature/a" }),
    ];
    expect(pullRequestsOnBase(workers, "main").map((w) => w.id)).toEqual(["worker-open01", "worker-round1"]);
    expect(pullRequestsOnBase(workers, "feature/a").map((w) => w.id)).toEqual(["worker-stack1"]);
  });

  it("names one update per PR per head of its base, whatever the repository's case", () => {
    expect(updateKey("Acme/Widgets", 3, "main", SHA)).toBe(updateKey("acme/widgets", 3, "main", SHA));
    expect(updateKey(REPO, 3, "main", SHA)).not.toBe(updateKey(REPO, 3, "main", "b".repeat(40)));
    expect(updateKey(REPO, 3, "main", SHA)).not.toBe(updateKey(REPO, 4, "main", SHA));
  });
});

describe("when a dependent task starts", () => {
  const parent = (state: Worker["state"], prNumber: number | null = null) => worker("worker-parent", "A", { state, prNumber });
  const child = (stack: boolean, dependsOn = ["A"]) => worker("worker-child1", "B", { dependsOn, mergeFlow: { stack } });

  it.each([
    ["no dependencies", false, [], "start"],
    ["its dependency merged", false, [parent("MERGED", 1)], "start"],
    ["its dependency merged, stacked or not", true, [parent("MERGED", 1)], "start"],
    ["a dependency with an open PR, not stacked", false, [parent("PR_OPEN", 1)], "wait"],
    ["a dependency with an open PR, stacked", true, [parent("PR_OPEN", 1)], "stack"],
    ["a dependency in a rework round, stacked", true, [parent("WORKING", 1)], "stack"],
    ["a dependency still working on its first run, stacked", true, [parent("WORKING")], "wait"],
    ["a dependency queued, stacked", true, [parent("NEEDS_INIT")], "wait"],
    ["a dependency that failed, stacked", true, [parent("UNKNOWN", 1)], "wait"],
    ["a dependency closed unmerged, stacked", true, [parent("ABANDONED", 1)], "wait"],
    ["no worker for the dependency, stacked", true, [], "wait"],
  ] as const)("%s: %s", (_name, stack, others, kind) => {
    const me = child(stack, _name === "no dependencies" ? [] : ["A"]);
    const plan = startPlan(me, [me, ...others]);
    expect(plan.kind).toBe(kind);
    if (plan.kind === "stack") expect(plan.parent.id).toBe("worker-parent");
  });

  it("a stacked task with two unmerged dependencies waits, as any task does", () => {
    const me = child(true, ["A", "C"]);
    const plan = startPlan(me, [me, parent("PR_OPEN", 1), worker("worker-other1", "C", { state: "PR_OPEN", prNumber: 2 })]);
    expect(plan).toEqual({ kind: "wait", reason: "A (PR_OPEN)" });
  });

  it("a stacked task with one of two dependencies merged stacks on the other", () => {
    const me = child(true, ["C", "A"]);
    const plan = startPlan(me, [me, parent("PR_OPEN", 1), worker("worker-other1", "C", { state: "MERGED", prNumber: 2 })]);
    expect(plan.kind).toBe("stack");
  });

  it("looks at the newest worker of a task, in the same repository only", () => {
    const me = child(true);
    const old = worker("worker-old001", "A", { state: "ABANDONED", prNumber: 1, createdAt: "2026-01-01T00:00:00.000Z" });
    const fresh = worker("worker-new001", "A", { state: "PR_OPEN", prNumber: 2, createdAt: "2026-01-02T00:00:00.000Z" });
    const elsewhere = worker("worker-else01", "A", { state: "MERGED", repo: "acme/other", repoPath: "/other", createdAt: "2026-01-03T00:00:00.000Z" });
    expect(startPlan(me, [me, old, fresh, elsewhere])).toMatchObject({ kind: "stack", parent: { id: "worker-new001" } });
  });
});

describe("a stack", () => {
  const parent = worker("worker-parent", "A", { state: "PR_OPEN", prNumber: 1 });
  const child = worker("worker-child1", "B", { state: "PR_OPEN", prNumber: 2, dependsOn: ["A"], baseBranch: "feature/a" });
  const unrelated = worker("worker-unrel1", "C", { state: "PR_OPEN", prNumber: 3, baseBranch: "feature/a" });

  it("a child is a dependent whose base is its parent's branch", () => {
    expect(stackedChildren(parent, [parent, child, unrelated]).map((w) => w.id)).toEqual(["worker-child1"]);
    expect(stackParent(child, [parent, child])?.id).toBe("worker-parent");
    expect(stackParent(child, [{ ...parent, state: "MERGED" }, child])).toBeUndefined();
    expect(stackParent({ ...child, baseBranch: "main" }, [parent, child])).toBeUndefined();
  });

  it("a parent closed unmerged ends its started children; its retry queues the ended ones again", () => {
    const queued = { ...child, id: "worker-child2", state: "NEEDS_INIT" as const, prNumber: null };
    expect(childrenToAbandon(parent, [parent, child, queued]).map((w) => w.id)).toEqual(["worker-child1"]);
    const ended = { ...child, state: "ABANDONED" as const };
    expect(childrenToRequeue(parent, [parent, ended, queued]).map((w) => w.id)).toEqual(["worker-child1"]);
  });

  it("a stacked PR's description says so and links the parent's PR", () => {
    const lines = stackedBodyLines({ workerId: parent.id, taskId: "A", branch: "feature/a", prNumber: 1, prUrl: "https://github.com/acme/widgets/pull/1", base: "main" });
    expect(lines.join("\n")).toContain("Stacked on [#1](https://github.com/acme/widgets/pull/1) (task `A`, branch `feature/a`)");
    expect(lines.join("\n")).toContain("moves it to `main`");
  });
});

describe("merging through GitHub", () => {
  const dependent = worker("worker-child1", "B", { state: "PR_OPEN", prNumber: 2, dependsOn: ["A"] });
  const base: MergeDecisionInput = {
    settings: { merge: "auto" },
    gate: { conclusion: "success", rules: [{ rule: "required-checks", status: "passed" }] },
    pullRequest: { state: "open", baseRef: "main", labels: [], draft: false },
    requiredChecks: ["ci"],
    checks: [{ name: "ci", status: "completed", conclusion: "success" }],
    worker: worker("worker-alone1", "A", { state: "PR_OPEN", prNumber: 1 }),
    all: [],
  };

  it.each([
    ["all green", {}, true],
    ["merge_flow.merge off", { settings: { merge: "off" } }, false],
    ["a needs-human label (any case)", { pullRequest: { ...base.pullRequest, labels: ["Needs-Human"] } }, false],
    ["a draft", { pullRequest: { ...base.pullRequest, draft: true } }, false],
    ["closed", { pullRequest: { ...base.pullRequest, state: "closed" } }, false],
    ["the gate failed", { gate: { ...base.gate, conclusion: "failure" } }, false],
    ["the gate only reports (neutral)", { gate: { conclusion: "neutral", rules: [{ rule: "tests-changed", status: "failed" }] } }, true],
    ["the gate's required checks pending", { gate: { conclusion: "neutral", rules: [{ rule: "required-checks", status: "pending" }] } }, false],
    ["the gate's approvals missing", { gate: { conclusion: "neutral", rules: [{ rule: "approvals", status: "failed" }] } }, false],
    ["a required check still running", { checks: [{ name: "ci", status: "in_progress", conclusion: null }] }, false],
    ["a required check failed", { checks: [{ name: "ci", status: "completed", conclusion: "failure" }] }, false],
    ["a required check missing", { checks: [] }, false],
    ["its parent not merged", { worker: dependent, all: [worker("worker-parent", "A", { state: "PR_OPEN", prNumber: 1 })] }, false],
    ["its parent merged", { worker: dependent, all: [worker("worker-parent", "A", { state: "MERGED", prNumber: 1 })] }, true],
    ["its base on GitHub is not its recorded base (still on the parent's branch)", { pullRequest: { ...base.pullRequest, baseRef: "feature/a" } }, false],
  ] as const)("%s: %s", (_name, change, merge) => {
    expect(mergeDecision({ ...base, ...(change as Partial<MergeDecisionInput>) }).merge).toBe(merge);
  });

  it("says why not", () => {
    expect(mergeDecision({ ...base, checks: [{ name: "ci", status: "completed", conclusion: "failure" }] })).toEqual({ merge: false, reason: "required check ci concluded failure" });
  });
});

describe("what people read", () => {
  it.each([
    [{ how: "rebase", base: "main", baseSha: SHA, outcome: "updated", detail: null, at: "" }, "brought up to date with `main` at aaaaaaa (rebased)"],
    [{ how: "merge", base: "main", baseSha: null, outcome: "current", detail: null, at: "" }, "already up to date with `main`"],
    [{ how: "rebase", base: "main", baseSha: SHA, outcome: "conflict", detail: "a.txt", at: "" }, "conflicts with `main` at aaaaaaa: a.txt"],
  ] as const)("update %j", (update, line) => expect(updateLine({ update })).toBe(line));

  it("says what the merge step did and what a PR is stacked on", () => {
    expect(mergeLine({ merge: { how: "auto-merge", method: "squash", headSha: SHA, outcome: "enabled", reason: null, at: "" } })).toBe("auto-merge is on (squash)");
    expect(mergeLine({ merge: { how: "merge", method: "squash", headSha: SHA, outcome: "refused", reason: "Required status check ci is expected", at: "" } })).toBe(
      "GitHub refused to merge it: Required status check ci is expected",
    );
    expect(stackLine({ stackedOn: { workerId: "worker-parent", taskId: "A", branch: "feature/a", prNumber: 1, prUrl: null, base: "main" } })).toBe("stacked on A (`feature/a`, #1)");
    expect(updateLine({})).toBeUndefined();
    expect(mergeLine({})).toBeUndefined();
    expect(stackLine({ stackedOn: null })).toBeUndefined();
  });

  it("a conflict round's prompt lists the files with the base's commits that changed each, and says not to commit", () => {
    const text = conflictPrompt({
      taskPrompt: "Build the frobnicator",
      round: 2,
      prUrl: "https://github.com/acme/widgets/pull/1",
      branch: "feature/a",
      stop: {
        base: "main",
        onto: SHA,
        commit: { sha: "c".repeat(40), subject: "feat(A): frobnicate" },
        files: [{ path: "src/frob.ts", commits: [{ sha: "d".repeat(40), subject: "refactor the frobnicator" }] }],
      },
    });
    expect(text).toContain("Build the frobnicator");
    expect(text).toContain("is being rebased onto `main` (aaaaaaa)");
    expect(text).toContain('commit ccccccc "feat(A): frobnicate"');
    expect(text).toContain("- `src/frob.ts`, changed on the base by:\n  - ddddddd refactor the frobnicator");
    expect(text).toContain("Do not commit");
  });

  it("conflict feedback reads as the files in conflict", () => {
    const conflict = { cause: "conflict" as const, base: "main", onto: SHA, upstream: null, retarget: false, files: [{ path: "a.txt", commits: [] }], omitted: [] };
    expect(describeFeedback([conflict])).toBe("a conflict with main in a.txt");
    expect(feedbackText([conflict])).toContain("## Rebasing onto `main` (aaaaaaa) conflicts\n\n- `a.txt`");
  });
});

describe("when auto-merge cannot be used", () => {
  it.each([
    ["Auto merge is not allowed for this repository", true],
    ["Pull request is in clean status", true],
    ["Pull request is in unstable status", true],
    ["Resource not accessible by integration", false],
    ["Pull request is not mergeable", false],
  ])("%s: %s", (reason, unavailable) => expect(autoMergeUnavailable(reason)).toBe(unavailable));
});
