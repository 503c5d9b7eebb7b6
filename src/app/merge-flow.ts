/**
 * The app's part of the merge flow. A push to a base branch records, per open worker PR on it,
 * what bringing it up to date takes: a request in the store for the runner that holds its
 * worktree (`update: rebase`), or GitHub's update-branch as a follow-up (`update: merge`). A
 * parent's merge moves its stacked children to its base (a follow-up) and asks their runner to
 * rebase them off it; its close unmerged ends them. A passing phase-5-to-6 gate may merge a
 * worker's PR through GitHub (auto-merge, the merge queue, or REST), and a merge queue's groups
 * get the gates as check runs. Handlers record and queue only; the follow-ups call GitHub.
 */
import type { Context } from "probot";
import { TransitionConflictError } from "../core/errors.js";
import {
  autoMergeUnavailable,
  childrenToAbandon,
  DEFAULT_MERGE_FLOW,
  mergeDecision,
  NEEDS_HUMAN,
  parentClosedReason,
  pullRequestsOnBase,
  pushedBranch,
  refusedComment,
  stackedChildren,
  updateKey,
  type MergeAction,
  type MergeFlowSettings,
  type MergeOutcome,
  type UpdateOutcome,
} from "../core/merge-flow.js";
import type { PullRequestFacts } from "../core/pull-requests.js";
import { isTerminal } from "../core/states.js";
import type { Worker } from "../core/worker.js";
import { GATE_NAMES, type GateResult } from "../gates/index.js";
import { workerLogger } from "../log/logger.js";
import { recordMergeFlow } from "../store/merge-flow.js";
import type { NewFollowUp } from "../store/store.js";
import { gateCommit } from "./checks.js";
import type { AppDeps, Outcome } from "./deps.js";
import { effects, refusalKey, type EffectOrigin, type MergeGroupInput, type MergeInput, type UpdateBranchInput } from "./effects.js";
import type { Refusable, RepositoryGitHub } from "./github.js";
import { parseMergeGroupPayload, parsePushPayload } from "./payloads.js";
import { workersOf } from "./pull-requests.js";

/** The repository's `merge_flow:` settings, as the runner serving it reads them. */
export function mergeFlowSettings(deps: Pick<AppDeps, "served">, repository: string): MergeFlowSettings {
  return deps.served(repository)?.mergeFlow ?? DEFAULT_MERGE_FLOW;
}

const now = () => new Date().toISOString();

// ---------------------------------------------------------------------------------------------
// A base branch moved

/** A `push` delivery, as the handler needs it. */
export interface PushEvent {
  deliveryId: string;
  repository: string;
  installationId: number | null;
  ref: string;
  before: string;
  after: string;
  forced: boolean;
  deleted: boolean;
}

export function toPushEvent(context: Pick<Context, "id" | "payload">): PushEvent {
  const payload = parsePushPayload(context.payload);
  return {
    deliveryId: context.id,
    repository: payload.repository.full_name,
    installationId: payload.installation?.id ?? null,
    ref: payload.ref,
    before: payload.before,
    after: payload.after,
    forced: payload.forced ?? false,
    deleted: payload.deleted ?? false,
  };
}

/**
 * A push to a branch that open worker PRs are based on (a base branch, or a stacked PR's
 * parent): each PR gets one update to the new head, keyed by PR and head so a redelivery or the
 * same head pushed again adds nothing. `rebase`: a request the runner holding the worktree
 * carries out; `merge`: GitHub's update-branch, as a follow-up; `off`: nothing.
 */
