import { existsSync } from "node:fs";
import type { Worker } from "../core/worker.js";
import type { RepoContext } from "./context.js";
import { WarmPool, type PoolDeps } from "./pool.js";

/** How long the pool of a checkout rests after a spare could not be made (a setup that fails would fail again at once). */
const RETRY_AFTER_FAILURE_MS = 60_000;

/**
 * Keeps the warm pools of a runner's checkouts filled, in the background and one piece of work
 * at a time per checkout, never while a worker of that checkout waits to start: a spare is
 * made, refreshed (its base moved, or a merged worker gave it back), or one too many removed.
 */
export class PoolKeeper {
  private readonly jobs = new Map<string, Promise<void>>();
  /** Per checkout: until when it rests after a failure, and why (said once per reason). */
  private readonly resting = new Map<string, { until: number; reason: string }>();
  private stopped = false;

  constructor(
    private readonly deps: PoolDeps,
    /** The runner's id: what the spares it fills are held by. */
    private readonly owner: string,
  ) {}

  pool(ctx: RepoContext): WarmPool {
    return new WarmPool(this.deps, ctx, this.owner);
  }

  /**
   * A worker about to start without a worktree (queued from a comment, or its spawn was
   * interrupted) takes a spare when there is one; returns the worker as it is now.
   */
  async takeFor(ctx: RepoContext, worker: Worker): Promise<Worker> {
    if (ctx.config.pool.size === 0 || !worker.worktreePath || !worker.branch || !worker.baseBranch) return worker;
    if (existsSync(worker.worktreePath) || (await ctx.repo.branchExists(worker.branch))) return worker;
    const baseCommit = await ctx.repo.resolveCommit(worker.baseBranch);
    if (!baseCommit) return worker;
    try {
      const taken = await this.pool(ctx).take({ ...worker, worktreePath: worker.worktreePath, branch: worker.branch, baseBranch: worker.baseBranch }, baseCommit);
      return taken ? await this.deps.store.requireWorker(worker.id) : worker;
    } catch (error) {
      // the pool only saves time: without a spare, the worker's worktree is made as usual
      this.deps.logger.warn({ worker_id: worker.id, err_message: (error as Error).message }, "no spare worktree taken");
      return worker;
    }
  }

  /**
   * One pass over a checkout's pool: what killed fillers left is removed; then, unless a worker
   * waits to start or work is under way, the next piece of work starts in the background.
   */
  async tend(ctx: RepoContext, workerWaiting: boolean): Promise<void> {
    const root = ctx.repo.root;
    if (this.stopped || this.jobs.has(root)) return;
    const pool = this.pool(ctx);
    try {
      if (ctx.config.pool.size === 0 && (await pool.spares()).length === 0) return;
      await pool.tidy();
    } catch (error) {
      this.deps.logger.warn({ repo_path: root, err_message: (error as Error).message }, "spare worktrees could not be looked after");
      return;
    }
    const rest = this.resting.get(root);
    if (workerWaiting || (rest && Date.now() < rest.until)) return;
    const job = this.nextWork(pool)
      .then(() => {
        if (this.resting.delete(root)) this.deps.logger.info({ repo_path: root }, "spare worktrees are made again");
      })
      .catch((error: Error) => {
        const reason = error.message.split("\n")[0] ?? "failed";
        if (this.resting.get(root)?.reason !== reason) {
          this.deps.logger.warn({ repo_path: root, reason }, `a spare worktree could not be made: ${reason}; trying again in a minute`);
        }
        this.resting.set(root, { until: Date.now() + RETRY_AFTER_FAILURE_MS, reason });
      })
      .finally(() => this.jobs.delete(root));
    this.jobs.set(root, job);
  }

  private async nextWork(pool: WarmPool): Promise<void> {
    const base = await pool.base();
    if (!base) throw new Error(`cannot tell which branch spares start from in ${pool.ctx.repo.root}: check out a branch`);
    const size = pool.ctx.config.pool.size;
    const spares = await pool.spares();
    const given = spares.find((s) => s.state === "filling" && s.owner === pool.owner);
    if (given) {
      await pool.refresh(given, base);
      return;
    }
    const ready = spares.filter((s) => s.state === "ready");
    const live = ready.length + spares.filter((s) => s.state === "filling" && !pool.isStale(s)).length;
    if (live > size && ready.length > 0) {
      await pool.drainOne(ready.at(-1)!.id);
      return;
    }
    const behind = ready.find((s) => s.baseCommit !== base.commit);
    if (behind) {
      const claimed = await pool.claimReady(behind.id);
      if (claimed) await pool.refresh(claimed, base);
      return;
    }
    if (live < size) await pool.fillOne(base);
  }

  /**
   * A merged worker's worktree goes back to its checkout's pool when the pool is short and the
   * worktree holds nothing uncommitted; true when it did (it is no longer the worker's).
   */
  async giveBack(ctx: RepoContext, worker: Worker): Promise<boolean> {
    if (this.stopped || ctx.config.pool.size === 0) return false;
    const pool = this.pool(ctx);
    try {
      const spares = await pool.spares();
      const live = spares.filter((s) => s.state === "ready" || (s.state === "filling" && !pool.isStale(s))).length;
      if (live >= ctx.config.pool.size) return false;
      const base = await pool.base();
      return base !== undefined && (await pool.giveBack(worker, base)) !== undefined;
    } catch (error) {
      // the worktree is then removed as usual
      this.deps.logger.warn({ worker_id: worker.id, err_message: (error as Error).message }, "worktree could not go back to the pool");
      return false;
    }
  }

  /** No new work starts; what is under way goes on until `drain`. */
  stop(): void {
    this.stopped = true;
  }

  /** Waits for the work under way. */
  async drain(): Promise<void> {
    while (this.jobs.size > 0) await Promise.allSettled([...this.jobs.values()]);
  }
}
