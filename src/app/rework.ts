/**
 * The app's part of the rework loop: it turns a review that asks for changes, a failed check and
 * `/worker rework` into feedback in the store, and nothing else. A delivery's handler only
 * decides whether the event could be feedback for a worker's PR and queues a follow-up; the
 * follow-up does the GitHub reads (the reviewer's permission, the live PR and its labels, the
 * review's comments, the checks that count and their annotations) and records the feedback. The
 * runner that holds the worker's worktree starts the round when the store says it is due.
 */
import { BRANCH_PREFIX } from "../core/names.js";
import { parsePullRequestMarker } from "../core/pr.js";
import type { PullRequestFacts } from "../core/pull-requests.js";
import {
  checkFeedback,
  DEFAULT_REWORK,
  FAILED_CONCLUSIONS,
  FEEDBACK_LIMITS,
  needsHumanComment,
  NEEDS_HUMAN_LABEL,
  requestFeedback,
  reviewFeedback,
  type ReworkSettings,
} from "../core/rework.js";
import { isTerminal } from "../core/states.js";
import type { Worker } from "../core/worker.js";
import { gateFilePath, resolveGate } from "../gates/index.js";
import { workerLogger, type Logger } from "../log/logger.js";
import type { NewFeedback, NewFollowUp } from "../store/store.js";
import { isGateName, workerOnBranch, type CheckEvent } from "./checks.js";
import { mayRunCommands } from "./commands.js";
import type { AppDeps, Outcome } from "./deps.js";
import { effects, type CheckFeedbackInput, type EffectOrigin, type ReviewFeedbackInput } from "./effects.js";
import type { CheckRunDetail, RepositoryGitHub } from "./github.js";
import { workerOfPullRequest, workersOf } from "./pull-requests.js";

/** A `pull_request_review.submitted` delivery, as the handler needs it. */
export interface ReviewEvent {
  deliveryId: string;
  repository: string;
  installationId: number | null;
  review: {
    id: number;
    /** As the webhook spells it: `changes_requested`, `approved`, `commented`. */
    state: string;
    body: string;
    author: string;
    /** A bot (this App included) wrote it. */
    byBot: boolean;
    url: string | null;
  };
  pullRequest: PullRequestFacts;
}

/** The repository's `rework:` settings, as the runner serving it reads them. */
export function reworkSettings(deps: Pick<AppDeps, "served">, repository: string): ReworkSettings {
  return deps.served(repository)?.rework ?? DEFAULT_REWORK;
}

/** A worker feedback may go to: its PR is open, or a round runs on it (the feedback joins the next one). */
function takesFeedback(worker: Worker): boolean {
  return worker.state === "PR_OPEN" || (worker.state === "WORKING" && worker.prNumber !== null);
}

function originOf(event: { deliveryId: string; installationId: number | null }): EffectOrigin {
  return { installationId: event.installationId, correlationId: event.deliveryId };
}

/**
 * A review that asks for changes on a worker's PR, from a person: queues the `review-feedback`
 * follow-up (keyed by the review, so another delivery of it adds nothing). Approvals, comments,
 * bots (this App too), forks' PRs, people's PRs and ended workers change nothing.
 */
export async function onReviewSubmitted(deps: AppDeps, event: ReviewEvent): Promise<Outcome> {
  if (event.review.state.toLowerCase() !== "changes_requested" || event.review.byBot) return "ignored";
  const pr = event.pullRequest;
  if (pr.state !== "open") return "ignored";
  // most PRs are people's: no store lookup unless the branch or the body could be a worker's
  if (!pr.headRef.startsWith(BRANCH_PREFIX) && !parsePullRequestMarker(pr.body)) return "ignored";
  const worker = await workerOfPullRequest(deps, event.repository, pr);
  if (!worker || !takesFeedback(worker)) return "ignored";
  if (reworkSettings(deps, event.repository).maxRounds === 0) return "ignored";
  const input: ReviewFeedbackInput = {
    repository: event.repository,
    workerId: worker.id,
    pullNumber: pr.number,
    review: { id: event.review.id, author: event.review.author, body: event.review.body.slice(0, 70_000), url: event.review.url },
  };
  const added = await deps.followUps.add([effects.reviewFeedback(input, originOf(event))]);
  return added.length > 0 ? "handled" : "duplicate";
}

/**
 * The `check-feedback` follow-ups of a failed check: a `check_run` or `check_suite` that
 * completed with `failure` or `timed_out` on a worker's PR. Our own gates never count (they
 * run on the PR the round would push to). Which checks count is decided by the follow-up.
 */
