/**
 * Real webhook payloads for tests (fixtures/webhooks/, copied from @octokit/webhooks-examples by
 * scripts/extract-webhook-fixtures.mjs), typed like Probot's handlers see them, plus signed
 * delivery over real HTTP.
 *
 * The `with*` functions and `retarget` point a payload at a test's scenario. They are pure (they
 * return a changed deep copy) and adjust only what a scenario needs: identity fields (repository
 * name/owner, numbers, refs, shas, logins) and the html/api URLs built from them. Everything else
 * keeps the recorded example's values (Codertocat/Hello-World ids, avatars, timestamps).
 */
import { createHmac, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { EmitterWebhookEvent, EmitterWebhookEventName } from "@octokit/webhooks";

export const WEBHOOK_FIXTURES_DIR = fileURLToPath(new URL("../../fixtures/webhooks/", import.meta.url));

/** Fixture file name (without `.json`) -> the event.action it is. */
export const WEBHOOK_FIXTURES = {
  "pull_request.opened": "pull_request.opened",
  "pull_request.reopened": "pull_request.reopened",
  "pull_request.ready_for_review": "pull_request.ready_for_review",
  "pull_request.synchronize": "pull_request.synchronize",
  "pull_request.closed": "pull_request.closed",
  "pull_request.closed.merged": "pull_request.closed",
  "pull_request_review.submitted": "pull_request_review.submitted",
  "issue_comment.created": "issue_comment.created",
  "issue_comment.edited": "issue_comment.edited",
  "check_run.completed": "check_run.completed",
  "check_run.rerequested": "check_run.rerequested",
  "check_suite.completed": "check_suite.completed",
  "check_suite.requested": "check_suite.requested",
  "check_suite.rerequested": "check_suite.rerequested",
  "installation.created": "installation.created",
  push: "push",
  "merge_group.checks_requested": "merge_group.checks_requested",
} as const satisfies Record<string, EmitterWebhookEventName>;

export type FixtureName = keyof typeof WEBHOOK_FIXTURES;
export type FixtureEventName<F extends FixtureName> = (typeof WEBHOOK_FIXTURES)[F];
export type FixturePayload<F extends FixtureName> = EmitterWebhookEvent<FixtureEventName<F>>["payload"];

const texts = new Map<FixtureName, string>();

/** A fresh deep copy of a fixture payload, e.g. `loadPayload("pull_request.closed.merged")`. */
export function loadPayload<F extends FixtureName>(name: F): FixturePayload<F> {
  let text = texts.get(name);
  if (text === undefined) {
    text = readFileSync(`${WEBHOOK_FIXTURES_DIR}${name}.json`, "utf8");
    texts.set(name, text);
  }
  return JSON.parse(text) as FixturePayload<F>;
}

/** The event (`{ id, name, payload }`) Probot's `receive()` and `@octokit/webhooks` take. */
export function toEvent<F extends FixtureName>(
  fixture: F,
  payload?: FixturePayload<F>,
  id: string = randomUUID(),
): EmitterWebhookEvent<FixtureEventName<F>> {
  const eventName: string = WEBHOOK_FIXTURES[fixture as FixtureName];
  const event = { id, name: eventName.split(".")[0], payload: payload ?? loadPayload<F>(fixture) };
  return event as unknown as EmitterWebhookEvent<FixtureEventName<F>>;
}

/** The `x-hub-signature-256` header value GitHub sends: `sha256=` + HMAC-SHA256 hex of the body. */
export function signPayload(body: string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body, "utf8").digest("hex")}`;
}

export interface Delivery {
  /** The `x-github-event` header: `pull_request` (an `event.action` name is cut at the dot). */
  event: string;
  /** The `x-github-delivery` header; a new UUID when omitted. */
  id?: string;
  /** An object is sent as JSON; a string is sent (and signed) byte for byte. */
  payload: object | string;
  secret: string;
  /** Overrides the computed signature (for bad-signature tests). */
  signature?: string;
  headers?: Record<string, string>;
}

export interface DeliveryResult {
  status: number;
  body: string;
  headers: Record<string, string>;
  /** The delivery id sent. */
  id: string;
}

/** POSTs a signed webhook delivery over real HTTP, with the headers GitHub sends. */
export async function deliver(url: string, delivery: Delivery): Promise<DeliveryResult> {
  const body = typeof delivery.payload === "string" ? delivery.payload : JSON.stringify(delivery.payload);
  const id = delivery.id ?? randomUUID();
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "user-agent": "GitHub-Hookshot/test",
      "x-github-event": delivery.event.split(".")[0] ?? delivery.event,
      "x-github-delivery": id,
      "x-hub-signature-256": delivery.signature ?? signPayload(body, delivery.secret),
      ...delivery.headers,
    },
    body,
  });
  return { status: response.status, body: await response.text(), headers: Object.fromEntries(response.headers), id };
}

// ---------- retargeting ----------

interface LooseUser {
  login: string;
  type?: string;
  html_url?: string;
  url?: string;
}

interface LooseRepo {
  id?: number;
  name: string;
  full_name: string;
  owner: LooseUser;
  private?: boolean;
  fork?: boolean;
  html_url?: string;
  url?: string;
}

interface LooseRef {
  label?: string;
  ref: string;
  sha: string;
  user?: LooseUser;
  repo?: LooseRepo | null;
}

interface LoosePull {
  number: number;
  url?: string;
  html_url?: string;
  issue_url?: string;
  title?: string;
  body?: string | null;
  draft?: boolean;
  user?: LooseUser;
  head: LooseRef;
  base: LooseRef;
}

interface LooseIssue {
  number: number;
  url?: string;
  html_url?: string;
  title?: string;
  body?: string | null;
  user?: LooseUser;
  pull_request?: { url: string; html_url: string; diff_url: string; patch_url: string; merged_at: string | null };
}

interface LooseComment {
  id: number;
  body: string;
  user: LooseUser;
  url?: string;
  html_url?: string;
  issue_url?: string;
  author_association?: string;
}

interface LooseCheckPull {
  url: string;
  id: number;
  number: number;
  head: { ref: string; sha: string; repo: { id?: number; url: string; name: string } };
  base: { ref: string; sha: string; repo: { id?: number; url: string; name: string } };
}

interface LooseCheckRun {
  id: number;
  name: string;
  head_sha: string;
  status: string;
  conclusion: string | null;
  url?: string;
  html_url?: string;
  app?: { id: number; slug?: string; name?: string } | null;
  check_suite?: { head_sha?: string; head_branch?: string | null; pull_requests?: LooseCheckPull[] };
  pull_requests: LooseCheckPull[];
}

interface LooseCheckSuite {
  head_sha: string;
  head_branch: string | null;
  status: string | null;
  conclusion: string | null;
  pull_requests: LooseCheckPull[];
  app?: { id: number; slug?: string; name?: string } | null;
}

interface LooseReview {
  id: number;
  state: string;
  body: string | null;
  user: LooseUser;
  html_url?: string;
  pull_request_url?: string;
  commit_id?: string;
  _links?: { html: { href: string }; pull_request: { href: string } };
}

interface LoosePayload {
  review?: LooseReview;
  number?: number;
  after?: string;
  repository?: LooseRepo;
  sender?: LooseUser;
  installation?: { id: number; node_id?: string };
  pull_request?: LoosePull;
  issue?: LooseIssue;
  comment?: LooseComment;
  check_run?: LooseCheckRun;
  check_suite?: LooseCheckSuite;
}

const WEB = "https://github.com";
const API = "https://api.github.com";

/** Applies `change` to a deep copy of `payload`, seen through the fields retargeting touches. */
function adjusted<P extends object>(payload: P, change: (loose: LoosePayload) => void): P {
  const copy = structuredClone(payload);
  change(copy as LoosePayload);
  return copy;
}

function splitName(fullName: string): [string, string] {
  const [owner, name, extra] = fullName.split("/");
  if (!owner || !name || extra !== undefined) throw new Error(`repository "${fullName}" must be "owner/name"`);
  return [owner, name];
}

function renameRepo(repo: LooseRepo, fullName: string): void {
  const [owner, name] = splitName(fullName);
  repo.name = name;
  repo.full_name = fullName;
  repo.owner.login = owner;
  if (repo.owner.html_url !== undefined) repo.owner.html_url = `${WEB}/${owner}`;
  if (repo.owner.url !== undefined) repo.owner.url = `${API}/users/${owner}`;
  if (repo.html_url !== undefined) repo.html_url = `${WEB}/${fullName}`;
  if (repo.url !== undefined) repo.url = `${API}/repos/${fullName}`;
}

function pullUrls(pull: LoosePull, fullName: string): void {
  if (pull.url !== undefined) pull.url = `${API}/repos/${fullName}/pulls/${pull.number}`;
  if (pull.html_url !== undefined) pull.html_url = `${WEB}/${fullName}/pull/${pull.number}`;
  if (pull.issue_url !== undefined) pull.issue_url = `${API}/repos/${fullName}/issues/${pull.number}`;
}

function issueUrls(issue: LooseIssue, fullName: string): void {
  const kind = issue.pull_request ? "pull" : "issues";
  if (issue.url !== undefined) issue.url = `${API}/repos/${fullName}/issues/${issue.number}`;
  if (issue.html_url !== undefined) issue.html_url = `${WEB}/${fullName}/${kind}/${issue.number}`;
  if (issue.pull_request) {
    issue.pull_request.url = `${API}/repos/${fullName}/pulls/${issue.number}`;
    issue.pull_request.html_url = `${WEB}/${fullName}/pull/${issue.number}`;
    issue.pull_request.diff_url = `${WEB}/${fullName}/pull/${issue.number}.diff`;
    issue.pull_request.patch_url = `${WEB}/${fullName}/pull/${issue.number}.patch`;
  }
}

function commentUrls(comment: LooseComment, fullName: string, issue: LooseIssue | undefined): void {
  const number = issue?.number ?? 0;
  const kind = issue?.pull_request ? "pull" : "issues";
  if (comment.url !== undefined) comment.url = `${API}/repos/${fullName}/issues/comments/${comment.id}`;
  if (comment.issue_url !== undefined) comment.issue_url = `${API}/repos/${fullName}/issues/${number}`;
  if (comment.html_url !== undefined) comment.html_url = `${WEB}/${fullName}/${kind}/${number}#issuecomment-${comment.id}`;
}

