/**
 * A rework round, run by the runner that holds the worker's worktree: `PR_OPEN -> WORKING ->
 * PR_OPEN` on the same branch and PR. The round brings the worktree to the PR's head (a person
 * may have pushed), runs the same agent there with the original task and the feedback,
 * commits what it left (`fix(<task>): address review, round N`), runs the gates, and pushes to
 * the same branch: never a force-push, never a second PR. Others' pushes during the round are
 * fetched and the round's commits put on top; a conflict stops at UNKNOWN with the worktree kept.
 * A round whose agent fails or changes nothing goes back to PR_OPEN (the PR is still good) with
 * what it left set aside. Every round ends with one PR comment saying what it was for and did.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fillCommand, type Placeholder } from "../core/agents.js";
import { formatDuration } from "../core/duration.js";
import { PwError, TransitionConflictError } from "../core/errors.js";
import type { FeedbackDetail } from "../core/feedback.js";
import {
  conflictPrompt,
  describeFeedback,
  requestFeedback,
  reworkCommitMessage,
  roundComment,
  roundCommentMarker,
  roundPrompt,
  type RoundOutcome,
} from "../core/rework.js";
import type { Worker } from "../core/worker.js";
import { commitAll, pushBranch } from "../git/commits.js";
import { GitConfigGuard } from "../git/config-guard.js";
import {
  commitsBetween,
  continueRebase,
  fetchBranch,
  hasConflictMarkers,
  pushWithLeases,
  startRebase,
  filesBetween,
  headOf,
  isAncestor,
  isDirty,
  rebaseOnto,
  RebaseConflict,
  resetTo,
  setAside,
  trackingRef,
} from "../git/sync.js";
import { ensureComment } from "../github/comments.js";
import { workerLogger, type Logger } from "../log/logger.js";
import { recordMergeFlow } from "../store/merge-flow.js";
import type { StartedRound } from "../store/store.js";
import type { RepoContext } from "./context.js";
import { agentEnvironment } from "./env.js";
import { blockingReason, evaluateWorkerGates, formatGateResult } from "./gates.js";
import { readSetupRecord } from "../git/worktree-state.js";
import { neverCommitted } from "./bring-along.js";
import { failWorker, prepare, refuseChangedGitConfig, withTail, WorkerFailure, type PipelineDeps } from "./pipeline.js";
import { workerPort } from "./ports.js";
import { describeExit } from "./setup.js";
import { findProgram, killGroup, startProcess } from "./process.js";
import { appendWorkerLog, workerLogPath } from "./worklog.js";

/** How often a round tries to push on top of what others pushed meanwhile before it gives up. */
const PUSH_ATTEMPTS = 3;

/** A worker with what a round needs recorded. */
type RoundWorker = Worker & { taskId: string; worktreePath: string; branch: string; baseBranch: string; prNumber: number };

/** Where what a round must not push is kept: outside refs/heads, so no branch list shows it. */
export function keptRef(workerId: string, round: number, when: "before" | "after" = "after"): string {
  return `refs/pw/rework/${workerId}/${when === "before" ? "before-" : ""}round-${round}`;
}

/** Something the round could not do that leaves the PR as it was: back to PR_OPEN, said on the PR. */
class RoundFailure extends PwError {}

interface RoundContext {
  deps: PipelineDeps;
  ctx: RepoContext;
  started: StartedRound;
  worker: RoundWorker;
  log: string;
  wlog: Logger;
  /** Why the round runs, in a line. */
  why: string;
  /** The worker's own port block (PW_PORT), kept from its first round. */
  port: number;
}

function fieldsOf(worker: Worker): RoundWorker {
  if (!worker.taskId || !worker.worktreePath || !worker.branch || !worker.baseBranch || worker.prNumber === null) {
    throw new RoundFailure(`worker ${worker.id} has no task, branch, worktree or pull request recorded`);
  }
  return worker as RoundWorker;
}

