/**
 * The parts of webhook payloads the app reads, validated at the edge: a delivery whose payload
 * lacks them is refused with one line naming the field, and nothing changes. Text fields come
 * out safe (`core/text.ts`, applied after parsing: a zod transform per field cost a fifth of a
 * delivery's time): no control character of a payload reaches the store, a log line, a reply or
 * the status page.
 */
import { z } from "zod";
import { InvalidInputError } from "../core/errors.js";
import { repositorySlugSchema } from "../core/repository.js";
import { safeLine, safeText } from "../core/text.js";
import { parseWith } from "../core/validate.js";

/** A refused value as a log line may show it: JSON, cut short. */
function shown(value: unknown): string {
  const json = safeLine(JSON.stringify(value) ?? String(value));
  return json.length > 40 ? `${json.slice(0, 40)}...` : json;
}

/** An id or a number GitHub hands out: a positive integer that JavaScript holds exactly. */
const positiveId = z.unknown().refine((value): value is number => Number.isSafeInteger(value) && (value as number) > 0, {
  error: (issue) => `expected a positive integer, got ${issue.input === undefined ? "nothing" : shown(issue.input)}`,
}) as unknown as z.ZodType<number>;

/**
 * The numbers any delivery may carry, checked before anything reads the payload (Probot's auth
 * reads `installation.id` before a handler runs): present, each must be a positive integer.
 */
const deliveryNumbersSchema = z.object({
  installation: z.object({ id: positiveId }).nullish(),
  number: positiveId.optional(),
  pull_request: z.object({ number: positiveId }).optional(),
  issue: z.object({ number: positiveId }).optional(),
  comment: z.object({ id: positiveId }).optional(),
});

const isId = (value: unknown): boolean => Number.isSafeInteger(value) && (value as number) > 0;
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** What `deliveryNumbersSchema` accepts, read without making anything: this runs on every delivery. */
function numbersAreFine(payload: Record<string, unknown>, installationRequired: boolean): boolean {
  const { installation, number, pull_request: pull, issue, comment } = payload;
  if (installation === undefined || installation === null) {
    if (installationRequired) return false;
  } else if (!isObject(installation) || !isId(installation.id)) return false;
  if (number !== undefined && !isId(number)) return false;
  if (pull !== undefined && !(isObject(pull) && isId(pull.number))) return false;
  if (issue !== undefined && !(isObject(issue) && isId(issue.number))) return false;
  return comment === undefined || (isObject(comment) && isId(comment.id));
}

/**
 * Refuses (InvalidInputError, naming the field) a payload whose installation id, PR or issue
 * number or comment id is out of range, or whose installation id is missing when `installation`
 * is required (deliveries to a GitHub App always carry one).
 */
export function checkDeliveryNumbers(payload: Record<string, unknown>, options: { installation: boolean }): void {
  if (numbersAreFine(payload, options.installation)) return;
  const parsed = parseWith(deliveryNumbersSchema, payload, "payload");
  if (options.installation && !parsed.installation) {
    throw new InvalidInputError("payload: installation.id: missing, and a delivery to a GitHub App carries one");
  }
}

const userSchema = z.object({
  login: z.string().min(1).max(100),
  type: z.string().optional(),
});

const repositorySchema = z.object({
  full_name: repositorySlugSchema,
  default_branch: z.string().min(1).max(255).optional(),
});

const installationSchema = z.object({ id: positiveId }).nullish();

export const pullRequestPayloadSchema = z.object({
  action: z.string(),
  repository: repositorySchema,
  installation: installationSchema,
  pull_request: z.object({
    number: positiveId,
    html_url: z.string().max(2000),
    state: z.enum(["open", "closed"]),
    merged: z.boolean().nullish(),
    merged_at: z.string().nullish(),
    merge_commit_sha: z.string().regex(/^[0-9a-f]{40}$/, "expected a commit sha").nullish(),
    body: z.string().nullish(),
    head: z.object({
      ref: z.string().min(1).max(255),
      sha: z.string().regex(/^[0-9a-f]{40}$/, "expected a commit sha").optional(),
      repo: z.object({ full_name: z.string() }).nullish(),
    }),
    base: z.object({ ref: z.string().min(1).max(255) }).optional(),
  }),
  /** The label added or removed (`labeled`, `unlabeled`). */
  label: z.object({ name: z.string().max(100) }).optional(),
});
export type PullRequestPayload = z.infer<typeof pullRequestPayloadSchema>;

