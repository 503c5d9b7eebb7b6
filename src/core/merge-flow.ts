/**
 * The merge flow's rules, pure: which worker PRs a push to a base branch brings up to date, when
 * a queued task may start stacked on its one unmerged dependency, when a worker's PR may be
 * merged through GitHub, and what the flow records and says about a worker. No I/O, no zod (the
 * store and the short read commands load this), the clock passed in.
 */
import { isTerminal } from "./states.js";
import type { Worker } from "./worker.js";

/** How a worker PR is brought up to date when its base branch moves (`merge_flow.update`). */
export const UPDATE_MODES = ["merge", "rebase", "off"] as const;
export type UpdateMode = (typeof UPDATE_MODES)[number];

/** Whether the app merges worker PRs whose gate passed (`merge_flow.merge`). */
export const MERGE_MODES = ["off", "auto"] as const;
export type MergeMode = (typeof MERGE_MODES)[number];

/** How GitHub merges them (`merge_flow.method`). */
export const MERGE_METHODS = ["squash", "merge", "rebase"] as const;
export type MergeMethod = (typeof MERGE_METHODS)[number];

/** `merge_flow:` of `.parallel-workers.yml`, resolved. */
export interface MergeFlowSettings {
  update: UpdateMode;
  /** Dependent tasks open stacked PRs (a task's own `stack` wins). */
  stack: boolean;
  merge: MergeMode;
  method: MergeMethod;
}

export const DEFAULT_MERGE_FLOW: MergeFlowSettings = { update: "merge", stack: false, merge: "off", method: "squash" };

// ---------------------------------------------------------------------------------------------
// What the flow records about a worker (shown on the status comment, the status page and
// `pw worker get`; decisions never read it back, so a lost write costs a line of display only)

/** How one update of a PR to its base went. */
export const UPDATE_OUTCOMES = ["updated", "current", "conflict", "refused", "failed"] as const;
export type UpdateOutcome = (typeof UPDATE_OUTCOMES)[number];

/** The last time a worker's PR was brought up to date with its base (or tried to be). */
export interface BaseUpdateRecord {
  /** `rebase` (the runner, in the worktree), `merge` (GitHub's update-branch), `retarget` (a stacked PR moved to its parent's base). */
  how: "rebase" | "merge" | "retarget";
  /** The base branch it was brought to. */
  base: string;
  /** The base's head it was brought to, when known. */
  baseSha: string | null;
  outcome: UpdateOutcome;
  /** What happened, in a line (a conflict's files, GitHub's reason). */
  detail: string | null;
  /** When (ISO time, the writer's clock: for people, never compared). */
  at: string;
}

/** What the app asked GitHub to do to merge a worker's PR. */
export const MERGE_ACTIONS = ["auto-merge", "merge-queue", "merge"] as const;
export type MergeAction = (typeof MERGE_ACTIONS)[number];

export const MERGE_OUTCOMES = ["enabled", "queued", "merged", "refused", "disabled"] as const;
export type MergeOutcome = (typeof MERGE_OUTCOMES)[number];

export interface MergeRecord {
  how: MergeAction;
  method: MergeMethod;
  /** The head commit it was asked for. */
  headSha: string | null;
  outcome: MergeOutcome;
  /** GitHub's reason, when it refused; why it was turned off. */
  reason: string | null;
  at: string;
}

/** The task a stacked worker's PR is stacked on, while that task is unmerged. */
export interface StackRecord {
  workerId: string;
  taskId: string;
  branch: string;
  prNumber: number | null;
  prUrl: string | null;
  /** The branch the child's PR moves to once the parent merges: the parent's base. */
  base: string;
}

/** The merge flow's record of one worker (the store keeps it as JSON). */
export interface MergeFlowRecord {
  /** Whether the task starts stacked on its one unmerged dependency (decided when it is queued). */
  stack?: boolean;
  /** Set while its PR is stacked on another task's branch. */
  stackedOn?: StackRecord | null;
  update?: BaseUpdateRecord | null;
  merge?: MergeRecord | null;
}

// ---------------------------------------------------------------------------------------------
// A push to a base branch

/** The ref of a push, as a branch name; undefined for tags and other refs. */
export function pushedBranch(ref: string): string | undefined {
  return ref.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : undefined;
}

