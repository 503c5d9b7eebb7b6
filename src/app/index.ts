/**
 * The Probot app: routes events to the handlers and does nothing else. Each route turns a
 * `Context` into a plain input (validated), records the delivery id (a delivery seen before
 * changes nothing), calls one handler with a GitHub port over the event's Octokit, and counts
 * how it ended. No git, no disk, no agent here: the runner acts on what the store says.
 */
import type { ApplicationFunction, Context } from "probot";
import type { Logger } from "../log/logger.js";
import { InvalidInputError } from "../core/errors.js";
import { onIssueComment, type IssueCommentEvent } from "./comments.js";
import type { AppDeps, Outcome } from "./deps.js";
import { repositoryGitHub, type RequestOctokit } from "./github.js";
import { parseIssueCommentPayload, parsePullRequestPayload } from "./payloads.js";
import { onPullRequest, type PullRequestEvent } from "./pull-requests.js";

export type { AppDeps, ServedRepository } from "./deps.js";
export { servedRepositories } from "./deps.js";

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
  const pr = payload.pull_request;
  return {
    deliveryId: context.id,
    action: payload.action,
    repository: payload.repository.full_name,
    pullRequest: {
      number: pr.number,
      url: pr.html_url,
      state: pr.state,
      merged: Boolean(pr.merged ?? pr.merged_at),
      headRef: pr.head.ref,
      headRepository: pr.head.repo?.full_name ?? null,
      body: pr.body ?? null,
    },
  };
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
      throw error;
    }
    const fresh = deps.deliveries ? deps.deliveries.record(context.id, name) : deps.store.recordDelivery(context.id, name);
    if (!fresh) {
      log().info({ event: name }, "delivery seen before: ignored");
      observe("duplicate");
      return;
    }
    try {
      const outcome = await handle(deps, event, context);
      observe(outcome);
      if (deps.logger.isLevelEnabled("debug")) log().debug({ event: name, outcome }, "webhook handled");
    } catch (error) {
      if (deps.deliveries) deps.deliveries.forget(context.id);
      else deps.store.forgetDelivery(context.id);
      observe("error");
      const status = (error as { status?: number }).status;
      log().error({ event: name, err_message: (error as Error).message.split("\n")[0], ...(status ? { status } : {}) }, "webhook handler failed");
      throw error instanceof InvalidInputError ? error : new Error(`${name} handler failed: ${(error as Error).message.split("\n")[0]}`);
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
      route(deps, toPullRequestEvent, (d, event, context) => onPullRequest(d, event, github(context, event.repository))),
    );
    app.on(
      "issue_comment.created",
      route(deps, toIssueCommentEvent, (d, event, context) => onIssueComment(d, event, github(context, event.repository))),
    );
  };
}