/** True while the round still owns the worker: a merge, a close or a terminate moved it elsewhere. */
async function stillRunning(deps: PipelineDeps, workerId: string): Promise<boolean> {
  return (await deps.store.getWorker(workerId))?.state === "WORKING";
}

/**
 * The worktree made the PR as origin has it now (a person may have pushed): present (made again
 * from origin's branch when it is gone), at the PR's head. Anything of its own that the PR does
 * not have (changes or commits an interrupted round left) is set aside under a ref, never pushed
 * and never lost. Returns the PR's head, where the round starts.
 */
async function bringUpToDate(round: RoundContext): Promise<string> {
  const { ctx, worker: w, started } = round;
  // the fetch goes on while the worktree is looked at (most rounds find it as the last one left it)
  const fetching = fetchBranch(ctx.repo, w.branch);
  fetching.catch(() => undefined);
  const fetched = async () => {
    const prHead = await fetching;
    if (!prHead) throw new RoundFailure(`branch ${w.branch} is gone from origin`);
    return prHead;
  };
  if (!existsSync(w.worktreePath) && !(await ctx.repo.branchExists(w.branch))) {
    await ctx.repo.run(["branch", "--no-track", w.branch, await fetched().then(() => trackingRef(w.branch))]);
    appendWorkerLog(round.log, `branch ${w.branch} made again from origin`);
  }
  await prepare(round.deps, ctx, w, round.port);
  const [prHead, head, dirty] = await Promise.all([fetched(), headOf(ctx.repo, w.worktreePath), isDirty(ctx.repo, w.worktreePath)]);
  // commits the PR does not have, and changes (files copied in from the checkout never count)
  let leftovers = head !== prHead && !(await isAncestor(ctx.repo, head, prHead));
  if (dirty) {
    const message = `wip(${w.taskId}): left in the worktree before rework round ${started.round}`;
    leftovers = (await commitAll(ctx.repo, w.worktreePath, message, neverCommitted(ctx.config, w.worktreePath))) || leftovers;
  }
  if (leftovers) {
    const ref = keptRef(w.id, started.round, "before");
    await setAside(ctx.repo, w.worktreePath, ref, prHead);
    appendWorkerLog(round.log, `what the worktree held that the pull request does not is kept as ${ref}`);
  } else if (head !== prHead) {
    await resetTo(ctx.repo, w.worktreePath, prHead);
    appendWorkerLog(round.log, `brought up to the pull request's head ${prHead.slice(0, 7)}`);
  }
  return prHead;
}

/** The round's agent: its command with the round's prompt, in a clean environment. */
function agentRun(
  round: RoundContext,
  promptFor?: (taskPrompt: string) => string,
): { argv: string[]; env: Record<string, string>; name: string; timeoutMs: number } {
  const { ctx, worker: w, started } = round;
  const agent = w.agent ? ctx.config.agents[w.agent] : undefined;
  if (!agent) throw new RoundFailure(`unknown agent "${w.agent}": define it under agents in .parallel-workers.yml`);
  const values: Record<Placeholder, string> = {
    prompt: "",
    task_id: w.taskId,
    worker_id: w.id,
    description: w.description ?? "",
    worktree: w.worktreePath,
    port: String(round.port),
  };
  const taskPrompt = fillCommand([agent.prompt], values)[0]!;
  values.prompt = promptFor
    ? promptFor(taskPrompt)
    : roundPrompt({ taskPrompt, round: started.round, prUrl: w.prUrl, branch: w.branch, feedback: started.feedback.map((f) => f.detail) });
  const argv = fillCommand(agent.command, values);
  const { env, dropped } = agentEnvironment({
    parent: round.deps.env,
    passthrough: ctx.config.passthrough,
    agentEnv: agent.env,
    worker: { workerId: w.id, taskId: w.taskId, description: values.description, prompt: values.prompt, port: round.port },
  });
  if (dropped.length > 0) appendWorkerLog(round.log, `not passed to the agent (names that look secret): ${dropped.join(", ")}`);
  return { argv, env, name: agent.name, timeoutMs: agent.timeoutMs };
}

