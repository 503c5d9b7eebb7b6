/**
 * The follow-up queue's drainer. A delivery is answered once the store holds what it says and
 * the GitHub effects it causes (`effects.ts`); this carries those effects out afterwards: one at
 * a time per lane (an issue or a PR, in the order they were added), several lanes at once, at
 * the pace the Octokit limiters give, tried again with backoff when GitHub fails, given up after
 * the last try with one error line. The queue lives in the store, so what `pw serve` did not
 * finish is picked up again when it starts.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { InvalidInputError, StoreUnavailableError } from "../core/errors.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../log/metrics.js";
import { outageReports, retryWhileUnavailable, type RetryOptions } from "../store/retry.js";
import type { FollowUp, NewFollowUp, WorkerStore } from "../store/store.js";

/** Carries out one follow-up; returns the follow-ups it leads to (queued as it is marked done). */
export type PerformFollowUp = (followUp: FollowUp) => Promise<readonly NewFollowUp[] | void>;

export interface FollowUpQueueOptions {
  store: WorkerStore;
  logger: Logger;
  metrics?: Pick<Metrics, "followUp">;
  /** How many lanes run at once (default 4: GitHub asks integrations not to call it in parallel much). */
  concurrency?: number;
  /** How long a failed follow-up waits before each new try (default 1 s, 10 s, 60 s); after the last, it gives up. */
  retryDelaysMs?: readonly number[];
  /** How often the store is looked at besides when work is added (default 1 s). */
  pollMs?: number;
  /**
   * How long a claim holds a follow-up for this drainer (default an hour: GitHub's rate limits can
   * hold a write for minutes; on a shared store two minutes, renewed while the drainer runs).
   */
  leaseMs?: number;
  /** Told when a follow-up gives up (`pw serve` forgets its delivery id, so a redelivery is handled). */
  onGiveUp?: (followUp: FollowUp) => void | Promise<void>;
  /**
   * Other drainers share the store (replicas of the app on PostgreSQL): claims left in it may be
   * theirs, at work now, so none is let go at start; a dead drainer's claims end with their
   * short lease, which a live one renews (default: the store's backend is postgres).
   */
  shared?: boolean;
}

const RETRY_DELAYS_MS = [1000, 10_000, 60_000];
/** A claim's lease on a shared store: what a dead replica's follow-ups (and their lanes) wait at most. */
const SHARED_LEASE_MS = 120_000;
/** In a busy stretch, how long the first follow-up added waits for others to share its store commit. */
const BATCH_WINDOW_MS = 2;
/** A stretch is busy while commits come closer than this. */
const BUSY_MS = 5;
/** GitHub's answers that another try will not change: bad request, gone, unprocessable. */
const PERMANENT_STATUSES = new Set([400, 404, 410, 422]);

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
}

/** True when trying again cannot help: GitHub refused the request itself, or the row is not one this release can run. */
function isPermanent(error: unknown): boolean {
  const status = (error as { status?: unknown }).status;
  return error instanceof InvalidInputError || (typeof status === "number" && PERMANENT_STATUSES.has(status));
}

export class FollowUpQueue {
  /** This drainer's name on its claims. */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  private readonly running = new Set<Promise<void>>();
  /** The follow-ups running here, by seq: one whose claim expired while it ran is not run twice. */
  private readonly runningSeqs = new Set<number>();
  private lastCommit = Number.NEGATIVE_INFINITY;
  private batch: Array<{ followUps: readonly NewFollowUp[]; resolve: (keys: string[]) => void; reject: (error: unknown) => void }> = [];
  private perform: PerformFollowUp | undefined;
  private scheduled = false;
  private poller: NodeJS.Timeout | undefined;
  private renewer: NodeJS.Timeout | undefined;
  private readonly shared: boolean;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly concurrency: number;
  private readonly delays: readonly number[];
  private readonly leaseMs: number;
  /** One claim at a time; a wake meanwhile claims again after it. */
  private pumping = false;
  private pumpAgain = false;
  /** Ends the waits for an unavailable store when the drainer stops. */
  private readonly stopping = new AbortController();
  /** The drainer's calls wait for an unavailable store (said once a minute); adds, which a delivery waits for, do not. */
  private readonly patience: RetryOptions;

