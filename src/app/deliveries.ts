import type { Logger } from "../log/logger.js";
import { outageReports, retryWhileUnavailable, type RetryOptions } from "../store/retry.js";
import type { WorkerStore } from "../store/store.js";

export interface DeliveryLogOptions {
  /** The longest a new id waits in memory before it is written (default 50 ms). */
  flushMs?: number;
  /** Written at once when this many wait (default 500). */
  maxPending?: number;
  /** Ids older than this are not remembered (default 7 days; GitHub redelivers for 3). */
  retentionMs?: number;
  logger?: Logger;
  now?: () => number;
  /**
   * The store is shared by several app processes (replicas behind one URL, on PostgreSQL): each
   * delivery is claimed in the store, atomically, before it is handled (default: the store's
   * backend is postgres).
   */
  shared?: boolean;
}

const DAY_MS = 24 * 3600_000;

/** On a shared store, how long a claimed id is also kept in memory. */
const SHARED_MEMORY_MS = 3600_000;

/** How far back a forgotten id is looked for in the store, past when it was first seen (clock steps). */
const FORGET_MARGIN_MS = 60_000;

/**
 * The delivery ids seen, so a redelivery changes nothing. The ids of the retention window are
 * read from the store once, when the log is opened, and kept in memory; a new id is known at
 * once and appended to the store in batches, one transaction per batch (a commit, or even a
 * read, per delivery would cost more than handling most deliveries). So redeliveries are caught
 * across restarts. What a crash can lose is the last few milliseconds of ids; the effects they
 * guard are idempotent anyway (every move is a compare-and-swap). While the store is
 * unavailable the ids wait in memory and are written when it answers again. One process records
 * deliveries per SQLite file (`pw serve`); the CLI never does.
 *
 * On a shared store (PostgreSQL, where replicas of the app may stand behind one URL) memory
 * cannot tell a delivery apart from one another replica took: each is claimed in the store
 * (`claimDelivery`) before it is handled, and only the replica that claimed it handles it.
 * A delivery that comes while the store is unavailable is held (`hold`) and handled once it
 * answers: GitHub does not redeliver on its own, so answering 5xx would lose it.
 */
export class DeliveryLog {
  /** Every id remembered, with when it was first seen (insertion order is time order). */
  private readonly seen = new Map<string, number>();
  /** Ids not written yet, with their event. */
  private readonly pending = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  /** The writes under way (one at a time); a flush meanwhile waits for them. */
  private writing: Promise<void> | undefined;
  private readonly flushMs: number;
  private readonly maxPending: number;
  private readonly retentionMs: number;
  private readonly logger: Logger | undefined;
  private readonly now: () => number;
  private readonly outages: RetryOptions;
  private readonly shared: boolean;
  /** Deliveries waiting for the store, by id. */
  private readonly held = new Map<string, Promise<void>>();
  /** Ends the waits of held deliveries at shutdown. */
  private readonly stopping = new AbortController();
  private readonly holdOutages: RetryOptions;

  private constructor(
    private readonly store: WorkerStore,
    options: DeliveryLogOptions,
  ) {
    this.flushMs = options.flushMs ?? 50;
    this.maxPending = options.maxPending ?? 500;
    this.retentionMs = options.retentionMs ?? 7 * DAY_MS;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.outages = this.logger ? outageReports(this.logger, "delivery ids") : {};
    this.shared = options.shared ?? store.backend === "postgres";
    this.holdOutages = { ...(this.logger ? outageReports(this.logger, "deliveries") : {}), signal: this.stopping.signal };
  }

  /** The log of `store`, knowing the ids of the retention window. */
  static async open(store: WorkerStore, options: DeliveryLogOptions = {}): Promise<DeliveryLog> {
    const log = new DeliveryLog(store, options);
    // shared: every claim asks the store, so the window need not be read
    if (log.shared) return log;
    const at = log.now();
    for (const id of await store.recentDeliveries(new Date(at - log.retentionMs).toISOString())) log.seen.set(id, at);
    return log;
  }

  /** Records a delivery id; false when it was seen before. */
  record(id: string, event: string): boolean {
    if (this.seen.has(id)) return false;
    const at = this.now();
    this.seen.set(id, at);
    this.pending.set(id, event);
    if (this.pending.size >= this.maxPending) void this.flush();
    else this.flushLater(this.flushMs);
    return true;
  }

