import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { InvalidInputError, NotFoundError, PwError } from "../core/errors.js";
import { branchForTask, newWorkerId, parseTaskId, worktreePathFor } from "../core/names.js";
import { unknownDependency } from "../core/spec.js";
import { isTerminal, type WorkerState } from "../core/states.js";
import { RETRY_RESET, type Worker } from "../core/worker.js";
import { addWorktree, removeWorktree } from "../git/worktrees.js";
import { canQueueAgain, queueAgain } from "../store/moves.js";
import { openRepoContext, type RepoContext } from "./context.js";
import { finishWorker, type PipelineDeps } from "./pipeline.js";
import { processOwner } from "./owners.js";
import { WarmPool } from "./pool.js";
import { preflight, requirePreflight } from "./preflight.js";
import { killGroup } from "./process.js";
import { abandonWorker, agentRunsHere } from "./requests.js";
import { cleanUpWorker } from "./runner.js";
import { appendWorkerLog, workerLogPath } from "./worklog.js";

export interface SpawnRequest {
  taskId: string;
  description: string;
  agent: string;
  /** Where the branch starts; the repository's default branch when not given. */
  baseBranch?: string;
  labels?: string[];
  milestone?: string | null;
  dependsOn?: string[];
  issueNumber?: number | null;
  /** Start stacked on its one unmerged dependency (`merge_flow.stack` when not given). */
  stack?: boolean;
}

export interface SpawnOptions {
  /** Project name for the worktree paths (default: the repository's name). */
  project?: string;
  /**
   * Record the workers only, for whichever runner serving the repository claims them first (a
   * store shared by many machines); that runner makes the worktree on its own machine.
   */
  queueOnly?: boolean;
  /** The runner that is to start the workers made here (their worktrees are on this machine). */
  runnerId?: string | null;
}

/** One thing wrong with a spawn request, and the exit code it deserves (2 bad input, 1 a clash). */
export interface SpawnProblem {
  message: string;
  exitCode: 1 | 2;
}

/** Spawn problems, every one listed; nothing was created. */
export class SpawnError extends PwError {
  constructor(readonly problems: SpawnProblem[]) {
    const first = problems[0]!;
    super(
      problems.length === 1 ? first.message : `${problems.length} problems, nothing was created`,
      { exitCode: problems.some((p) => p.exitCode === 2) ? 2 : 1 },
    );
  }
}

/** The workers of a checkout's repository: recorded from this checkout, or for its GitHub repository. */
export async function repositoryWorkers(store: PipelineDeps["store"], ctx: RepoContext): Promise<Worker[]> {
  return (await store.listWorkers()).filter((w) => w.repoPath === ctx.repo.root || (ctx.repository !== null && w.repo === ctx.repository));
}