export async function onPush(deps: AppDeps, event: PushEvent): Promise<Outcome> {
  const branch = pushedBranch(event.ref);
  if (!branch || event.deleted || /^0+$/.test(event.after)) return "ignored";
  const settings = mergeFlowSettings(deps, event.repository);
  if (settings.update === "off") return "ignored";
  const behind = pullRequestsOnBase(await workersOf(deps, event.repository), branch);
  if (behind.length === 0) return "ignored";
  const origin = { installationId: event.installationId, correlationId: event.deliveryId };
  if (settings.update === "merge") {
    const queued = behind.map((worker) => {
      const input: UpdateBranchInput = { repository: event.repository, workerId: worker.id, pullNumber: worker.prNumber!, base: branch, baseSha: event.after };
      return effects.updateBranch(input, updateKey(event.repository, worker.prNumber!, branch, event.after), origin);
    });
    const added = await deps.followUps.add(queued);
    return added.length > 0 ? "handled" : "duplicate";
  }
  let recorded = 0;
  for (const worker of behind) {
    const key = updateKey(event.repository, worker.prNumber!, branch, event.after);
    // a rewritten base (a force-push, a parent rebased): the PR's own commits start after the old head
    const detail = { cause: "base" as const, base: branch, baseSha: event.after, upstream: event.forced ? event.before : null, retarget: false, omitted: [] };
    if (await deps.store.addFeedback({ workerId: worker.id, key, scope: key, detail })) recorded++;
  }
  return recorded > 0 ? "handled" : "duplicate";
}

/** What an update did, on the worker's record and in one log line. */
async function recordUpdate(
  deps: AppDeps,
  worker: Worker,
  input: UpdateBranchInput,
  outcome: UpdateOutcome,
  detail: string | null,
  correlationId: string | null,
): Promise<void> {
  await recordMergeFlow(deps.store, worker.id, { update: { how: "merge", base: input.base, baseSha: input.baseSha, outcome, detail, at: now() } });
  const log = workerLogger(deps.logger, { workerId: worker.id, taskId: worker.taskId, correlationId });
  const fields = { pr: input.pullNumber, base: input.base, base_sha: input.baseSha.slice(0, 7), outcome, ...(detail ? { detail } : {}) };
  if (outcome === "refused" || outcome === "failed") log.warn(fields, "pull request not brought up to date with its base");
  else log.info(fields, outcome === "updated" ? "pull request brought up to date with its base (update-branch)" : "pull request already up to date with its base");
}

/** A refused action's one comment on the PR (keyed by the action and GitHub's reason), and its record. */
function refusal(repository: string, pullNumber: number, workerId: string, action: string, reason: string, origin: EffectOrigin): NewFollowUp {
  const key = refusalKey(repository, pullNumber, action, reason);
  return effects.reply(repository, pullNumber, refusedComment(workerId, action, reason), key, origin);
}

/**
 * The `update-branch` follow-up: the PR still open on that base and behind it (GitHub's
 * comparison), GitHub merges the base into it (update-branch, only while the head is the one
 * read). The push that makes is a `synchronize`, which runs the gates again.
 */
export async function updatePullRequestBranch(deps: AppDeps, github: RepositoryGitHub, input: UpdateBranchInput, origin: EffectOrigin): Promise<NewFollowUp[]> {
  const worker = await deps.store.getWorker(input.workerId);
  if (!worker || isTerminal(worker.state) || worker.prNumber !== input.pullNumber) return [];
  const pr = await github.pullRequest(input.pullNumber);
  if (pr.state !== "open" || !pr.headSha || (pr.baseRef && pr.baseRef !== input.base)) return [];
  const comparison = await github.compare(input.base, pr.headSha);
  if (comparison.behindBy === 0) {
    await recordUpdate(deps, worker, input, "current", null, origin.correlationId);
    return [];
  }
  const updated = await github.updateBranch(input.pullNumber, pr.headSha);
  if (updated.ok) {
    await recordUpdate(deps, worker, input, "updated", null, origin.correlationId);
    return [];
  }
  const outcome = isConflict(updated) ? "conflict" : "refused";
  await recordUpdate(deps, worker, input, outcome, updated.reason, origin.correlationId);
  return [refusal(input.repository, input.pullNumber, worker.id, `bring this pull request up to date with \`${input.base}\``, updated.reason, origin)];
}