function repoName(payload: LoosePayload): string {
  return payload.repository?.full_name ?? "Codertocat/Hello-World";
}

/**
 * Moves the payload to repository `fullName` ("owner/name"): `repository`, the PR's base repo
 * (and head repo unless it is a fork), labels, and the PR/issue/comment/check-run URLs.
 */
export function withRepository<P extends object>(payload: P, fullName: string): P {
  splitName(fullName);
  return adjusted(payload, (p) => {
    const before = p.repository?.full_name;
    if (p.repository) renameRepo(p.repository, fullName);
    const [owner, name] = splitName(fullName);
    const pull = p.pull_request;
    if (pull) {
      for (const side of [pull.base, pull.head]) {
        const repo = side.repo;
        if (!repo || (side === pull.head && repo.full_name !== before)) continue;
        renameRepo(repo, fullName);
        side.label = `${owner}:${side.ref}`;
        if (side.user) side.user.login = owner;
      }
      pullUrls(pull, fullName);
    }
    if (p.issue) issueUrls(p.issue, fullName);
    if (p.comment) commentUrls(p.comment, fullName, p.issue);
    const checkPulls = [...(p.check_run?.pull_requests ?? []), ...(p.check_suite?.pull_requests ?? [])];
    for (const entry of checkPulls) {
      entry.url = `${API}/repos/${fullName}/pulls/${entry.number}`;
      for (const repo of [entry.head.repo, entry.base.repo]) {
        repo.url = `${API}/repos/${fullName}`;
        repo.name = name;
      }
    }
    if (p.check_run) {
      if (p.check_run.url !== undefined) p.check_run.url = `${API}/repos/${fullName}/check-runs/${p.check_run.id}`;
      if (p.check_run.html_url !== undefined) p.check_run.html_url = `${WEB}/${fullName}/runs/${p.check_run.id}`;
    }
  });
}

