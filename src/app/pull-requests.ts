import { NotFoundError } from "../core/errors.js";
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
import { moveWorker, type MoveStep } from "../store/moves.js";
import type { NewFollowUp } from "../store/store.js";
import type { AppDeps, Outcome } from "./deps.js";
import { effects, type EffectOrigin } from "./effects.js";
import type { RepositoryGitHub } from "./github.js";
import { afterParentClosed, afterParentMerged, retargetsOfMerge } from "./merge-flow.js";

/** A `pull_request` delivery, as the handler needs it. */
export interface PullRequestEvent {
  deliveryId: string;
  action: string;
  repository: string;
  /** The App installation the delivery came through (what its follow-ups act as). */
  installationId: number | null;
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
export async function workersOf(deps: AppDeps, repository: string): Promise<Worker[]> {
  return (await Promise.all(spellings(deps, repository).map((repo) => deps.store.listWorkers({ repo })))).flat();
}

/** The workers a PR could belong to: the one its marker names and those on its branch (indexed lookups). */
async function candidatesFor(deps: AppDeps, repository: string, pr: PullRequestFacts): Promise<Worker[]> {
  const found = new Map<string, Worker>();
  const marker = parsePullRequestMarker(pr.body);
  const named = marker && (await deps.store.getWorker(marker.workerId));
  if (named) found.set(named.id, named);
  for (const repo of spellings(deps, repository)) {
    for (const worker of await deps.store.listWorkers({ repo, branch: pr.headRef })) found.set(worker.id, worker);
  }
  return [...found.values()];
}

/** The worker a PR belongs to: own branch (never a fork), and branch or marker match. */
export async function workerOfPullRequest(deps: AppDeps, repository: string, pr: PullRequestFacts): Promise<Worker | undefined> {
  if (!isOwnBranch(pr, repository)) return undefined;
  return workerForPullRequest(await candidatesFor(deps, repository, pr), pr, repository);
}

/**
 * Moves the worker a PR belongs to: opened, reopened or ready for review -> PR_OPEN, merged ->
 * MERGED, closed unmerged -> ABANDONED. When the payload and the store disagree, the PR is read
 * again from GitHub and the live state wins, so late or reordered deliveries cannot undo a newer
 * fact (except for a merge, which nothing on GitHub can undo). The move is a compare-and-swap;
 * a lost race re-reads and decides again. Cleanup of a merged worker's worktree is the runner's,
 * which sees MERGED in the store.
 *
 * Without `github` (a delivery's handler, which answers before any GitHub call) a move that
 * waits on a re-read is queued as the `pull-request` follow-up, which calls this again with it.
 * The move's GitHub effects (the status comment, a merged branch deleted) and `alongside` (the
 * delivery's gates) are queued in the same store step as the move, or on their own when
 * nothing moves (a queued re-read leaves `alongside` to its follow-up).
 */
export async function onPullRequest(
  deps: AppDeps,
  event: PullRequestEvent,
  github: RepositoryGitHub | undefined,
  /** The PR's worker when the caller has looked it up already (null: it has none). */
  known?: Worker | null,
  alongside: readonly NewFollowUp[] = [],
): Promise<Outcome> {
  const { outcome, queued } = await movePullRequestWorker(deps, event, github, known, alongside);
  if (!queued && alongside.length > 0) await deps.followUps.add(alongside);
  return outcome;
}

function originOf(event: PullRequestEvent): EffectOrigin {
  return { installationId: event.installationId, correlationId: event.deliveryId };
}

/** What a move makes GitHub show: the worker's status comment, and a merged branch deleted when the repository asks. */
async function effectsOfMove(deps: AppDeps, event: PullRequestEvent, worker: Worker, to: WorkerState): Promise<NewFollowUp[]> {
  const list: NewFollowUp[] = [];
  const origin = originOf(event);
  // PRs stacked on its branch move to its base first: GitHub closes a PR whose base is deleted
  if (to === "MERGED") list.push(...(await retargetsOfMerge(deps, event.repository, worker, event.pullRequest, origin)));
  if (to === "MERGED" && worker.branch && deps.served(event.repository)?.deleteBranchOnMerge) {
    list.push(effects.deleteBranch(event.repository, event.pullRequest.number, worker.id, worker.branch, origin));
  }
  // only workers that came from an issue have a status comment
  if (worker.issueNumber !== null) list.push(effects.status(worker.repo ?? event.repository, worker.issueNumber, worker.id, event.deliveryId, origin));
  return list;
}

async function movePullRequestWorker(
  deps: AppDeps,
  event: PullRequestEvent,
  github: RepositoryGitHub | undefined,
  known: Worker | null | undefined,
  alongside: readonly NewFollowUp[],
): Promise<{ outcome: Outcome; queued: boolean }> {
  const unqueued = (outcome: Outcome) => ({ outcome, queued: false });
  const debug = (fields: Record<string, unknown>, message: string) => {
    if (deps.logger.isLevelEnabled("debug")) deps.logger.debug({ correlation_id: event.deliveryId, ...fields }, message);
  };
  const claimed = claimedState(event);
  if (!claimed) {
    // synchronize: nothing moves (the gates run, see index.ts)
    debug({ action: event.action, pr: event.pullRequest.number }, "pull request event moves no worker");
    return unqueued("ignored");
  }
  const pr = event.pullRequest;
  if (!isOwnBranch(pr, event.repository)) {
    debug({ pr: pr.number }, "pull request from a fork: ignored");
    return unqueued("ignored");
  }
  const found = known === undefined ? workerForPullRequest(await candidatesFor(deps, event.repository, pr), pr, event.repository) : known;
  if (!found) return unqueued("ignored");

  // made only when a line is written: most moves write none here
  let child: Logger | undefined;
  const wlog = () => (child ??= workerLogger(deps.logger, { workerId: found.id, taskId: found.taskId, correlationId: event.deliveryId }));
  const record = { prNumber: pr.number, prUrl: pr.url };
  type Handled = { outcome: Outcome; queued: boolean };
  let live: PullRequestFacts | undefined;
  // the first try trusts the lookup just made; the move is a compare-and-swap either way
  const moved = await moveWorker<Handled>(
    deps.store,
    found.id,
    async (current, attempt): Promise<MoveStep<Handled>> => {
      if (!current) throw new NotFoundError(`no worker ${found.id}: see \`pw worker list\``);
      // someone moved it meanwhile, perhaps on a newer fact than the PR read before: read again
      if (attempt > 0) live = undefined;
      if (current.state === "WORKING" && current.prNumber === pr.number && claimed === "PR_OPEN") {
        // a rework round runs on this PR (opened long ago): its runner moves the worker back when it ends
        debug({ pr: pr.number, worker_id: current.id }, "pull request event ignored: a rework round runs");
        return { stop: unqueued("ignored") };
      }
      let target = claimed;
      // A merge is final on GitHub, so a merged payload is already the newest fact; any other
      // claim that differs from the store may be stale (reopened since, closed since): re-read.
      if (needsReread(event, current)) {
        if (!github) {
          const input = { repository: event.repository, action: event.action, deliveryId: event.deliveryId, pullRequest: pr };
          // `alongside` waits for the move: the follow-up makes it again when it has moved the worker
          await deps.followUps.add([effects.pullRequest(input, originOf(event))]);
          return { stop: { outcome: "handled", queued: true } };
        }
        live ??= await github.pullRequest(pr.number);
        target = stateForPullRequest(live);
      }
      const to = plannedMove(current.state, target);
      if (!to) {
        if (current.state === target && (current.prNumber !== pr.number || current.prUrl !== pr.url)) {
          await deps.store.updateWorker(current.id, record);
          return { stop: unqueued("handled") };
        }
        if (current.state !== target) wlog().info({ state: current.state, target }, "pull request event ignored: the move is not allowed");
        return { stop: unqueued("ignored") };
      }
      const detail = `PR #${pr.number} ${to === "MERGED" ? "merged" : to === "ABANDONED" ? "closed unmerged" : event.action.replace(/_/g, " ")}`;
      return {
        to,
        meta: { source: "webhook", correlationId: event.deliveryId, detail, patch: record, followUps: [...(await effectsOfMove(deps, event, current, to)), ...alongside] },
      };
    },
    { first: found },
  );
  if (moved.kind === "stopped") return moved.result;
  if (moved.kind === "kept-moving") return unqueued("ignored");
  await afterMove(deps, event, moved.worker, moved.worker.state);
  deps.followUps.wake();
  return { outcome: "handled", queued: true };
}

/** What a parent's end does to the PRs stacked on it: moved to its base (merged), or ended (closed unmerged). */
async function afterMove(deps: AppDeps, event: PullRequestEvent, worker: Worker, to: WorkerState): Promise<void> {
  if (to === "MERGED") await afterParentMerged(deps, event.repository, worker, event.pullRequest, event.deliveryId);
  if (to === "ABANDONED") {
    const origin = originOf(event);
    const statusOf = (child: Worker) =>
      child.issueNumber !== null ? [effects.status(child.repo ?? event.repository, child.issueNumber, child.id, `${event.deliveryId}:${child.id}`, origin)] : [];
    await afterParentClosed(deps, event.repository, worker, origin, statusOf);
  }
}

/** The `delete-branch` follow-up: a merged worker's remote branch, deleted when the repository asks. */
export async function deleteMergedBranch(deps: AppDeps, github: RepositoryGitHub, workerId: string, branch: string, correlationId: string | null): Promise<void> {
  const wlog = workerLogger(deps.logger, { workerId, correlationId });
  const deleted = await github.deleteBranch(branch);
  wlog.info({ branch, deleted }, deleted ? "remote branch deleted" : "remote branch was already gone");
}
