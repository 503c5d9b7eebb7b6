/**
 * The Probot app: routes events to the handlers and does nothing else. Each route turns a
 * `Context` into a plain input (validated), records the delivery id (a delivery seen before
 * changes nothing), calls one handler with a GitHub port over the event's Octokit, and counts
 * how it ended. No git, no disk, no agent here: the runner acts on what the store says.
 */
import type { ApplicationFunction, Context } from "probot";
import type { Logger } from "../log/logger.js";
import { InvalidInputError } from "../core/errors.js";
import { BRANCH_PREFIX } from "../core/names.js";
import { parsePullRequestMarker } from "../core/pr.js";
import { pullRequestFacts } from "../core/pull-requests.js";
import { onIssueComment, type IssueCommentEvent } from "./comments.js";
import { loggedAlready } from "./logging.js";
import type { AppDeps, Outcome } from "./deps.js";
import { repositoryGitHub, type RepositoryGitHub, type RequestOctokit } from "./github.js";
import { parseCheckRunPayload, parseCheckSuitePayload, parseIssueCommentPayload, parsePullRequestPayload } from "./payloads.js";
import { gatePullRequestOfWorker, onCheckEvent, type CheckEvent } from "./checks.js";
import { needsReread, onPullRequest, workerOfPullRequest, type PullRequestEvent } from "./pull-requests.js";
import type { Worker } from "../core/worker.js";

export type { AppDeps, ServedRepository } from "./deps.js";
export { servedRepositories } from "./deps.js";

/** The `pull_request` actions after which the gates run on a worker's PR. */
const GATED_ACTIONS = new Set(["opened", "reopened", "synchronize"]);

/** The check events that re-run gates. */
export const CHECK_EVENTS = ["check_run.rerequested", "check_run.completed", "check_suite.rerequested"] as const;

/** The `pull_request` actions that can move a worker (and `synchronize`, where gates re-run). */
export const PULL_REQUEST_EVENTS = [
  "pull_request.opened",
  "pull_request.reopened",
  "pull_request.ready_for_review",
  "pull_request.closed",
  "pull_request.synchronize",
] as const;

function isBot(login: string, type: string | undefined): boolean {
  return type === "Bot" || login.endsWith("[bot]");
}

export function toPullRequestEvent(context: Pick<Context, "id" | "payload">): PullRequestEvent {
  const payload = parsePullRequestPayload(context.payload);
  return {
    deliveryId: context.id,
    action: payload.action,
    repository: payload.repository.full_name,
    pullRequest: pullRequestFacts(payload.pull_request),
  };
}

