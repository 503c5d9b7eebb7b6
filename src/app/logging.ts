import type { Logger } from "../log/logger.js";
import { OMITTED, summarizePayload } from "../log/redact.js";

/** An error as one log field: its kind, first line and HTTP status; never the event or request it carries. */
export function errorSummary(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const summary: Record<string, unknown> = { type: value.name, message: value.message.split("\n")[0] };
  const status = (value as { status?: unknown }).status;
  if (typeof status === "number") summary.status = status;
  if (value instanceof AggregateError) {
    summary.errors = value.errors.map((e: unknown) => (e instanceof Error ? `${e.name}: ${e.message.split("\n")[0]}` : String(e)));
  }
  return summary;
}

/** A webhook event as one log field: its id, name and the few payload fields that say what it was about. */
function eventSummary(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  const event = value as { id?: unknown; name?: unknown; payload?: unknown };
  // the line's redaction has run first and put the payload out of reach already
  return { id: event.id, name: event.name, payload: event.payload === OMITTED ? OMITTED : summarizePayload(event.payload) };
}

type ChildOptions = NonNullable<Parameters<Logger["child"]>[1]>;

const loggedErrors = new WeakSet<object>();

/**
 * Marks an error the app has logged already (with its delivery id and event) before handing it
 * to Probot, whose error handler would write it again: one failure, one line.
 */
export function loggedAlready<T>(error: T): T {
  if (typeof error === "object" && error !== null) loggedErrors.add(error);
  return error;
}

/**
 * The logger handed to Probot. Probot and @octokit/webhooks log errors with the delivery (and
 * its whole payload) attached, and debug lines with request bodies: here errors become their
 * first line and events a summary, so no payload or comment body is ever logged whole. Errors
 * the app's routes have logged already (`loggedAlready`) are not written again.
 */
export function probotLogger(logger: Logger): Logger {
  return deferred(logger, { name: "probot" }, { serializers: { err: errorSummary, error: errorSummary, event: eventSummary } });
}

/**
 * A child of `base` with `bindings`, made when it first writes. Probot makes a child logger for
 * every delivery (and Octokit more), and making one runs redaction over its bindings: that was
 * the largest cost of a delivery that changes nothing, and most such children never write a
 * line. Its own children are made from `base` with the bindings gathered so far, so a nested
 * `name` (Probot's `probot`, then `event`) replaces the outer one instead of repeating the key.
 */
function deferred(base: Logger, bindings: Record<string, unknown>, options: ChildOptions): Logger {
  let made: Logger | undefined;
  const real = () => (made ??= base.child(bindings, options) as unknown as Logger);
  return new Proxy({} as Logger, {
    get(_target, property) {
      if (property === "error") {
        return (...args: unknown[]) => {
          const [first] = args;
          if (typeof first === "object" && first !== null && loggedErrors.has(first)) return;
          (real().error as (...a: unknown[]) => void)(...args);
        };
      }
      if (property === "child") {
        return (more: Record<string, unknown>, moreOptions?: ChildOptions) =>
          deferred(base, { ...bindings, ...more }, {
            ...options,
            ...moreOptions,
            serializers: { ...options.serializers, ...moreOptions?.serializers },
          });
      }
      const value: unknown = Reflect.get(real(), property);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(real()) : value;
    },
    set: (_target, property, value) => Reflect.set(real(), property, value),
    has: (_target, property) => Reflect.has(real(), property),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor(_target, property) {
      const descriptor = Reflect.getOwnPropertyDescriptor(real(), property);
      return descriptor && { ...descriptor, configurable: true };
    },
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
  });
}
