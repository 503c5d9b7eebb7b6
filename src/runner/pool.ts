import { appendFileSync, existsSync, readFileSync, rmSync } from "node:fs";
import { join, relative, sep } from "node:path";
import type { Paths } from "../config.js";
import { newSpareId } from "../core/names.js";
import type { Spare } from "../core/spare.js";
import type { Worker } from "../core/worker.js";
import {
  addDetachedWorktree,
  changesHash,
  detachAt,
  moveWorktree,
  removeUntracked,
  removeWorktreeByPath,
  switchToNewBranch,
  worktreeFiles,
  type WorktreeFiles,
} from "../git/spares.js";
import { forgetBroughtPaths, forgetSetup, readBroughtPaths, readSetupRecord, writeSetupRecord, type SetupRecord } from "../git/worktree-state.js";
import { dirtyFiles, recordBase } from "../git/worktrees.js";
import type { Logger } from "../log/logger.js";
import type { WorkerStore } from "../store/store.js";
import { bringAlong, neverCommitted } from "./bring-along.js";
import type { RepoContext } from "./context.js";
import { leaseExpired, ownerIsDead } from "./owners.js";
import { portFor } from "./ports.js";
import { runSetup, setupStillHolds } from "./setup.js";
import { appendWorkerLog, workerLogPath } from "./worklog.js";

/** What the pool needs from the outside world (a subset of the pipeline's). */
export interface PoolDeps {
  store: WorkerStore;
  paths: Paths;
  logger: Logger;
  /** The environment setup's allowlisted variables are taken from. */
  env: NodeJS.ProcessEnv;
}

/** How long a spare may be held while it is filled (setup's own limit is 20 minutes) or taken, without renewal. */
const FILL_LEASE_MS = 25 * 60_000;
const TAKE_LEASE_MS = 5 * 60_000;

/** The branch spares are checked out at, and its head now. */
export interface PoolBase {
  branch: string;
  commit: string;
}

/** Where a checkout's spares live: under the worktrees root, apart from workers' worktrees (`pw worktree list` never shows them). */
export function poolDir(ctx: RepoContext): string {
  return join(ctx.config.worktreesRoot, ".pool", ctx.project);
}

/** What `pw pool status` shows. */
export interface PoolStatus {
  repoPath: string;
  size: number;
  base: PoolBase | undefined;
  spares: Spare[];
  /** Spares held by a filler or taker that is gone: the next fill, drain or runner pass removes them. */
  stale: string[];
}

/** A spare handed to a worker: which one, and whether what its setup made was kept. */
export interface TakenSpare {
  spareId: string;
  port: number | null;
  setupKept: boolean;
}

/**
 * The warm pool of one checkout: spare worktrees at the base branch's head with setup run, that
 * a spawn takes instead of making a worktree (a branch switch and a move, a fraction of a
 * checkout), and that a merged worker's clean worktree goes back to. Every spare is recorded in
 * the store while it is made, so one whose maker died is known, removed, and never handed out.
 */
export class WarmPool {
  constructor(
    private readonly deps: PoolDeps,
    readonly ctx: RepoContext,
    /** Who fills and takes spares here: a runner's id, or `host:pid:role` of a short-lived process. */
    readonly owner: string,
  ) {}

  private get root(): string {
    return this.ctx.repo.root;
  }

  private spareLog(id: string): string {
    return workerLogPath(this.deps.paths.logsDir, id);
  }

  /** Only ever a spare's own directory under the pool directory is removed. */
  private async removeSpareTree(path: string): Promise<void> {
    const rel = relative(poolDir(this.ctx), path);
    if (!rel || rel.startsWith("..") || rel.includes(sep)) return;
    await removeWorktreeByPath(this.ctx.repo, path);
  }

  /** The branch spares are made at: the default branch when known, else origin's remembered HEAD, else the checkout's branch. */
  async base(defaultBranch?: string): Promise<PoolBase | undefined> {
    const repo = this.ctx.repo;
    const branch =
      defaultBranch ??
      (await repo.rememberedRemoteHead("origin")) ??
      ((await repo.tryRun(["symbolic-ref", "--quiet", "--short", "HEAD"]))?.trim() || undefined);
    const commit = branch ? await repo.resolveCommit(branch) : undefined;
    return branch && commit ? { branch, commit } : undefined;
  }

  spares(): Promise<Spare[]> {
    return this.deps.store.listSpares(this.root);
  }

  /** A spare whose filler or taker is gone (dead on this host, or its lease ran out). */
  isStale(spare: Spare, now = Date.now()): boolean {
    if (spare.state !== "filling" && spare.state !== "taken") return false;
    if (spare.owner === this.owner) return false;
    return !spare.owner || ownerIsDead(spare.owner) || leaseExpired(spare.leaseUntil, now);
  }

