import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { waitingFor } from "../core/dependencies.js";
import { startPlan } from "../core/merge-flow.js";
import { TransitionConflictError } from "../core/errors.js";
import { branchForTask, worktreePathFor } from "../core/names.js";
import { roundDecision } from "../core/rework.js";
import { isTerminal } from "../core/states.js";
import type { Worker } from "../core/worker.js";
import { Repository } from "../git/repo.js";
import { removeWorktree } from "../git/worktrees.js";
import type { RepoContext } from "./context.js";
import { failWorker, runWorker, type PipelineDeps } from "./pipeline.js";
import { PoolKeeper } from "./pool-keeper.js";
import { preflight, type PreflightReport } from "./preflight.js";
import { HOST, leaseExpired as leaseHasExpired, ownerIsDead } from "./owners.js";
import { isProcessAlive, killGroup } from "./process.js";
import { outageReports, patientStore } from "../store/retry.js";
import { carryOutRequests } from "./requests.js";
import { endInterruptedRound, runReworkRound } from "./rework.js";
import { localRunnerId } from "./runner-id.js";
import { pendingUpdates, updateBases } from "./base-updates.js";
import { stackOnParent } from "./stacking.js";
import { appendWorkerLog, workerLogPath } from "./worklog.js";

const DEFAULT_LEASE_MS = 30_000;
/** How long a pass waits for preflights before it starts the workers of the repositories already checked. */
const PREFLIGHT_WAIT_MS = 1000;

export interface RunnerOptions {
  deps: PipelineDeps;
  /** The local checkouts this runner serves. */
  repos: RepoContext[];
  /** Only workers of this project. */
  project?: string;
  leaseMs?: number;
  /** Keeps each repository's warm pool filled in the background, and takes merged workers' worktrees back into it (`pw loop`, `pw serve`). */
  keepPool?: boolean;
  /**
   * This runner's id (`pw runners`): the worktrees it makes are its, and only it starts, reworks
   * and cleans up their workers. Default: PW_RUNNER_ID, else this machine's (see `localRunnerId`).
   */
  runnerId?: string;
  /** What it registers as its settings (`RunnerRegistration.settings`): how it serves each repository, for an app elsewhere. */
  settings?: Record<string, unknown>;
}

/** What the runner waits on between passes: the poll interval, or less when the store says work came (LISTEN/NOTIFY). */
export type PassWait = (pollMs: number, signal?: AbortSignal) => Promise<unknown>;

/** `host:pid:random`: unique per process, and tells another runner on this host whether it lives. */
function newRunnerId(): string {
  return `${HOST}:${process.pid}:${randomBytes(3).toString("hex")}`;
}

/** For a worker no runner holds yet: whether its worktree (if any) is on this host, the process that last ran it having run here. */
function worktreeIsHere(worker: Worker): boolean {
  return !worker.owner || worker.owner.split(":")[0] === HOST;
}

function leaseExpired(worker: Worker, now: number): boolean {
  return leaseHasExpired(worker.leaseUntil, now);
}

/**
 * The scheduler: claims NEEDS_INIT workers of its repositories atomically, runs at most
 * `max_workers` agents per repository, starts a worker only when its dependencies are MERGED,
 * cleans up MERGED workers, and marks workers whose runner died as UNKNOWN. It polls the local
 * store only; GitHub tells the app, which tells the store.
 */
export class Runner {
  /** The claims of this process (`host:pid:random`): another process on this host can tell whether it lives. */
  readonly id = newRunnerId();
  /** The runner, as `pw runners` lists it and as workers record the holder of their worktree. */
  readonly runnerId: string;
  private readonly running = new Map<string, Promise<void>>();
  private readonly runningPerRepo = new Map<string, number>();
  private readonly leaseMs: number;
  private stopping = false;
  /** Whether this runner announced itself to the store (`registerRunner`) since it started. */
  private registered = false;
  /** Per checkout: the last preflight that failed, and why (said once per reason). */
  private readonly heldBack = new Map<string, string>();
  /** Preflights under way, by checkout: one slow host never holds up another repository's workers. */
  private readonly checking = new Map<string, Promise<PreflightReport>>();
  /** Agents being stopped because their worker ended (merged, closed) while they ran. */
  private readonly agentsBeingStopped = new Set<number>();