/** GitHub's update-branch answers 422 "merge conflict" when the base does not merge cleanly. */
function isConflict(outcome: Refusable): boolean {
  return !outcome.ok && outcome.status === 422 && /conflict/i.test(outcome.reason);
}

// ---------------------------------------------------------------------------------------------
// Stacked PRs: a parent merged or closed

/**
 * What a parent's merge makes GitHub do first, in the parent's lane so that it runs before its
 * branch may be deleted: each stacked child's PR moved to the parent's base.
 */
export async function retargetsOfMerge(deps: AppDeps, repository: string, parent: Worker, pr: PullRequestFacts, origin: EffectOrigin): Promise<NewFollowUp[]> {
  if (!pr.baseRef) return [];
  return stackedChildren(parent, await workersOf(deps, repository))
    .filter((child) => !isTerminal(child.state) && child.prNumber !== null)
    .map((child) => effects.retarget(repository, pr.number, child.id, child.prNumber!, pr.baseRef!, origin));
}

/**
 * After a parent's merge is recorded: each stacked child's base is the parent's base now (its
 * PR is moved there by the `retarget` follow-up), and its runner is asked to rebase it onto that
 * base without the parent's commits (`upstream`: the parent's head as merged, so a squash
 * merge drops them too). A child not started yet starts from the base when its turn comes.
 */
export async function afterParentMerged(deps: AppDeps, repository: string, parent: Worker, pr: PullRequestFacts, correlationId: string | null): Promise<Worker[]> {
  if (!pr.baseRef) return [];
  const moved: Worker[] = [];
  for (const child of stackedChildren(parent, await workersOf(deps, repository))) {
    if (isTerminal(child.state)) continue;
    await deps.store.updateWorker(child.id, { baseBranch: pr.baseRef, mergeFlow: { ...child.mergeFlow, stackedOn: null } });
    if (child.prNumber !== null && pr.headSha && /^[0-9a-f]{40}$/.test(pr.headSha)) {
      const onto = pr.mergeCommitSha ?? pr.headSha;
      const key = `retarget:${repository.toLowerCase()}#${child.prNumber}:${pr.baseRef}@${onto}`;
      await deps.store.addFeedback({
        workerId: child.id,
        key,
        scope: key,
        detail: { cause: "base", base: pr.baseRef, baseSha: onto, upstream: pr.headSha, retarget: true, omitted: [] },
      });
    }
    const log = workerLogger(deps.logger, { workerId: child.id, taskId: child.taskId, correlationId });
    log.info({ parent: parent.id, parent_pr: pr.number, base: pr.baseRef }, "stacked pull request moves to its merged parent's base");
    moved.push(child);
  }
  return moved;
}

/**
 * After a parent's PR is closed unmerged: each child stacked on it (started, with its PR on the
 * parent's branch) ends ABANDONED with the reason, said once on its PR. `/worker retry` of the
 * parent queues them again (`requeueStackedChildren`).
 */
export async function afterParentClosed(
  deps: AppDeps,
  repository: string,
  parent: Worker,
  origin: EffectOrigin,
  statusOf: (child: Worker) => NewFollowUp[],
): Promise<Worker[]> {
  const ended: Worker[] = [];
  for (const child of childrenToAbandon(parent, await workersOf(deps, repository))) {
    const reason = parentClosedReason(parent);
    const said =
      child.prNumber !== null
        ? [effects.reply(repository, child.prNumber, `**parallel-workers**: worker \`${child.id}\` is ABANDONED: ${reason}.`, `parent-closed:${child.id}:${parent.prNumber}`, origin)]
        : [];
    try {
      ended.push(
        await deps.store.transition(child.id, child.state, "ABANDONED", {
          source: "webhook",
          correlationId: origin.correlationId,
          detail: reason,
          patch: { pid: null },
          followUps: [...said, ...statusOf(child)],
        }),
      );
    } catch (error) {
      if (!(error instanceof TransitionConflictError)) throw error;
    }
  }
  return ended;
}

