import { existsSync } from "node:fs";
import type { Paths } from "../config.js";
import { fillCommand, type Placeholder } from "../core/agents.js";
import { formatDuration } from "../core/duration.js";
import { PwError, TransitionConflictError } from "../core/errors.js";
import { leftoverCommitMessage, pullRequestBody, pullRequestTitle } from "../core/pr.js";
import type { WorkerState } from "../core/states.js";
import type { TransitionSource, Worker } from "../core/worker.js";
import { commitAll, commitsAhead, committedPaths, pushBranch } from "../git/commits.js";
import { GitConfigGuard } from "../git/config-guard.js";
import { isSetupDone, readSetupRecord } from "../git/worktree-state.js";
import { ensureWorktree } from "../git/worktrees.js";
import type { GitHubAccess } from "../github/access.js";
import { openPullRequest } from "../github/pulls.js";
import type { Logger } from "../log/logger.js";
import { markFailed } from "../store/moves.js";
import type { WorkerStore } from "../store/store.js";
import type { RepoContext } from "./context.js";
import { bringAlong, neverCommitted } from "./bring-along.js";
import { agentEnvironment } from "./env.js";
import type { PreflightCache } from "./preflight.js";
import { blockingReason, evaluateWorkerGates, formatGateResult } from "./gates.js";
import { workerPort } from "./ports.js";
import { findProgram, killGroup, startProcess } from "./process.js";
import { describeExit, runSetup } from "./setup.js";
import { appendWorkerLog, lastLines, workerLogPath } from "./worklog.js";

/** What the pipeline needs from the outside world; the runner and the CLI each provide one. */
export interface PipelineDeps {
  store: WorkerStore;
  paths: Paths;
  logger: Logger;
  /** The environment agents' allowlisted variables are taken from. */
  env: NodeJS.ProcessEnv;
  github: GitHubAccess;
  /** What the preflight found per checkout, shared by spawn and the runner of one process. */
  preflights: PreflightCache;
  correlationId?: string;
  /** Told about every finished agent run, for metrics. */
  onAgentRun?: (agent: string, outcome: "success" | "failure" | "timeout", seconds: number) => void;
}

const TAIL_LINES = 8;

/** A step that failed for a reason a person should read; the worker goes to UNKNOWN with it. */
export class WorkerFailure extends PwError {}

/** A worker with everything the pipeline needs recorded. */
type ReadyWorker = Worker & { taskId: string; worktreePath: string; branch: string; baseBranch: string };

function fieldsOf(worker: Worker): ReadyWorker {
  if (!worker.taskId || !worker.worktreePath || !worker.branch || !worker.baseBranch) {
    throw new WorkerFailure(`worker ${worker.id} has no task, branch or worktree recorded`);
  }
  return worker as ReadyWorker;
}

/**
 * Moves a worker to UNKNOWN with `message`, unless someone else has moved it meanwhile. `seen`:
 * the worker as the caller judged it; it fails only from that state (moved on since: left be).
 */
export async function failWorker(deps: PipelineDeps, workerId: string, message: string, source: TransitionSource = "runner", seen?: Worker): Promise<void> {
  const current = seen ?? (await deps.store.getWorker(workerId));
  if (!current) return;
  appendWorkerLog(workerLogPath(deps.paths.logsDir, workerId), `failed: ${message}`);
  // terminated, merged or otherwise moved while we worked: their word stands
  await markFailed(deps.store, current, message, { source, correlationId: deps.correlationId ?? null });
}

