/**
 * The parts of webhook payloads the app reads, validated at the edge: a delivery whose payload
 * lacks them is refused with one line naming the field, and nothing changes. Text fields come
 * out safe (`core/text.ts`): no control character of a payload reaches the store, a log line, a
 * reply or the status page.
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
/** One line of outside text, at most `max` characters, controls dropped. */
const line = (max: number) => z.string().max(max).transform(safeLine);
/** Outside text of several lines, controls dropped (tabs and newlines kept). */
const text = z.string().transform(safeText);

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

/**
 * Refuses (InvalidInputError, naming the field) a payload whose installation id, PR or issue
 * number or comment id is out of range, or whose installation id is missing when `installation`
 * is required (deliveries to a GitHub App always carry one).
 */
export function checkDeliveryNumbers(payload: object, options: { installation: boolean }): void {
  const parsed = parseWith(deliveryNumbersSchema, payload, "payload");
  if (options.installation && !parsed.installation) {
    throw new InvalidInputError("payload: installation.id: missing, and a delivery to a GitHub App carries one");
  }
}

const userSchema = z.object({
  login: z.string().min(1).max(100).transform(safeLine),
  type: z.string().optional(),
});

const repositorySchema = z.object({
  full_name: repositorySlugSchema,
  default_branch: z.string().min(1).max(255).transform(safeLine).optional(),
});

const installationSchema = z.object({ id: positiveId }).nullish();

export const pullRequestPayloadSchema = z.object({
  action: z.string(),
  repository: repositorySchema,
  installation: installationSchema,
  pull_request: z.object({
    number: positiveId,
    html_url: line(2000),
    state: z.enum(["open", "closed"]),
    merged: z.boolean().nullish(),
    merged_at: z.string().nullish(),
    body: text.nullish(),
    head: z.object({
      ref: z.string().min(1).max(255).transform(safeLine),
      sha: z.string().regex(/^[0-9a-f]{40}$/, "expected a commit sha").optional(),
      repo: z.object({ full_name: z.string() }).nullish(),
    }),
    base: z.object({ ref: z.string().min(1).max(255).transform(safeLine) }).optional(),
  }),
});
export type PullRequestPayload = z.infer<typeof pullRequestPayloadSchema>;

/** A PR as check_run and check_suite payloads list it: same-repository PRs only, no body. */
const checkPullRequestSchema = z.object({
  number: positiveId,
  head: z.object({ ref: z.string().min(1).max(255).transform(safeLine), sha: z.string().regex(/^[0-9a-f]{40}$/, "expected a commit sha") }),
  base: z.object({ ref: z.string().min(1).max(255).transform(safeLine) }),
});

export const checkRunPayloadSchema = z.object({
  action: z.string(),
  repository: repositorySchema,
  installation: installationSchema,
  check_run: z.object({
    name: z.string().min(1).max(255).transform(safeLine),
    head_sha: z.string().regex(/^[0-9a-f]{40}$/, "expected a commit sha"),
    status: z.string(),
    conclusion: z.string().nullish(),
    pull_requests: z.array(checkPullRequestSchema).max(100),
  }),
});
export type CheckRunPayload = z.infer<typeof checkRunPayloadSchema>;

export const checkSuitePayloadSchema = z.object({
  action: z.string(),
  repository: repositorySchema,
  installation: installationSchema,
  check_suite: z.object({
    head_sha: z.string().regex(/^[0-9a-f]{40}$/, "expected a commit sha"),
    pull_requests: z.array(checkPullRequestSchema).max(100),
  }),
});
export type CheckSuitePayload = z.infer<typeof checkSuitePayloadSchema>;

export function parseCheckRunPayload(payload: unknown): CheckRunPayload {
  return parseWith(checkRunPayloadSchema, payload, "check_run payload");
}

export function parseCheckSuitePayload(payload: unknown): CheckSuitePayload {
  return parseWith(checkSuitePayloadSchema, payload, "check_suite payload");
}

export const issueCommentPayloadSchema = z.object({
  action: z.string(),
  repository: repositorySchema,
  installation: installationSchema,
  sender: userSchema,
  issue: z.object({
    number: positiveId,
    title: line(1024),
    body: text.nullish(),
    pull_request: z.object({}).passthrough().nullish(),
  }),
  comment: z.object({
    id: positiveId,
    body: text.nullish(),
    user: userSchema,
    /** When the comment was written or last edited: with its id, what makes a command once. */
    updated_at: z.string().max(64).transform(safeLine).optional(),
    performed_via_github_app: z.object({}).passthrough().nullish(),
  }),
  /** `edited` only: what the comment said before. */
  changes: z.object({ body: z.object({ from: text.nullish() }).optional() }).optional(),
});
export type IssueCommentPayload = z.infer<typeof issueCommentPayloadSchema>;

export function parsePullRequestPayload(payload: unknown): PullRequestPayload {
  return parseWith(pullRequestPayloadSchema, payload, "pull_request payload");
}

export function parseIssueCommentPayload(payload: unknown): IssueCommentPayload {
  return parseWith(issueCommentPayloadSchema, payload, "issue_comment payload");
}