/** The `retarget` follow-up: a stacked child's PR moved to its merged parent's base. */
export async function retargetPullRequest(
  deps: AppDeps,
  github: RepositoryGitHub,
  input: { repository: string; workerId: string; pullNumber: number; base: string },
  origin: EffectOrigin,
): Promise<NewFollowUp[]> {
  const worker = await deps.store.getWorker(input.workerId);
  if (!worker || isTerminal(worker.state)) return [];
  const log = workerLogger(deps.logger, { workerId: worker.id, taskId: worker.taskId, correlationId: origin.correlationId });
  const pr = await github.pullRequest(input.pullNumber);
  if (pr.state !== "open" || pr.baseRef === input.base) return [];
  const moved = await github.setBase(input.pullNumber, input.base);
  if (moved.ok) {
    log.info({ pr: input.pullNumber, base: input.base }, "stacked pull request retargeted to its parent's base");
    return [];
  }
  log.warn({ pr: input.pullNumber, base: input.base, reason: moved.reason }, "stacked pull request not retargeted");
  await recordMergeFlow(deps.store, worker.id, { update: { how: "retarget", base: input.base, baseSha: null, outcome: "refused", detail: moved.reason, at: now() } });
  return [refusal(input.repository, input.pullNumber, worker.id, `move this pull request to \`${input.base}\``, moved.reason, origin)];
}

// ---------------------------------------------------------------------------------------------
// Merging through GitHub

/**
 * The `merge` follow-up a passing phase-5-to-6 gate queues after the gates' follow-up (the
 * caller) with `merge_flow.merge: auto` and a gate that did not fail, so most gate runs of a PR
 * that is not ready queue nothing.
 */
export function mergeAfterGates(
  deps: AppDeps,
  repository: string,
  worker: Worker | undefined,
  pr: { number: number; headSha: string },
  results: readonly GateResult[],
  cause: string,
  origin: EffectOrigin,
): NewFollowUp[] {
  if (!worker || worker.state !== "PR_OPEN" || mergeFlowSettings(deps, repository).merge !== "auto") return [];
  const gate = results.find((r) => r.name === "phase-5-to-6");
  if (!gate || gate.conclusion === "failure") return [];
  const waiting = gate.rules.some((r) => (r.rule === "required-checks" || r.rule === "approvals") && (r.status === "failed" || r.status === "pending"));
  if (waiting) return [];
  const done = worker.mergeFlow.merge;
  if (done && done.headSha === pr.headSha && (done.outcome === "enabled" || done.outcome === "queued" || done.outcome === "merged")) return [];
  const input: MergeInput = {
    repository,
    workerId: worker.id,
    pullNumber: pr.number,
    headSha: pr.headSha,
    gate: { conclusion: gate.conclusion, rules: gate.rules.map((r) => ({ rule: r.rule, status: r.status })) },
  };
  return [effects.merge(input, cause, origin)];
}

/** What a merge action did, on the worker's record and in one log line. */
async function recordMerge(
  deps: AppDeps,
  worker: Worker,
  input: MergeInput,
  how: MergeAction,
  outcome: MergeOutcome,
  reason: string | null,
  correlationId: string | null,
): Promise<void> {
  const method = mergeFlowSettings(deps, input.repository).method;
  await recordMergeFlow(deps.store, worker.id, { merge: { how, method, headSha: input.headSha, outcome, reason, at: now() } });
  const log = workerLogger(deps.logger, { workerId: worker.id, taskId: worker.taskId, correlationId });
  const fields = { pr: input.pullNumber, head_sha: input.headSha.slice(0, 7), how, method, outcome, ...(reason ? { reason } : {}) };
  const message = {
    enabled: "auto-merge turned on",
    queued: "pull request added to the merge queue",
    merged: "pull request merged by the app",
    refused: "merge refused by GitHub",
    disabled: "auto-merge turned off",
  }[outcome];
  if (outcome === "refused") log.warn(fields, message);
  else log.info(fields, message);
}