  /** The warm pools of its repositories: spares taken by its workers, and (with keepPool) kept filled. */
  private readonly pools: PoolKeeper;
  /**
   * Its dependencies, with a store that waits out an outage (a database restart): every call is
   * tried again with backoff, said once a minute at most, until it answers or `abort` gives up.
   */
  private readonly patientDeps: PipelineDeps;
  private readonly impatient = new AbortController();

  constructor(private readonly options: RunnerOptions) {
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.runnerId = options.runnerId ?? localRunnerId(options.deps.paths.home);
    const patience = { ...outageReports(options.deps.logger, "runner"), signal: this.impatient.signal };
    this.patientDeps = { ...options.deps, store: patientStore(options.deps.store, patience) };
    this.pools = new PoolKeeper(this.patientDeps, this.id);
  }

  get deps(): PipelineDeps {
    return this.patientDeps;
  }

  /** How many agents (with their pipelines) this runner has under way. */
  get active(): number {
    return this.running.size;
  }

  /** The checkout a worker belongs to: by its recorded path, or by its GitHub name when queued from a comment. */
  contextFor(worker: Worker): RepoContext | undefined {
    // another runner holds its worktree, on its own machine: only that runner touches it
    if (worker.runnerId && worker.runnerId !== this.runnerId) return undefined;
    if (this.options.project && worker.project && worker.project !== this.options.project) return undefined;
    return (
      this.options.repos.find((ctx) => worker.repoPath === ctx.repo.root) ??
      this.options.repos.find((ctx) => !worker.repoPath && ctx.repository !== null && worker.repo === ctx.repository)
    );
  }

  /** One pass: renew claims, carry out requests, recover the orphaned, clean up the merged, start what may start. */
  async tick(): Promise<void> {
    const store = this.deps.store;
    await this.heartbeat();
    await store.renewLeases(this.id, this.leaseMs);
    // only what a pass can act on: finished workers pile up, and a pass runs every poll interval
    const active = async () => (await store.listWorkers({ states: ["NEEDS_INIT", "WORKING"] })).filter((w) => this.contextFor(w));
    let mine = await active();
    const now = Date.now();
    const heldByAnother = (w: Worker) => Boolean(w.owner && w.owner !== this.id && !ownerIsDead(w.owner) && !leaseExpired(w, now));
    if ((await carryOutRequests(this.deps, mine, heldByAnother)) > 0) mine = await active();
    await this.stopEndedAgents();
    await this.recoverOrphans(mine);
    await this.cleanUpMerged((await store.listWorkers({ state: "MERGED", withWorktree: true })).filter((w) => this.contextFor(w)));
    if (!this.stopping) await this.updateBases();
    if (!this.stopping) await this.startRounds();
    if (!this.stopping) await this.startReady(mine, await this.dependencies(mine));
    if (!this.stopping && this.options.keepPool) await this.tendPools();
  }

  /** The repositories (owner/name) this runner serves, as it announces them. */
  get repositories(): string[] {
    return [...new Set(this.options.repos.flatMap((ctx) => (ctx.repository ? [ctx.repository] : [])))];
  }

  /** Says this runner lives: registers it the first time (and when the store forgot it), then beats. */
  private async heartbeat(): Promise<void> {
    const store = this.deps.store;
    if (this.registered && (await store.heartbeatRunner(this.runnerId))) return;
    await store.registerRunner({ id: this.runnerId, host: HOST, repositories: this.repositories, ...(this.options.settings ? { settings: this.options.settings } : {}) });
    this.registered = true;
  }

