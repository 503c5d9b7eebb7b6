import { createRequire } from "node:module";
import { pino } from "pino";
import type { LokiOptions } from "pino-loki";
import type { LokiConnection } from "./env.js";

/**
 * Log fields that pino-loki turns into stream labels (it adds `level` itself). Every one has a
 * handful of values; `worker_id`, `task_id` and `correlation_id` stay in the JSON line.
 */
export const LOKI_LABEL_FIELDS = ["skill", "phase", "component", "state"] as const;
/** Every stream label a pushed line can carry. */
export const LOKI_STREAM_LABELS = ["skill", "phase", "level", "component", "state"] as const;

export interface LokiTuning {
  /** Seconds between batched pushes (pino-loki's `batching.interval`); default 2. */
  batchIntervalSeconds?: number;
  /**
   * Milliseconds one push may take before it is dropped. This also bounds how long the final
   * push at exit can hold a process: default 1000 for the `cli` component, 5000 otherwise.
   */
  timeoutMs?: number;
  /** Most lines waiting for the next batch; beyond it the oldest are dropped. Default 10000. */
  maxBufferSize?: number;
  /** Let pino-loki print failed pushes on stderr; default false (stdout/file keep every line anyway). */
  reportErrors?: boolean;
}

export const LOKI_DEFAULTS = { batchIntervalSeconds: 2, timeoutMs: 5000, maxBufferSize: 10_000, reportErrors: false };
/** A short CLI command must not wait long for Loki at exit. */
export const LOKI_CLI_TIMEOUT_MS = 1000;

/** The options handed to pino-loki, which runs in a worker thread (so they must be plain data). */
export function lokiTransportOptions(connection: LokiConnection, tuning: LokiTuning = {}): LokiOptions {
  const settings = { ...LOKI_DEFAULTS, ...definedOnly(tuning) };
  const options: LokiOptions = {
    // pino-loki resolves `endpoint` against `host`; an absolute endpoint is used as it is.
    host: connection.pushUrl,
    endpoint: connection.pushUrl,
    // Labels come only from these fields (and pino-loki's `level`); `labels` stays empty.
    propsToLabels: [...LOKI_LABEL_FIELDS],
    batching: { interval: settings.batchIntervalSeconds, maxBufferSize: settings.maxBufferSize },
    timeout: settings.timeoutMs,
    silenceErrors: !settings.reportErrors,
    // Everything stays in the JSON line, where `| json` finds it.
    structuredMetaKey: false,
    replaceTimestamp: false,
  };
  if (connection.basicAuth) options.basicAuth = { ...connection.basicAuth };
  if (connection.tenant) options.headers = { "X-Scope-OrgID": connection.tenant };
  return options;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The parts of thread-stream used here; its type declarations leave out unref, closed and destroyed. */
interface ThreadStream {
  write(line: string): boolean;
  end(): void;
  unref(): void;
  readonly closed: boolean;
  readonly destroyed: boolean;
  on(event: "error", listener: (error: Error) => void): unknown;
  once(event: "close", listener: () => void): unknown;
}

/**
 * pino-loki in its own worker thread, behind a guard: after `close()`, or if the worker dies,
 * writes are dropped instead of raising an error event, so the other destinations go on.
 */
export class LokiStream {
  readonly #stream: ThreadStream;
  #closing: Promise<void> | undefined;
  #failed = false;

  constructor(connection: LokiConnection, tuning: LokiTuning, onFailure: (error: Error) => void) {
    const require = createRequire(import.meta.url);
    const options = lokiTransportOptions(connection, tuning);
    this.#stream = pino.transport({ target: require.resolve("pino-loki"), options }) as unknown as ThreadStream;
    this.#stream.on("error", (error: Error) => {
      if (this.#failed || this.#closing) return;
      this.#failed = true;
      onFailure(error);
    });
  }

  write(line: string): void {
    if (this.#closing || this.#failed || this.#stream.destroyed) return;
    this.#stream.write(line);
  }

  /**
   * Ends the worker, which pushes what it still holds. thread-stream's `end()` waits
   * synchronously for the worker, so the push timeout bounds this; `timeoutMs` bounds the wait
   * for the worker to exit. Afterwards the worker never keeps the process alive.
   */
  close(timeoutMs: number): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      const stream = this.#stream;
      const done = () => {
        clearTimeout(timer);
        stream.unref();
        resolve();
      };
      // Referenced on purpose: an awaited close must settle even when nothing else is pending.
      const timer = setTimeout(done, timeoutMs);
      if (stream.closed) return done();
      stream.once("close", done);
      try {
        stream.end();
      } catch {
        done();
      }
    });
    return this.#closing;
  }
}