  /**
   * Claims a delivery for this process: false when it was seen before (here, or on a shared
   * store by any replica). Rejects with StoreUnavailableError when the store cannot say.
   */
  async claim(id: string, event: string): Promise<boolean> {
    if (!this.shared) return this.record(id, event);
    // no answer from memory: another replica may have forgotten the id since (its follow-up gave up)
    const at = this.now();
    if (!(await this.store.claimDelivery(id, event, new Date(at - this.retentionMs).toISOString()))) return false;
    this.seen.set(id, at);
    // the store tells deliveries apart; memory keeps the last hour's, for `has`
    this.forgetOld(at - SHARED_MEMORY_MS);
    return true;
  }

  /**
   * Holds a delivery the store could not take: `step` runs again, with growing pauses, until it
   * ends other than with StoreUnavailableError (the outage said once a minute); `failed` is told
   * of any other failure, and of the outage when the log closes first.
   */
  hold(id: string, step: () => Promise<void>, failed: (error: unknown) => void): void {
    if (this.held.has(id)) return;
    const run = retryWhileUnavailable(step, this.holdOutages)
      .catch(failed)
      .finally(() => this.held.delete(id));
    this.held.set(id, run);
  }

  /** How many deliveries wait for the store. */
  get heldCount(): number {
    return this.held.size;
  }

  /** Whether an id has been seen (and not forgotten). */
  has(id: string): boolean {
    return this.seen.has(id);
  }

  /** At shutdown: writes the ids still waiting; held deliveries stop waiting (each told to its `failed`). */
  async close(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.held.values());
    await this.flush();
  }

  /**
   * Forgets an id whose handling failed, so GitHub's redelivery of it is handled; resolves once
   * the store has forgotten it too (never rejects: a failure is logged).
   */
  async forget(id: string): Promise<void> {
    const at = this.seen.get(id);
    this.seen.delete(id);
    if (this.shared) {
      // the id may have left memory already: every record of it in the retention window goes
      const since = new Date(this.now() - this.retentionMs).toISOString();
      try {
        await retryWhileUnavailable(() => this.store.forgetDelivery(id, since), this.outages);
      } catch (error) {
        this.logger?.warn({ err_message: (error as Error).message, delivery: id }, "delivery id not forgotten in the store: a redelivery of it may be ignored");
      }
      return;
    }
    if (at === undefined) return;
    // still waiting: it never reaches the store
    if (this.pending.delete(id)) return;
    // written, or being written: deleted there once the write is done
    await this.writing;
    try {
      await retryWhileUnavailable(() => this.store.forgetDelivery(id, new Date(at - FORGET_MARGIN_MS).toISOString()), this.outages);
    } catch (error) {
      this.logger?.warn({ err_message: (error as Error).message, delivery: id }, "delivery id not forgotten in the store: a redelivery of it may be ignored after a restart");
    }
  }

  /**
   * Writes the waiting ids now, and lets go of ids past the retention; resolves once they are
   * written, or (on a failure other than an outage) left waiting for the next try.
   */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.forgetOld();
    this.writing ??= this.writeWaiting().finally(() => (this.writing = undefined));
    return this.writing;
  }

  /** Lets go of the ids seen before `oldest` (default: past the retention; the oldest come first). */
  private forgetOld(oldest = this.now() - this.retentionMs): void {
    for (const [id, at] of this.seen) {
      if (at >= oldest) break;
      this.seen.delete(id);
    }
  }

  private flushLater(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => void this.flush(), ms);
    this.timer.unref();
  }

  /** Writes batches until none waits; ids recorded during a write go in the next batch. */
  private async writeWaiting(): Promise<void> {
    while (this.pending.size > 0) {
      const batch = [...this.pending].map(([id, event]) => ({ id, event }));
      this.pending.clear();
      try {
        await retryWhileUnavailable(() => this.store.recordDeliveries(batch), this.outages);
      } catch (error) {
        // back in line (unless forgotten meanwhile), before what came since
        const since = [...this.pending];
        this.pending.clear();
        for (const { id, event } of batch) if (this.seen.has(id)) this.pending.set(id, event);
        for (const [id, event] of since) this.pending.set(id, event);
        this.logger?.warn({ err_message: (error as Error).message, waiting: this.pending.size }, "delivery ids not written yet");
        this.flushLater(this.flushMs * 10);
        return;
      }
    }
  }
}
