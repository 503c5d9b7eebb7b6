import { standingReviews } from "../core/reviews.js";
import { TransitionConflictError } from "../core/errors.js";
import { plannedMove, stateForPullRequest, workerForPullRequest, type PullRequestFacts } from "../core/pull-requests.js";
import type { WorkerState } from "../core/states.js";
import type { Worker } from "../core/worker.js";
import type { Logger } from "../log/logger.js";
import type { NewFollowUp, WorkerStore } from "../store/store.js";
import { effects } from "./effects.js";
import { repositoryGitHub, type OctokitFor, type RepositoryGitHub, type Review } from "./github.js";

export interface ReconcileDeps {
  store: WorkerStore;
  logger: Logger;
  octokitFor: OctokitFor;
  correlationId?: string;
  now?: () => number;
}

export interface ReconcileChange {
  worker: Worker;
  from: WorkerState;
  to: WorkerState;
  pullRequest: PullRequestFacts;
}

/** A review asking for changes that no rework round has answered, queued as a delivery of it would be. */
export interface ReconcileReview {
  worker: Worker;
  pullRequest: PullRequestFacts;
  reviewId: number;
  author: string;
}

export interface ReconcileResult {
  /** Repositories whose pull requests were listed. */
  repositories: string[];
  /** Workers compared with GitHub. */
  checked: number;
  changes: ReconcileChange[];
  /** Reviews queued for a rework round. */
  reviews: ReconcileReview[];
  /** Repositories that could not be listed, and why. */
  failures: Array<{ repository: string; message: string }>;
}

const WATCHED: readonly WorkerState[] = ["WORKING", "PR_OPEN"];

/** The PR a worker stands for among a repository's: the one it recorded, else the newest of its own. */
function pullRequestOf(worker: Worker, prs: readonly PullRequestFacts[], repository: string): PullRequestFacts | undefined {
  const own = prs.filter((pr) => workerForPullRequest([worker], pr, repository) === worker);
  return own.find((pr) => pr.number === worker.prNumber) ?? own.sort((a, b) => b.number - a.number)[0];
}

/**
 * Brings WORKING and PR_OPEN workers in line with GitHub, for webhooks missed while nothing was
 * listening: one paginated list-pull-requests call per repository (never one per worker), then a
 * compare-and-swap per worker whose PR says otherwise (open -> PR_OPEN, merged -> MERGED,
 * closed unmerged -> ABANDONED). A WORKING worker whose runner holds a live claim is left to
 * that runner, which opens (or adopts) the PR itself when its agent ends.
 */
export async function reconcile(deps: ReconcileDeps): Promise<ReconcileResult> {
  const now = deps.now?.() ?? Date.now();
  const candidates = (await Promise.all(WATCHED.map((state) => deps.store.listWorkers({ state })))).flat().filter(
    (w) => w.repo !== null && !(w.state === "WORKING" && w.leaseUntil !== null && Date.parse(w.leaseUntil) > now),
  );
  const byRepository = new Map<string, { name: string; workers: Worker[] }>();
  for (const worker of candidates) {
    const key = worker.repo!.toLowerCase();
    const group = byRepository.get(key) ?? { name: worker.repo!, workers: [] };
    group.workers.push(worker);
    byRepository.set(key, group);
  }
  const result: ReconcileResult = { repositories: [], checked: candidates.length, changes: [], reviews: [], failures: [] };
  for (const { name, workers } of byRepository.values()) {
    let prs: PullRequestFacts[];
    try {
      prs = await repositoryGitHub(await deps.octokitFor(name), name).listPullRequests();
    } catch (error) {
      const message = (error as Error).message.split("\n")[0] ?? "failed";
      result.failures.push({ repository: name, message });
      deps.logger.warn({ repository: name, err_message: message }, "reconcile: pull requests not listed");
      continue;
    }
    result.repositories.push(name);
    for (const seen of workers) {
      const pr = pullRequestOf(seen, prs, name);
      if (!pr) continue;
      const worker = await deps.store.getWorker(seen.id);
      if (!worker || !WATCHED.includes(worker.state)) continue;
      const to = plannedMove(worker.state, stateForPullRequest(pr));
      if (!to) continue;
      const detail = `PR #${pr.number} ${pr.merged ? "merged" : pr.state === "open" ? "open" : "closed unmerged"}`;
      try {
        const moved = await deps.store.transition(worker.id, worker.state, to, {
          source: "reconcile",
          correlationId: deps.correlationId ?? null,
          detail,
          patch: { prNumber: pr.number, prUrl: pr.url },
        });
        result.changes.push({ worker: moved, from: worker.state, to, pullRequest: pr });
      } catch (error) {
        // moved meanwhile by a webhook or the runner: their fact is newer
        if (!(error instanceof TransitionConflictError)) throw error;
      }
    }
    await queueUnansweredReviews(deps, repositoryGitHub(await deps.octokitFor(name), name), workers, prs, result);
  }
  return result;
}

/**
 * Reviews sent while nothing listened: a standing request for changes on an open PR of a
 * PR_OPEN worker that no feedback records is queued as the `review-feedback` follow-up, the
 * one its delivery would have queued (its key is the review's, so it is looked at once).
 * One reviews call per such PR.
 */
async function queueUnansweredReviews(
  deps: ReconcileDeps,
  github: RepositoryGitHub,
  workers: readonly Worker[],
  prs: readonly PullRequestFacts[],
  result: ReconcileResult,
): Promise<void> {
  const name = github.repository;
  for (const seen of workers) {
    const worker = await deps.store.getWorker(seen.id);
    const pr = worker && pullRequestOf(worker, prs, name);
    if (!worker || worker.state !== "PR_OPEN" || !pr || pr.state !== "open") continue;
    let reviews: Review[];
    try {
      reviews = await github.reviews(pr.number);
    } catch (error) {
      const message = (error as Error).message.split("\n")[0] ?? "failed";
      result.failures.push({ repository: name, message: `reviews of #${pr.number}: ${message}` });
      deps.logger.warn({ repository: name, pr: pr.number, err_message: message }, "reconcile: reviews not listed");
      continue;
    }
    const recorded = new Set((await deps.store.listFeedback({ workerId: worker.id })).map((f) => f.key));
    const queued: NewFollowUp[] = [];
    for (const review of standingReviews(reviews)) {
      if (review.state.toUpperCase() !== "CHANGES_REQUESTED" || review.authorIsBot) continue;
      if (recorded.has(`review:${name.toLowerCase()}:${review.id}`)) continue;
      const input = { repository: name, workerId: worker.id, pullNumber: pr.number, review: { id: review.id, author: review.author, body: review.body.slice(0, 70_000), url: review.url } };
      queued.push(effects.reviewFeedback(input, { installationId: null, correlationId: deps.correlationId ?? null }));
      result.reviews.push({ worker, pullRequest: pr, reviewId: review.id, author: review.author });
    }
    if (queued.length > 0) await deps.store.addFollowUps(queued);
  }
}