export async function checkFeedbackOf(deps: AppDeps, event: CheckEvent): Promise<NewFollowUp[]> {
  if (event.kind !== "check_run.completed" && event.kind !== "check_suite.completed") return [];
  if (!event.conclusion || !FAILED_CONCLUSIONS.includes(event.conclusion)) return [];
  if (event.kind === "check_run.completed" && (!event.checkName || isGateName(event.checkName) || event.runId === undefined)) return [];
  const settings = reworkSettings(deps, event.repository);
  if (settings.onFailedChecks === "none" || settings.maxRounds === 0) return [];
  const queued: NewFollowUp[] = [];
  for (const pr of event.pullRequests) {
    const worker = await workerOnBranch(deps, event.repository, pr.headRef);
    if (!worker || !takesFeedback(worker)) continue;
    const input: CheckFeedbackInput = {
      repository: event.repository,
      workerId: worker.id,
      pullRequest: { number: pr.number, headSha: pr.headSha, baseRef: pr.baseRef },
      suiteId: event.suiteId ?? null,
      runId: event.kind === "check_run.completed" ? event.runId! : null,
    };
    queued.push(effects.checkFeedback(input, originOf(event)));
  }
  return queued;
}

function hasLabel(pr: PullRequestFacts, label: string): boolean {
  return (pr.labels ?? []).some((name) => name.toLowerCase() === label.toLowerCase());
}

/**
 * Records automatic feedback for the worker's next round. While automatic rounds are stopped
 * (the PR's `needs-human` label, or `max_rounds` used up) it is kept for a person's round rather
 * than starting one; the first time `max_rounds` stops one, the PR gets the label and a comment.
 */
async function recordAutomatic(
  deps: AppDeps,
  repository: string,
  worker: Worker,
  feedback: NewFeedback,
  live: PullRequestFacts,
  why: string,
  origin: EffectOrigin,
  log: Logger,
): Promise<NewFollowUp[]> {
  const settings = reworkSettings(deps, repository);
  if (settings.maxRounds === 0) return [];
  const labelled = hasLabel(live, NEEDS_HUMAN_LABEL);
  const capped = worker.automaticReworkRounds >= settings.maxRounds;
  const added = await deps.store.addFeedback({ ...feedback, held: labelled || capped });
  if (!added) {
    log.info({ feedback: feedback.key }, "rework feedback seen before, or its round ran already: ignored");
    return [];
  }
  log.info({ pr: live.number, cause: added.cause, held: added.held, why }, added.held ? "rework feedback kept for a person's round" : "rework feedback recorded");
  if (!capped || labelled) return [];
  const key = `needs-human:${worker.id}:${worker.automaticReworkRounds}`;
  return [
    effects.label(repository, live.number, [NEEDS_HUMAN_LABEL], key, origin),
    effects.reply(repository, live.number, needsHumanComment(worker.id, settings.maxRounds, why), key, origin),
  ];
}

/**
 * The `review-feedback` follow-up: the reviewer must have write, maintain or admin (as for
 * commands), the PR must still be open; then the review and every comment it left on the diff
 * are recorded as feedback.
 */
export async function recordReviewFeedback(deps: AppDeps, github: RepositoryGitHub, input: ReviewFeedbackInput, origin: EffectOrigin): Promise<NewFollowUp[]> {
  const worker = await deps.store.getWorker(input.workerId);
  if (!worker || !takesFeedback(worker)) return [];
  const log = workerLogger(deps.logger, { workerId: worker.id, taskId: worker.taskId, correlationId: origin.correlationId });
  const { role, permission } = await github.permission(input.review.author);
  if (!mayRunCommands(role, permission)) {
    log.info({ user: input.review.author, role, review_id: input.review.id }, "review ignored: its author may not start rework rounds");
    return [];
  }
  const live = await github.pullRequest(input.pullNumber);
  if (live.state !== "open") return [];
  const comments = await github.reviewComments(input.pullNumber, input.review.id);
  const detail = reviewFeedback({ reviewId: input.review.id, author: input.review.author, body: input.review.body, url: input.review.url, comments });
  const key = `review:${input.repository.toLowerCase()}:${input.review.id}`;
  return recordAutomatic(deps, input.repository, worker, { workerId: worker.id, key, scope: key, detail }, live, `a review by @${input.review.author}`, origin, log);
}

/** The checks `on_failed_checks: required` counts: the base branch's required checks and the phase-5-to-6 gate's list. */
async function requiredCheckNames(github: RepositoryGitHub, baseRef: string, log: Logger): Promise<Set<string>> {
  const names = new Set(await github.requiredChecks(baseRef));
  try {
    const path = gateFilePath("phase-5-to-6");
    const gate = resolveGate("phase-5-to-6", await github.fileAt(path, baseRef), `${path}@${baseRef}`);
    if (gate.rules["required-checks"].enabled) for (const name of gate.rules["required-checks"].checks) names.add(name);
  } catch (error) {
    // the gate's own check run says what is wrong with its file
    log.warn({ err_message: (error as Error).message.split("\n")[0] }, "phase-5-to-6 gate file not read for required checks");
  }
  return names;
}

/**
 * The `check-feedback` follow-up: on the PR's current head only (a check of an older commit
 * says nothing about it), the failed runs that `on_failed_checks` counts are recorded, one
 * feedback each, with their titles, summaries and first annotations. One round at most answers
 * a check suite: a run of a suite whose round has run adds nothing.
 */