  constructor(private readonly options: FollowUpQueueOptions) {
    this.concurrency = options.concurrency ?? 4;
    this.delays = options.retryDelaysMs ?? RETRY_DELAYS_MS;
    this.shared = options.shared ?? options.store.backend === "postgres";
    this.leaseMs = options.leaseMs ?? (this.shared ? SHARED_LEASE_MS : 3600_000);
    this.patience = { ...outageReports(options.logger, "follow-ups"), signal: this.stopping.signal };
  }

  /**
   * Queues follow-ups (a key seen before adds nothing) and wakes the drainer; resolves with the
   * keys that were added once they are in the store; each caller answers its delivery only then.
   * A commit costs several times what a row does, so in a busy stretch (a commit less than
   * 5 ms ago) the adds of the next 2 ms share one commit, and a burst makes a few commits, not
   * one per delivery; otherwise the adds of one turn of the event loop do, and nothing waits.
   */
  add(followUps: readonly NewFollowUp[]): Promise<string[]> {
    if (followUps.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.batch.push({ followUps, resolve, reject });
      if (this.batch.length > 1) return;
      if (performance.now() - this.lastCommit < BUSY_MS) setTimeout(() => void this.commitBatch(), BATCH_WINDOW_MS);
      else setImmediate(() => void this.commitBatch());
    });
  }

  private async commitBatch(): Promise<void> {
    const batch = this.batch.splice(0);
    this.lastCommit = performance.now();
    let added: Set<string>;
    try {
      added = new Set(await this.options.store.addFollowUps(batch.flatMap((request) => request.followUps)));
    } catch (error) {
      for (const request of batch) request.reject(error);
      return;
    }
    // a key two requests of the batch share (one comment, two delivery ids) is the first one's
    for (const request of batch) {
      const mine = request.followUps.map((f) => f.key).filter((key) => added.delete(key));
      request.resolve(mine);
    }
    this.wake();
  }

  /**
   * Starts draining with `perform`. On a store of its own, claims left by an earlier drainer (a
   * `pw serve` that stopped or died with work under way) are let go first: one drainer runs per
   * SQLite file. On a shared store they may be a live replica's, under way: they are left to
   * their lease.
   */
  async start(perform: PerformFollowUp): Promise<void> {
    const released = this.shared ? 0 : await this.options.store.releaseFollowUps(null);
    const backlog = await this.options.store.followUpBacklog();
    this.perform = perform;
    if (backlog.unfinished > 0) {
      this.options.logger.info({ unfinished: backlog.unfinished, released, oldest: backlog.oldestCreatedAt }, "follow-ups left by the last run are picked up");
    }
    this.poller = setInterval(() => this.wake(), this.options.pollMs ?? 1000);
    this.poller.unref();
    if (this.shared) {
      // what runs here stays ours while it runs; missed renewals (an outage) at worst let another replica run it again, as ensure
      this.renewer = setInterval(() => {
        if (this.running.size > 0) this.options.store.renewFollowUps(this.owner, this.leaseMs).catch(() => undefined);
      }, this.leaseMs / 3);
      this.renewer.unref();
    }
    this.wake();
  }

  /** Looks for due follow-ups soon (after what runs now has had its turn). */
  wake(): void {
    if (!this.perform || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      await this.claimAndRun();
    } finally {
      this.pumping = false;
      if (this.pumpAgain) {
        this.pumpAgain = false;
        this.wake();
      }
    }
  }

  private async claimAndRun(): Promise<void> {
    const perform = this.perform;
    const free = this.concurrency - this.running.size;
    if (!perform || free <= 0) return;
    let claimed: FollowUp[];
    try {
      claimed = await retryWhileUnavailable(() => this.options.store.claimFollowUps(this.owner, this.leaseMs, free), this.patience);
    } catch (error) {
      if (this.perform) this.options.logger.warn({ err_message: firstLine(error) }, "follow-ups not claimed; trying again");
      return;
    }
    // stopped while it waited for the store: what it claimed is let go by stop()
    if (!this.perform) return;
    for (const followUp of claimed) {
      if (this.runningSeqs.has(followUp.seq)) continue;
      this.runningSeqs.add(followUp.seq);
      const run: Promise<void> = this.run(perform, followUp).finally(() => {
        this.running.delete(run);
        this.runningSeqs.delete(followUp.seq);
        this.wake();
      });
      this.running.add(run);
    }
  }

  private async run(perform: PerformFollowUp, followUp: FollowUp): Promise<void> {
    const { store, logger, metrics } = this.options;
    let then: readonly NewFollowUp[] | void;
    try {
      then = await perform(followUp);
    } catch (error) {
      await this.failed(followUp, error);
      return;
    }
    try {
      await retryWhileUnavailable(() => store.finishFollowUp(followUp.seq, this.owner, then ?? []), this.patience);
      metrics?.followUp(followUp.kind, "done");
    } catch (error) {
      // the effect happened; the row stays claimed and runs again after the next start, where ensure-style effects find their work done
      logger.warn({ kind: followUp.kind, correlation_id: followUp.correlationId, err_message: firstLine(error) }, "follow-up done but not recorded");
    }
  }

  private async failed(followUp: FollowUp, error: unknown): Promise<void> {
    const { store, logger, metrics } = this.options;
    const message = firstLine(error);
    const status = (error as { status?: unknown }).status;
    const fields = {
      kind: followUp.kind,
      lane: followUp.lane,
      correlation_id: followUp.correlationId,
      err_message: message,
      ...(typeof status === "number" ? { status } : {}),
    };
    // an outage of the store is no fault of the effect: it waits for the store, and is never given up for it
    const delay = isPermanent(error) ? undefined : error instanceof StoreUnavailableError ? this.delays[0] : this.delays[followUp.attempts - 1];
    try {
      await retryWhileUnavailable(() => store.retryFollowUp(followUp.seq, this.owner, message, delay ?? null), this.patience);
    } catch (storeError) {
      logger.warn({ ...fields, store_error: firstLine(storeError) }, "follow-up failure not recorded");
      return;
    }
    if (delay === undefined) {
      metrics?.followUp(followUp.kind, "gave_up");
      const hint = followUp.kind === "pull-request" ? "redeliver the webhook or run `pw reconcile`" : "redeliver the webhook to try again";
      logger.error({ ...fields, attempts: followUp.attempts }, `follow-up gave up: ${hint}`);
      await this.options.onGiveUp?.(followUp);
      return;
    }
    metrics?.followUp(followUp.kind, "retried");
    logger.warn({ ...fields, retry_in_ms: delay }, "follow-up failed; trying again");
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      this.wake();
    }, delay);
    timer.unref();
    this.retryTimers.add(timer);
  }

  /** Resolves when nothing runs and nothing is left in the store, retries included (tests). */
  async drain(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.running.size === 0 && (await this.options.store.followUpBacklog()).unfinished === 0) return;
      if (Date.now() > deadline) throw new Error(`follow-ups not drained within ${timeoutMs} ms`);
      this.wake();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /**
   * Stops taking follow-ups and waits up to `graceMs` for those under way; what is left stays in
   * the store for the next start. Returns how many follow-ups are unfinished.
   */
  async stop(graceMs: number): Promise<number> {
    this.perform = undefined;
    this.stopping.abort();
    clearInterval(this.poller);
    clearInterval(this.renewer);
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.running]), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    try {
      if (this.running.size === 0) await this.options.store.releaseFollowUps(this.owner);
      return (await this.options.store.followUpBacklog()).unfinished;
    } catch {
      return -1;
    }
  }
}
