/**
 * The GitHub effects a delivery causes, as follow-ups of the store's queue: what each kind needs
 * (validated again when read back: the row may come from another release), which lane it runs
 * in (its issue or PR, so effects on one thread keep their order) and the key that names it once
 * (so a redelivery, or a comment under another delivery id, adds nothing). Pure.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { InvalidInputError } from "../core/errors.js";
import { parseWith } from "../core/validate.js";
import { GATE_NAMES, type GateName } from "../gates/index.js";
import type { FollowUp, NewFollowUp } from "../store/store.js";
import { MAX_COMMANDS_PER_COMMENT } from "./commands.js";
import { REACTIONS, type Reaction } from "./github.js";

const repository = z.string().min(3).max(200);
const number = z.number().int().positive();

/** A comment's `/worker` lines, as the command follow-up carries them. */
const commandInput = z.object({
  repository,
  defaultBranch: z.string().max(255).nullable(),
  issueNumber: number,
  isPullRequest: z.boolean(),
  /** The issue's title and body, cut to what a worker's description holds. */
  description: z.string().max(20_000),
  commentId: number,
  author: z.string().min(1).max(100),
  /** The command lines of the comment, at most MAX_COMMANDS_PER_COMMENT. */
  lines: z.array(z.string().max(2000)).max(MAX_COMMANDS_PER_COMMENT),
  /** How many command lines the comment had in all. */
  total: z.number().int().min(0),
  deliveryId: z.string().max(100),
});
export type CommandInput = z.infer<typeof commandInput>;

const pullRequestFactsInput = z.object({
  number,
  url: z.string().max(2000),
  state: z.enum(["open", "closed"]),
  merged: z.boolean(),
  headRef: z.string().max(255),
  headRepository: z.string().max(200).nullable(),
  body: z.string().nullable(),
  headSha: z.string().max(64).optional(),
  baseRef: z.string().max(255).optional(),
});

const gatedPullRequest = z.object({ number, headSha: z.string().max(64), baseRef: z.string().max(255), headRef: z.string().max(255) });

/** A review that asked for changes on a worker's PR: the permission check, the live PR, its comments, then the feedback recorded. */
const reviewFeedbackInput = z.object({
  repository,
  workerId: z.string().max(40),
  pullNumber: number,
  review: z.object({ id: number, author: z.string().min(1).max(100), body: z.string().max(70_000), url: z.string().max(2000).nullable() }),
});
export type ReviewFeedbackInput = z.infer<typeof reviewFeedbackInput>;

/** A failed check (one run, or a suite's failed runs) on a worker's PR: which count, their outputs, then the feedback recorded. */
const checkFeedbackInput = z.object({
  repository,
  workerId: z.string().max(40),
  pullRequest: z.object({ number, headSha: z.string().max(64), baseRef: z.string().max(255) }),
  suiteId: number.nullable(),
  /** The one run a `check_run` delivery is about; null for a suite's. */
  runId: number.nullable(),
});
export type CheckFeedbackInput = z.infer<typeof checkFeedbackInput>;

const INPUTS = {
  /** A reaction on a comment. */
  react: z.object({ repository, commentId: number, content: z.enum(REACTIONS) }),
  /** A reply on an issue; its body ends with a hidden marker so a second try finds the first. */
  reply: z.object({ repository, issueNumber: number, body: z.string().max(65_000), marker: z.string().max(200) }),
  /** A comment's commands: the permission check, then each command, then reply and reaction. */
  command: commandInput,
  /** A worker's one status comment brought up to date. */
  status: z.object({ repository, workerId: z.string().max(40), created: z.boolean() }),
  /** A pull_request delivery whose move waits on a re-read of the PR. */
  "pull-request": z.object({ repository, action: z.string().max(50), deliveryId: z.string().max(100), pullRequest: pullRequestFactsInput }),
  /** Gates run as check runs on a worker's PR. */
  gates: z.object({ repository, workerId: z.string().max(40), pullRequest: gatedPullRequest, names: z.array(z.enum(GATE_NAMES)).min(1) }),
  /** A merged worker's remote branch deleted (`github.delete_branch_on_merge`). */
  "delete-branch": z.object({ repository, workerId: z.string().max(40), branch: z.string().max(255) }),
  "review-feedback": reviewFeedbackInput,
  "check-feedback": checkFeedbackInput,
  /** Labels added to an issue or PR (`needs-human`). */
  label: z.object({ repository, issueNumber: number, labels: z.array(z.string().min(1).max(50)).min(1).max(10) }),
} as const;

type EffectKind = keyof typeof INPUTS;
type EffectInput<K extends EffectKind> = z.infer<(typeof INPUTS)[K]>;
/** A follow-up read back from the store, its input checked against its kind. */
type Effect = { [K in EffectKind]: { kind: K; input: EffectInput<K>; followUp: FollowUp } }[EffectKind];

const EFFECT_KINDS = Object.keys(INPUTS) as EffectKind[];

/** The lane of an issue or a PR: effects on one thread run one at a time, in order. */
function laneOf(repository: string, issueOrPull: number): string {
  return `${repository.toLowerCase()}#${issueOrPull}`;
}