/** A worker whose PR is open (or in a rework round, which keeps it open). */
export function hasOpenPullRequest(worker: Pick<Worker, "state" | "prNumber">): boolean {
  return worker.prNumber !== null && (worker.state === "PR_OPEN" || worker.state === "WORKING");
}

/**
 * The workers whose open PR a push to `branch` leaves behind: on that base (a stacked PR's
 * base is its parent's branch, so a push to the parent brings its children along).
 */
export function pullRequestsOnBase(workers: readonly Worker[], branch: string): Worker[] {
  return workers.filter((w) => w.baseBranch === branch && hasOpenPullRequest(w));
}

/** What names one update of one PR to one head of its base: a redelivered push, or the same head pushed again, adds nothing. */
export function updateKey(repository: string, prNumber: number, base: string, baseSha: string): string {
  return `update:${repository.toLowerCase()}#${prNumber}:${base}@${baseSha}`;
}

// ---------------------------------------------------------------------------------------------
// Dependencies: waiting, or starting stacked

/** The newest worker of a task in the worker's repository, among `all`. */
export function workerOfTask(worker: Pick<Worker, "id" | "repoPath" | "repo">, taskId: string, all: readonly Worker[]): Worker | undefined {
  const key = taskId.toLowerCase();
  return all
    .filter((w) => w.taskId?.toLowerCase() === key && w.id !== worker.id && (w.repoPath === worker.repoPath || w.repo === worker.repo))
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
}

/** How a queued worker may start: at once, stacked on one parent's branch, or not yet (and why). */
export type StartPlan = { kind: "start" } | { kind: "stack"; parent: Worker } | { kind: "wait"; reason: string };

/**
 * When a NEEDS_INIT worker may start. Every dependency MERGED: at once. A stacked task (its
 * `stack`) whose dependencies are all merged but one, that one with a PR: stacked on that task's
 * branch. Anything else waits, naming the first dependency it waits for.
 */
export function startPlan(worker: Worker, all: readonly Worker[]): StartPlan {
  const unmerged: Array<{ dep: string; parent: Worker | undefined }> = [];
  for (const dep of worker.dependsOn) {
    const parent = workerOfTask(worker, dep, all);
    if (parent?.state !== "MERGED") unmerged.push({ dep, parent });
  }
  if (unmerged.length === 0) return { kind: "start" };
  const first = unmerged[0]!;
  const why = (entry: { dep: string; parent: Worker | undefined }) => `${entry.dep} (${entry.parent ? entry.parent.state : "no worker"})`;
  if (unmerged.length > 1 || !worker.mergeFlow.stack || !first.parent) return { kind: "wait", reason: why(first) };
  const parent = first.parent;
  if (!hasOpenPullRequest(parent) || !parent.branch) return { kind: "wait", reason: `${why(first)}, to stack on its pull request` };
  return { kind: "stack", parent };
}

/**
 * The parent whose branch a worker's PR is stacked on now: a dependency whose branch is the
 * worker's base and which is not merged (after its merge the child is moved to its base).
 */
export function stackParent(worker: Worker, all: readonly Worker[]): Worker | undefined {
  if (!worker.baseBranch) return undefined;
  for (const dep of worker.dependsOn) {
    const parent = workerOfTask(worker, dep, all);
    if (parent && parent.branch === worker.baseBranch && parent.state !== "MERGED") return parent;
  }
  return undefined;
}

/** The workers stacked on `parent`'s branch: unfinished, depending on its task, their base its branch. */
export function stackedChildren(parent: Worker, workers: readonly Worker[]): Worker[] {
  if (!parent.branch || !parent.taskId) return [];
  const task = parent.taskId.toLowerCase();
  return workers.filter(
    (w) => w.id !== parent.id && w.baseBranch === parent.branch && w.dependsOn.some((d) => d.toLowerCase() === task) && (w.repo === parent.repo || w.repoPath === parent.repoPath),
  );
}

/** The reason a stacked child records when its parent's PR is closed unmerged. */
export function parentClosedReason(parent: Pick<Worker, "id" | "taskId" | "prNumber">): string {
  return (
    `its parent task ${parent.taskId ?? parent.id} (worker ${parent.id}${parent.prNumber ? `, PR #${parent.prNumber}` : ""}) was closed unmerged: ` +
    `\`/worker retry ${parent.id}\` queues the parent again, and this worker waits for it`
  );
}