export interface PullRequestChange {
  number?: number;
  title?: string;
  body?: string | null;
  draft?: boolean;
  /** Author login of the pull request. */
  user?: string;
  headRef?: string;
  headSha?: string;
  /** "owner/name" of the head repository; differing from `repository` makes it a fork. */
  headRepo?: string;
  baseRef?: string;
}

/** Changes the pull request of a `pull_request` payload (number, refs, sha, head repo, text). */
export function withPullRequest<P extends object>(payload: P, change: PullRequestChange): P {
  return adjusted(payload, (p) => {
    const pull = p.pull_request;
    if (!pull) throw new Error("withPullRequest: the payload has no pull_request");
    if (change.number !== undefined) {
      pull.number = change.number;
      if (p.number !== undefined) p.number = change.number;
    }
    if (change.title !== undefined) pull.title = change.title;
    if (change.body !== undefined) pull.body = change.body;
    if (change.draft !== undefined) pull.draft = change.draft;
    if (change.user !== undefined && pull.user) pull.user.login = change.user;
    if (change.baseRef !== undefined) {
      pull.base.ref = change.baseRef;
      pull.base.label = `${pull.base.repo?.owner.login ?? ""}:${change.baseRef}`;
    }
    if (change.headRepo !== undefined) {
      const base = p.repository ?? pull.base.repo;
      if (!base) throw new Error("withPullRequest: the payload has no repository to copy for the head repo");
      const head: LooseRepo = structuredClone(base);
      renameRepo(head, change.headRepo);
      head.fork = change.headRepo !== base.full_name;
      if (head.fork && head.id !== undefined) head.id += 1;
      pull.head.repo = head;
      if (pull.head.user) pull.head.user.login = head.owner.login;
    }
    if (change.headRef !== undefined) pull.head.ref = change.headRef;
    if (change.headSha !== undefined) {
      pull.head.sha = change.headSha;
      if (p.after !== undefined) p.after = change.headSha;
    }
    pull.head.label = `${pull.head.repo?.owner.login ?? pull.head.user?.login ?? ""}:${pull.head.ref}`;
    pullUrls(pull, repoName(p));
  });
}