/** The worktree, what it brings from the main checkout, and the setup commands: everything before the agent. */
export async function prepare(deps: PipelineDeps, ctx: RepoContext, worker: Worker, port: number): Promise<void> {
  const w = fieldsOf(worker);
  const log = workerLogPath(deps.paths.logsDir, worker.id);
  const { created } = await ensureWorktree(ctx.repo, { path: w.worktreePath, branch: w.branch, base: w.baseBranch, pushed: worker.prNumber !== null });
  if (created) appendWorkerLog(log, `worktree ${w.worktreePath} on ${w.branch} from ${w.baseBranch}`);
  const brought = await bringAlong(ctx.repo, ctx.config, w.worktreePath);
  for (const file of brought.copied) appendWorkerLog(log, `copied ${file} from the main checkout`);
  for (const path of brought.linked) appendWorkerLog(log, `linked ${path} to the main checkout's`);
  for (const path of brought.notLinked) {
    appendWorkerLog(log, `not linked ${path}: git does not ignore a symlink there (write \`${path}\` in .gitignore, without a trailing slash)`);
  }
  // once per worktree, whoever made it (the spawn, the pool, or the runner just now)
  if (isSetupDone(w.worktreePath)) return;
  await runSetup({ repo: ctx.repo, config: ctx.config, path: w.worktreePath, port, parent: deps.env, logFile: log });
}

/** False only for a bare program name that PATH does not have; a path is judged when it is run. */
function onPath(program: string, env: Record<string, string>): boolean {
  return program.includes("/") || findProgram(program, env.PATH, "/") !== undefined;
}

export function withTail(message: string, logFile: string): string {
  const tail = lastLines(logFile, TAIL_LINES);
  return tail.length ? `${message}\n${tail.join("\n")}` : message;
}

/**
 * Runs a claimed NEEDS_INIT worker to its end: prepare the worktree, run the agent
 * (NEEDS_INIT -> WORKING as it starts), then commit, check, push and open the PR (-> PR_OPEN).
 * Every failure lands the worker in UNKNOWN with the reason; nothing is pushed after a failure.
 */
export async function runWorker(deps: PipelineDeps, ctx: RepoContext, claimed: Worker): Promise<void> {
  const log = workerLogPath(deps.paths.logsDir, claimed.id);
  const agent = claimed.agent ? ctx.config.agents[claimed.agent] : undefined;
  if (!agent) {
    await failWorker(deps, claimed.id, `unknown agent "${claimed.agent}": define it under agents in .parallel-workers.yml`);
    return;
  }
  let w: ReadyWorker;
  try {
    w = fieldsOf(claimed);
  } catch (error) {
    await failWorker(deps, claimed.id, (error as Error).message);
    return;
  }
  let port: number;
  try {
    port = await workerPort(deps.store, ctx.config, w, readSetupRecord(w.worktreePath)?.port ?? undefined);
  } catch (error) {
    if (!(error instanceof PwError)) throw error;
    await failWorker(deps, w.id, error.message);
    return;
  }
  const values: Record<Placeholder, string> = {
    prompt: "",
    task_id: w.taskId,
    worker_id: w.id,
    description: w.description ?? "",
    worktree: w.worktreePath,
    port: String(port),
  };
  values.prompt = fillCommand([agent.prompt], values)[0]!;
  const argv = fillCommand(agent.command, values);
  const { env, dropped } = agentEnvironment({
    parent: deps.env,
    passthrough: ctx.config.passthrough,
    agentEnv: agent.env,
    worker: { workerId: w.id, taskId: w.taskId, description: values.description, prompt: values.prompt, port },
  });
  if (dropped.length > 0) {
    appendWorkerLog(log, `not passed to the agent (names that look secret): ${dropped.join(", ")}`);
  }
  // programs looked up on PATH are there or not before setup runs (maybe for many minutes);
  // a path inside the worktree may be made by setup, and is looked for when it is run
  const missingSetup = w.worktreePath && !existsSync(w.worktreePath) ? ctx.config.setup.find((c) => !onPath(c[0]!, env)) : undefined;
  if (missingSetup) {
    await failWorker(deps, w.id, `setup failed: setup command "${missingSetup[0]}" not found; fix setup in .parallel-workers.yml`);
    return;
  }
  if (!onPath(argv[0]!, env)) {
    await failWorker(deps, w.id, `agent "${agent.name}": command "${argv[0]}" not found; set agents.${agent.name}.command in .parallel-workers.yml`);
    return;
  }

  try {
    await prepare(deps, ctx, w, port);
    // what the git configuration says before this process lets any agent near it
    ctx.configGuard ??= GitConfigGuard.take(ctx.repo);
    await ctx.configGuard;
  } catch (error) {
    await failWorker(deps, w.id, `setup failed: ${(error as Error).message}`);
    return;
  }
  if (!findProgram(argv[0]!, env.PATH, w.worktreePath)) {
    await failWorker(
      deps,
      w.id,
      `agent "${agent.name}": command "${argv[0]}" not found; set agents.${agent.name}.command in .parallel-workers.yml`,
    );
    return;
  }

  appendWorkerLog(log, `agent ${agent.name} starts: ${JSON.stringify(argv[0])} with ${argv.length - 1} argument(s)`);
  const started = startProcess({ argv, cwd: w.worktreePath, env, logFile: log, timeoutMs: agent.timeoutMs });
  try {
    await deps.store.transition(w.id, "NEEDS_INIT", "WORKING", {
      source: "runner",
      correlationId: deps.correlationId ?? null,
      detail: `agent ${agent.name} started (pid ${started.pid})`,
      patch: { pid: started.pid },
    });
  } catch (error) {
    // terminated before its agent could start: stop the agent we just started
    await killGroup(started.pid, 500);
    if (error instanceof TransitionConflictError) return;
    throw error;
  }

  const outcome = await started.done;
  const seconds = outcome.durationMs / 1000;
  const result = outcome.timedOut ? "timeout" : outcome.exitCode === 0 ? "success" : "failure";
  deps.onAgentRun?.(agent.name, result, seconds);
  appendWorkerLog(log, `agent ${agent.name} ${describeExit(outcome)} after ${formatDuration(outcome.durationMs)}`);

  const current = await deps.store.getWorker(w.id);
  if (!current || current.state !== "WORKING") return; // terminated (or moved by a webhook) while it ran
  await deps.store.updateWorker(w.id, { pid: null });
  if (outcome.timedOut) {
    await failWorker(deps, w.id, withTail(`agent "${agent.name}" timed out after ${formatDuration(agent.timeoutMs)}`, log));
    return;
  }
  if (outcome.exitCode !== 0) {
    await failWorker(deps, w.id, withTail(`agent "${agent.name}" ${describeExit(outcome)}`, log));
    return;
  }
  await finishWorker(deps, ctx, { ...current, pid: null }, "runner");
}