  /** Whether this runner holds the worker's worktree: recorded as its, or (none recorded) made on this host. */
  private holdsWorktree(worker: Worker): boolean {
    return worker.runnerId ? worker.runnerId === this.runnerId : worktreeIsHere(worker);
  }

  /** Each repository's pool, unless one of its queued workers could start (a spare never goes ahead of a worker). */
  private async tendPools(): Promise<void> {
    const queued = (await this.deps.store.listWorkers({ state: "NEEDS_INIT" })).filter((w) => this.contextFor(w) && !this.running.has(w.id));
    const deps = await this.dependencies(queued);
    for (const ctx of this.options.repos) {
      const waiting = queued.some((w) => this.contextFor(w) === ctx && !waitingFor(w, deps) && !this.heldBack.has(ctx.repo.root));
      await this.pools.tend(ctx, waiting);
    }
  }

  /**
   * Agents this runner runs whose worker a merge or a close ended meanwhile (a rework round's
   * PR merged under it): their whole process group is stopped; the pipeline sees the move and
   * pushes nothing.
   */
  private async stopEndedAgents(): Promise<void> {
    for (const id of [...this.running.keys()]) {
      const worker = await this.deps.store.getWorker(id);
      const pid = worker?.pid;
      if (!worker || !pid || !isTerminal(worker.state) || this.agentsBeingStopped.has(pid) || !isProcessAlive(pid)) continue;
      this.agentsBeingStopped.add(pid);
      appendWorkerLog(workerLogPath(this.deps.paths.logsDir, id), `agent stopped: the worker is ${worker.state}`);
      void killGroup(pid, 1000)
        .catch((error: Error) => this.deps.logger.warn({ worker_id: id, pid, err_message: error.message }, "agent not killed"))
        .finally(() => this.agentsBeingStopped.delete(pid));
    }
  }

  /**
   * Rework rounds of this runner's PR_OPEN workers, from the feedback that waits for them: due
   * now, or waiting for their debounce (`at`). Only workers whose worktree is on this host.
   */
  private async reworkRounds(now: number): Promise<{ due: Array<{ worker: Worker; ctx: RepoContext; upTo: number }>; waiting: number }> {
    const pending = await this.deps.store.listFeedback({ pending: true, workerStates: ["PR_OPEN"] });
    const byWorker = new Map<string, typeof pending>();
    for (const feedback of pending) byWorker.set(feedback.workerId, [...(byWorker.get(feedback.workerId) ?? []), feedback]);
    const due: Array<{ worker: Worker; ctx: RepoContext; upTo: number }> = [];
    let waiting = 0;
    for (const [id, feedback] of byWorker) {
      if (this.running.has(id)) continue;
      const worker = await this.deps.store.getWorker(id);
      const ctx = worker && this.contextFor(worker);
      if (!worker || worker.state !== "PR_OPEN" || !ctx || !this.holdsWorktree(worker)) continue;
      // a moved base not rebased onto yet (origin did not answer): a round would take it unanswered
      if (feedback.some((f) => f.detail.cause === "base")) continue;
      const decision = roundDecision(worker, feedback, ctx.config.rework, now);
      if (decision.due) due.push({ worker, ctx, upTo: feedback.at(-1)!.seq });
      else if (decision.at !== undefined) waiting++;
    }
    return { due, waiting };
  }

  /**
   * Brings this runner's worker PRs up to date with a base that moved (`merge_flow.update:
   * rebase`, a stacked PR whose parent merged), before rounds start: a round then begins at the
   * rebased head, and a rebase that conflicts has become the round's feedback.
   */
  private async updateBases(): Promise<void> {
    const updates = await pendingUpdates(this.deps, (w) => (this.holdsWorktree(w) ? this.contextFor(w) : undefined), (id) => this.running.has(id));
    if (updates.length > 0) await updateBases(this.deps, updates);
  }