export function toCheckEvent(context: Pick<Context, "id" | "name" | "payload">): CheckEvent {
  if (context.name === "check_suite") {
    const payload = parseCheckSuitePayload(context.payload);
    return {
      deliveryId: context.id,
      repository: payload.repository.full_name,
      kind: "check_suite.rerequested",
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
    kind: payload.action === "rerequested" ? "check_run.rerequested" : "check_run.completed",
    checkName: payload.check_run.name,
    pullRequests: payload.check_run.pull_requests.map((pr) => ({
      number: pr.number,
      headSha: pr.head.sha,
      headRef: pr.head.ref,
      baseRef: pr.base.ref,
    })),
  };
}

/**
 * A PR delivery: the worker moves, then (opened, reopened, synchronize) its gates run on the head
 * commit. When the move waits on a re-read of the PR (the payload and the store disagree) and
 * follow-up work is possible, the delivery is answered first and the re-read, move and gates
 * run afterwards, tried again on failure (GitHub never redelivers a failed delivery by itself).
 */
async function onPullRequestAndGates(deps: AppDeps, event: PullRequestEvent, github: RepositoryGitHub): Promise<Outcome> {
  const pr = event.pullRequest;
  // most PRs are people's: no store lookup unless the branch or the body could be a worker's
  if (!pr.headRef.startsWith(BRANCH_PREFIX) && !parsePullRequestMarker(pr.body)) return "ignored";
  const found = workerOfPullRequest(deps, event.repository, pr) ?? null;
  if (found && deps.later && needsReread(event, found)) {
    const name = `pull request ${event.repository}#${pr.number} ${event.action}`;
    retriedLater(deps, deps.later, name, event.deliveryId, () =>
      moveAndGate(deps, event, github, workerOfPullRequest(deps, event.repository, pr) ?? null),
    );
    return "handled";
  }
  return moveAndGate(deps, event, github, found);
}

/** How long deferred work waits before each new try, when `AppDeps.retryDelaysMs` does not say. */
const RETRY_DELAYS_MS = [1000, 10_000, 60_000];

/**
 * Runs `work` as urgent follow-up work; a failure is tried again after each of the retry
 * delays, and after the last one the delivery is forgotten (so a manual redelivery is handled)
 * and one line says what to do. `pw reconcile`, and every start of `pw serve`, brings the
 * worker in line too. The delivery is held meanwhile: stopped before it ends, `pw serve`
 * forgets it too.
 */
function retriedLater(
  deps: AppDeps,
  later: NonNullable<AppDeps["later"]>,
  name: string,
  deliveryId: string,
  work: () => Promise<unknown>,
): void {
  const delays = deps.retryDelaysMs ?? RETRY_DELAYS_MS;
  deps.deliveries.hold(deliveryId);
  const attempt = async (tried: number): Promise<void> => {
    try {
      await work();
      deps.deliveries.release(deliveryId);
    } catch (error) {
      const fields = { correlation_id: deliveryId, task: name, err_message: (error as Error).message.split("\n")[0] };
      const delay = delays[tried];
      if (delay === undefined) {
        deps.deliveries.forget(deliveryId);
        deps.logger.error({ ...fields, attempts: tried + 1 }, "follow-up gave up: redeliver the webhook or run `pw reconcile`");
        return;
      }
      deps.logger.warn({ ...fields, retry_in_ms: delay }, "follow-up failed; trying again");
      setTimeout(() => later(name, () => attempt(tried + 1), { urgent: true }), delay).unref();
    }
  };
  later(name, () => attempt(0), { urgent: true });
}

async function moveAndGate(deps: AppDeps, event: PullRequestEvent, github: RepositoryGitHub, found: Worker | null): Promise<Outcome> {
  const pr = event.pullRequest;
  const moved = await onPullRequest(deps, event, github, found);
  if (!found || !GATED_ACTIONS.has(event.action) || pr.state !== "open" || !pr.headSha || !pr.baseRef) return moved;
  const worker = deps.store.getWorker(found.id);
  // a late "opened" for a PR that has merged or closed since: nothing left to gate
  if (!worker || worker.state === "MERGED" || worker.state === "ABANDONED") return moved;
  const gated = { number: pr.number, headSha: pr.headSha, baseRef: pr.baseRef, headRef: pr.headRef };
  const gates = () => gatePullRequestOfWorker(deps, github, worker, gated, event.deliveryId);
  if (deps.later) deps.later(`gates for ${event.repository}#${pr.number}`, gates);
  else await gates();
  return "handled";
}

export function toIssueCommentEvent(context: Pick<Context, "id" | "payload">): IssueCommentEvent {
  const payload = parseIssueCommentPayload(context.payload);
  return {
    deliveryId: context.id,
    repository: payload.repository.full_name,
    defaultBranch: payload.repository.default_branch,
    issue: {
      number: payload.issue.number,
      title: payload.issue.title,
      body: payload.issue.body ?? null,
      isPullRequest: Boolean(payload.issue.pull_request),
    },
    comment: { id: payload.comment.id, body: payload.comment.body ?? "" },
    author: payload.comment.user.login,
    byBot:
      isBot(payload.sender.login, payload.sender.type) ||
      isBot(payload.comment.user.login, payload.comment.user.type) ||
      Boolean(payload.comment.performed_via_github_app),
  };
}

/**
 * Wraps a route: validates and records the delivery, times the handler, counts the outcome,
 * logs a failure as one line, and forgets a failed delivery so GitHub's redelivery is handled.
 */
function route<E extends { deliveryId: string; repository: string }>(
  deps: AppDeps,
  toEvent: (context: Context) => E,
  handle: (deps: AppDeps, event: E, context: Context) => Promise<Outcome>,
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
    if (!deps.deliveries.record(context.id, name)) {
      log().info({ event: name }, "delivery seen before: ignored");
      observe("duplicate");
      return;
    }
    try {
      const outcome = await handle(deps, event, context);
      observe(outcome);
      if (deps.logger.isLevelEnabled("debug")) log().debug({ event: name, outcome }, "webhook handled");
    } catch (error) {
      deps.deliveries.forget(context.id);
      observe("error");
      const status = (error as { status?: number }).status;
      log().error({ event: name, err_message: (error as Error).message.split("\n")[0], ...(status ? { status } : {}) }, "webhook handler failed");
      throw loggedAlready(error instanceof InvalidInputError ? error : new Error(`${name} handler failed: ${(error as Error).message.split("\n")[0]}`));
    }
  };
}

function github(context: Context, repository: string) {
  return repositoryGitHub(context.octokit as unknown as RequestOctokit, repository);
}

/** The app, for `probot.load()`; `pw serve` builds `deps` from its runner's repositories. */
export function createApp(deps: AppDeps): ApplicationFunction {
  return (app) => {
    app.on(
      [...PULL_REQUEST_EVENTS],
      route(deps, toPullRequestEvent, (d, event, context) => onPullRequestAndGates(d, event, github(context, event.repository))),
    );
    app.on(
      [...CHECK_EVENTS],
      route(deps, toCheckEvent, (d, event, context) => onCheckEvent(d, event, github(context, event.repository))),
    );
    app.on(
      "issue_comment.created",
      route(deps, toIssueCommentEvent, (d, event, context) => onIssueComment(d, event, github(context, event.repository))),
    );
  };
}