/** A PR as check_run and check_suite payloads list it: same-repository PRs only, no body. */
const checkPullRequestSchema = z.object({
  number: positiveId,
  head: z.object({ ref: z.string().min(1).max(255), sha: z.string().regex(/^[0-9a-f]{40}$/, "expected a commit sha") }),
  base: z.object({ ref: z.string().min(1).max(255) }),
});

export const checkRunPayloadSchema = z.object({
  action: z.string(),
  repository: repositorySchema,
  installation: installationSchema,
  check_run: z.object({
    id: positiveId,
    name: z.string().min(1).max(255),
    head_sha: z.string().regex(/^[0-9a-f]{40}$/, "expected a commit sha"),
    status: z.string(),
    conclusion: z.string().nullish(),
    /** The suite the run belongs to: one rework round at most answers a failed suite. */
    check_suite: z.object({ id: positiveId }).nullish(),
    pull_requests: z.array(checkPullRequestSchema).max(100),
  }),
});
export type CheckRunPayload = z.infer<typeof checkRunPayloadSchema>;

export const checkSuitePayloadSchema = z.object({
  action: z.string(),
  repository: repositorySchema,
  installation: installationSchema,
  check_suite: z.object({
    id: positiveId,
    head_sha: z.string().regex(/^[0-9a-f]{40}$/, "expected a commit sha"),
    conclusion: z.string().nullish(),
    pull_requests: z.array(checkPullRequestSchema).max(100),
  }),
});
export type CheckSuitePayload = z.infer<typeof checkSuitePayloadSchema>;

/** The text fields of a parsed payload's repository, made safe (parsed objects are the parser's own). */
function safeRepository(repository: { default_branch?: string | undefined }): void {
  if (repository.default_branch !== undefined) repository.default_branch = safeLine(repository.default_branch);
}

function safeRefs(pr: { head: { ref: string }; base?: { ref: string } | undefined }): void {
  pr.head.ref = safeLine(pr.head.ref);
  if (pr.base) pr.base.ref = safeLine(pr.base.ref);
}

export function parseCheckRunPayload(payload: unknown): CheckRunPayload {
  const parsed = parseWith(checkRunPayloadSchema, payload, "check_run payload");
  safeRepository(parsed.repository);
  parsed.check_run.name = safeLine(parsed.check_run.name);
  parsed.check_run.pull_requests.forEach(safeRefs);
  return parsed;
}

export function parseCheckSuitePayload(payload: unknown): CheckSuitePayload {
  const parsed = parseWith(checkSuitePayloadSchema, payload, "check_suite payload");
  safeRepository(parsed.repository);
  parsed.check_suite.pull_requests.forEach(safeRefs);
  return parsed;
}

/** `pull_request_review`: a review of a PR, as far as a rework round needs it. */
export const pullRequestReviewPayloadSchema = z.object({
  action: z.string(),
  repository: repositorySchema,
  installation: installationSchema,
  sender: userSchema,
  review: z.object({
    id: positiveId,
    /** `changes_requested`, `approved`, `commented` or `dismissed` (lower case in webhooks). */
    state: z.string().max(40),
    body: z.string().nullish(),
    user: userSchema,
    html_url: z.string().max(2000).optional(),
  }),
  pull_request: z.object({
    number: positiveId,
    html_url: z.string().max(2000),
    state: z.enum(["open", "closed"]),
    merged_at: z.string().nullish(),
    body: z.string().nullish(),
    head: z.object({
      ref: z.string().min(1).max(255),
      sha: z.string().regex(/^[0-9a-f]{40}$/, "expected a commit sha").optional(),
      repo: z.object({ full_name: z.string() }).nullish(),
    }),
    base: z.object({ ref: z.string().min(1).max(255) }).optional(),
  }),
});
export type PullRequestReviewPayload = z.infer<typeof pullRequestReviewPayloadSchema>;

