/**
 * Bringing this runner's worker PRs up to date with a base that moved (`merge_flow.update:
 * rebase`), and a stacked PR onto its merged parent's base: the `base` feedback the app records
 * is carried out here, where the worktree is. A repository's bases and PR branches are fetched in
 * one connection, each worktree rebased onto its base (without a merged parent's commits), and
 * the rebased branches pushed in one connection, each with `--force-with-lease` against the head
 * its PR had. A rebase that stops on conflicts is taken back and becomes `conflict` feedback: a
 * rework round whose agent resolves it. No round, no PR comment, for a rebase that goes through.
 */
import { existsSync } from "node:fs";
import type { FeedbackDetail } from "../core/feedback.js";
import type { BaseUpdateRecord } from "../core/merge-flow.js";
import type { Worker } from "../core/worker.js";
import { commitAll, identityArgs } from "../git/commits.js";
import {
  abortRebase,
  fetchBranches,
  isAncestor,
  pushWithLeases,
  refsContaining,
  resetTo,
  setAside,
  startRebase,
  trackingRef,
  worktreeHead,
  type ConflictingFile,
} from "../git/sync.js";
import { workerLogger } from "../log/logger.js";
import { recordMergeFlow } from "../store/merge-flow.js";
import type { Feedback } from "../store/store.js";
import { neverCommitted } from "./bring-along.js";
import type { RepoContext } from "./context.js";
import type { PipelineDeps } from "./pipeline.js";
import { appendWorkerLog, workerLogPath } from "./worklog.js";

type BaseFeedback = Feedback & { detail: Extract<FeedbackDetail, { cause: "base" }> };

/** A worker whose PR waits to be brought onto its base, with what it was asked. */
interface PendingUpdate {
  worker: Worker & { branch: string; worktreePath: string; baseBranch: string; prNumber: number };
  ctx: RepoContext;
  /** The feedback it answers (settled when done, whatever the outcome). */
  seqs: number[];
  base: string;
  /** Where its own commits start, when not where they left the base: a merged parent's head. */
  upstream: string | null;
  retarget: boolean;
}

/** How many worktrees are rebased at once (git in each is mostly waiting on the disk). */
const REBASES_AT_ONCE = 4;