  /** Starts the rework rounds that are due, within `max_workers`, once their checkout passes its preflight. */
  private async startRounds(): Promise<void> {
    const { due } = await this.reworkRounds(Date.now());
    if (due.length === 0) return;
    const cleared = await this.checkedRepositories(due.map((d) => d.worker));
    if (this.stopping) return;
    for (const { worker, ctx, upTo } of due) {
      if (!cleared.get(ctx.repo.root)) continue;
      if ((this.runningPerRepo.get(ctx.repo.root) ?? 0) >= ctx.config.maxWorkers) continue;
      let started;
      try {
        started = await this.deps.store.startReworkRound(worker.id, {
          owner: this.id,
          leaseMs: this.leaseMs,
          upTo,
          source: "runner",
          correlationId: (await this.deps.store.history(worker.id))[0]?.correlationId ?? null,
        });
      } catch (error) {
        // merged, closed or taken by another runner meanwhile
        if (error instanceof TransitionConflictError) continue;
        throw error;
      }
      if (started) this.launchJob(ctx, started.worker, (deps) => runReworkRound(deps, ctx, started));
    }
  }

  /** The workers the queued ones depend on, for `waitingFor`. */
  private async dependencies(workers: readonly Worker[]): Promise<Worker[]> {
    const taskIds = [...new Set(workers.filter((w) => w.state === "NEEDS_INIT").flatMap((w) => w.dependsOn))];
    return taskIds.length ? this.deps.store.listWorkers({ taskIds }) : [];
  }

  /** WORKING workers whose runner is gone: their agent is stopped if it still runs, and they go to UNKNOWN. */
  private async recoverOrphans(workers: Worker[]): Promise<void> {
    const now = Date.now();
    for (const listed of workers) {
      if (listed.state !== "WORKING" || this.running.has(listed.id)) continue;
      // read at the start of the pass: a pipeline of this runner's may have ended (PR_OPEN) since
      const worker = await this.deps.store.getWorker(listed.id);
      if (worker?.state !== "WORKING" || this.running.has(worker.id)) continue;
      const owner = worker.owner;
      if (owner && owner !== this.id && !ownerIsDead(owner) && !leaseExpired(worker, now)) continue;
      if (worker.pid && isProcessAlive(worker.pid)) await killGroup(worker.pid, 1000);
      if (await endInterruptedRound(this.deps, worker, `runner ${owner ?? "(none)"} stopped while it ran`)) continue;
      await failWorker(
        this.deps,
        worker.id,
        `agent process vanished: runner ${owner ?? "(none)"} stopped while it ran; retry with \`pw worker retry ${worker.id}\``,
        "runner",
        worker,
      );
    }
  }

  /** Removes the worktree and local branch of each MERGED worker, once (or gives the worktree back to a pool that is short). */
  private async cleanUpMerged(workers: Worker[]): Promise<void> {
    for (const worker of workers) {
      // a round whose PR merged under it is still winding down here
      if (worker.state !== "MERGED" || !worker.worktreePath || this.running.has(worker.id) || !this.holdsWorktree(worker)) continue;
      const ctx = this.contextFor(worker);
      if (this.options.keepPool && ctx && (await this.pools.giveBack(ctx, worker))) continue;
      await cleanUpWorker(this.deps, worker, true).catch((error: Error) => {
        this.deps.logger.warn({ worker_id: worker.id, err_message: error.message }, "cleanup failed");
      });
    }
  }

