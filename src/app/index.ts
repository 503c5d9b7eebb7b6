/**
 * The Probot app: routes events to the handlers and follow-ups to what carries them out, and
 * does nothing else. Each route turns a `Context` into a plain input (validated), records the
 * delivery id (a delivery seen before changes nothing), calls one handler, and counts how it
 * ended. Handlers never call GitHub: they record facts in the store and queue the GitHub effects
 * as follow-ups (`effects.ts`), which `performFollowUp` carries out after the delivery is
 * answered. No git, no disk, no agent here: the runner acts on what the store says.
 */
import type { ApplicationFunction, Context } from "probot";
import type { Logger } from "../log/logger.js";
import { InvalidInputError, StoreUnavailableError } from "../core/errors.js";
import { BRANCH_PREFIX } from "../core/names.js";
import { parsePullRequestMarker } from "../core/pr.js";
import { pullRequestFacts } from "../core/pull-requests.js";
import type { Worker } from "../core/worker.js";
import { GATE_NAMES } from "../gates/index.js";
import type { FollowUp, NewFollowUp } from "../store/store.js";
import { onIssueComment, runComment, type IssueCommentEvent } from "./comments.js";
import { loggedAlready } from "./logging.js";
import type { AppDeps, Outcome } from "./deps.js";
import { effects, parseEffect } from "./effects.js";
import { repositoryGitHub, type RequestOctokit } from "./github.js";
import {
  parseCheckRunPayload,
  parseCheckSuitePayload,
  parseIssueCommentPayload,
  parsePullRequestPayload,
  parsePullRequestReviewPayload,
} from "./payloads.js";
import { gatePullRequestOfWorker, gatesOfCheckEvent, type CheckEvent } from "./checks.js";
import { checkFeedbackOf, onReviewSubmitted, recordCheckFeedback, recordReviewFeedback, type ReviewEvent } from "./rework.js";
import { deleteMergedBranch, onPullRequest, workerOfPullRequest, type PullRequestEvent } from "./pull-requests.js";
import {
  disableOnNeedsHuman,
  gateMergeGroup,
  mergeAfterGates,
  mergeFlowSettings,
  mergeWhenReady,
  onMergeGroup,
  onPush,
  retargetPullRequest,
  toMergeGroupEvent,
  toPushEvent,
  turnOffAutoMerge,
  updatePullRequestBranch,
} from "./merge-flow.js";

export type { AppDeps, ServedRepository } from "./deps.js";
export { servedRepositories } from "./deps.js";

/** The `pull_request` actions after which the gates run on a worker's PR. */
const GATED_ACTIONS = new Set(["opened", "reopened", "synchronize"]);

/** The check events that re-run gates, or (failed) start a rework round. */
export const CHECK_EVENTS = ["check_run.rerequested", "check_run.completed", "check_suite.rerequested", "check_suite.completed"] as const;

/** A review that asks for changes starts a rework round. */
export const REVIEW_EVENTS = ["pull_request_review.submitted"] as const;

/** The `pull_request` actions that can move a worker (and `synchronize`, where gates re-run). */
export const PULL_REQUEST_EVENTS = [
  "pull_request.opened",
  "pull_request.reopened",
  "pull_request.ready_for_review",
  "pull_request.closed",
  "pull_request.synchronize",
] as const;

/** `issue_comment` actions that can hold commands: a new comment, and an edit that changed the text. */
export const ISSUE_COMMENT_EVENTS = ["issue_comment.created", "issue_comment.edited"] as const;

/** A push to a branch: worker PRs based on it are brought up to date (`merge_flow.update`). */
export const PUSH_EVENTS = ["push"] as const;

/** A merge queue asks for the required checks of a merge group: the gates run on it. */
export const MERGE_GROUP_EVENTS = ["merge_group.checks_requested"] as const;

/** `needs-human` added to a worker's PR turns off the auto-merge the app turned on. */
export const LABEL_EVENTS = ["pull_request.labeled"] as const;