/**
 * Pushes the round's commits to the PR's branch. When others pushed meanwhile (the push is
 * refused, origin's head has moved), their commits are fetched, the round's put on top, the
 * gates run again, and it pushes again. A conflict is a RebaseConflict.
 */
async function pushRound(round: RoundContext, prHead: string): Promise<string> {
  const { ctx, worker: w, deps } = round;
  let base = prHead;
  for (let attempt = 1; ; attempt++) {
    if (!(await stillRunning(deps, w.id))) throw new Stopped();
    try {
      // from the main checkout: the worktree's own git files are the agent's to change
      await pushBranch(ctx.repo, ctx.repo.root, w.branch);
      return base;
    } catch (error) {
      const remote = await fetchBranch(ctx.repo, w.branch).catch(() => undefined);
      if (!remote || remote === base || attempt >= PUSH_ATTEMPTS) {
        throw new WorkerFailure(`push of ${w.branch} to origin failed: ${(error as Error).message}; the round's commits are in ${w.worktreePath}: \`pw worker submit ${w.id}\` pushes them`);
      }
      appendWorkerLog(round.log, `${w.branch} moved on origin during the round (now ${remote.slice(0, 7)}): the round's commits go on top`);
      await rebaseOnto(ctx.repo, w.worktreePath, remote);
      await checkGates(round);
      base = remote;
    }
  }
}

/** The same gates as the PR's check runs, before anything leaves the machine. */
async function checkGates(round: RoundContext): Promise<void> {
  const results = await evaluateWorkerGates(round.ctx.repo, round.worker);
  for (const result of results) appendWorkerLog(round.log, formatGateResult(result));
  const blocked = blockingReason(results);
  if (blocked) throw new RoundFailure(blocked);
}

/** The worker left WORKING during the round (merged, closed, terminated): nothing more is done. */
class Stopped extends Error {}

/**
 * Runs a started round to its end. The worker is WORKING, claimed by this runner, and
 * `started.feedback` is what the round answers.
 */
