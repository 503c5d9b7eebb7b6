/**
 * Rework feedback as stored, as a zod schema: what the app records is checked against it, and a
 * row read back can be checked again (it may come from another release). Apart from the rules in
 * `rework.ts`, so the store and the short read commands do not load zod.
 */
import { z } from "zod";
import { FEEDBACK_LIMITS } from "./rework.js";

const text = z.string().max(70_000);
const shortText = z.string().max(500);

const reviewCommentSchema = z.object({
  path: shortText,
  /** The line in the file the comment is on (null when GitHub no longer places it: an outdated comment). */
  line: z.number().int().nullable(),
  startLine: z.number().int().nullable(),
  diffHunk: text,
  body: text,
  author: shortText,
});
export type ReviewCommentFeedback = z.infer<typeof reviewCommentSchema>;

const annotationSchema = z.object({
  path: shortText,
  startLine: z.number().int(),
  endLine: z.number().int(),
  level: shortText,
  title: shortText.nullable(),
  message: text,
});
export type CheckAnnotationFeedback = z.infer<typeof annotationSchema>;

const checkRunSchema = z.object({
  name: shortText,
  conclusion: shortText,
  title: shortText.nullable(),
  summary: text.nullable(),
  annotations: z.array(annotationSchema).max(FEEDBACK_LIMITS.annotations),
  /** Annotations GitHub had beyond those kept. */
  moreAnnotations: z.number().int().min(0),
});
export type CheckRunFeedback = z.infer<typeof checkRunSchema>;

const omitted = z.array(shortText).max(20);

const sha = z.string().regex(/^[0-9a-f]{40}$/, "expected a commit sha");
const branch = z.string().min(1).max(255);

/** A file a rebase onto the base branch conflicts in, with the base's commits that changed it. */
const conflictFileSchema = z.object({
  path: shortText,
  commits: z.array(z.object({ sha, subject: shortText })).max(20),
});
export type ConflictFile = z.infer<typeof conflictFileSchema>;

export const feedbackDetailSchema = z.discriminatedUnion("cause", [
  z.object({
    cause: z.literal("review"),
    reviewId: z.number().int().positive(),
    author: shortText,
    body: text,
    url: z.string().max(2000).nullable(),
    comments: z.array(reviewCommentSchema).max(FEEDBACK_LIMITS.comments),
    /** What was cut when it was recorded, said in the prompt. */
    omitted,
  }),
  z.object({
    cause: z.literal("check"),
    suiteId: z.number().int().positive().nullable(),
    headSha: z.string().max(64),
    runs: z.array(checkRunSchema).max(FEEDBACK_LIMITS.runs),
    omitted,
  }),
  z.object({ cause: z.literal("comment"), commentId: z.number().int().positive(), author: shortText, text, omitted }),
  z.object({ cause: z.literal("cli"), text, omitted }),
  z.object({
    cause: z.literal("base"),
    /** The branch the PR is brought onto, and its head when the request was made. */
    base: branch,
    baseSha: sha,
    /**
     * Where the PR's own commits start, when that is not where they left the base: the head of
     * the parent a stacked PR was on (its commits are dropped, a squash merge included).
     */
    upstream: sha.nullable(),
    /** The PR leaves a merged parent's branch for `base` (a stacked PR retargeted). */
    retarget: z.boolean(),
    omitted,
  }),
  z.object({
    cause: z.literal("conflict"),
    base: branch,
    /** The base's commit the rebase went onto, and where the PR's own commits start (null: where they left the base). */
    onto: sha,
    upstream: sha.nullable(),
    retarget: z.boolean(),
    files: z.array(conflictFileSchema).max(100),
    omitted,
  }),
]);
export type FeedbackDetail = z.infer<typeof feedbackDetailSchema>;