/** Everything that would make a spawn fail half-way, found before anything is created. */
async function spawnProblems(
  deps: PipelineDeps,
  ctx: RepoContext,
  requests: SpawnRequest[],
  project: string,
  bases: Map<string, string | undefined>,
): Promise<SpawnProblem[]> {
  const problems: SpawnProblem[] = [];
  const existing = await repositoryWorkers(deps.store, ctx);
  const localBranches = await ctx.repo.localBranches();
  const seen = new Set<string>();
  const requested = new Set(requests.map((r) => r.taskId.toLowerCase()));
  for (const request of requests) {
    const taskId = request.taskId;
    try {
      parseTaskId(taskId);
    } catch (error) {
      problems.push({ message: (error as Error).message, exitCode: 2 });
      continue;
    }
    if (seen.has(taskId.toLowerCase())) {
      problems.push({ message: `task ${taskId} is listed twice`, exitCode: 2 });
      continue;
    }
    seen.add(taskId.toLowerCase());
    if (!ctx.config.agents[request.agent]) {
      problems.push({
        message: `unknown agent "${request.agent}" for ${taskId}: use one of ${Object.keys(ctx.config.agents).join(", ")}`,
        exitCode: 2,
      });
    }
    for (const dep of request.dependsOn ?? []) {
      const depKey = dep.toLowerCase();
      if (depKey === taskId.toLowerCase()) problems.push({ message: `task ${taskId} cannot depend on itself`, exitCode: 2 });
      else if (!requested.has(depKey) && !existing.some((w) => w.taskId?.toLowerCase() === depKey)) {
        problems.push({ message: `${taskId} depends on ${unknownDependency(dep, "spawned with it")}`, exitCode: 2 });
      }
    }
    // no base here means no default branch was found: the preflight has said why
    if (request.baseBranch) {
      if (!bases.has(request.baseBranch)) bases.set(request.baseBranch, await ctx.repo.resolveCommit(request.baseBranch));
      if (!bases.get(request.baseBranch)) {
        problems.push({ message: `base branch "${request.baseBranch}" does not exist in ${ctx.repo.root}`, exitCode: 1 });
      }
    }
    const active = existing.find((w) => w.taskId?.toLowerCase() === taskId.toLowerCase() && !isTerminal(w.state));
    if (active) {
      problems.push({ message: `task ${taskId} already has worker ${active.id} (${active.state})`, exitCode: 1 });
      continue;
    }
    const branch = branchForTask(taskId);
    const path = worktreePathFor(ctx.config.worktreesRoot, project, taskId);
    if (localBranches.has(branch)) {
      problems.push({
        message: `branch ${branch} already exists: remove it with \`pw worktree remove ${project} ${taskId}\` or \`git branch -D ${branch}\``,
        exitCode: 1,
      });
    } else if (existsSync(path)) {
      problems.push({ message: `worktree path ${path} already exists: move it aside`, exitCode: 1 });
    }
  }
  return problems;
}

/**
 * Records each task as a NEEDS_INIT worker and creates its worktree; the runner starts them.
 * Everything is checked first, the preflight included (credentials, GitHub, origin), so work
 * that could not be delivered is never started. The record is written before the worktree, so
 * a crash between the two leaves a worker whose worktree the runner makes, never a worktree
 * nobody knows.
 */