/**
 * From finished work to an open PR: commit what is uncommitted, refuse an empty result, run the
 * pre-push gates, push, open (or adopt) the PR with labels and milestone, and move to PR_OPEN.
 * Also what `pw worker submit` runs for work done by hand.
 */
export async function finishWorker(deps: PipelineDeps, ctx: RepoContext, worker: Worker, source: TransitionSource): Promise<Worker | undefined> {
  const log = workerLogPath(deps.paths.logsDir, worker.id);
  try {
    const w = fieldsOf(worker);
    if (!existsSync(w.worktreePath)) throw new WorkerFailure(`worktree ${w.worktreePath} is gone`);
    if (!ctx.repository) {
      throw new WorkerFailure("cannot tell the GitHub repository: set github.repository in .parallel-workers.yml");
    }
    const brought = neverCommitted(ctx.config, w.worktreePath);
    const committed = await commitAll(ctx.repo, w.worktreePath, leftoverCommitMessage(w.taskId, w.description ?? ""), brought);
    if (committed) appendWorkerLog(log, "committed what the agent left uncommitted");
    const smuggled = await committedPaths(ctx.repo, w.worktreePath, w.baseBranch, brought);
    if (smuggled.length > 0) {
      throw new WorkerFailure(
        `the branch commits ${smuggled.join(", ")}, brought from the main checkout (copy, .worktreeinclude or links), which is never pushed: ` +
          `take it out of the branch's commits in ${w.worktreePath}, then \`pw worker submit ${w.id}\``,
      );
    }
    if ((await commitsAhead(ctx.repo, w.worktreePath, w.baseBranch)) === 0) {
      throw new WorkerFailure("agent made no changes");
    }
    // the same gates as the PR's check runs, before anything leaves the machine
    const results = await evaluateWorkerGates(ctx.repo, w);
    for (const result of results) appendWorkerLog(log, formatGateResult(result));
    const blocked = blockingReason(results);
    if (blocked) throw new WorkerFailure(blocked);
    await refuseChangedGitConfig(deps, ctx, w.id);
    try {
      // from the main checkout: the worktree's own git files are the agent's to change
      await pushBranch(ctx.repo, ctx.repo.root, w.branch);
    } catch (error) {
      throw new WorkerFailure(`push of ${w.branch} to origin failed: ${(error as Error).message}`);
    }
    appendWorkerLog(log, `pushed ${w.branch} to origin`);
    let opened;
    try {
      const client = await deps.github(ctx.repository);
      opened = await openPullRequest(client, {
        repository: ctx.repository,
        branch: w.branch,
        base: w.baseBranch,
        title: pullRequestTitle(w.taskId, w.description ?? w.taskId),
        body: pullRequestBody({
          workerId: w.id,
          taskId: w.taskId,
          description: w.description ?? w.taskId,
          agent: w.agent,
          issueNumber: w.issueNumber,
          stackedOn: w.mergeFlow.stackedOn ?? null,
        }),
        draft: ctx.config.draft,
        labels: [...new Set([...ctx.config.labels, ...w.labels])],
        milestone: w.milestone ?? ctx.config.milestone,
      });
    } catch (error) {
      throw new WorkerFailure(
        `pushed ${w.branch}, but opening the pull request failed: ${(error as Error).message.split("\n")[0]}; finish with \`pw worker submit ${w.id}\``,
      );
    }
    const pr = opened.pullRequest;
    appendWorkerLog(log, `${opened.created ? "opened" : "found"} pull request #${pr.number} ${pr.url}`);
    return await movedToPrOpen(deps, w.id, pr.number, pr.url, source);
  } catch (error) {
    if (!(error instanceof PwError)) throw error;
    await failWorker(deps, worker.id, error.message, source);
    return undefined;
  }
}