/** The events the app acts on (each delivery to a GitHub App of these carries an installation id). */
export const APP_EVENTS: ReadonlySet<string> = new Set(["pull_request", "pull_request_review", "issue_comment", "check_run", "check_suite", "push", "merge_group"]);

function isBot(login: string, type: string | undefined): boolean {
  return type === "Bot" || login.endsWith("[bot]");
}

export function toPullRequestEvent(context: Pick<Context, "id" | "payload">): PullRequestEvent {
  const payload = parsePullRequestPayload(context.payload);
  return {
    deliveryId: context.id,
    action: payload.action,
    repository: payload.repository.full_name,
    installationId: payload.installation?.id ?? null,
    pullRequest: pullRequestFacts(payload.pull_request),
  };
}

export function toCheckEvent(context: Pick<Context, "id" | "name" | "payload">): CheckEvent {
  if (context.name === "check_suite") {
    const payload = parseCheckSuitePayload(context.payload);
    return {
      deliveryId: context.id,
      repository: payload.repository.full_name,
      installationId: payload.installation?.id ?? null,
      kind: payload.action === "completed" ? "check_suite.completed" : "check_suite.rerequested",
      suiteId: payload.check_suite.id,
      conclusion: payload.check_suite.conclusion ?? null,
      pullRequests: payload.check_suite.pull_requests.map((pr) => ({
        number: pr.number,
        headSha: pr.head.sha,
        headRef: pr.head.ref,
        baseRef: pr.base.ref,
      })),
    };
  }
  const payload = parseCheckRunPayload(context.payload);
  return {
    deliveryId: context.id,
    repository: payload.repository.full_name,
    installationId: payload.installation?.id ?? null,
    kind: payload.action === "rerequested" ? "check_run.rerequested" : "check_run.completed",
    checkName: payload.check_run.name,
    runId: payload.check_run.id,
    suiteId: payload.check_run.check_suite?.id ?? null,
    conclusion: payload.check_run.conclusion ?? null,
    pullRequests: payload.check_run.pull_requests.map((pr) => ({
      number: pr.number,
      headSha: pr.head.sha,
      headRef: pr.head.ref,
      baseRef: pr.base.ref,
    })),
  };
}

export function toReviewEvent(context: Pick<Context, "id" | "payload">): ReviewEvent {
  const payload = parsePullRequestReviewPayload(context.payload);
  const review = payload.review;
  return {
    deliveryId: context.id,
    repository: payload.repository.full_name,
    installationId: payload.installation?.id ?? null,
    review: {
      id: review.id,
      state: review.state,
      body: review.body ?? "",
      author: review.user.login,
      byBot: isBot(review.user.login, review.user.type) || isBot(payload.sender.login, payload.sender.type),
      url: review.html_url ?? null,
    },
    pullRequest: pullRequestFacts(payload.pull_request),
  };
}

/**
 * A review: one asking for changes may start a rework round; an approval runs phase-5-to-6
 * again on a worker's PR when the app merges (its `approvals` rule may pass now).
 */
async function onReview(deps: AppDeps, event: ReviewEvent): Promise<Outcome> {
  if (event.review.state.toLowerCase() !== "approved") return onReviewSubmitted(deps, event);
  const pr = event.pullRequest;
  if (mergeFlowSettings(deps, event.repository).merge !== "auto" || pr.state !== "open" || !pr.headSha || !pr.baseRef) return "ignored";
  if (!pr.headRef.startsWith(BRANCH_PREFIX) && !parsePullRequestMarker(pr.body)) return "ignored";
  const worker = await workerOfPullRequest(deps, event.repository, pr);
  if (!worker) return "ignored";
  const gated = { number: pr.number, headSha: pr.headSha, baseRef: pr.baseRef, headRef: pr.headRef };
  const origin = { installationId: event.installationId, correlationId: event.deliveryId };
  const added = await deps.followUps.add([effects.gates(event.repository, worker.id, gated, ["phase-5-to-6"], origin)]);
  return added.length > 0 ? "handled" : "duplicate";
}