  private async startReady(mine: Worker[], all: Worker[]): Promise<void> {
    const queued = mine
      .filter((w) => w.state === "NEEDS_INIT" && !this.running.has(w.id) && !waitingFor(w, all))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    const cleared = await this.checkedRepositories(queued);
    if (this.stopping) return; // asked to stop while the checks ran
    // claims that processes known dead on this host left behind are taken over before they expire
    const takeOverFrom = [...new Set(queued.flatMap((w) => (w.owner && w.owner !== this.id && ownerIsDead(w.owner) ? [w.owner] : [])))];
    for (const ctx of this.options.repos) {
      const checked = cleared.get(ctx.repo.root);
      if (!checked) continue;
      const room = () => !this.stopping && (this.runningPerRepo.get(ctx.repo.root) ?? 0) < ctx.config.maxWorkers;
      while (room()) {
        const claimed = await this.claimNext(ctx, takeOverFrom);
        if (!claimed) break;
        this.launch(ctx, claimed, checked.defaultBranch);
      }
      // a stacked task (its one unmerged dependency has a PR) is not one the store's claim hands out
      for (const worker of queued) {
        if (!room()) break;
        const plan = this.contextFor(worker) === ctx ? startPlan(worker, all) : undefined;
        if (plan?.kind !== "stack") continue;
        const claimed = await this.claimStacked(worker, takeOverFrom);
        if (claimed) this.launchStacked(ctx, claimed, plan.parent, checked.defaultBranch);
      }
    }
  }

  /** Claims one stacked task by id (a compare-and-swap on its claim), and records this runner as its runner. */
  private async claimStacked(worker: Worker, takeOverFrom: readonly string[]): Promise<Worker | undefined> {
    const takeOver = worker.owner && takeOverFrom.includes(worker.owner) ? worker.owner : undefined;
    if (!(await this.deps.store.claimWorker(worker.id, this.id, this.leaseMs, takeOver))) return undefined;
    return this.deps.store.updateWorker(worker.id, { runnerId: this.runnerId });
  }

  /**
   * The one place a queued worker is claimed for this runner: the oldest of `ctx`'s that may
   * start (dependencies merged, no live claim, no other runner's), in one step of the store's,
   * never by listing and then claiming. Undefined when there is none.
   */
  private claimNext(ctx: RepoContext, takeOverFrom: readonly string[]): Promise<Worker | undefined> {
    return this.deps.store.claimNextWorker(this.id, this.leaseMs, {
      checkouts: [ctx.repo.root],
      repositories: ctx.repository ? [ctx.repository] : [],
      ...(this.options.project ? { project: this.options.project } : {}),
      takeOverFrom,
      runnerId: this.runnerId,
    });
  }