/** Runs `each` over `items`, at most `limit` at a time. */
async function eachAtMost<T>(limit: number, items: readonly T[], each: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await each(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** What a pass did, per worker id: for the caller (and the bench) to count. */
export type BaseUpdateOutcomes = Map<string, BaseUpdateRecord["outcome"]>;

/** Where a worktree's own commits or changes that its PR does not have are kept before a rebase. */
export function keptBeforeRebaseRef(workerId: string, onto: string): string {
  return `refs/pw/rebase/${workerId}/before-${onto.slice(0, 12)}`;
}

/**
 * The waiting `base` feedback of PR_OPEN workers that `contextFor` says are this runner's
 * (`skip`: those it runs a job for now), one update per worker: the newest base asked for, and a
 * merged parent's head when one of them is a retarget.
 */
export async function pendingUpdates(
  deps: Pick<PipelineDeps, "store">,
  contextFor: (worker: Worker) => RepoContext | undefined,
  skip: (id: string) => boolean,
): Promise<PendingUpdate[]> {
  const waiting = (await deps.store.listFeedback({ pending: true, workerStates: ["PR_OPEN"] })).filter((f): f is BaseFeedback => f.detail.cause === "base");
  const byWorker = new Map<string, BaseFeedback[]>();
  for (const feedback of waiting) byWorker.set(feedback.workerId, [...(byWorker.get(feedback.workerId) ?? []), feedback]);
  const updates: PendingUpdate[] = [];
  for (const [id, feedback] of byWorker) {
    if (skip(id)) continue;
    const worker = await deps.store.getWorker(id);
    const ctx = worker && contextFor(worker);
    if (!worker || !ctx || worker.state !== "PR_OPEN" || !worker.branch || !worker.worktreePath || !worker.baseBranch || worker.prNumber === null) continue;
    const retarget = feedback.filter((f) => f.detail.retarget).at(-1);
    updates.push({
      worker: worker as PendingUpdate["worker"],
      ctx,
      seqs: feedback.map((f) => f.seq),
      // the base as the store has it now: a retargeted PR's base moved with it
      base: worker.baseBranch,
      upstream: retarget?.detail.upstream ?? feedback.at(-1)!.detail.upstream,
      retarget: retarget !== undefined,
    });
  }
  return updates;
}

/**
 * Carries out the pending updates, repository by repository: one fetch, the rebases, one push.
 * Each ends recorded on the worker (its merge-flow record), in its log file and one log line,
 * and its feedback settled; a conflict leaves `conflict` feedback for a rework round.
 */
export async function updateBases(deps: PipelineDeps, updates: readonly PendingUpdate[]): Promise<BaseUpdateOutcomes> {
  const outcomes: BaseUpdateOutcomes = new Map();
  const byRepository = new Map<RepoContext, PendingUpdate[]>();
  for (const update of updates) byRepository.set(update.ctx, [...(byRepository.get(update.ctx) ?? []), update]);
  for (const [ctx, list] of byRepository) {
    for (const [id, outcome] of await updateRepository(deps, ctx, list)) outcomes.set(id, outcome);
  }
  return outcomes;
}

async function updateRepository(deps: PipelineDeps, ctx: RepoContext, updates: readonly PendingUpdate[]): Promise<BaseUpdateOutcomes> {
  const outcomes: BaseUpdateOutcomes = new Map();
  const settle = async (update: PendingUpdate, outcome: BaseUpdateRecord["outcome"], onto: string | null, detail: string | null) => {
    outcomes.set(update.worker.id, outcome);
    await finish(deps, update, outcome, onto, detail);
  };
  let heads: Map<string, string | undefined>;
  try {
    heads = await fetchBranches(ctx.repo, updates.flatMap((u) => [u.base, u.worker.branch]));
  } catch (error) {
    // origin unreachable: the feedback waits for the next pass
    deps.logger.warn({ repo: ctx.repository, err_message: (error as Error).message.split("\n")[0] }, "bases not fetched: pull requests not brought up to date");
    return outcomes;
  }
  // which PRs have their base's head already, asked of all at once; the identity rebases commit with
  const [identity, ...contained] = await Promise.all([
    identityArgs(ctx.repo, ctx.repo.root),
    ...[...new Set(updates.map((u) => u.base))].map(async (base) => {
      const onto = heads.get(base);
      return { base, refs: onto ? await refsContaining(ctx.repo, onto, updates.filter((u) => u.base === base).map((u) => trackingRef(u.worker.branch))) : new Set<string>() };
    }),
  ]);
  const upToDate = (update: PendingUpdate) => contained.find((c) => c.base === update.base)?.refs.has(trackingRef(update.worker.branch)) ?? false;
  const pushes: Array<{ update: PendingUpdate; onto: string; expected: string }> = [];
  // each worktree is its own: their rebases run side by side, a few at a time
  await eachAtMost(REBASES_AT_ONCE, updates, async (update) => {
    const { worker } = update;
    const onto = heads.get(update.base);
    const prHead = heads.get(worker.branch);
    if (!onto || !prHead) return settle(update, "failed", onto ?? null, `${!onto ? update.base : worker.branch} is not on origin`);
    if (!existsSync(worker.worktreePath)) return settle(update, "failed", onto, `the worktree ${worker.worktreePath} is gone`);
    try {
      // a parent's commits the PR no longer has (rebased by hand) need not be dropped
      const [, upstreamKept] = await Promise.all([
        toPullRequestHead(ctx, worker, prHead, onto),
        update.upstream && update.upstream !== onto ? isAncestor(ctx.repo, update.upstream, prHead) : Promise.resolve(false),
      ]);
      const upstream = upstreamKept ? update.upstream : null;
      if (!upstream && upToDate(update)) return settle(update, "current", onto, null);
      const rebased = await startRebase(ctx.repo, worker.worktreePath, onto, upstream ?? undefined, identity);
      if (rebased.kind === "stopped") {
        await abortRebase(ctx.repo, worker.worktreePath);
        await recordConflict(deps, update, onto, upstream, rebased.stop.files);
        return settle(update, "conflict", onto, `conflicts in ${rebased.stop.files.map((f) => f.path).join(", ") || "some files"}: a rework round resolves them`);
      }
      pushes.push({ update, onto, expected: prHead });
    } catch (error) {
      await abortRebase(ctx.repo, worker.worktreePath).catch(() => undefined);
      await settle(update, "failed", onto, (error as Error).message.split("\n")[0] ?? null);
    }
  });
  if (pushes.length === 0) return outcomes;
  let pushed: Awaited<ReturnType<typeof pushWithLeases>>;
  try {
    pushed = await pushWithLeases(ctx.repo, ctx.repo.root, pushes.map((p) => ({ branch: p.update.worker.branch, expected: p.expected })));
  } catch (error) {
    const reason = `push to origin failed: ${(error as Error).message.split("\n")[0]}`;
    pushed = new Map(pushes.map((p) => [p.update.worker.branch, { ok: false as const, reason }]));
  }
  for (const { update, onto, expected } of pushes) {
    const result = pushed.get(update.worker.branch);
    if (result?.ok) {
      await settle(update, "updated", onto, null);
      continue;
    }
    // the PR moved meanwhile (someone pushed): the worktree goes back to what the PR had
    await resetTo(ctx.repo, update.worker.worktreePath, expected).catch(() => undefined);
    await settle(update, "failed", onto, `not pushed: ${result?.reason ?? "git said nothing"}`);
  }
  return outcomes;
}

/**
 * The worktree put at its PR's head (a person may have pushed to it): what it holds that the PR
 * does not (changes, commits of an interrupted round) is kept under a ref, never pushed, never lost.
 */
async function toPullRequestHead(ctx: RepoContext, worker: PendingUpdate["worker"], prHead: string, onto: string): Promise<void> {
  const path = worker.worktreePath;
  const { head, dirty } = await worktreeHead(ctx.repo, path);
  if (head === prHead && !dirty) return;
  let leftovers = head !== prHead && !(await isAncestor(ctx.repo, head, prHead));
  if (dirty) {
    const message = `wip(${worker.taskId ?? worker.id}): left in the worktree before a rebase onto ${onto.slice(0, 7)}`;
    leftovers = (await commitAll(ctx.repo, path, message, neverCommitted(ctx.config, path))) || leftovers;
  }
  if (leftovers) await setAside(ctx.repo, path, keptBeforeRebaseRef(worker.id, onto), prHead);
  else if (head !== prHead) await resetTo(ctx.repo, path, prHead);
}

/** A rebase that stopped: feedback for a rework round, naming the files and the base's commits that changed each. */
async function recordConflict(deps: PipelineDeps, update: PendingUpdate, onto: string, upstream: string | null, files: readonly ConflictingFile[]): Promise<void> {
  const key = `conflict:${update.worker.id}:${update.base}@${onto}`;
  const detail: FeedbackDetail = {
    cause: "conflict",
    base: update.base,
    onto,
    upstream,
    retarget: update.retarget,
    files: files.slice(0, 100).map((f) => ({ path: f.path.slice(0, 500), commits: f.commits.slice(0, 20).map((c) => ({ sha: c.sha, subject: c.subject.slice(0, 500) })) })),
    omitted: files.length > 100 ? [`${files.length - 100} more files in conflict`] : [],
  };
  await deps.store.addFeedback({ workerId: update.worker.id, key, scope: key, detail });
}

const LOG_MESSAGES: Record<BaseUpdateRecord["outcome"], string> = {
  updated: "pull request rebased onto its base and pushed",
  current: "pull request already up to date with its base",
  conflict: "rebase onto the base conflicts: a rework round resolves it",
  refused: "pull request not brought up to date with its base",
  failed: "pull request not brought up to date with its base",
};

/** The end of one update: the worker's record, its log file, one log line, its feedback settled. */
async function finish(deps: PipelineDeps, update: PendingUpdate, outcome: BaseUpdateRecord["outcome"], onto: string | null, detail: string | null): Promise<void> {
  const { worker } = update;
  const how = update.retarget ? "retarget" : "rebase";
  await recordMergeFlow(deps.store, worker.id, { update: { how, base: update.base, baseSha: onto, outcome, detail, at: new Date().toISOString() } });
  await deps.store.settleFeedback(worker.id, update.seqs);
  const at = onto ? ` (${onto.slice(0, 7)})` : "";
  appendWorkerLog(workerLogPath(deps.paths.logsDir, worker.id), `${LOG_MESSAGES[outcome]}: ${update.base}${at}${detail ? `: ${detail}` : ""}`);
  const log = workerLogger(deps.logger, { workerId: worker.id, taskId: worker.taskId });
  const fields = { pr: worker.prNumber, base: update.base, ...(onto ? { base_sha: onto.slice(0, 7) } : {}), how, outcome, ...(detail ? { detail } : {}) };
  if (outcome === "failed" || outcome === "refused" || outcome === "conflict") log.warn(fields, LOG_MESSAGES[outcome]);
  else log.info(fields, LOG_MESSAGES[outcome]);
}