export async function runReworkRound(deps: PipelineDeps, ctx: RepoContext, started: StartedRound): Promise<void> {
  const log = workerLogPath(deps.paths.logsDir, started.worker.id);
  // the runner's logger carries its own correlation id: the worker's ids, not a second one
  const wlog = workerLogger(deps.logger, { workerId: started.worker.id, taskId: started.worker.taskId });
  const why = describeFeedback(started.feedback.map((f) => f.detail));
  appendWorkerLog(log, `rework round ${started.round} starts: ${why}`);
  let round: RoundContext | undefined;
  let start: string | undefined;
  try {
    const worker = fieldsOf(started.worker);
    const port = await workerPort(deps.store, ctx.config, worker, readSetupRecord(worker.worktreePath)?.port ?? undefined);
    round = { deps, ctx, started, worker, log, wlog, why, port };
    const agent = agentRun(round);
    if (!findProgram(agent.argv[0]!, agent.env.PATH, "/") && !agent.argv[0]!.includes("/")) {
      throw new RoundFailure(`agent "${agent.name}": command "${agent.argv[0]}" not found; set agents.${agent.name}.command in .parallel-workers.yml`);
    }
    let prHead: string;
    try {
      prHead = start = await bringUpToDate(round);
    } catch (error) {
      if (error instanceof RoundFailure || !(error instanceof PwError)) throw error;
      throw new RoundFailure(`the worktree could not be brought up to the pull request's head: ${error.message.split("\n")[0]}`);
    }
    ctx.configGuard ??= GitConfigGuard.take(ctx.repo);
    await ctx.configGuard;
    if (!(await stillRunning(deps, round.worker.id))) throw new Stopped();
    // a rebase onto the base that conflicted: the agent resolves it, stop by stop
    const conflict = started.feedback.map((f) => f.detail).findLast((d): d is ConflictDetail => d.cause === "conflict");
    if (conflict) {
      await runConflictRound(round, prHead, conflict);
      return;
    }

    appendWorkerLog(log, `agent ${agent.name} starts: ${JSON.stringify(agent.argv[0])} with ${agent.argv.length - 1} argument(s)`);
    const agentProcess = startProcess({ argv: agent.argv, cwd: round.worker.worktreePath, env: agent.env, logFile: log, timeoutMs: agent.timeoutMs });
    await deps.store.updateWorker(round.worker.id, { pid: agentProcess.pid });
    if (!(await stillRunning(deps, round.worker.id))) {
      await killGroup(agentProcess.pid, 500);
      throw new Stopped();
    }
    const outcome = await agentProcess.done;
    const result = outcome.timedOut ? "timeout" : outcome.exitCode === 0 ? "success" : "failure";
    deps.onAgentRun?.(agent.name, result, outcome.durationMs / 1000);
    appendWorkerLog(log, `agent ${agent.name} ${describeExit(outcome)} after ${formatDuration(outcome.durationMs)}`);
    if (!(await stillRunning(deps, round.worker.id))) throw new Stopped();
    await deps.store.updateWorker(round.worker.id, { pid: null });
    if (result !== "success") {
      const what = outcome.timedOut ? `timed out after ${formatDuration(agent.timeoutMs)}` : describeExit(outcome);
      throw new RoundFailure(withTail(`agent "${agent.name}" ${what}`, log));
    }

    if (await commitAll(ctx.repo, round.worker.worktreePath, reworkCommitMessage(round.worker.taskId, started.round), neverCommitted(ctx.config, round.worker.worktreePath))) {
      appendWorkerLog(log, "committed what the agent left uncommitted");
    }
    if ((await headOf(ctx.repo, round.worker.worktreePath)) === start) {
      await endRound(round, start, { kind: "unchanged" });
      return;
    }
    await checkGates(round);
    await refuseChangedGitConfig(deps, ctx, round.worker.id);
    const base = await pushRound(round, prHead);
    const commits = await commitsBetween(ctx.repo, round.worker.worktreePath, base);
    const files = await filesBetween(ctx.repo, round.worker.worktreePath, base);
    appendWorkerLog(log, `pushed ${commits.length} commit(s) to ${round.worker.branch}`);
    await endRound(round, start, { kind: "pushed", commits, files });
  } catch (error) {
    if (error instanceof Stopped) {
      const now = (await deps.store.getWorker(started.worker.id))?.state ?? "gone";
      appendWorkerLog(log, `rework round ${started.round} stopped: the worker is ${now}; nothing was pushed`);
      wlog.info({ round: started.round, cause: started.cause, state: now }, "rework round stopped: nothing pushed");
      return;
    }
    if (error instanceof UnresolvedConflict) {
      await failWorker(
        deps,
        started.worker.id,
        `rework round ${started.round} could not resolve the rebase onto its base: ${error.message}; ` +
          `the worktree ${started.worker.worktreePath} keeps the rebase under way: resolve there, \`git rebase --continue\`, then push with --force-with-lease`,
      );
      wlog.warn({ round: started.round, cause: started.cause, outcome: "conflict" }, "rework round could not resolve a rebase conflict");
      return;
    }
    if (error instanceof RebaseConflict) {
      const branch = started.worker.branch;
      await failWorker(
        deps,
        started.worker.id,
        `the round's commits conflict with what was pushed to ${branch} during the round: ${error.message}; ` +
          `the worktree ${started.worker.worktreePath} keeps them: \`git rebase origin/${branch}\` there, resolve, then \`pw worker submit ${started.worker.id}\``,
      );
      wlog.warn({ round: started.round, cause: started.cause, outcome: "conflict" }, "rework round ended in a conflict");
      return;
    }
    if (error instanceof RoundFailure && round) {
      await endRound(round, start, { kind: "failed", reason: error.message, keptAs: null });
      return;
    }
    if (error instanceof PwError) {
      await failWorker(deps, started.worker.id, error.message);
      wlog.warn({ round: started.round, cause: started.cause, outcome: "failed" }, "rework round failed");
      return;
    }
    throw error;
  }
}