  /**
   * The preflight of each checkout with workers to start, made at once for all of them; those
   * that pass, with their report. A check still under way after PREFLIGHT_WAIT_MS goes on in
   * the background, for a later pass.
   */
  private async checkedRepositories(queued: Worker[]): Promise<Map<string, PreflightReport>> {
    const contexts = new Map<string, RepoContext>();
    for (const worker of queued) {
      const ctx = this.contextFor(worker)!;
      if ((this.runningPerRepo.get(ctx.repo.root) ?? 0) < ctx.config.maxWorkers) contexts.set(ctx.repo.root, ctx);
    }
    const cleared = new Map<string, PreflightReport>();
    const checks = [...contexts.values()].map(async (ctx) => {
      let timer: NodeJS.Timeout | undefined;
      const later = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), PREFLIGHT_WAIT_MS)));
      const report = await Promise.race([this.check(ctx), later]);
      clearTimeout(timer);
      if (report && this.judge(ctx, report, queued.filter((w) => this.contextFor(w) === ctx).length)) cleared.set(ctx.repo.root, report);
    });
    await Promise.all(checks);
    return cleared;
  }

  /**
   * Checks every repository this runner serves, so that a problem is said when the runner
   * starts, not only once work is queued.
   */
  async checkRepositories(): Promise<void> {
    const queued = await this.deps.store.listWorkers({ state: "NEEDS_INIT" });
    await Promise.all(
      this.options.repos.map(async (ctx) => this.judge(ctx, await this.check(ctx), queued.filter((w) => this.contextFor(w) === ctx).length)),
    );
  }

  /** The preflight of `ctx`: the one under way, or a new one (cached by the preflight itself). */
  private check(ctx: RepoContext): Promise<PreflightReport> {
    const root = ctx.repo.root;
    let check = this.checking.get(root);
    if (!check) {
      check = preflight(this.deps, ctx).finally(() => this.checking.delete(root));
      this.checking.set(root, check);
    }
    return check;
  }

  /**
   * Whether the checkout passed. A failure leaves its workers queued and is logged once per
   * reason; the first pass after it is fixed says so.
   */
  private judge(ctx: RepoContext, report: PreflightReport, waiting: number): boolean {
    const root = ctx.repo.root;
    const repository = ctx.repository ?? root;
    const reason = report.problems.map((p) => p.message).join("; ");
    if (reason) {
      if (this.heldBack.get(root) !== reason) {
        this.heldBack.set(root, reason);
        this.deps.logger.warn({ repository, repo_path: root, queued: waiting, reason }, `workers of ${repository} stay queued until this is fixed: ${reason}`);
      }
      return false;
    }
    if (this.heldBack.delete(root)) {
      this.deps.logger.info({ repository, repo_path: root, queued: waiting }, `${repository} passes its checks again: its queued workers start`);
    }
    return true;
  }

  /** Why queued workers of this worker's checkout are held back (its last preflight failed), or undefined. */
  heldBackReason(worker: Worker): string | undefined {
    const ctx = this.contextFor(worker);
    return ctx ? this.heldBack.get(ctx.repo.root) : undefined;
  }

  private launch(ctx: RepoContext, worker: Worker, defaultBranch: string | undefined): void {
    this.launchJob(ctx, worker, async (deps) => runWorker(deps, ctx, await this.pools.takeFor(ctx, await this.place(ctx, worker, defaultBranch))));
  }

  /** A stacked task starts from its parent's branch: its own worktree, never a spare made from the default branch. */
  private launchStacked(ctx: RepoContext, worker: Worker, parent: Worker, defaultBranch: string | undefined): void {
    this.launchJob(ctx, worker, async (deps) => runWorker(deps, ctx, await this.place(ctx, await stackOnParent(deps, ctx, worker, parent), defaultBranch)));
  }

  /** Runs `job` for a claimed worker, counted against its checkout's `max_workers`. */
  private launchJob(ctx: RepoContext, worker: Worker, job: (deps: PipelineDeps) => Promise<void>): void {
    const root = ctx.repo.root;
    this.runningPerRepo.set(root, (this.runningPerRepo.get(root) ?? 0) + 1);
    let deps = this.deps;
    const run = (async () => {
      // the worker's story keeps the correlation id of the spawn (or delivery) that queued it
      const origin = (await this.deps.store.history(worker.id))[0]?.correlationId;
      if (origin) deps = { ...this.deps, correlationId: origin };
      await job(deps);
    })()
      .catch((error: Error) => failWorker(deps, worker.id, `runner error: ${error.message}`))
      .catch((error: Error) => this.deps.logger.error({ worker_id: worker.id, err_message: error.message.split("\n")[0] }, "worker not failed: the store did not answer"))
      .finally(() => {
        this.running.delete(worker.id);
        this.runningPerRepo.set(root, (this.runningPerRepo.get(root) ?? 1) - 1);
      });
    this.running.set(worker.id, run);
  }

  /** A worker queued from a comment has no local paths yet: this runner decides them. */
  private async place(ctx: RepoContext, worker: Worker, defaultBranch: string | undefined): Promise<Worker> {
    if (worker.repoPath && worker.worktreePath && worker.branch && worker.baseBranch) return worker;
    const project = worker.project ?? this.options.project ?? ctx.project;
    const taskId = worker.taskId!;
    const baseBranch = worker.baseBranch ?? defaultBranch;
    if (!baseBranch) {
      throw new Error(`cannot tell the default branch of ${ctx.repository ?? ctx.repo.root} (origin's HEAD names none): spawn it again with a base branch`);
    }
    return this.deps.store.updateWorker(worker.id, {
      repoPath: ctx.repo.root,
      project,
      branch: worker.branch ?? branchForTask(taskId),
      baseBranch,
      worktreePath: worker.worktreePath ?? worktreePathFor(ctx.config.worktreesRoot, project, taskId),
    });
  }

  /**
   * True when nothing runs, no queued worker of this runner's could start now (dependencies, a
   * failed preflight), and no rework round is due or waiting for its debounce.
   */
  async isIdle(): Promise<boolean> {
    if (this.running.size > 0) return false;
    const rounds = await this.reworkRounds(Date.now());
    if (rounds.due.length > 0 || rounds.waiting > 0) return false;
    const queued = (await this.deps.store.listWorkers({ state: "NEEDS_INIT" })).filter((w) => this.contextFor(w));
    const deps = await this.dependencies(queued);
    return !queued.some((w) => !waitingFor(w, deps) && !this.heldBackReason(w));
  }

  /** Waits for every pipeline under way, and the pools' work. */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
    await this.pools.drain();
  }

  /** Stops claiming new work and filling pools; what runs goes on until `drain`. */
  stop(): void {
    this.stopping = true;
    this.pools.stop();
  }

  /** Kills every agent this runner started and marks its workers UNKNOWN (a second Ctrl-C). */
  async abort(reason: string): Promise<void> {
    this.stop();
    // killed agents are recorded if the store answers; an outage is not waited out any more
    this.impatient.abort();
    for (const id of [...this.running.keys()]) {
      const worker = await this.deps.store.getWorker(id);
      if (worker?.pid) await killGroup(worker.pid, 1000);
      if (worker && (await endInterruptedRound(this.deps, worker, reason))) continue;
      await failWorker(this.deps, id, reason);
    }
    await this.drain();
  }

  /**
   * Ticks every `pollIntervalMs` until `maxIterations` passes, `until()` holds or `signal` aborts;
   * then lets what runs finish.
   */
  async run(options: {
    pollIntervalMs: number;
    maxIterations?: number;
    signal?: AbortSignal;
    until?: () => boolean | Promise<boolean>;
    /** Between passes (default: the poll interval). */
    wait?: PassWait;
  }): Promise<void> {
    // said at start, even with nothing queued yet; the first pass waits for it at most PREFLIGHT_WAIT_MS
    const checked = this.checkRepositories().catch((error: Error) => this.deps.logger.warn({ err_message: error.message }, "preflight failed"));
    for (let i = 0; options.maxIterations === undefined || i < options.maxIterations; i++) {
      if (options.signal?.aborted || this.stopping) break;
      await this.tick();
      if (await options.until?.()) break;
      await (options.wait ?? sleep)(options.pollIntervalMs, options.signal);
    }
    this.stop();
    await this.drain();
    await checked;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    signal?.addEventListener("abort", wake, { once: true });
  });
}

/**
 * Removes a worker's worktree and local branch and forgets the path. `force` for MERGED work (its
 * commits live on in the base branch); otherwise uncommitted or unpushed work is kept and reported.
 */
export async function cleanUpWorker(deps: PipelineDeps, worker: Worker, force: boolean): Promise<string | undefined> {
  if (!worker.worktreePath || !worker.repoPath || !worker.project || !worker.taskId) return undefined;
  const path = worker.worktreePath;
  const repo = await Repository.open(worker.repoPath);
  // the path is <root>/<project>/<task>: the root it was made under
  const root = dirname(dirname(path));
  try {
    await removeWorktree(repo, { worktreesRoot: root, project: worker.project, taskId: worker.taskId }, force);
  } catch (error) {
    // already gone by hand: only the branch may be left
    if (existsSync(path)) throw error;
    if (worker.branch && (await repo.branchExists(worker.branch))) await repo.run(["branch", "-D", worker.branch]);
  }
  await deps.store.updateWorker(worker.id, { worktreePath: null });
  appendWorkerLog(workerLogPath(deps.paths.logsDir, worker.id), `removed worktree ${path}`);
  deps.logger.info({ worker_id: worker.id, task_id: worker.taskId, state: worker.state }, "worktree removed");
  return path;
}