  async status(defaultBranch?: string): Promise<PoolStatus> {
    const spares = await this.spares();
    return {
      repoPath: this.root,
      size: this.ctx.config.pool.size,
      base: await this.base(defaultBranch),
      spares,
      stale: spares.filter((s) => this.isStale(s)).map((s) => s.id),
    };
  }

  /**
   * Removes what killed or interrupted fillers and takers left: spares half-made or half-taken
   * (their directories too), and records of spares whose directory was deleted by hand.
   * Returns the ids removed.
   */
  async tidy(): Promise<string[]> {
    const removed: string[] = [];
    for (const spare of await this.spares()) {
      const gone = (spare.state === "ready" || spare.state === "dirty") && !existsSync(spare.path);
      if (!this.isStale(spare) && !gone) continue;
      if (!gone) await this.removeSpareTree(spare.path);
      if (await this.deps.store.removeSpare(spare.id)) removed.push(spare.id);
      this.deps.logger.warn(
        { spare: spare.id, path: spare.path, state: spare.state, owner: spare.owner },
        gone ? "spare worktree was deleted: forgotten" : `spare worktree left ${spare.state === "filling" ? "half-made" : "half-taken"} by ${spare.owner ?? "nobody"}: removed`,
      );
    }
    return removed;
  }

  /**
   * Makes one spare at `base`: a detached worktree, what it brings from the main checkout, a
   * port block, setup. Recorded `filling` first and `ready` only once setup is done; a failure
   * removes it again (and throws). Undefined when it was drained while being made.
   */
  async fillOne(base: PoolBase): Promise<Spare | undefined> {
    const { store } = this.deps;
    const { repo, config } = this.ctx;
    const id = newSpareId();
    const path = join(poolDir(this.ctx), id);
    const log = this.spareLog(id);
    await store.addSpare({ id, repoPath: this.root, path, baseBranch: base.branch, baseCommit: base.commit, owner: this.owner, leaseMs: FILL_LEASE_MS });
    try {
      const port = await portFor(store, config, { spareId: id });
      await addDetachedWorktree(repo, path, base.commit);
      appendWorkerLog(log, `spare worktree ${path} at ${base.branch} (${base.commit.slice(0, 10)}), port ${port}`);
      await bringAlong(repo, config, path);
      await runSetup({ repo, config, path, port, parent: this.deps.env, logFile: log });
      return await this.becomeReady(id, path, base);
    } catch (error) {
      await this.removeSpareTree(path);
      await store.removeSpare(id);
      appendWorkerLog(log, `spare not made: ${(error as Error).message}`);
      throw error;
    }
  }

  /** `filling` -> `ready`, unless it was drained (or judged stale) meanwhile: then it is removed. */
  private async becomeReady(id: string, path: string, base: PoolBase): Promise<Spare | undefined> {
    const ready = await this.deps.store.moveSpare(
      id,
      "filling",
      "ready",
      { baseBranch: base.branch, baseCommit: base.commit, owner: null, leaseMs: null },
      this.owner,
    );
    if (!ready) {
      await this.removeSpareTree(path);
      await this.deps.store.removeSpare(id);
      return undefined;
    }
    appendWorkerLog(this.spareLog(id), "ready");
    return ready;
  }

  /**
   * Brings a spare this pool holds `filling` (one a merged worker gave back, or a ready one
   * whose base moved) to the base's head and makes it ready: what setup made is kept when its
   * key still matches, else everything untracked goes and setup runs again.
   */
  async refresh(spare: Spare, base: PoolBase): Promise<Spare | undefined> {
    const { store } = this.deps;
    const { repo, config } = this.ctx;
    const log = this.spareLog(spare.id);
    try {
      const record = readSetupRecord(spare.path);
      await repo.run(["reset", "--quiet", "--hard", "HEAD"], spare.path);
      await detachAt(repo, spare.path, base.commit);
      const port = spare.port ?? (await portFor(store, config, { spareId: spare.id }, record?.port ?? undefined));
      const kept = record !== undefined && (await setupStillHolds(repo, config, record, base.commit, port));
      // everything untracked goes, but what setup made when it still holds; never what was brought
      const files = await worktreeFiles(repo, spare.path);
      const brought = new Set(readBroughtPaths(spare.path));
      const outputs = new Set(kept ? record.outputs : []);
      const untracked = files.changes.filter((c) => c.startsWith("?? ")).map((c) => c.slice(3));
      removeUntracked(spare.path, [
        ...files.ignored.filter((p) => !outputs.has(p)),
        ...untracked.filter((p) => !kept || brought.has(p) || brought.has(p.replace(/\/$/, ""))),
      ]);
      forgetBroughtPaths(spare.path);
      if (kept) {
        writeSetupRecord(spare.path, { ...record, status: changesHash(await worktreeFiles(repo, spare.path)) });
        appendWorkerLog(log, `at ${base.branch} (${base.commit.slice(0, 10)}): what setup made is kept`);
      } else {
        forgetSetup(spare.path);
        appendWorkerLog(log, `at ${base.branch} (${base.commit.slice(0, 10)}): setup runs again`);
        await bringAlong(repo, config, spare.path);
        await runSetup({ repo, config, path: spare.path, port, parent: this.deps.env, logFile: log });
      }
      return await this.becomeReady(spare.id, spare.path, base);
    } catch (error) {
      await this.removeSpareTree(spare.path);
      await store.removeSpare(spare.id);
      appendWorkerLog(log, `spare removed: ${(error as Error).message}`);
      throw error;
    }
  }