/** A check delivery: its gates run again, and a failed one may be feedback for a rework round. */
async function onCheckEvent(deps: AppDeps, event: CheckEvent): Promise<Outcome> {
  const queued = [...(await gatesOfCheckEvent(deps, event)), ...(await checkFeedbackOf(deps, event))];
  if (queued.length === 0) return "ignored";
  await deps.followUps.add(queued);
  return "handled";
}

/**
 * A PR delivery: the worker moves (or, when the payload and the store disagree, the re-read and
 * the move are queued), and for opened, reopened and synchronize its gates are queued to run on
 * the head commit.
 */
async function onPullRequestAndGates(deps: AppDeps, event: PullRequestEvent): Promise<Outcome> {
  const pr = event.pullRequest;
  // most PRs are people's: no store lookup unless the branch or the body could be a worker's
  if (!pr.headRef.startsWith(BRANCH_PREFIX) && !parsePullRequestMarker(pr.body)) return "ignored";
  const found = (await workerOfPullRequest(deps, event.repository, pr)) ?? null;
  const gates = gatesOf(event, found);
  const moved = await onPullRequest(deps, event, undefined, found, gates);
  return gates.length > 0 ? "handled" : moved;
}

/** The gates a PR delivery runs: on a worker's open PR, after opened, reopened and synchronize. */
function gatesOf(event: PullRequestEvent, worker: Worker | null): NewFollowUp[] {
  const pr = event.pullRequest;
  if (!worker || !GATED_ACTIONS.has(event.action) || pr.state !== "open" || !pr.headSha || !pr.baseRef) return [];
  const gated = { number: pr.number, headSha: pr.headSha, baseRef: pr.baseRef, headRef: pr.headRef };
  return [effects.gates(event.repository, worker.id, gated, GATE_NAMES, { installationId: event.installationId, correlationId: event.deliveryId })];
}

/** A `pull_request.labeled` delivery: the PR and the label added. */
interface LabelEvent extends PullRequestEvent {
  label: string | undefined;
}

function toLabelEvent(context: Pick<Context, "id" | "payload">): LabelEvent {
  const payload = parsePullRequestPayload(context.payload);
  return {
    deliveryId: context.id,
    action: payload.action,
    repository: payload.repository.full_name,
    installationId: payload.installation?.id ?? null,
    pullRequest: pullRequestFacts(payload.pull_request),
    label: payload.label?.name,
  };
}

/** `needs-human` on a worker's PR whose auto-merge the app turned on: it is turned off. */
async function onLabeled(deps: AppDeps, event: LabelEvent): Promise<Outcome> {
  const pr = event.pullRequest;
  if (!pr.headRef.startsWith(BRANCH_PREFIX) && !parsePullRequestMarker(pr.body)) return "ignored";
  const worker = (await workerOfPullRequest(deps, event.repository, pr)) ?? null;
  const queued = disableOnNeedsHuman(deps, event.repository, worker, pr, event.label, { installationId: event.installationId, correlationId: event.deliveryId });
  if (queued.length === 0) return "ignored";
  await deps.followUps.add(queued);
  return "handled";
}

export function toIssueCommentEvent(context: Pick<Context, "id" | "payload">): IssueCommentEvent {
  const payload = parseIssueCommentPayload(context.payload);
  const previous = payload.changes?.body?.from;
  return {
    deliveryId: context.id,
    action: payload.action === "edited" ? "edited" : "created",
    repository: payload.repository.full_name,
    installationId: payload.installation?.id ?? null,
    defaultBranch: payload.repository.default_branch,
    issue: {
      number: payload.issue.number,
      title: payload.issue.title,
      body: payload.issue.body ?? null,
      isPullRequest: Boolean(payload.issue.pull_request),
    },
    comment: { id: payload.comment.id, body: payload.comment.body ?? "", editedAt: payload.comment.updated_at },
    previousBody: previous === undefined ? undefined : (previous ?? ""),
    author: payload.comment.user.login,
    byBot:
      isBot(payload.sender.login, payload.sender.type) ||
      isBot(payload.comment.user.login, payload.comment.user.type) ||
      Boolean(payload.comment.performed_via_github_app),
  };
}