type ConflictDetail = Extract<FeedbackDetail, { cause: "conflict" }>;

/** How many stops of one rebase a round's agent is run for before it is left to a person. */
const MAX_REBASE_STOPS = 10;

/** The rebase still conflicts after the agent's turn (or the agent failed): UNKNOWN, the files named, the worktree kept mid-rebase. */
class UnresolvedConflict extends PwError {}

/**
 * A round for a rebase onto the base branch that conflicted: the rebase is made again (onto the
 * base as origin has it now), and at each stop the agent is run with the files in conflict and
 * the base's commits that changed them; what it resolved is staged and the rebase goes on. Done,
 * the gates run and the branch is pushed with `--force-with-lease` against the PR's head. A stop
 * the agent leaves with conflict markers, or an agent that fails, ends at UNKNOWN naming the
 * files, the worktree kept as it is, mid-rebase, for a person.
 */
async function runConflictRound(round: RoundContext, prHead: string, conflict: ConflictDetail): Promise<void> {
  const { ctx, deps, worker: w, started, log } = round;
  const onto = (await fetchBranch(ctx.repo, conflict.base)) ?? conflict.onto;
  const upstream = conflict.upstream && (await isAncestor(ctx.repo, conflict.upstream, prHead)) ? conflict.upstream : undefined;
  const since = upstream ?? (await ctx.repo.tryRun(["merge-base", prHead, onto]))?.trim();
  appendWorkerLog(log, `rebasing ${w.branch} onto ${conflict.base} (${onto.slice(0, 7)}) again`);
  let outcome = await startRebase(ctx.repo, w.worktreePath, onto, upstream);
  for (let stop = 1; outcome.kind === "stopped"; stop++) {
    const files = outcome.stop.files;
    const named = files.map((f) => f.path).join(", ") || "some files";
    if (stop > MAX_REBASE_STOPS) throw new UnresolvedConflict(`the rebase stopped ${MAX_REBASE_STOPS} times; still in conflict: ${named}`);
    const prompt = (taskPrompt: string) =>
      conflictPrompt({ taskPrompt, round: started.round, prUrl: w.prUrl, branch: w.branch, stop: { base: conflict.base, onto, commit: outcome.kind === "stopped" ? outcome.stop.commit : null, files } });
    appendWorkerLog(log, `the rebase stops on conflicts in ${named}: the agent resolves them`);
    const result = await runRoundAgent(round, agentRun(round, prompt));
    if (result !== "success") throw new UnresolvedConflict(`${result}; still in conflict: ${named}`);
    const left = files.filter((f) => {
      const path = join(w.worktreePath, f.path);
      return existsSync(path) && hasConflictMarkers(readFileSync(path, "utf8"));
    });
    if (left.length > 0) throw new UnresolvedConflict(`the agent left conflict markers in ${left.map((f) => f.path).join(", ")}`);
    outcome = await continueRebase(ctx.repo, w.worktreePath, onto, since, neverCommitted(ctx.config, w.worktreePath));
  }
  if (!(await stillRunning(deps, w.id))) throw new Stopped();
  await checkGates(round);
  await refuseChangedGitConfig(deps, ctx, w.id);
  const pushed = (await pushWithLeases(ctx.repo, ctx.repo.root, [{ branch: w.branch, expected: prHead }])).get(w.branch);
  if (!pushed?.ok) {
    throw new WorkerFailure(`push of the rebased ${w.branch} was refused (${pushed?.reason ?? "git said nothing"}): the pull request moved during the round; the rebased commits are in ${w.worktreePath}`);
  }
  const commits = await commitsBetween(ctx.repo, w.worktreePath, onto);
  const files = await filesBetween(ctx.repo, w.worktreePath, onto);
  await recordMergeFlow(deps.store, w.id, {
    update: { how: conflict.retarget ? "retarget" : "rebase", base: conflict.base, baseSha: onto, outcome: "updated", detail: `conflicts resolved in rework round ${started.round}`, at: new Date().toISOString() },
  });
  appendWorkerLog(log, `pushed ${w.branch} rebased onto ${conflict.base} (${onto.slice(0, 7)}) with --force-with-lease`);
  await endRound(round, prHead, { kind: "pushed", commits, files });
}

