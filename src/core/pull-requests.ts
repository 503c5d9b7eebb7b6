import { parsePullRequestMarker } from "./pr.js";
import { canTransition, isTerminal, type WorkerState } from "./states.js";
import type { Worker } from "./worker.js";

/** What GitHub says about a pull request, as far as a worker's state depends on it. */
export interface PullRequestFacts {
  number: number;
  url: string;
  state: "open" | "closed";
  merged: boolean;
  headRef: string;
  /** owner/name of the head repository; null when the fork was deleted. */
  headRepository: string | null;
  body: string | null;
  /** The head commit and the base branch, when the source says (payloads do; gates need them). */
  headSha?: string;
  baseRef?: string;
  /** Its label names, when the source says (a read of the PR does). */
  labels?: string[];
  /** What its merge made on the base (the squash, merge or last rebased commit), once merged, when the source says. */
  mergeCommitSha?: string;
}

/** A pull request as GitHub spells it, in a webhook payload or an API answer (validated by the caller). */
export interface PullRequestJson {
  number: number;
  html_url: string;
  state: "open" | "closed";
  merged?: boolean | null;
  merged_at?: string | null;
  merge_commit_sha?: string | null;
  body?: string | null;
  head: { ref: string; sha?: string; repo?: { full_name: string } | null };
  base?: { ref: string };
  labels?: Array<{ name: string }>;
}

/** The facts of a PR as GitHub spells it. */
export function pullRequestFacts(pr: PullRequestJson): PullRequestFacts {
  return {
    number: pr.number,
    url: pr.html_url,
    state: pr.state,
    merged: Boolean(pr.merged ?? pr.merged_at),
    headRef: pr.head.ref,
    headRepository: pr.head.repo?.full_name ?? null,
    body: pr.body ?? null,
    ...(pr.head.sha ? { headSha: pr.head.sha } : {}),
    ...(pr.base ? { baseRef: pr.base.ref } : {}),
    ...(pr.labels ? { labels: pr.labels.map((l) => l.name) } : {}),
    ...(pr.merge_commit_sha && (pr.merged ?? pr.merged_at) ? { mergeCommitSha: pr.merge_commit_sha } : {}),
  };
}

/** The state a worker whose PR looks like `pr` should be in. */
export function stateForPullRequest(pr: Pick<PullRequestFacts, "state" | "merged">): WorkerState {
  if (pr.merged) return "MERGED";
  return pr.state === "open" ? "PR_OPEN" : "ABANDONED";
}

function sameRepository(a: string | null, b: string | null): boolean {
  return a !== null && b !== null && a.toLowerCase() === b.toLowerCase();
}

/** True when the PR's head lives in `repository` itself; a fork's PR never moves a worker. */
export function isOwnBranch(pr: Pick<PullRequestFacts, "headRepository">, repository: string): boolean {
  return sameRepository(pr.headRepository, repository);
}

/**
 * The worker a pull request of `repository` belongs to, among `workers` (that repository's): the
 * one its body's marker names, else the one on its head branch. A fork's PR belongs to none,
 * and neither does a PR of a branch whose worker has recorded another PR number (an earlier
 * attempt's PR of the same branch).
 */
export function workerForPullRequest(
  workers: readonly Worker[],
  pr: PullRequestFacts,
  repository: string,
): Worker | undefined {
  if (!isOwnBranch(pr, repository)) return undefined;
  const ours = workers.filter((w) => sameRepository(w.repo, repository));
  const marker = parsePullRequestMarker(pr.body);
  if (marker) {
    const named = ours.find((w) => w.id === marker.workerId && w.taskId?.toLowerCase() === marker.taskId.toLowerCase());
    if (named) return named;
  }
  const onBranch = ours.filter((w) => w.branch === pr.headRef && (w.prNumber === null || w.prNumber === pr.number));
  // the worker that already knows this PR, else the newest unfinished one, else the newest
  const byAge = [...onBranch].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return (
    byAge.find((w) => w.prNumber === pr.number) ?? byAge.find((w) => !isTerminal(w.state)) ?? byAge[0]
  );
}

/**
 * Where a worker in `current` goes when GitHub says its PR is `target`: undefined when it is
 * there already or the transition table does not allow the move (MERGED is final).
 */
export function plannedMove(current: WorkerState, target: WorkerState): WorkerState | undefined {
  if (current === target) return undefined;
  return canTransition(current, target) ? target : undefined;
}