// ---------------------------------------------------------------------------------------------
// Merging through GitHub

/** A check run on the PR's head, as far as the merge decision reads it. */
export interface HeadCheck {
  name: string;
  status: string;
  conclusion: string | null;
}

export interface MergeDecisionInput {
  settings: Pick<MergeFlowSettings, "merge">;
  /** The phase-5-to-6 gate on the head: its conclusion and how its rules came out. */
  gate: { conclusion: "success" | "failure" | "neutral"; rules: ReadonlyArray<{ rule: string; status: string }> };
  /** The live PR. */
  pullRequest: { state: "open" | "closed"; baseRef: string | null; labels: readonly string[]; draft: boolean };
  /** The checks the base branch requires (branch protection, rulesets) and the head's latest check runs. */
  requiredChecks: readonly string[];
  checks: readonly HeadCheck[];
  /** The worker and its repository's workers, for its dependencies. */
  worker: Worker;
  all: readonly Worker[];
}

export type MergeDecision = { merge: true } | { merge: false; reason: string };

/** The label that keeps a PR from being merged automatically (and from automatic rework rounds). */
export const NEEDS_HUMAN = "needs-human";

/**
 * Whether the app may merge a worker's PR now: `merge_flow.merge: auto`, the PR open and no
 * draft, no `needs-human` label, the phase-5-to-6 gate not failed and its required checks and
 * approvals passed, every check the base branch requires green on the head, and every task it
 * depends on merged (so a stacked child is never merged before its parent, nor into its
 * parent's branch).
 */
export function mergeDecision(input: MergeDecisionInput): MergeDecision {
  const { worker, pullRequest: pr } = input;
  if (input.settings.merge !== "auto") return { merge: false, reason: "merge_flow.merge is off" };
  if (pr.state !== "open") return { merge: false, reason: "the pull request is closed" };
  if (pr.draft) return { merge: false, reason: "the pull request is a draft" };
  if (pr.labels.some((l) => l.toLowerCase() === NEEDS_HUMAN)) return { merge: false, reason: `labelled ${NEEDS_HUMAN}` };
  if (input.gate.conclusion === "failure") return { merge: false, reason: "the phase-5-to-6 gate failed" };
  for (const rule of input.gate.rules) {
    if ((rule.rule === "required-checks" || rule.rule === "approvals") && rule.status !== "passed" && rule.status !== "skipped") {
      return { merge: false, reason: `the gate's ${rule.rule} ${rule.status === "pending" ? "is pending" : "did not pass"}` };
    }
  }
  for (const name of input.requiredChecks) {
    const run = input.checks.find((c) => c.name === name);
    if (!run || run.status !== "completed") return { merge: false, reason: `required check ${name} has not completed` };
    if (run.conclusion !== "success" && run.conclusion !== "neutral" && run.conclusion !== "skipped") {
      return { merge: false, reason: `required check ${name} concluded ${run.conclusion}` };
    }
  }
  for (const dep of worker.dependsOn) {
    const parent = workerOfTask(worker, dep, input.all);
    if (parent?.state !== "MERGED") return { merge: false, reason: `it depends on ${dep}, not merged yet` };
  }
  if (worker.baseBranch && pr.baseRef && pr.baseRef !== worker.baseBranch) {
    return { merge: false, reason: `its base on GitHub is ${pr.baseRef}, not ${worker.baseBranch}` };
  }
  return { merge: true };
}

/** GitHub's merge method names in GraphQL (`PullRequestMergeMethod`). */
export function graphqlMergeMethod(method: MergeMethod): "SQUASH" | "MERGE" | "REBASE" {
  return method === "squash" ? "SQUASH" : method === "merge" ? "MERGE" : "REBASE";
}