export interface IssueChange {
  number?: number;
  title?: string;
  body?: string | null;
  user?: string;
  /** True makes the issue a pull request (adds `issue.pull_request`), false a plain issue. */
  pullRequest?: boolean;
}

/** Changes the issue of an `issue_comment` payload; `pullRequest: true` for comments on PRs. */
export function withIssue<P extends object>(payload: P, change: IssueChange): P {
  return adjusted(payload, (p) => {
    const issue = p.issue;
    if (!issue) throw new Error("withIssue: the payload has no issue");
    if (change.number !== undefined) issue.number = change.number;
    if (change.title !== undefined) issue.title = change.title;
    if (change.body !== undefined) issue.body = change.body;
    if (change.user !== undefined && issue.user) issue.user.login = change.user;
    if (change.pullRequest === true && !issue.pull_request) {
      issue.pull_request = { url: "", html_url: "", diff_url: "", patch_url: "", merged_at: null };
    }
    if (change.pullRequest === false) delete issue.pull_request;
    issueUrls(issue, repoName(p));
    if (p.comment) commentUrls(p.comment, repoName(p), issue);
  });
}

export interface CommentChange {
  id?: number;
  body?: string;
  user?: string;
  userType?: "User" | "Bot";
  authorAssociation?: string;
}

/** Changes the comment of an `issue_comment` payload (the text a slash command is parsed from). */
export function withComment<P extends object>(payload: P, change: CommentChange): P {
  return adjusted(payload, (p) => {
    const comment = p.comment;
    if (!comment) throw new Error("withComment: the payload has no comment");
    if (change.id !== undefined) comment.id = change.id;
    if (change.body !== undefined) comment.body = change.body;
    if (change.user !== undefined) comment.user.login = change.user;
    if (change.userType !== undefined) comment.user.type = change.userType;
    if (change.authorAssociation !== undefined) comment.author_association = change.authorAssociation;
    commentUrls(comment, repoName(p), p.issue);
  });
}