/** Runs a round's agent to its end in the worktree: its outcome, or what went wrong in a line. */
async function runRoundAgent(round: RoundContext, agent: ReturnType<typeof agentRun>): Promise<"success" | string> {
  const { deps, worker: w, log } = round;
  appendWorkerLog(log, `agent ${agent.name} starts: ${JSON.stringify(agent.argv[0])} with ${agent.argv.length - 1} argument(s)`);
  const agentProcess = startProcess({ argv: agent.argv, cwd: w.worktreePath, env: agent.env, logFile: log, timeoutMs: agent.timeoutMs });
  await deps.store.updateWorker(w.id, { pid: agentProcess.pid });
  if (!(await stillRunning(deps, w.id))) {
    await killGroup(agentProcess.pid, 500);
    throw new Stopped();
  }
  const outcome = await agentProcess.done;
  const result = outcome.timedOut ? "timeout" : outcome.exitCode === 0 ? "success" : "failure";
  deps.onAgentRun?.(agent.name, result, outcome.durationMs / 1000);
  appendWorkerLog(log, `agent ${agent.name} ${describeExit(outcome)} after ${formatDuration(outcome.durationMs)}`);
  if (!(await stillRunning(deps, w.id))) throw new Stopped();
  await deps.store.updateWorker(w.id, { pid: null });
  if (result === "success") return "success";
  return `agent "${agent.name}" ${outcome.timedOut ? `timed out after ${formatDuration(agent.timeoutMs)}` : describeExit(outcome)}`;
}

/**
 * The end of a round that left the worker's PR as it was, or moved it on: WORKING -> PR_OPEN
 * with what happened, what a failed agent left kept under a ref, one PR comment, one log line.
 */
async function endRound(round: RoundContext, start: string | undefined, outcome: RoundOutcome): Promise<void> {
  const { deps, ctx, worker: w, started } = round;
  if (outcome.kind === "failed" && start !== undefined && existsSync(w.worktreePath)) {
    outcome = { ...outcome, keptAs: await keepLeftovers(round, start).catch(() => null) };
  }
  const detail =
    outcome.kind === "pushed"
      ? `rework round ${started.round} pushed ${outcome.commits.length} commit(s), ${outcome.files.length} file(s)`
      : outcome.kind === "unchanged"
        ? `rework round ${started.round}: the agent changed nothing`
        : `rework round ${started.round} failed: ${outcome.reason.split("\n")[0]}`;
  try {
    await deps.store.transition(w.id, "WORKING", "PR_OPEN", { source: "runner", correlationId: deps.correlationId ?? null, detail, patch: { pid: null } });
  } catch (error) {
    // merged, closed or terminated meanwhile: their word stands, and the PR hears nothing more
    if (!(error instanceof TransitionConflictError)) throw error;
    appendWorkerLog(round.log, `rework round ${started.round} ended after the worker moved on: ${detail}`);
    return;
  }
  appendWorkerLog(round.log, detail);
  round.wlog.info(
    {
      round: started.round,
      cause: started.cause,
      automatic: started.automatic,
      outcome: outcome.kind,
      ...(outcome.kind === "pushed" ? { commits: outcome.commits.length, files: outcome.files.length } : {}),
      pr: w.prNumber,
    },
    `rework round ${outcome.kind === "pushed" ? "pushed" : outcome.kind === "unchanged" ? "changed nothing" : "failed"}`,
  );
  if (!ctx.repository) return;
  const body = roundComment({ workerId: w.id, round: started.round, branch: w.branch, why: round.why, outcome });
  try {
    await ensureComment(await deps.github(ctx.repository), ctx.repository, w.prNumber, body, roundCommentMarker(w.id, started.round));
  } catch (error) {
    round.wlog.warn({ round: started.round, pr: w.prNumber, err_message: (error as Error).message.split("\n")[0] }, "rework round comment not posted");
  }
}