/** The one PR comment a refused action leaves (GitHub's reason, as GitHub said it). */
export function refusedComment(workerId: string, action: string, reason: string): string {
  return [
    `**parallel-workers** could not ${action} for worker \`${workerId}\`. GitHub said:`,
    "",
    `> ${reason.replace(/\s*\n\s*/g, " ").slice(0, 1000)}`,
    "",
    "Nothing else is tried for this until something changes (a new push, a passing gate); fix what GitHub names, or do it by hand.",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// What people read

const UPDATE_WORDS: Record<UpdateOutcome, string> = {
  updated: "brought up to date with",
  current: "already up to date with",
  conflict: "conflicts with",
  refused: "could not be updated with",
  failed: "could not be updated with",
};

/** One line on how the worker's PR stands with its base, or undefined when nothing was done. */
export function updateLine(record: MergeFlowRecord): string | undefined {
  const update = record.update;
  if (!update) return undefined;
  const how = update.how === "rebase" ? " (rebased)" : update.how === "merge" ? " (merged in by GitHub)" : " (retargeted and rebased)";
  const at = update.baseSha ? ` at ${update.baseSha.slice(0, 7)}` : "";
  const detail = update.detail ? `: ${update.detail}` : "";
  return `${UPDATE_WORDS[update.outcome]} \`${update.base}\`${at}${update.outcome === "updated" ? how : ""}${detail}`;
}

const MERGE_WORDS: Record<MergeOutcome, string> = {
  enabled: "auto-merge is on",
  queued: "in the merge queue",
  merged: "merged by the app",
  refused: "GitHub refused to merge it",
  disabled: "auto-merge turned off",
};

/** One line on what the app did to merge the PR, or undefined. */
export function mergeLine(record: MergeFlowRecord): string | undefined {
  const merge = record.merge;
  if (!merge) return undefined;
  const method = merge.how === "merge-queue" ? "" : ` (${merge.method})`;
  const reason = merge.reason ? `: ${merge.reason}` : "";
  return `${MERGE_WORDS[merge.outcome]}${merge.outcome === "refused" || merge.outcome === "disabled" ? "" : method}${reason}`;
}

/** One line on what the PR is stacked on, or undefined. */
export function stackLine(record: MergeFlowRecord): string | undefined {
  const parent = record.stackedOn;
  if (!parent) return undefined;
  return `stacked on ${parent.taskId} (\`${parent.branch}\`${parent.prNumber ? `, #${parent.prNumber}` : ""})`;
}

/** What the merge flow did for a worker, in lines for people (stacked on, base update, merge), markdown code spans included. */
export function mergeFlowLines(record: MergeFlowRecord): string[] {
  return [stackLine(record), updateLine(record), mergeLine(record)].filter((line): line is string => line !== undefined);
}

/** The lines of a stacked PR's description that say so and link the parent's PR. */
export function stackedBodyLines(parent: StackRecord): string[] {
  const finalBase = parent.base;
  const link = parent.prUrl ? `[#${parent.prNumber}](${parent.prUrl})` : parent.prNumber ? `#${parent.prNumber}` : `\`${parent.branch}\``;
  return [
    `Stacked on ${link} (task \`${parent.taskId}\`, branch \`${parent.branch}\`): this pull request targets that branch, so it shows only its own changes. ` +
      `When ${link} merges, parallel-workers moves it to \`${finalBase}\` and rebases it there; it is never merged before it.`,
  ];
}

/** Whether `worker` is stacked: the record says so, or its base is an unmerged dependency's branch. */
export function isStacked(worker: Worker, all: readonly Worker[]): boolean {
  return Boolean(worker.mergeFlow.stackedOn) || stackParent(worker, all) !== undefined;
}

/** Children that a parent's retry takes back into the queue: stacked on it, ended (ABANDONED) when it closed. */
export function childrenToRequeue(parent: Worker, workers: readonly Worker[]): Worker[] {
  return stackedChildren(parent, workers).filter((w) => w.state === "ABANDONED");
}

/** Children a parent's close unmerged ends: stacked on it and not ended yet. */
export function childrenToAbandon(parent: Worker, workers: readonly Worker[]): Worker[] {
  return stackedChildren(parent, workers).filter((w) => !isTerminal(w.state) && w.state !== "NEEDS_INIT");
}

/**
 * Whether GitHub refused auto-merge because it cannot be used here rather than because the app
 * may not: the repository does not allow it, or the PR can be merged at once (GitHub's "clean"
 * and "unstable" statuses: nothing left to wait for). Then the app merges through REST.
 */
export function autoMergeUnavailable(reason: string): boolean {
  return /auto[- ]?merge is not allowed|auto[- ]?merge is not enabled|is in (clean|unstable|has_hooks) status/i.test(reason);
}