/**
 * Wraps a route: validates and claims the delivery, times the handler, counts the outcome,
 * logs a failure as one line, and forgets a failed delivery so GitHub's redelivery is handled.
 * A delivery the store cannot take now (unavailable) is answered and held until it can.
 */
function route<E extends { deliveryId: string; repository: string }>(
  deps: AppDeps,
  toEvent: (context: Context) => E,
  handle: (deps: AppDeps, event: E) => Outcome | Promise<Outcome>,
) {
  return async (context: Context): Promise<void> => {
    const started = performance.now();
    const name = `${context.name}.${(context.payload as { action?: string }).action ?? ""}`;
    // a child logger per delivery only when a line is written
    let child: Logger | undefined;
    const log = () => (child ??= deps.logger.child({ correlation_id: context.id }));
    const observe = (outcome: Outcome | "error") => deps.metrics?.observeWebhook(name, outcome, (performance.now() - started) / 1000);
    let event: E;
    try {
      event = toEvent(context);
    } catch (error) {
      observe("error");
      log().warn({ event: name, err_message: (error as Error).message }, "webhook payload refused");
      throw loggedAlready(error);
    }
    const failed = (error: unknown): Error => {
      observe("error");
      const status = (error as { status?: number }).status;
      log().error({ event: name, err_message: (error as Error).message.split("\n")[0], ...(status ? { status } : {}) }, "webhook handler failed");
      return loggedAlready(error instanceof InvalidInputError ? error : new Error(`${name} handler failed: ${(error as Error).message.split("\n")[0]}`));
    };
    const handled = (outcome: Outcome) => {
      observe(outcome);
      if (deps.logger.isLevelEnabled("debug")) log().debug({ event: name, outcome }, "webhook handled");
    };
    // The store cannot be reached: the delivery is answered and held until it can (GitHub does
    // not redeliver by itself). `claimed` says whether its id is in the store already; a try
    // after that runs only the handler, whose moves are compare-and-swaps and effects keyed.
    const hold = (claimed: boolean) => {
      log().info({ event: name }, "the store is unavailable: delivery held until it answers");
      deps.deliveries.hold(
        context.id,
        async () => {
          if (!claimed && !(await deps.deliveries.claim(context.id, name))) return observe("duplicate");
          claimed = true;
          handled(await handle(deps, event));
          log().info({ event: name }, "held delivery handled");
        },
        (error) => {
          if (claimed) void deps.deliveries.forget(context.id);
          if (error instanceof StoreUnavailableError) {
            observe("error");
            log().error({ event: name, err_message: error.message.split("\n")[0] }, "held delivery not handled: the store was unavailable until pw serve stopped; redeliver it");
          } else failed(error);
        },
      );
    };
    let claimed: boolean;
    try {
      claimed = await deps.deliveries.claim(context.id, name);
    } catch (error) {
      if (error instanceof StoreUnavailableError) return hold(false);
      throw failed(error);
    }
    if (!claimed) {
      log().info({ event: name }, "delivery seen before: ignored");
      observe("duplicate");
      return;
    }
    try {
      handled(await handle(deps, event));
    } catch (error) {
      if (error instanceof StoreUnavailableError) return hold(true);
      void deps.deliveries.forget(context.id);
      throw failed(error);
    }
  };
}