/** What a failed round left (commits, changes) kept under a ref, and the branch put back where the round started. */
async function keepLeftovers(round: RoundContext, start: string): Promise<string | null> {
  const { ctx, worker: w, started } = round;
  const committed = await commitAll(ctx.repo, w.worktreePath, `wip(${w.taskId}): left by rework round ${started.round}`, neverCommitted(ctx.config, w.worktreePath));
  if (!committed && (await headOf(ctx.repo, w.worktreePath)) === start) return null;
  const ref = keptRef(w.id, started.round);
  await setAside(ctx.repo, w.worktreePath, ref, start);
  appendWorkerLog(round.log, `what the agent left is kept as ${ref}; the branch is back at ${start.slice(0, 7)}`);
  return ref;
}

/**
 * A round its runner could not finish (stopped with Ctrl-C twice, or gone): the PR is as it was,
 * so the worker goes back to PR_OPEN rather than UNKNOWN; what the agent left is set aside when
 * the next round starts. False when the worker is not in a round (the caller fails it instead).
 */
export async function endInterruptedRound(deps: PipelineDeps, worker: Worker, reason: string): Promise<boolean> {
  const last = (await deps.store.history(worker.id)).at(-1);
  if (worker.state !== "WORKING" || last?.from !== "PR_OPEN" || last.to !== "WORKING") return false;
  const detail = `rework round ${worker.reworkRounds} interrupted: ${reason}`;
  try {
    await deps.store.transition(worker.id, "WORKING", "PR_OPEN", { source: "runner", correlationId: deps.correlationId ?? null, detail, patch: { pid: null } });
  } catch (error) {
    if (!(error instanceof TransitionConflictError)) throw error;
  }
  appendWorkerLog(workerLogPath(deps.paths.logsDir, worker.id), detail);
  return true;
}

/**
 * `pw worker rework ID [--message TEXT]`: a round asked for from the command line, started at
 * once by the runner that holds the worktree (with any feedback waiting), past `max_rounds` and
 * `needs-human` too. While a round runs, it joins the next one. Only a worker with an open PR.
 */
export async function askForRound(
  deps: Pick<PipelineDeps, "store" | "correlationId">,
  id: string,
  message: string,
): Promise<{ worker: Worker; joinsNext: boolean }> {
  const worker = await deps.store.requireWorker(id);
  const inRound = worker.state === "WORKING" && (await deps.store.history(id)).some((t) => t.from === "PR_OPEN" && t.to === "WORKING");
  if (worker.state !== "PR_OPEN" && !inRound) {
    const hint =
      worker.state === "UNKNOWN" || worker.state === "ABANDONED"
        ? `; \`pw worker retry ${id}\` queues it again`
        : worker.state === "NEEDS_INIT" || worker.state === "WORKING"
          ? "; wait for its pull request"
          : "";
    throw new PwError(`worker ${id} is ${worker.state}: only a worker whose pull request is open can have a rework round${hint}`);
  }
  const key = `cli:${deps.correlationId ?? `${Date.now()}`}:${id}`;
  await deps.store.addFeedback({ workerId: id, key, scope: key, detail: requestFeedback("cli", message) });
  return { worker, joinsNext: worker.state === "WORKING" };
}