export async function spawnWorkers(
  deps: PipelineDeps,
  ctx: RepoContext,
  requests: SpawnRequest[],
  options: SpawnOptions = {},
): Promise<Worker[]> {
  const project = options.project ?? ctx.project;
  const queueOnly = options.queueOnly === true;
  const bases = new Map<string, string | undefined>();
  const checked = await preflight(deps, ctx);
  const problems: SpawnProblem[] = [...checked.problems];
  if (!checked.defaultBranch && checked.problems.length === 0 && requests.some((r) => !r.baseBranch)) {
    problems.push({
      message: `cannot tell the default branch of ${ctx.repository ?? ctx.repo.root} (origin's HEAD names none): pass --base-branch BRANCH, or base_branch in the spec`,
      exitCode: 2,
    });
  }
  requests = requests.map((r) => ({ ...r, baseBranch: r.baseBranch ?? checked.defaultBranch }));
  problems.push(...(await spawnProblems(deps, ctx, requests, project, bases)));
  if (queueOnly && !ctx.repository) {
    problems.push({
      message: `${ctx.repo.root} has no GitHub repository (origin): a worker for any runner is found by it; pass --here to make its worktree on this machine`,
      exitCode: 2,
    });
  }
  if (problems.length > 0) throw new SpawnError(problems);

  const created: Worker[] = [];
  try {
    for (const request of requests) {
      let id = newWorkerId();
      while (await deps.store.getWorker(id)) id = newWorkerId();
      created.push(
        await deps.store.createWorker(
          {
            id,
            taskId: request.taskId,
            description: request.description,
            agent: request.agent,
            repo: ctx.repository,
            project,
            // queued for any runner: the one that claims it makes the worktree on its own machine
            repoPath: queueOnly ? null : ctx.repo.root,
            branch: branchForTask(request.taskId),
            baseBranch: request.baseBranch,
            worktreePath: queueOnly ? null : worktreePathFor(ctx.config.worktreesRoot, project, request.taskId),
            runnerId: queueOnly ? null : (options.runnerId ?? null),
            labels: request.labels ?? [],
            milestone: request.milestone ?? null,
            dependsOn: request.dependsOn ?? [],
            issueNumber: request.issueNumber ?? null,
            // decided now, so a runner starting it later needs no configuration to know
            mergeFlow: { stack: request.stack ?? ctx.config.mergeFlow.stack },
          },
          { source: "cli", correlationId: deps.correlationId ?? null, detail: "spawned" },
        ),
      );
    }
    if (queueOnly) {
      for (const worker of created) appendWorkerLog(workerLogPath(deps.paths.logsDir, worker.id), `queued ${worker.taskId} (${worker.agent}) for any runner of ${worker.repo}`);
      return created;
    }
    // every record exists before any worktree: a crash from here on leaves nothing unrecorded
    const pool = ctx.config.pool.size > 0 ? new WarmPool(deps, ctx, processOwner("spawn")) : undefined;
    await inParallel(created, SPAWN_CONCURRENCY, async (worker) => {
      appendWorkerLog(workerLogPath(deps.paths.logsDir, worker.id), `spawned ${worker.taskId} (${worker.agent}) on ${worker.branch}`);
      const target = { path: worker.worktreePath!, branch: worker.branch!, base: worker.baseBranch!, baseCommit: bases.get(worker.baseBranch!)! };
      // a spare from the warm pool when there is one: a switch and a move instead of a checkout
      const taken = await pool?.take({ ...worker, worktreePath: target.path, branch: target.branch, baseBranch: target.base }, target.baseCommit).catch((error: Error) => {
        // the pool only saves time: without a spare, the worktree is made as usual
        deps.logger.warn({ worker_id: worker.id, err_message: error.message }, "no spare worktree taken");
        return undefined;
      });
      if (!taken) await addWorktree(ctx.repo, target);
    });
  } catch (error) {
    for (const worker of created.reverse()) {
      await removeWorktree(ctx.repo, { worktreesRoot: ctx.config.worktreesRoot, project, taskId: worker.taskId! }, true).catch(() => undefined);
      await deps.store.removeWorker(worker.id);
    }
    throw error;
  }
  return created;
}

/** How many worktrees a spawn creates at once. */
const SPAWN_CONCURRENCY = 5;

/** Runs `work` over `items`, at most `limit` at a time; the first failure is thrown once all have settled. */
async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure !== undefined) throw failure;
}

export interface TerminateResult {
  worker: Worker;
  killed: boolean;
  removedWorktree: string | undefined;
  keptWorktree: string | undefined;
  reason: string | undefined;
}

/**
 * Kills the worker's agent (its whole process group), moves it to ABANDONED and removes its
 * worktree, unless the worktree holds work that would be lost and `force` is not given.
 */
export async function terminateWorker(deps: PipelineDeps, id: string, force: boolean): Promise<TerminateResult> {
  const before = await deps.store.requireWorker(id);
  if (isTerminal(before.state)) throw new PwError(`worker ${id} is already ${before.state}`);
  const abandoned = await abandonWorker(deps, id, { source: "cli", detail: "terminated" });
  if (!abandoned) throw new PwError(`worker ${id} is already ${(await deps.store.requireWorker(id)).state}`);
  const worker = abandoned.worker;
  const killed = abandoned.agentPid !== null;
  if (killed) await killGroup(abandoned.agentPid!);
  appendWorkerLog(workerLogPath(deps.paths.logsDir, id), `terminated${killed ? " (agent killed)" : ""}`);
  let removedWorktree: string | undefined;
  let keptWorktree: string | undefined;
  let reason: string | undefined;
  if (worker.worktreePath && existsSync(worker.worktreePath)) {
    try {
      removedWorktree = await cleanUpWorker(deps, worker, force);
    } catch (error) {
      keptWorktree = worker.worktreePath;
      reason = (error as Error).message;
    }
  }
  return { worker: await deps.store.requireWorker(id), killed, removedWorktree, keptWorktree, reason };
}