export function parsePullRequestReviewPayload(payload: unknown): PullRequestReviewPayload {
  const parsed = parseWith(pullRequestReviewPayloadSchema, payload, "pull_request_review payload");
  safeRepository(parsed.repository);
  for (const user of [parsed.sender, parsed.review.user]) user.login = safeLine(user.login);
  parsed.review.state = safeLine(parsed.review.state);
  if (parsed.review.body) parsed.review.body = safeText(parsed.review.body);
  if (parsed.review.html_url) parsed.review.html_url = safeLine(parsed.review.html_url);
  const pr = parsed.pull_request;
  pr.html_url = safeLine(pr.html_url);
  if (pr.body) pr.body = safeText(pr.body);
  safeRefs(pr);
  return parsed;
}

export const issueCommentPayloadSchema = z.object({
  action: z.string(),
  repository: repositorySchema,
  installation: installationSchema,
  sender: userSchema,
  issue: z.object({
    number: positiveId,
    title: z.string().max(1024),
    body: z.string().nullish(),
    pull_request: z.object({}).passthrough().nullish(),
  }),
  comment: z.object({
    id: positiveId,
    body: z.string().nullish(),
    user: userSchema,
    /** When the comment was written or last edited: with its id, what makes a command once. */
    updated_at: z.string().max(64).optional(),
    performed_via_github_app: z.object({}).passthrough().nullish(),
  }),
  /** `edited` only: what the comment said before. */
  changes: z.object({ body: z.object({ from: z.string().nullish() }).optional() }).optional(),
});
export type IssueCommentPayload = z.infer<typeof issueCommentPayloadSchema>;

export function parsePullRequestPayload(payload: unknown): PullRequestPayload {
  const parsed = parseWith(pullRequestPayloadSchema, payload, "pull_request payload");
  safeRepository(parsed.repository);
  const pr = parsed.pull_request;
  pr.html_url = safeLine(pr.html_url);
  if (pr.body) pr.body = safeText(pr.body);
  safeRefs(pr);
  return parsed;
}

export function parseIssueCommentPayload(payload: unknown): IssueCommentPayload {
  const parsed = parseWith(issueCommentPayloadSchema, payload, "issue_comment payload");
  safeRepository(parsed.repository);
  for (const user of [parsed.sender, parsed.comment.user]) user.login = safeLine(user.login);
  parsed.issue.title = safeLine(parsed.issue.title);
  if (parsed.issue.body) parsed.issue.body = safeText(parsed.issue.body);
  if (parsed.comment.body) parsed.comment.body = safeText(parsed.comment.body);
  if (parsed.comment.updated_at) parsed.comment.updated_at = safeLine(parsed.comment.updated_at);
  const change = parsed.changes?.body;
  if (change?.from) change.from = safeText(change.from);
  return parsed;
}

const shaSchema = z.string().regex(/^[0-9a-f]{40}$/, "expected a commit sha");

/** `push`: a branch (or tag) moved. Only what the merge flow reads: which ref, from where to where. */
export const pushPayloadSchema = z.object({
  ref: z.string().min(1).max(300),
  before: shaSchema,
  after: shaSchema,
  deleted: z.boolean().optional(),
  forced: z.boolean().optional(),
  repository: repositorySchema,
  installation: installationSchema,
});
export type PushPayload = z.infer<typeof pushPayloadSchema>;

export function parsePushPayload(payload: unknown): PushPayload {
  const parsed = parseWith(pushPayloadSchema, payload, "push payload");
  safeRepository(parsed.repository);
  parsed.ref = safeLine(parsed.ref);
  return parsed;
}

/** `merge_group.checks_requested`: a merge queue's group of PRs, on a temporary branch, waits for its required checks. */
export const mergeGroupPayloadSchema = z.object({
  action: z.string(),
  repository: repositorySchema,
  installation: installationSchema,
  merge_group: z.object({
    head_sha: shaSchema,
    head_ref: z.string().min(1).max(300),
    base_sha: shaSchema,
    base_ref: z.string().min(1).max(300),
  }),
});
export type MergeGroupPayload = z.infer<typeof mergeGroupPayloadSchema>;

export function parseMergeGroupPayload(payload: unknown): MergeGroupPayload {
  const parsed = parseWith(mergeGroupPayloadSchema, payload, "merge_group payload");
  safeRepository(parsed.repository);
  parsed.merge_group.head_ref = safeLine(parsed.merge_group.head_ref);
  parsed.merge_group.base_ref = safeLine(parsed.merge_group.base_ref);
  return parsed;
}