/** Sets who sent the event (`sender.login`, `sender.type`; a `[bot]` login defaults to Bot). */
export function withSender<P extends object>(payload: P, login: string, type?: "User" | "Bot" | "Organization"): P {
  return adjusted(payload, (p) => {
    if (!p.sender) throw new Error("withSender: the payload has no sender");
    p.sender.login = login;
    p.sender.type = type ?? (login.endsWith("[bot]") ? "Bot" : "User");
    if (p.sender.html_url !== undefined) p.sender.html_url = `${WEB}/${login}`;
    if (p.sender.url !== undefined) p.sender.url = `${API}/users/${login}`;
  });
}

/** Sets the App installation the delivery is for (Probot authenticates as it). */
export function withInstallation<P extends object>(payload: P, id: number): P {
  return adjusted(payload, (p) => {
    p.installation = { ...p.installation, id, node_id: Buffer.from(`023:IntegrationInstallation${id}`).toString("base64") };
  });
}

export interface ReviewChange {
  id?: number;
  /** As webhooks spell it: `changes_requested`, `approved`, `commented`. */
  state?: string;
  body?: string | null;
  /** Who reviewed (also the sender, who submitted it). */
  user?: string;
  userType?: "User" | "Bot";
}

/** Changes the review of a `pull_request_review` payload (and its URLs, built from the PR's). */
export function withReview<P extends object>(payload: P, change: ReviewChange): P {
  return adjusted(payload, (p) => {
    const review = p.review;
    if (!review) throw new Error("withReview: the payload has no review");
    if (change.id !== undefined) review.id = change.id;
    if (change.state !== undefined) review.state = change.state;
    if (change.body !== undefined) review.body = change.body;
    if (change.user !== undefined) {
      review.user.login = change.user;
      if (p.sender) p.sender.login = change.user;
    }
    if (change.userType !== undefined) {
      review.user.type = change.userType;
      if (p.sender) p.sender.type = change.userType;
    }
    const fullName = repoName(p);
    const number = p.pull_request?.number ?? 0;
    const html = `${WEB}/${fullName}/pull/${number}#pullrequestreview-${review.id}`;
    if (review.html_url !== undefined) review.html_url = html;
    if (review.pull_request_url !== undefined) review.pull_request_url = `${API}/repos/${fullName}/pulls/${number}`;
    if (review._links) review._links = { html: { href: html }, pull_request: { href: `${API}/repos/${fullName}/pulls/${number}` } };
  });
}

export interface CheckPullRequest {
  number: number;
  headRef: string;
  headSha?: string;
  baseRef?: string;
}

export interface CheckChange {
  id?: number;
  name?: string;
  headSha?: string;
  headBranch?: string;
  status?: string;
  conclusion?: string | null;
  /** The App that owns the run or suite. */
  app?: { id: number; slug?: string; name?: string };
  /** Replaces `pull_requests` (the repository's open PRs whose head is this commit). */
  pullRequests?: CheckPullRequest[];
}

function checkPulls(p: LoosePayload, entries: CheckPullRequest[], headSha: string): LooseCheckPull[] {
  const fullName = repoName(p);
  const repo = { id: p.repository?.id ?? 1, url: `${API}/repos/${fullName}`, name: fullName.split("/")[1] ?? "" };
  return entries.map((entry) => ({
    url: `${API}/repos/${fullName}/pulls/${entry.number}`,
    id: 1_000_000 + entry.number,
    number: entry.number,
    head: { ref: entry.headRef, sha: entry.headSha ?? headSha, repo: { ...repo } },
    base: { ref: entry.baseRef ?? "main", sha: "0".repeat(40), repo: { ...repo } },
  }));
}

