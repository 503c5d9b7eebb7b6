import { StoreUnavailableError } from "../core/errors.js";

export interface RetryOptions {
  /** The first pause after a failure; it doubles up to `maxDelayMs` (defaults 250 ms and 10 s). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /**
   * Told that the store is unavailable: at the first failure, then at most once per
   * `reportEveryMs` (default a minute) while it lasts, with how long it has lasted.
   */
  report?: (error: StoreUnavailableError, unavailableMs: number) => void;
  reportEveryMs?: number;
  /** Told once the store answers again after it was unavailable. */
  recovered?: (unavailableMs: number) => void;
  /** Stops retrying: the last failure is thrown. */
  signal?: AbortSignal;
}

/**
 * Runs `call` until it does not fail with a StoreUnavailableError, pausing between tries with
 * growing backoff; any other failure is thrown at once. This is how a runner or the app rides
 * out a database that went away: a transaction that never committed is simply run again, and a
 * compare-and-swap whose commit may have happened reports a conflict when tried again, which its
 * caller already handles by reading the worker again.
 */
export async function retryWhileUnavailable<T>(call: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const maxDelay = options.maxDelayMs ?? 10_000;
  const reportEvery = options.reportEveryMs ?? 60_000;
  let delay = options.initialDelayMs ?? 250;
  let since: number | undefined;
  let reportedAt: number | undefined;
  for (;;) {
    try {
      const result = await call();
      if (since !== undefined) options.recovered?.(Date.now() - since);
      return result;
    } catch (error) {
      if (!(error instanceof StoreUnavailableError) || options.signal?.aborted) throw error;
      const now = Date.now();
      since ??= now;
      if (reportedAt === undefined || now - reportedAt >= reportEvery) {
        reportedAt = now;
        options.report?.(error, now - since);
      }
      await pause(delay, options.signal);
      delay = Math.min(delay * 2, maxDelay);
    }
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done);
  });
}

/** Where outages are said: a logger (pino's fits). */
export interface OutageLog {
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
}

/**
 * Retry options for one component (the runner, the follow-up drainer...), shared by all its
 * calls: that the store is unavailable is said on `log` once a minute at most, however many
 * calls wait, and that it answers again once.
 */
export function outageReports(log: OutageLog, component: string, everyMs = 60_000): Pick<RetryOptions, "report" | "recovered" | "reportEveryMs"> {
  let saidAt: number | undefined;
  let down = false;
  return {
    // every failure comes here; this says it once per `everyMs` for all the calls together
    reportEveryMs: 0,
    report: (error, unavailableMs) => {
      down = true;
      const now = Date.now();
      if (saidAt !== undefined && now - saidAt < everyMs) return;
      saidAt = now;
      log.warn({ err_message: error.message, unavailable_ms: unavailableMs }, `${component}: the store is unavailable; waiting for it, nothing is lost`);
    },
    recovered: (unavailableMs) => {
      if (!down) return;
      down = false;
      log.info({ unavailable_ms: unavailableMs }, `${component}: the store answers again`);
    },
  };
}

/**
 * The store, with every call (but `ping` and `close`) run through `retryWhileUnavailable`: for
 * a long-running component whose work must outlast a database restart (the runner's passes and
 * pipelines), never for an answer someone waits for (a webhook, a command).
 */
export function patientStore<S extends object>(store: S, options: RetryOptions): S {
  return new Proxy(store, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== "function" || key === "ping" || key === "close") return value;
      return (...args: unknown[]) => retryWhileUnavailable(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args), options);
    },
  });
}