/** The app, for `probot.load()`; `pw serve` builds `deps` from its runner's repositories. */
export function createApp(deps: AppDeps): ApplicationFunction {
  return (app) => {
    app.on([...PULL_REQUEST_EVENTS], route(deps, toPullRequestEvent, onPullRequestAndGates));
    app.on([...CHECK_EVENTS], route(deps, toCheckEvent, onCheckEvent));
    app.on([...ISSUE_COMMENT_EVENTS], route(deps, toIssueCommentEvent, onIssueComment));
    app.on([...REVIEW_EVENTS], route(deps, toReviewEvent, onReview));
    app.on([...PUSH_EVENTS], route(deps, toPushEvent, onPush));
    app.on([...MERGE_GROUP_EVENTS], route(deps, toMergeGroupEvent, onMergeGroup));
    app.on([...LABEL_EVENTS], route(deps, toLabelEvent, onLabeled));
  };
}

/** An Octokit for a follow-up: as its delivery's installation, or (none known) as the App on the repository. */
export type FollowUpOctokit = (target: { repository: string; installationId: number | null }) => Promise<RequestOctokit>;

/**
 * What carries out each kind of follow-up (for `FollowUpQueue.start`). Every effect is an
 * "ensure": run twice (a restart while it ran), it leaves what it left once. A reply looks for
 * its hidden marker before it posts again; a reaction GitHub keeps once; check runs and the
 * status comment are updated in place; moves are compare-and-swaps.
 */
export function performFollowUp(deps: AppDeps, octokitFor: FollowUpOctokit) {
  return async (followUp: FollowUp): Promise<NewFollowUp[]> => {
    const effect = parseEffect(followUp);
    const { repository } = effect.input;
    const github = repositoryGitHub(await octokitFor({ repository, installationId: followUp.installationId }), repository);
    const origin = { installationId: followUp.installationId, correlationId: followUp.correlationId };
    switch (effect.kind) {
      case "react":
        await github.react(effect.input.commentId, effect.input.content);
        return [];
      case "reply": {
        const { issueNumber, body, marker } = effect.input;
        // tried before (or cut short by a stop): the reply may be there already
        if (followUp.attempts > 1 && (await github.findComment(issueNumber, (text) => text.includes(marker))) !== undefined) return [];
        await github.comment(issueNumber, `${body}\n\n${marker}`);
        return [];
      }
      case "command":
        return runComment(deps, effect.input, followUp.key.slice("command:".length), origin, github);
      case "status":
        await deps.statusComments.write(effect.input.workerId, github, effect.input.created);
        return [];
      case "pull-request": {
        const { pullRequest, action, deliveryId } = effect.input;
        const event: PullRequestEvent = { deliveryId, action, repository, installationId: followUp.installationId, pullRequest };
        const worker = (await workerOfPullRequest(deps, repository, pullRequest)) ?? null;
        await onPullRequest(deps, event, github, worker, gatesOf(event, worker));
        return [];
      }
      case "gates": {
        const { workerId, pullRequest } = effect.input;
        const results = await gatePullRequestOfWorker(deps, github, workerId, pullRequest, effect.input.names, followUp.correlationId);
        // a passing phase-5-to-6 gate may merge it (merge_flow.merge: auto)
        return mergeAfterGates(deps, repository, await deps.store.getWorker(workerId), pullRequest, results, followUp.key, origin);
      }
      case "delete-branch":
        await deleteMergedBranch(deps, github, effect.input.workerId, effect.input.branch, followUp.correlationId);
        return [];
      case "review-feedback":
        return recordReviewFeedback(deps, github, effect.input, origin);
      case "check-feedback":
        return recordCheckFeedback(deps, github, effect.input, origin);
      case "label":
        await github.addLabels(effect.input.issueNumber, effect.input.labels);
        return [];
      case "update-branch":
        return updatePullRequestBranch(deps, github, effect.input, origin);
      case "retarget":
        return retargetPullRequest(deps, github, effect.input, origin);
      case "merge":
        return mergeWhenReady(deps, github, effect.input, origin);
      case "disable-auto-merge":
        return turnOffAutoMerge(deps, github, effect.input, origin);
      case "merge-group-gates":
        await gateMergeGroup(deps, github, effect.input, followUp.correlationId);
        return [];
    }
  };
}
