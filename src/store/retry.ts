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