/**
 * Before a push: git configuration an agent could have changed (a program to run, a place to
 * connect) is put back, and the push refused with a WorkerFailure saying what changed.
 */
export async function refuseChangedGitConfig(deps: PipelineDeps, ctx: RepoContext, workerId: string): Promise<void> {
  if (!ctx.configGuard) return;
  const rejected = await (await ctx.configGuard).restoreIfChanged(workerId);
  if (rejected.length === 0) return;
  deps.logger.error(
    { worker_id: workerId, files: rejected.map((r) => r.path), kept_as: rejected.map((r) => r.keptAs) },
    "git configuration changed while agents ran: put back, nothing pushed",
  );
  throw new WorkerFailure(
    `git configuration changed while agents ran (${rejected.map((r) => r.path).join(", ")}: a program to run or a place to connect), ` +
      `so nothing was pushed; it is put back as it was` +
      rejected.map((r) => (r.keptAs ? `, the changed file kept as ${r.keptAs}` : "")).join("") +
      `. Look at what changed, then \`pw worker retry ${workerId}\``,
  );
}

/** Records the PR and moves to PR_OPEN; if a webhook got there first, only the PR is recorded. */
async function movedToPrOpen(deps: PipelineDeps, id: string, prNumber: number, prUrl: string, source: TransitionSource): Promise<Worker> {
  const current = await deps.store.requireWorker(id);
  const patch = { prNumber, prUrl, error: null, pid: null };
  const settled: WorkerState[] = ["PR_OPEN", "MERGED"];
  if (settled.includes(current.state)) return deps.store.updateWorker(id, patch);
  try {
    const moved = await deps.store.transition(id, current.state, "PR_OPEN", {
      source,
      correlationId: deps.correlationId ?? null,
      detail: `PR #${prNumber}`,
      patch,
    });
    return moved;
  } catch (error) {
    const now = await deps.store.requireWorker(id);
    if (error instanceof TransitionConflictError && settled.includes(now.state)) return deps.store.updateWorker(id, patch);
    throw error;
  }
}