export async function recordCheckFeedback(deps: AppDeps, github: RepositoryGitHub, input: CheckFeedbackInput, origin: EffectOrigin): Promise<NewFollowUp[]> {
  const worker = await deps.store.getWorker(input.workerId);
  if (!worker || !takesFeedback(worker)) return [];
  const log = workerLogger(deps.logger, { workerId: worker.id, taskId: worker.taskId, correlationId: origin.correlationId });
  const settings = reworkSettings(deps, input.repository);
  if (settings.onFailedChecks === "none") return [];
  const live = await github.pullRequest(input.pullRequest.number);
  if (live.state !== "open") return [];
  if (live.headSha && live.headSha !== input.pullRequest.headSha) {
    log.info({ pr: live.number, head_sha: input.pullRequest.headSha.slice(0, 7) }, "failed check of an older commit: no round");
    return [];
  }
  const runs: CheckRunDetail[] = input.runId !== null ? [await github.checkRun(input.runId)] : await github.checkRunsOfSuite(input.suiteId!);
  let failed = runs.filter(
    (run) => run.conclusion !== null && FAILED_CONCLUSIONS.includes(run.conclusion) && !isGateName(run.name) && run.headSha === input.pullRequest.headSha,
  );
  if (settings.onFailedChecks === "required" && failed.length > 0) {
    const required = await requiredCheckNames(github, input.pullRequest.baseRef, log);
    const skipped = failed.filter((run) => !required.has(run.name)).map((run) => run.name);
    if (skipped.length > 0) log.info({ pr: live.number, checks: skipped.join(", ") }, "failed checks not required: no round for them");
    failed = failed.filter((run) => required.has(run.name));
  }
  const then: NewFollowUp[] = [];
  for (const run of failed) {
    const annotations = run.annotationsCount > 0 ? await github.annotations(run.id, FEEDBACK_LIMITS.annotations) : [];
    const detail = checkFeedback({
      suiteId: input.suiteId,
      headSha: input.pullRequest.headSha,
      runs: [{ name: run.name, conclusion: run.conclusion!, title: run.title, summary: run.summary, annotations, annotationsTotal: run.annotationsCount }],
    });
    const repository = input.repository.toLowerCase();
    const feedback: NewFeedback = {
      workerId: worker.id,
      key: `check-run:${repository}:${run.id}`,
      scope: input.suiteId !== null ? `check-suite:${repository}:${input.suiteId}` : `check-run:${repository}:${run.id}`,
      detail,
    };
    then.push(...(await recordAutomatic(deps, input.repository, await deps.store.requireWorker(worker.id), feedback, live, `the failed check ${run.name}`, origin, log)));
  }
  return then;
}

/** The worker a PR of `repository` belongs to, by the PR number it recorded (the newest unfinished one first). */
async function workerOfPullNumber(deps: AppDeps, repository: string, number: number): Promise<Worker | undefined> {
  const onPull = (await workersOf(deps, repository))
    .filter((w) => w.prNumber === number)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return onPull.find((w) => !isTerminal(w.state)) ?? onPull[0];
}

/** What `/worker rework [text]` asks, as the command runner hands it over. */
export interface ReworkRequest {
  repository: string;
  isPullRequest: boolean;
  pullNumber: number;
  commentId: number;
  author: string;
  text: string;
  /** The comment's command key: the comment acts once. */
  key: string;
}

/**
 * `/worker rework [text]` on a worker's PR (the permission check has passed): the text is
 * recorded as feedback that starts a round at once, with whatever feedback waits, past
 * `max_rounds` and `needs-human` too. While a round runs, it joins the next one.
 */
export async function requestRework(deps: AppDeps, request: ReworkRequest): Promise<{ ok: boolean; reply: string }> {
  if (!request.isPullRequest) return { ok: false, reply: "`/worker rework` works on a worker's pull request, not on an issue." };
  const worker = await workerOfPullNumber(deps, request.repository, request.pullNumber);
  if (!worker) return { ok: false, reply: `#${request.pullNumber} is not a worker's pull request: nothing was done.` };
  if (!takesFeedback(worker)) {
    const hint = worker.state === "UNKNOWN" || worker.state === "ABANDONED" ? ` \`/worker retry ${worker.id}\` queues it again.` : "";
    return { ok: false, reply: `Worker \`${worker.id}\` is ${worker.state}: only a worker whose pull request is open can have a rework round.${hint}` };
  }
  const key = `comment:${request.key}`;
  await deps.store.addFeedback({
    workerId: worker.id,
    key,
    scope: key,
    detail: requestFeedback("comment", request.text, { id: request.commentId, author: request.author }),
  });
  const served = deps.served(request.repository) !== undefined;
  const when =
    worker.state === "WORKING"
      ? "a round runs now: this joins the next one"
      : served
        ? "its runner starts it now"
        : "the runner that holds its worktree starts it";
  return { ok: true, reply: `Rework round asked for worker \`${worker.id}\` (task \`${worker.taskId}\`): ${when}.` };
}