/**
 * Queues a failed or abandoned worker again; the runner reruns it in its existing worktree. A
 * worker whose work could not be delivered now (see preflight) is left as it is.
 */
export async function retryWorker(deps: PipelineDeps, id: string): Promise<Worker> {
  const worker = await deps.store.requireWorker(id);
  if (!canQueueAgain(worker.state)) {
    const next =
      worker.state === "NEEDS_INIT"
        ? "; it is queued already: `pw loop` starts it"
        : worker.state === "WORKING"
          ? `; \`pw worker terminate ${id}\` stops it first`
          : "";
    throw new PwError(`worker ${id} is ${worker.state}: only UNKNOWN or ABANDONED workers can be retried${next}`);
  }
  if (worker.repoPath && existsSync(worker.repoPath)) {
    await requirePreflight(deps, await openRepoContext(worker.repoPath, deps.paths, deps.env));
  }
  appendWorkerLog(workerLogPath(deps.paths.logsDir, id), "queued again (retry)");
  return queueAgain(deps.store, worker, { source: "cli", correlationId: deps.correlationId ?? null, detail: "retry" });
}

/** What a worker started afresh anywhere forgets: the machine it was on (its runner, checkout and worktree). */
const ANYWHERE_RESET = { ...RETRY_RESET, runnerId: null, repoPath: null, worktreePath: null } as const;

/**
 * `pw worker retry ID --anywhere`: the worker is queued for whichever runner serving its
 * repository claims it first, which starts it afresh in a new worktree of its own (from the
 * worker's pushed branch when it has one). For a worker whose runner is gone: one that ended
 * (UNKNOWN, ABANDONED) always; one still WORKING or queued only when the runner holding it is
 * stale (no heartbeat for `staleAfterMs`), since a live runner may still be running its agent.
 */
export async function retryAnywhere(deps: PipelineDeps, id: string, staleAfterMs: number): Promise<Worker> {
  const worker = await deps.store.requireWorker(id);
  if (!worker.repo) {
    throw new PwError(`worker ${id} has no GitHub repository recorded, so no other runner can serve it: \`pw worker retry ${id}\` starts it where it was`);
  }
  const meta = { source: "cli" as const, correlationId: deps.correlationId ?? null };
  const log = workerLogPath(deps.paths.logsDir, id);
  if (canQueueAgain(worker.state)) {
    appendWorkerLog(log, "queued again for any runner (retry --anywhere)");
    return deps.store.transition(id, worker.state, "NEEDS_INIT", { ...meta, detail: "retry --anywhere", patch: ANYWHERE_RESET });
  }
  if (worker.state !== "WORKING" && worker.state !== "NEEDS_INIT") {
    throw new PwError(`worker ${id} is ${worker.state}: only UNKNOWN, ABANDONED, or a worker whose runner is stale can be started elsewhere`);
  }
  const holder = await heldBy(deps, worker, staleAfterMs);
  if (holder) throw new PwError(`worker ${id} is ${worker.state} and ${holder}: \`pw worker terminate ${id}\` stops it first`);
  const runner = worker.runnerId ?? worker.owner ?? "(none)";
  appendWorkerLog(log, `queued again for any runner (retry --anywhere): runner ${runner} is gone`);
  if (worker.state === "NEEDS_INIT") return deps.store.updateWorker(id, ANYWHERE_RESET);
  // the agent's run ended with its runner: that is said in its history before it is queued again
  const failed = await deps.store.transition(id, "WORKING", "UNKNOWN", { ...meta, detail: `runner ${runner} is stale: its agent's run is lost`, patch: { error: `runner ${runner} went away while the agent ran` } });
  return deps.store.transition(id, failed.state, "NEEDS_INIT", { ...meta, detail: "retry --anywhere", patch: ANYWHERE_RESET });
}