/**
 * The `merge` follow-up: on the PR as it is now (the same head the gate passed on, open, no
 * `needs-human`, the base's required checks green, every task it depends on merged), GitHub's
 * auto-merge is turned on, or the PR joins the merge queue when its base uses one; where
 * neither can be used (the repository does not allow auto-merge, or the PR can be merged at
 * once) it is merged through REST. MERGED still comes from the `pull_request` closed webhook.
 */
export async function mergeWhenReady(deps: AppDeps, github: RepositoryGitHub, input: MergeInput, origin: EffectOrigin): Promise<NewFollowUp[]> {
  const worker = await deps.store.getWorker(input.workerId);
  if (!worker || worker.state !== "PR_OPEN" || worker.prNumber !== input.pullNumber) return [];
  const settings = mergeFlowSettings(deps, input.repository);
  const log = workerLogger(deps.logger, { workerId: worker.id, taskId: worker.taskId, correlationId: origin.correlationId });
  const pr = await github.mergeablePullRequest(input.pullNumber);
  // a newer head has its own gate run, and its own merge follow-up
  if (pr.headSha !== input.headSha) return [];
  if (pr.autoMerge) {
    if (worker.mergeFlow.merge?.headSha !== input.headSha) await recordMerge(deps, worker, input, "auto-merge", "enabled", null, origin.correlationId);
    return [];
  }
  const required = pr.baseRef ? await github.requiredChecks(pr.baseRef) : [];
  const checks = required.length > 0 ? await github.checkRuns(input.headSha) : [];
  const decision = mergeDecision({
    settings,
    gate: input.gate,
    pullRequest: { state: pr.state, baseRef: pr.baseRef ?? null, labels: pr.labels, draft: pr.draft },
    requiredChecks: required,
    checks,
    worker,
    all: await workersOf(deps, input.repository),
  });
  if (!decision.merge) {
    log.info({ pr: input.pullNumber, head_sha: input.headSha.slice(0, 7), reason: decision.reason }, "pull request not merged yet");
    return [];
  }
  if (pr.baseRef && (await github.usesMergeQueue(pr.baseRef))) {
    const queued = await github.enqueue(pr.nodeId, input.headSha);
    return settle(deps, worker, input, "merge-queue", queued, "queued", origin);
  }
  const enabled = await github.enableAutoMerge(pr.nodeId, settings.method, input.headSha);
  if (enabled.ok || !autoMergeUnavailable(enabled.reason)) return settle(deps, worker, input, "auto-merge", enabled, "enabled", origin);
  log.info({ pr: input.pullNumber, reason: enabled.reason }, "auto-merge cannot be used here: merging through REST");
  const merged = await github.merge(input.pullNumber, settings.method, input.headSha);
  return settle(deps, worker, input, "merge", merged, "merged", origin);
}

const ACTION_WORDS: Record<MergeAction, string> = {
  "auto-merge": "turn on auto-merge",
  "merge-queue": "add this pull request to the merge queue",
  merge: "merge this pull request",
};

async function settle(
  deps: AppDeps,
  worker: Worker,
  input: MergeInput,
  how: MergeAction,
  result: Refusable,
  outcome: MergeOutcome,
  origin: EffectOrigin,
): Promise<NewFollowUp[]> {
  if (result.ok) {
    await recordMerge(deps, worker, input, how, outcome, null, origin.correlationId);
    return [];
  }
  await recordMerge(deps, worker, input, how, "refused", result.reason, origin.correlationId);
  return [refusal(input.repository, input.pullNumber, worker.id, ACTION_WORDS[how], result.reason, origin)];
}

