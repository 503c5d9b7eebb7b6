/**
 * The parts of webhook payloads the app reads, validated at the edge: a delivery whose payload
 * lacks them is refused with one line naming the field, and nothing changes.
 */
import { z } from "zod";
import { repositorySlugSchema } from "../core/repository.js";
import { parseWith } from "../core/validate.js";

const userSchema = z.object({
  login: z.string().min(1).max(100),
  type: z.string().optional(),
});

const repositorySchema = z.object({
  full_name: repositorySlugSchema,
  default_branch: z.string().min(1).max(255).optional(),
});

export const pullRequestPayloadSchema = z.object({
  action: z.string(),
  repository: repositorySchema,
  installation: z.object({ id: z.number().int().positive() }).nullish(),
  pull_request: z.object({
    number: z.number().int().positive(),
    html_url: z.string().max(2000),
    state: z.enum(["open", "closed"]),
    merged: z.boolean().nullish(),
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
export type PullRequestPayload = z.infer<typeof pullRequestPayloadSchema>;

/** A PR as check_run and check_suite payloads list it: same-repository PRs only, no body. */
const checkPullRequestSchema = z.object({
  number: z.number().int().positive(),
  head: z.object({ ref: z.string().min(1).max(255), sha: z.string().regex(/^[0-9a-f]{40}$/, "expected a commit sha") }),
  base: z.object({ ref: z.string().min(1).max(255) }),
});

export const checkRunPayloadSchema = z.object({
  action: z.string(),
  repository: repositorySchema,
  installation: z.object({ id: z.number().int().positive() }).nullish(),
  check_run: z.object({
    name: z.string().min(1).max(255),
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
  installation: z.object({ id: z.number().int().positive() }).nullish(),
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
  installation: z.object({ id: z.number().int().positive() }).nullish(),
  sender: userSchema,
  issue: z.object({
    number: z.number().int().positive(),
    title: z.string().max(1024),
    body: z.string().nullish(),
    pull_request: z.object({}).passthrough().nullish(),
  }),
  comment: z.object({
    id: z.number().int().positive(),
    body: z.string().nullish(),
    user: userSchema,
    performed_via_github_app: z.object({}).passthrough().nullish(),
  }),
});
export type IssueCommentPayload = z.infer<typeof issueCommentPayloadSchema>;

export function parsePullRequestPayload(payload: unknown): PullRequestPayload {
  return parseWith(pullRequestPayloadSchema, payload, "pull_request payload");
}

export function parseIssueCommentPayload(payload: unknown): IssueCommentPayload {
  return parseWith(issueCommentPayloadSchema, payload, "issue_comment payload");
}
