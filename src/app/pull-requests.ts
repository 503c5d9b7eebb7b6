import { TransitionConflictError } from "../core/errors.js";
import { parsePullRequestMarker } from "../core/pr.js";
import {
  isOwnBranch,
  plannedMove,
  stateForPullRequest,
  workerForPullRequest,
  type PullRequestFacts,
} from "../core/pull-requests.js";
import type { WorkerState } from "../core/states.js";
import type { Worker } from "../core/worker.js";
import { workerLogger, type Logger } from "../log/logger.js";
import type { AppDeps, Outcome } from "./deps.js";
import type { RepositoryGitHub } from "./github.js";

/** A `pull_request` delivery, as the handler needs it. */
export interface PullRequestEvent {
  deliveryId: string;
  action: string;
  repository: string;
  pullRequest: PullRequestFacts;
}

/** What the payload says the worker's state should be, before anything is re-read. */
function claimedState(event: PullRequestEvent): WorkerState | undefined {
  switch (event.action) {
    case "opened":
    case "reopened":
    case "ready_for_review":
      return "PR_OPEN";
    case "closed":
      return event.pullRequest.merged ? "MERGED" : "ABANDONED";
    default:
      return undefined;
  }
}

/**
 * Whether moving `worker` for this delivery waits on a re-read of the PR: the payload claims a
 * state the store does not have, and the claim is not a merge (a merge is final on GitHub).
 */
export function needsReread(event: PullRequestEvent, worker: Worker): boolean {
  const claimed = claimedState(event);
  return claimed !== undefined && claimed !== "MERGED" && worker.state !== claimed;
}

/** The repository's names as workers may record it: the payload's and the runner's (they may differ in case). */
function spellings(deps: AppDeps, repository: string): string[] {
  return [...new Set([repository, deps.served(repository)?.repository ?? repository])];
}

/** The repository's workers. */
export function workersOf(deps: AppDeps, repository: string): Worker[] {
  return spellings(deps, repository).flatMap((repo) => deps.store.listWorkers({ repo }));
}

/** The workers a PR could belong to: the one its marker names and those on its branch (indexed lookups). */
function candidatesFor(deps: AppDeps, repository: string, pr: PullRequestFacts): Worker[] {
  const found = new Map<string, Worker>();
  const marker = parsePullRequestMarker(pr.body);
  const named = marker && deps.store.getWorker(marker.workerId);
  if (named) found.set(named.id, named);
  for (const repo of spellings(deps, repository)) {
    for (const worker of deps.store.listWorkers({ repo, branch: pr.headRef })) found.set(worker.id, worker);
  }
  return [...found.values()];
}

/** The worker a PR belongs to: own branch (never a fork), and branch or marker match. */
export function workerOfPullRequest(deps: AppDeps, repository: string, pr: PullRequestFacts): Worker | undefined {
  if (!isOwnBranch(pr, repository)) return undefined;
  return workerForPullRequest(candidatesFor(deps, repository, pr), pr, repository);
}

/**
 * Moves the worker a PR belongs to: opened, reopened or ready for review -> PR_OPEN, merged ->
 * MERGED, closed unmerged -> ABANDONED. When the payload and the store disagree, the PR is read
 * again from GitHub and the live state wins, so late or reordered deliveries cannot undo a newer
 * fact (except for a merge, which nothing on GitHub can undo). The move is a compare-and-swap;
 * a lost race re-reads and decides again. Cleanup of a merged worker's worktree is the runner's,
 * which sees MERGED in the store.
 */
export async function onPullRequest(
  deps: AppDeps,
  event: PullRequestEvent,
  github: RepositoryGitHub,
  /** The PR's worker when the caller has looked it up already (null: it has none). */
  known?: Worker | null,
): Promise<Outcome> {
  const debug = (fields: Record<string, unknown>, message: string) => {
    if (deps.logger.isLevelEnabled("debug")) deps.logger.debug({ correlation_id: event.deliveryId, ...fields }, message);
  };
  const claimed = claimedState(event);
  if (!claimed) {
    // synchronize: nothing moves (the gates run, see index.ts)
    debug({ action: event.action, pr: event.pullRequest.number }, "pull request event moves no worker");
    return "ignored";
  }
  const pr = event.pullRequest;
  if (!isOwnBranch(pr, event.repository)) {
    debug({ pr: pr.number }, "pull request from a fork: ignored");
    return "ignored";
  }
  const found = known === undefined ? workerForPullRequest(candidatesFor(deps, event.repository, pr), pr, event.repository) : known;
  if (!found) return "ignored";

  // made only when a line is written: most moves write none here
  let child: Logger | undefined;
  const wlog = () => (child ??= workerLogger(deps.logger, { workerId: found.id, taskId: found.taskId, correlationId: event.deliveryId }));
  const record = { prNumber: pr.number, prUrl: pr.url };
  let live: PullRequestFacts | undefined;
  let moved: { from: WorkerState; worker: Worker } | undefined;
  for (let attempt = 0; attempt < 4 && !moved; attempt++) {
    // the first try trusts the lookup just made; the move is a compare-and-swap either way
    const current = attempt === 0 ? found : deps.store.requireWorker(found.id);
    let target = claimed;
    // A merge is final on GitHub, so a merged payload is already the newest fact; any other
    // claim that differs from the store may be stale (reopened since, closed since): re-read.
    if (needsReread(event, current)) {
      live ??= await github.pullRequest(pr.number);
      target = stateForPullRequest(live);
    }
    const to = plannedMove(current.state, target);
    if (!to) {
      if (current.state === target && (current.prNumber !== pr.number || current.prUrl !== pr.url)) {
        deps.store.updateWorker(current.id, record);
        return "handled";
      }
      if (current.state !== target) wlog().info({ state: current.state, target }, "pull request event ignored: the move is not allowed");
      return "ignored";
    }
    const detail = `PR #${pr.number} ${to === "MERGED" ? "merged" : to === "ABANDONED" ? "closed unmerged" : event.action.replace(/_/g, " ")}`;
    try {
      const worker = deps.store.transition(current.id, current.state, to, {
        source: "webhook",
        correlationId: event.deliveryId,
        detail,
        patch: record,
      });
      moved = { from: current.state, worker };
    } catch (error) {
      if (!(error instanceof TransitionConflictError)) throw error;
      // someone moved it meanwhile, perhaps on a newer fact than the PR read before: read again
      live = undefined;
    }
  }
  if (!moved) return "ignored";

  const worker = moved.worker;
  if (worker.state === "MERGED" && worker.branch && deps.served(event.repository)?.deleteBranchOnMerge) {
    try {
      const deleted = await github.deleteBranch(worker.branch);
      wlog().info({ branch: worker.branch, deleted }, deleted ? "remote branch deleted" : "remote branch was already gone");
    } catch (error) {
      wlog().warn({ branch: worker.branch, err_message: (error as Error).message.split("\n")[0] }, "remote branch not deleted");
    }
  }
  // only workers that came from an issue have a status comment
  if (worker.issueNumber !== null) {
    await deps.statusComments.ensure(worker.id, github).catch((error: Error) => {
      wlog().warn({ err_message: error.message.split("\n")[0] }, "status comment not updated; the watcher retries");
    });
  }
  return "handled";
}