/** A `pull_request.labeled` delivery adding `needs-human` to a worker's PR whose auto-merge the app turned on: it goes off. */
export function disableOnNeedsHuman(deps: AppDeps, repository: string, worker: Worker | null, pr: PullRequestFacts, label: string | undefined, origin: EffectOrigin & { correlationId: string }): NewFollowUp[] {
  if (!worker || label?.toLowerCase() !== NEEDS_HUMAN || pr.state !== "open") return [];
  const merge = worker.mergeFlow.merge;
  if (!merge || (merge.outcome !== "enabled" && merge.outcome !== "queued")) return [];
  return [effects.disableAutoMerge(repository, worker.id, pr.number, origin.correlationId, origin)];
}

/** The `disable-auto-merge` follow-up. */
export async function turnOffAutoMerge(
  deps: AppDeps,
  github: RepositoryGitHub,
  input: { repository: string; workerId: string; pullNumber: number },
  origin: EffectOrigin,
): Promise<NewFollowUp[]> {
  const worker = await deps.store.getWorker(input.workerId);
  if (!worker) return [];
  const pr = await github.mergeablePullRequest(input.pullNumber);
  if (pr.state !== "open" || !pr.autoMerge) return [];
  const turnedOff = await github.disableAutoMerge(pr.nodeId);
  const merge: MergeInput = { repository: input.repository, workerId: worker.id, pullNumber: input.pullNumber, headSha: pr.headSha ?? "0".repeat(40), gate: { conclusion: "neutral", rules: [] } };
  if (turnedOff.ok) {
    await recordMerge(deps, worker, merge, "auto-merge", "disabled", `labelled ${NEEDS_HUMAN}`, origin.correlationId);
    return [];
  }
  return [refusal(input.repository, input.pullNumber, worker.id, "turn off auto-merge", turnedOff.reason, origin)];
}

// ---------------------------------------------------------------------------------------------
// Merge groups

/** A `merge_group` delivery, as the handler needs it. */
export interface MergeGroupEvent {
  deliveryId: string;
  repository: string;
  installationId: number | null;
  action: string;
  group: MergeGroupInput;
}

export function toMergeGroupEvent(context: Pick<Context, "id" | "payload">): MergeGroupEvent {
  const payload = parseMergeGroupPayload(context.payload);
  const group = payload.merge_group;
  return {
    deliveryId: context.id,
    repository: payload.repository.full_name,
    installationId: payload.installation?.id ?? null,
    action: payload.action,
    group: {
      repository: payload.repository.full_name,
      headSha: group.head_sha,
      headRef: group.head_ref,
      baseSha: group.base_sha,
      baseRef: pushedBranch(group.base_ref) ?? group.base_ref,
    },
  };
}

/**
 * A merge queue asks for the required checks of a merge group: the gates run on its head as
 * check runs, for every group of a repository served here (a required gate must report on
 * every group, a person's PRs too, or the queue waits for ever).
 */
export async function onMergeGroup(deps: AppDeps, event: MergeGroupEvent): Promise<Outcome> {
  if (event.action !== "checks_requested" || !deps.served(event.repository)) return "ignored";
  const added = await deps.followUps.add([effects.mergeGroupGates(event.group, { installationId: event.installationId, correlationId: event.deliveryId })]);
  return added.length > 0 ? "handled" : "duplicate";
}

/** The `merge-group-gates` follow-up: the gates over the group's change (base...head), reported on its head. */
export async function gateMergeGroup(deps: AppDeps, github: RepositoryGitHub, input: MergeGroupInput, correlationId: string | null): Promise<void> {
  const comparison = await github.compare(input.baseSha, input.headSha);
  const results = await gateCommit(github, { headSha: input.headSha, baseRef: input.baseRef }, comparison.files, GATE_NAMES);
  deps.logger.info(
    { correlation_id: correlationId, merge_group: input.headRef, head_sha: input.headSha.slice(0, 7), gates: results.map((r) => `${r.name}:${r.conclusion}`).join(" ") },
    "gates checked on a merge group",
  );
}