/** Why a live runner still holds the worker (its runner beats, or its claim holds), or undefined when none does. */
async function heldBy(deps: PipelineDeps, worker: Worker, staleAfterMs: number): Promise<string | undefined> {
  if (worker.runnerId) {
    const runner = (await deps.store.listRunners(staleAfterMs)).find((r) => r.id === worker.runnerId);
    if (runner && !runner.stale) return `its runner ${runner.id} is live (heartbeat ${Math.round(runner.heartbeatAgeMs / 1000)} s ago)`;
    return undefined;
  }
  // a worker of a runner from before runner ids: its claim says
  if (worker.owner && worker.leaseUntil && Date.parse(worker.leaseUntil) > Date.now()) return `claimed by ${worker.owner} until ${worker.leaseUntil}`;
  return undefined;
}

/**
 * Pushes and opens the PR for work done by hand in a worker's worktree (or finishes a worker
 * whose PR creation failed). Adopts an existing PR rather than opening a second one.
 */
export async function submitWorker(deps: PipelineDeps, id: string): Promise<Worker> {
  let worker = await deps.store.requireWorker(id);
  if (!worker.repoPath) throw new NotFoundError(`worker ${id} has no local checkout recorded`);
  if (worker.state === "PR_OPEN" || worker.state === "MERGED") {
    throw new PwError(`worker ${id} is already ${worker.state}${worker.prUrl ? ` (${worker.prUrl})` : ""}`);
  }
  if (worker.state === "WORKING" && agentRunsHere(worker)) {
    throw new PwError(`worker ${id} still has its agent running (pid ${worker.pid}): wait, or \`pw worker terminate ${id}\``);
  }
  // before anything moves: a push that cannot happen leaves the worker as it is
  const ctx = await openRepoContext(worker.repoPath, deps.paths, deps.env);
  await requirePreflight(deps, ctx);
  if (worker.state === "NEEDS_INIT") {
    if (worker.worktreePath && !existsSync(worker.worktreePath)) {
      throw new InvalidInputError(`worker ${id} has no worktree yet: there is nothing to submit`);
    }
    worker = await deps.store.transition(id, "NEEDS_INIT", "WORKING", {
      source: "cli",
      correlationId: deps.correlationId ?? null,
      detail: "submit: work done by hand",
      // held like a runner's claim (this host and process), so no runner takes it for an orphan meanwhile
      patch: { owner: `${hostname()}:${process.pid}:submit`, leaseUntil: new Date(Date.now() + 10 * 60_000).toISOString() },
    });
  }
  const finished = await finishWorker(deps, ctx, worker, "cli");
  if (!finished) throw new PwError((await deps.store.requireWorker(id)).error?.split("\n")[0] ?? `submit of ${id} failed`);
  return finished;
}

/** Removes the worktrees and local branches of every worker in `state`; returns what it removed and kept. */
export async function cleanUpWorkers(
  deps: PipelineDeps,
  state: WorkerState,
): Promise<{ removed: Array<{ worker: Worker; path: string }>; kept: Array<{ worker: Worker; reason: string }> }> {
  const removed: Array<{ worker: Worker; path: string }> = [];
  const kept: Array<{ worker: Worker; reason: string }> = [];
  for (const worker of await deps.store.listWorkers({ state })) {
    if (!worker.worktreePath) continue;
    try {
      const path = await cleanUpWorker(deps, worker, state === "MERGED");
      if (path) removed.push({ worker, path });
    } catch (error) {
      kept.push({ worker, reason: (error as Error).message });
    }
  }
  return { removed, kept };
}