/** Changes the check run of a `check_run` payload (and the suite embedded in it). */
export function withCheckRun<P extends object>(payload: P, change: CheckChange): P {
  return adjusted(payload, (p) => {
    const run = p.check_run;
    if (!run) throw new Error("withCheckRun: the payload has no check_run");
    if (change.id !== undefined) run.id = change.id;
    if (change.name !== undefined) run.name = change.name;
    if (change.status !== undefined) run.status = change.status;
    if (change.conclusion !== undefined) run.conclusion = change.conclusion;
    if (change.app !== undefined) run.app = { ...run.app, ...change.app };
    if (change.headSha !== undefined) {
      run.head_sha = change.headSha;
      if (run.check_suite) run.check_suite.head_sha = change.headSha;
    }
    if (change.headBranch !== undefined && run.check_suite) run.check_suite.head_branch = change.headBranch;
    if (change.pullRequests !== undefined) {
      run.pull_requests = checkPulls(p, change.pullRequests, run.head_sha);
      if (run.check_suite?.pull_requests) run.check_suite.pull_requests = structuredClone(run.pull_requests);
    }
    const fullName = repoName(p);
    if (run.url !== undefined) run.url = `${API}/repos/${fullName}/check-runs/${run.id}`;
    if (run.html_url !== undefined) run.html_url = `${WEB}/${fullName}/runs/${run.id}`;
  });
}

/** Changes the check suite of a `check_suite` payload. */
export function withCheckSuite<P extends object>(payload: P, change: Omit<CheckChange, "id" | "name">): P {
  return adjusted(payload, (p) => {
    const suite = p.check_suite;
    if (!suite) throw new Error("withCheckSuite: the payload has no check_suite");
    if (change.headSha !== undefined) suite.head_sha = change.headSha;
    if (change.headBranch !== undefined) suite.head_branch = change.headBranch;
    if (change.status !== undefined) suite.status = change.status;
    if (change.conclusion !== undefined) suite.conclusion = change.conclusion;
    if (change.app !== undefined) suite.app = { ...suite.app, ...change.app };
    if (change.pullRequests !== undefined) suite.pull_requests = checkPulls(p, change.pullRequests, suite.head_sha);
  });
}

export interface Retarget {
  /** "owner/name" of the repository (see `withRepository`). */
  repo?: string;
  /** PR number (pull_request payloads) or issue number (issue_comment payloads). */
  number?: number;
  headRef?: string;
  headSha?: string;
  /** "owner/name" of the PR's head repository: a fork when it differs from `repo`. */
  headRepo?: string;
  baseRef?: string;
  title?: string;
  /** The PR's body (pull_request) or the issue's body (issue_comment). */
  body?: string | null;
  /** The comment's text (issue_comment). */
  commentBody?: string;
  /** issue_comment: the comment is on a pull request (true) or a plain issue (false). */
  onPullRequest?: boolean;
  sender?: string | { login: string; type?: "User" | "Bot" | "Organization" };
  installationId?: number;
}

/**
 * Points a fixture at a scenario in one call, applying only the options given, e.g.
 * `retarget(loadPayload("pull_request.closed.merged"), { repo: "acme/app", number: 7, headRef: "feature/task-1" })`.
 */
export function retarget<P extends object>(payload: P, options: Retarget): P {
  let result = payload;
  if (options.repo !== undefined) result = withRepository(result, options.repo);
  const loose = result as LoosePayload;
  if (loose.pull_request) {
    result = withPullRequest(result, {
      ...(options.number !== undefined && { number: options.number }),
      ...(options.title !== undefined && { title: options.title }),
      ...(options.body !== undefined && { body: options.body }),
      ...(options.headRef !== undefined && { headRef: options.headRef }),
      ...(options.headSha !== undefined && { headSha: options.headSha }),
      ...(options.headRepo !== undefined && { headRepo: options.headRepo }),
      ...(options.baseRef !== undefined && { baseRef: options.baseRef }),
    });
  } else if (loose.issue) {
    result = withIssue(result, {
      ...(options.number !== undefined && { number: options.number }),
      ...(options.title !== undefined && { title: options.title }),
      ...(options.body !== undefined && { body: options.body }),
      ...(options.onPullRequest !== undefined && { pullRequest: options.onPullRequest }),
    });
  }
  if (options.commentBody !== undefined) result = withComment(result, { body: options.commentBody });
  if (options.sender !== undefined) {
    const sender = typeof options.sender === "string" ? { login: options.sender } : options.sender;
    result = withSender(result, sender.login, sender.type);
  }
  if (options.installationId !== undefined) result = withInstallation(result, options.installationId);
  if (result === payload) result = structuredClone(payload);
  return result;
}