  /**
   * Hands a ready spare to `worker` (recorded, with no worktree yet): checks that nobody changed
   * it, moves it to the worker's path, switches it to the worker's new branch at `baseCommit`
   * and cleans it (what setup made stays when the lockfiles it read are unchanged; otherwise
   * setup runs again before the agent). Undefined when no spare could be handed out; the
   * caller then makes the worktree itself.
   */
  async take(worker: Worker & { worktreePath: string; branch: string; baseBranch: string }, baseCommit: string): Promise<TakenSpare | undefined> {
    const { store } = this.deps;
    for (;;) {
      const spare = await store.takeSpare(this.root, this.owner, TAKE_LEASE_MS);
      if (!spare) return undefined;
      const record = existsSync(spare.path) ? readSetupRecord(spare.path) : undefined;
      if (!record) {
        // deleted by hand, or never finished: not a spare to hand out
        await this.removeSpareTree(spare.path);
        await store.removeSpare(spare.id);
        continue;
      }
      const files = await worktreeFiles(this.ctx.repo, spare.path).catch(() => undefined);
      const head = (await this.ctx.repo.tryRun(["rev-parse", "HEAD"], spare.path))?.trim();
      if (!files || !head || changesHash(files) !== record.status || head !== spare.baseCommit) {
        const first = files?.changes[0]?.slice(3);
        const note = head !== spare.baseCommit ? "moved off its commit since it was made" : `changed since it was made${first ? ` (${first})` : ""}`;
        await store.moveSpare(spare.id, "taken", "dirty", { note, owner: null, leaseMs: null }, this.owner);
        this.deps.logger.warn({ spare: spare.id, path: spare.path }, `spare worktree ${spare.path} ${note}: not handed out; \`pw pool drain\` removes it`);
        continue;
      }
      try {
        return await this.handOut({ ...spare, baseCommit: head }, record, files, worker, baseCommit);
      } catch (error) {
        this.deps.logger.warn(
          { spare: spare.id, worker_id: worker.id, err_message: (error as Error).message },
          "spare worktree could not be handed out: removed, the worktree is made anew",
        );
        await this.takeBack(spare, worker, baseCommit);
        return undefined;
      }
    }
  }

  private async handOut(
    spare: Spare & { baseCommit: string },
    record: SetupRecord,
    files: WorktreeFiles,
    worker: Worker & { worktreePath: string; branch: string; baseBranch: string },
    baseCommit: string,
  ): Promise<TakenSpare> {
    const { repo, config } = this.ctx;
    const setupKept = await setupStillHolds(repo, config, record, baseCommit, spare.port);
    // first, so that however far this gets, a worktree whose lockfiles changed is set up again
    if (!setupKept) forgetSetup(spare.path);
    await moveWorktree(repo, spare.path, worker.worktreePath);
    await switchToNewBranch(repo, worker.worktreePath, worker.branch, baseCommit, spare.baseCommit);
    // no file of anyone else's: only what setup made stays, when it still holds; what was brought
    // from the main checkout is brought afresh before the agent starts
    const outputs = new Set(setupKept ? record.outputs : []);
    removeUntracked(worker.worktreePath, [
      ...files.ignored.filter((p) => !outputs.has(p)),
      ...(setupKept ? [] : files.changes.filter((c) => c.startsWith("?? ")).map((c) => c.slice(3))),
      ...readBroughtPaths(worker.worktreePath),
    ]);
    forgetBroughtPaths(worker.worktreePath);
    recordBase(worker.worktreePath, worker.baseBranch);
    const handed = await this.deps.store.handOverSpare(spare.id, this.owner, worker.id);
    const log = workerLogPath(this.deps.paths.logsDir, worker.id);
    this.adoptSpareLog(spare.id, log);
    appendWorkerLog(
      log,
      `worktree ${worker.worktreePath} from the pool (${spare.id}) on ${worker.branch} from ${worker.baseBranch}: ` +
        (setupKept ? "setup was done there" : "its lockfiles changed, setup runs again"),
    );
    return { spareId: spare.id, port: handed?.port ?? null, setupKept };
  }

