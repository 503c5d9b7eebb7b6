import pg from "pg";
import { z } from "zod";
import { StoreUnavailableError } from "../core/errors.js";
import { parseDatabaseUrl, type DatabaseUrl } from "./database-url.js";

/**
 * The channel PostgreSQL notifies on when a worker is queued (NEEDS_INIT, created or queued
 * again), merged, or gets a request (`/worker terminate`). The notice is sent by a trigger on
 * `workers` (PostgreSQL schema step 1), so every writer sends it, and only when its transaction
 * commits: a listener never hears of a move that did not happen.
 */
export const WORKER_CHANNEL = "pw_workers";

export const WORKER_EVENTS = ["queued", "merged", "request"] as const;

/** A notice's payload, as the trigger writes it; checked, since anyone may NOTIFY on a channel. */
const workerNoticeSchema = z.object({
  event: z.enum(WORKER_EVENTS),
  id: z.string(),
  repo: z.string().nullable(),
});

export type WorkerNotice =
  | z.infer<typeof workerNoticeSchema>
  /** Listening again after the connection was lost: notices sent meanwhile are gone, so look at everything. */
  | { event: "reconnected" };

export interface WorkerNoticeOptions {
  /** The first pause before listening again after the connection was lost; it doubles up to `maxReconnectDelayMs`. */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** How long to wait for the connection (default 5 s). */
  connectTimeoutMs?: number;
}

/**
 * Wakes a runner the moment a worker is queued, merged or asked to stop, on one connection of
 * its own that LISTENs on `WORKER_CHANNEL`. `wait(pollMs)` answers with the notices that came
 * since the last wait, else with the first to come, else with none after `pollMs`: the poll
 * interval is the fallback, and a runner does a full pass whatever the answer. When the
 * connection is lost it listens again with backoff (waits just time out meanwhile) and then
 * answers `reconnected`.
 */
export class WorkerNotices {
  private client: pg.Client | undefined;
  private readonly notices: WorkerNotice[] = [];
  private readonly waiters = new Set<() => void>();
  private closed = false;
  private reconnecting: NodeJS.Timeout | undefined;
  private reconnectDelayMs: number;

  private constructor(
    private readonly url: DatabaseUrl,
    private readonly options: WorkerNoticeOptions,
  ) {
    this.reconnectDelayMs = options.reconnectDelayMs ?? 250;
  }

  /** Listens on `url`; rejects with a StoreUnavailableError when the database cannot be reached. */
  static async listen(url: string | DatabaseUrl, options: WorkerNoticeOptions = {}): Promise<WorkerNotices> {
    const notices = new WorkerNotices(typeof url === "string" ? parseDatabaseUrl(url) : url, options);
    await notices.connect();
    return notices;
  }

  /** Whether the connection listens now. */
  get listening(): boolean {
    return this.client !== undefined;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.url.connectionString,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5000,
      keepAlive: true,
      application_name: "parallel-workers-listen",
    });
    client.on("notification", (message) => {
      if (message.channel !== WORKER_CHANNEL) return;
      const notice = parseNotice(message.payload);
      if (notice) this.push(notice);
    });
    const lost = () => this.lost(client);
    client.on("error", lost);
    client.on("end", lost);
    try {
      await client.connect();
      await client.query(`LISTEN ${WORKER_CHANNEL}`);
    } catch (error) {
      client.removeListener("end", lost);
      await client.end().catch(() => {});
      throw new StoreUnavailableError(`database ${this.url.redacted} is unreachable (${(error as Error).message}): cannot listen for worker notices`, {
        cause: error,
      });
    }
    this.client = client;
  }

  private push(notice: WorkerNotice): void {
    this.notices.push(notice);
    for (const wake of this.waiters) wake();
  }

  /** The connection went away: listen again after a pause that grows while it fails. */
  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => {});
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnecting) return;
    const delay = this.reconnectDelayMs;
    this.reconnectDelayMs = Math.min(delay * 2, this.options.maxReconnectDelayMs ?? 10_000);
    this.reconnecting = setTimeout(() => {
      this.reconnecting = undefined;
      this.connect().then(
        () => {
          this.reconnectDelayMs = this.options.reconnectDelayMs ?? 250;
          if (this.closed) void this.close();
          else this.push({ event: "reconnected" });
        },
        () => this.scheduleReconnect(),
      );
    }, delay);
    this.reconnecting.unref();
  }

  /**
   * The notices that came since the last wait; when there are none, the first to come, or none
   * once `pollMs` passed or `signal` aborted (time for a pass anyway).
   */
  async wait(pollMs: number, signal?: AbortSignal): Promise<WorkerNotice[]> {
    if (this.notices.length === 0 && !this.closed && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, pollMs);
        signal?.addEventListener("abort", done);
        this.waiters.add(done);
      });
    }
    return this.notices.splice(0);
  }

  /** Stops listening; a wait under way answers at once. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnecting);
    this.reconnecting = undefined;
    for (const wake of this.waiters) wake();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}

/** A notice from its payload; undefined for one that is not ours. */
function parseNotice(payload: string | undefined): WorkerNotice | undefined {
  try {
    const parsed = workerNoticeSchema.safeParse(JSON.parse(payload ?? ""));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