function followUp<K extends EffectKind>(
  kind: K,
  key: string,
  lane: string,
  input: EffectInput<K>,
  origin: { installationId: number | null; correlationId: string | null },
): NewFollowUp {
  return { kind, key, lane, input, installationId: origin.installationId, correlationId: origin.correlationId };
}

/** Where a follow-up comes from: the delivery's installation (to act as) and its id (for log lines). */
export interface EffectOrigin {
  installationId: number | null;
  correlationId: string | null;
}

/**
 * What names a comment's commands once: the comment and when it was written or last edited
 * (its text, where a payload carries no time). Five delivery ids of one comment share it.
 */
export function commandKey(repository: string, commentId: number, editedAt: string | undefined, body: string): string {
  const when = editedAt ?? `sha256:${createHash("sha256").update(body).digest("hex").slice(0, 16)}`;
  return `${repository.toLowerCase()}:${commentId}@${when}`;
}

/** The hidden line a reply ends with, naming what it answers (a hash: keys hold comment ids and times). */
function replyMarker(key: string): string {
  return `<!-- parallel-workers:reply ${createHash("sha256").update(key).digest("hex").slice(0, 16)} -->`;
}

export const effects = {
  command(input: CommandInput, key: string, origin: EffectOrigin): NewFollowUp {
    return followUp("command", `command:${key}`, laneOf(input.repository, input.issueNumber), input, origin);
  },
  react(repository: string, issueNumber: number, commentId: number, content: Reaction, key: string, origin: EffectOrigin): NewFollowUp {
    return followUp("react", `react:${key}:${content}`, laneOf(repository, issueNumber), { repository, commentId, content }, origin);
  },
  reply(repository: string, issueNumber: number, body: string, key: string, origin: EffectOrigin): NewFollowUp {
    const marker = replyMarker(key);
    return followUp("reply", `reply:${key}`, laneOf(repository, issueNumber), { repository, issueNumber, body, marker }, origin);
  },
  /** `cause` tells this request apart from others for the same worker (a delivery, a command, a store version). */
  status(repository: string, issueNumber: number, workerId: string, cause: string, origin: EffectOrigin, created = false): NewFollowUp {
    return followUp("status", `status:${workerId}:${cause}`, laneOf(repository, issueNumber), { repository, workerId, created }, origin);
  },
  pullRequest(input: EffectInput<"pull-request">, origin: EffectOrigin): NewFollowUp {
    return followUp("pull-request", `pull-request:${input.deliveryId}`, laneOf(input.repository, input.pullRequest.number), input, origin);
  },
  gates(repository: string, workerId: string, pullRequest: EffectInput<"gates">["pullRequest"], names: readonly GateName[], origin: EffectOrigin & { correlationId: string }): NewFollowUp {
    const key = `gates:${origin.correlationId}:${laneOf(repository, pullRequest.number)}:${names.join(",")}`;
    return followUp("gates", key, laneOf(repository, pullRequest.number), { repository, workerId, pullRequest, names: [...names] }, origin);
  },
  deleteBranch(repository: string, pullNumber: number, workerId: string, branch: string, origin: EffectOrigin): NewFollowUp {
    return followUp("delete-branch", `delete-branch:${workerId}:${pullNumber}`, laneOf(repository, pullNumber), { repository, workerId, branch }, origin);
  },
  /** Keyed by the review: the same review under any delivery id (or found by reconcile) is looked at once. */
  reviewFeedback(input: ReviewFeedbackInput, origin: EffectOrigin): NewFollowUp {
    const key = `review-feedback:${input.repository.toLowerCase()}:${input.review.id}`;
    return followUp("review-feedback", key, laneOf(input.repository, input.pullNumber), input, origin);
  },
  /** Keyed by the run (or the suite) and the PR: a check_run and its suite's delivery each once. */
  checkFeedback(input: CheckFeedbackInput, origin: EffectOrigin): NewFollowUp {
    const what = input.runId !== null ? `run:${input.runId}` : `suite:${input.suiteId}`;
    const key = `check-feedback:${input.repository.toLowerCase()}:${what}:${input.pullRequest.number}`;
    return followUp("check-feedback", key, laneOf(input.repository, input.pullRequest.number), input, origin);
  },
  label(repository: string, issueNumber: number, labels: readonly string[], key: string, origin: EffectOrigin): NewFollowUp {
    return followUp("label", `label:${key}`, laneOf(repository, issueNumber), { repository, issueNumber, labels: [...labels] }, origin);
  },
};

/** A stored follow-up as an effect; a kind or input this release does not know is refused (InvalidInputError). */
export function parseEffect(followUp: FollowUp): Effect {
  if (!(EFFECT_KINDS as string[]).includes(followUp.kind)) {
    throw new InvalidInputError(`follow-up ${followUp.key}: kind "${followUp.kind}" is not known to this release`);
  }
  const kind = followUp.kind as EffectKind;
  const input = parseWith(INPUTS[kind] as z.ZodType<unknown>, followUp.input, `follow-up ${kind}`);
  return { kind, input, followUp } as Effect;
}