  /** The spare's log (its setup's output) becomes part of the worker's. */
  private adoptSpareLog(spareId: string, workerLog: string): void {
    const file = this.spareLog(spareId);
    try {
      appendFileSync(workerLog, readFileSync(file));
      rmSync(file, { force: true });
    } catch {
      // no log to adopt
    }
  }

  /** Undoes a hand-out that failed half-way: the worktree wherever it got to, the branch if it was made, the record. */
  private async takeBack(spare: Spare, worker: Worker & { worktreePath: string; branch: string }, baseCommit: string): Promise<void> {
    const { repo } = this.ctx;
    if (existsSync(worker.worktreePath) && !existsSync(spare.path)) {
      await removeWorktreeByPath(repo, worker.worktreePath);
      // only the branch this hand-out made: still at the base commit
      await repo.tryRun(["update-ref", "-d", `refs/heads/${worker.branch}`, baseCommit]);
    } else {
      await this.removeSpareTree(spare.path);
    }
    await this.deps.store.removeSpare(spare.id);
  }

  /**
   * Takes a merged worker's worktree back as a spare (`filling`, to be refreshed), when it holds
   * nothing uncommitted: detached at the base, its branch deleted, moved into the pool. Returns
   * the spare, or undefined when it was not taken (the caller removes the worktree as usual).
   */
  async giveBack(worker: Worker, base: PoolBase): Promise<Spare | undefined> {
    const path = worker.worktreePath;
    if (!path || !existsSync(path)) return undefined;
    const { store } = this.deps;
    const { repo, config } = this.ctx;
    // what was brought from the main checkout is never committed: it is not work left behind
    const brought = neverCommitted(config, path);
    const left = (await dirtyFiles(repo, path).catch(() => ["?"])).filter((file) => !brought.some((b) => file === b || file.startsWith(`${b}/`)));
    if (left.length > 0) return undefined;
    const id = newSpareId();
    const sparePath = join(poolDir(this.ctx), id);
    let spare = await store.addSpare({ id, repoPath: this.root, path: sparePath, baseBranch: base.branch, baseCommit: base.commit, owner: this.owner, leaseMs: FILL_LEASE_MS });
    try {
      await portFor(store, config, { spareId: id }, readSetupRecord(path)?.port ?? undefined);
      await detachAt(repo, path, base.commit);
      if (worker.branch && (await repo.branchExists(worker.branch))) await repo.run(["branch", "-D", worker.branch]);
      await moveWorktree(repo, path, sparePath);
    } catch (error) {
      await this.removeSpareTree(sparePath);
      await store.removeSpare(id);
      this.deps.logger.warn({ worker_id: worker.id, err_message: (error as Error).message }, "worktree could not go back to the pool");
      return undefined;
    }
    await store.updateWorker(worker.id, { worktreePath: null });
    appendWorkerLog(workerLogPath(this.deps.paths.logsDir, worker.id), `worktree ${path} went back to the pool as ${id}`);
    appendWorkerLog(this.spareLog(id), `worktree of ${worker.id} (${worker.taskId ?? "-"}), back from ${path}`);
    spare = (await store.getSpare(id)) ?? spare;
    return spare;
  }

  /** Claims a ready spare to refresh it (its base moved); undefined when someone took it first. */
  claimReady(id: string): Promise<Spare | undefined> {
    return this.deps.store.moveSpare(id, "ready", "filling", { owner: this.owner, leaseMs: FILL_LEASE_MS });
  }

  /** Removes one ready spare (one too many: the pool was made smaller); false when it is no longer ready. */
  async drainOne(id: string): Promise<boolean> {
    const spare = await this.deps.store.moveSpare(id, "ready", "taken", { owner: this.owner });
    if (!spare) return false;
    await this.removeSpareTree(spare.path);
    await this.deps.store.removeSpare(id);
    rmSync(this.spareLog(id), { force: true });
    return true;
  }

  /**
   * Removes every spare that is not being filled or taken right now (ready, dirty, and those
   * left by a filler that died); returns the ids removed and those left to their live holder.
   */
  async drain(): Promise<{ removed: string[]; busy: string[] }> {
    const removed = await this.tidy();
    const busy: string[] = [];
    for (const spare of await this.spares()) {
      if (spare.state === "dirty") {
        await this.removeSpareTree(spare.path);
        if (await this.deps.store.removeSpare(spare.id)) removed.push(spare.id);
        rmSync(this.spareLog(spare.id), { force: true });
      } else if (spare.state === "ready" && (await this.drainOne(spare.id))) {
        // claimed before it was removed, so no spawn takes it meanwhile
        removed.push(spare.id);
      } else {
        busy.push(spare.id);
      }
    }
    return { removed, busy };
  }
}
