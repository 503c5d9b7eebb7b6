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
  mergeCommitSha: z.string().max(64).optional(),
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

const sha = z.string().regex(/^[0-9a-f]{40}$/);
const branch = z.string().min(1).max(255);
const workerId = z.string().max(40);

/** A worker PR brought up to date with its base by GitHub's update-branch (`merge_flow.update: merge`). */
const updateBranchInput = z.object({ repository, workerId, pullNumber: number, base: branch, baseSha: sha });
export type UpdateBranchInput = z.infer<typeof updateBranchInput>;

/** A worker PR merged through GitHub once its phase-5-to-6 gate passed on `headSha` (`merge_flow.merge: auto`). */
const mergeInput = z.object({
  repository,
  workerId,
  pullNumber: number,
  headSha: sha,
  gate: z.object({
    conclusion: z.enum(["success", "failure", "neutral"]),
    rules: z.array(z.object({ rule: z.string().max(40), status: z.string().max(20) })).max(20),
  }),
});
export type MergeInput = z.infer<typeof mergeInput>;

/** A merge queue's merge group, whose head gets the gates as check runs. */
const mergeGroupInput = z.object({ repository, headSha: sha, headRef: z.string().min(1).max(300), baseSha: sha, baseRef: branch });
export type MergeGroupInput = z.infer<typeof mergeGroupInput>;

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
  "update-branch": updateBranchInput,
  /** A stacked PR moved to its merged parent's base. */
  retarget: z.object({ repository, workerId, pullNumber: number, base: branch }),
  merge: mergeInput,
  /** Auto-merge turned off again (the PR got `needs-human`). */
  "disable-auto-merge": z.object({ repository, workerId, pullNumber: number }),
  "merge-group-gates": mergeGroupInput,
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
  /** `key`: the update's own (`updateKey`): one per PR per head of its base. */
  updateBranch(input: UpdateBranchInput, key: string, origin: EffectOrigin): NewFollowUp {
    return followUp("update-branch", key, laneOf(input.repository, input.pullNumber), input, origin);
  },
  /**
   * In the lane of the merged parent's PR (`parentNumber`), before the parent's branch may be
   * deleted (`delete-branch`, the same lane after it): GitHub closes a PR whose base is deleted.
   */
  retarget(repository: string, parentNumber: number, workerId: string, pullNumber: number, base: string, origin: EffectOrigin): NewFollowUp {
    const key = `retarget:${repository.toLowerCase()}#${pullNumber}:${base}`;
    return followUp("retarget", key, laneOf(repository, parentNumber), { repository, workerId, pullNumber, base }, origin);
  },
  /** Keyed by what asked (the gates' follow-up): each passing gate run may try again, the first that merges ends it. */
  merge(input: MergeInput, cause: string, origin: EffectOrigin): NewFollowUp {
    return followUp("merge", `merge:${input.repository.toLowerCase()}#${input.pullNumber}@${input.headSha}:${cause}`, laneOf(input.repository, input.pullNumber), input, origin);
  },
  disableAutoMerge(repository: string, workerId: string, pullNumber: number, cause: string, origin: EffectOrigin): NewFollowUp {
    const key = `disable-auto-merge:${repository.toLowerCase()}#${pullNumber}:${cause}`;
    return followUp("disable-auto-merge", key, laneOf(repository, pullNumber), { repository, workerId, pullNumber }, origin);
  },
  /** One lane per merge group (its temporary branch); keyed by its head: a redelivery adds nothing. */
  mergeGroupGates(input: MergeGroupInput, origin: EffectOrigin): NewFollowUp {
    const key = `merge-group-gates:${input.repository.toLowerCase()}@${input.headSha}`;
    return followUp("merge-group-gates", key, `${input.repository.toLowerCase()}#${input.headRef}`, input, origin);
  },
};

/** The key of a refused action's one comment: the action, the PR and GitHub's reason (the same refusal is said once). */
export function refusalKey(repository: string, pullNumber: number, action: string, reason: string): string {
  return `refused:${repository.toLowerCase()}#${pullNumber}:${action}:${createHash("sha256").update(reason).digest("hex").slice(0, 16)}`;
}

/** A stored follow-up as an effect; a kind or input this release does not know is refused (InvalidInputError). */
export function parseEffect(followUp: FollowUp): Effect {
  if (!(EFFECT_KINDS as string[]).includes(followUp.kind)) {
    throw new InvalidInputError(`follow-up ${followUp.key}: kind "${followUp.kind}" is not known to this release`);
  }
  const kind = followUp.kind as EffectKind;
  const input = parseWith(INPUTS[kind] as z.ZodType<unknown>, followUp.input, `follow-up ${kind}`);
  return { kind, input, followUp } as Effect;
}
