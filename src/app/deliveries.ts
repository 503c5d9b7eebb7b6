import type { Logger } from "../log/logger.js";
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
}

const DAY_MS = 24 * 3600_000;

/** How far back a forgotten id is looked for in the store, past when it was first seen (clock steps). */
const FORGET_MARGIN_MS = 60_000;

/**
 * The delivery ids seen, so a redelivery changes nothing. The ids of the retention window are
 * read from the store once, when the log is made, and kept in memory; a new id is known at once
 * and appended to the store in batches, one transaction per batch (a commit, or even a read, per
 * delivery would cost more than handling most deliveries). So redeliveries are caught across
 * restarts. What a crash can lose is the last few milliseconds of ids; the effects they guard
 * are idempotent anyway (every move is a compare-and-swap). One process records deliveries per
 * store (`pw serve`); the CLI never does.
 */
export class DeliveryLog {
  /** Every id remembered, with when it was first seen (insertion order is time order). */
  private readonly seen = new Map<string, number>();
  private readonly pending = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly flushMs: number;
  private readonly maxPending: number;
  private readonly retentionMs: number;
  private readonly logger: Logger | undefined;
  private readonly now: () => number;

  constructor(
    private readonly store: WorkerStore,
    options: DeliveryLogOptions = {},
  ) {
    this.flushMs = options.flushMs ?? 50;
    this.maxPending = options.maxPending ?? 500;
    this.retentionMs = options.retentionMs ?? 7 * DAY_MS;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    const at = this.now();
    for (const id of store.recentDeliveries(new Date(at - this.retentionMs).toISOString())) this.seen.set(id, at);
  }

  /** Records a delivery id; false when it was seen before. */
  record(id: string, event: string): boolean {
    if (this.seen.has(id)) return false;
    const at = this.now();
    this.seen.set(id, at);
    this.pending.set(id, event);
    if (this.pending.size >= this.maxPending) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.flushMs);
      this.timer.unref();
    }
    return true;
  }

  /** Whether an id has been seen (and not forgotten). */
  has(id: string): boolean {
    return this.seen.has(id);
  }

  /** At shutdown: writes the ids still waiting. */
  close(): void {
    this.flush();
  }

  /** Forgets an id whose handling failed, so GitHub's redelivery of it is handled. */
  forget(id: string): void {
    const at = this.seen.get(id);
    if (at === undefined) return;
    this.seen.delete(id);
    // still waiting: it never reaches the store; written already: delete it there
    if (!this.pending.delete(id)) this.store.forgetDelivery(id, new Date(at - FORGET_MARGIN_MS).toISOString());
  }

  /** Writes the waiting ids now, and lets go of ids past the retention; on failure they wait for the next try. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const oldest = this.now() - this.retentionMs;
    for (const [id, at] of this.seen) {
      if (at >= oldest) break;
      this.seen.delete(id);
    }
    if (this.pending.size === 0) return;
    const batch = [...this.pending].map(([id, event]) => ({ id, event }));
    try {
      this.store.recordDeliveries(batch);
      for (const { id } of batch) this.pending.delete(id);
    } catch (error) {
      this.logger?.warn({ err_message: (error as Error).message, waiting: batch.length }, "delivery ids not written yet");
      this.timer = setTimeout(() => this.flush(), this.flushMs * 10);
      this.timer.unref();
    }
  }
}
