import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { pino, type DestinationStream, type Logger, type StreamEntry } from "pino";
import type PinoPretty from "pino-pretty";
import { InvalidInputError } from "../core/errors.js";
import { isWorkerState, type WorkerState } from "../core/states.js";
import type { TransitionSource } from "../core/worker.js";
import { parseLogLevel, readLogEnv, type LogFormat } from "./env.js";
import { LOKI_CLI_TIMEOUT_MS, LOKI_DEFAULTS, LokiStream, type LokiTuning } from "./loki.js";
import { redactLogFields, serializers } from "./redact.js";

export type { Logger };
export type { LokiTuning };
export type { LogFormat };

/** The `skill` base field and Loki label of every line. */
export const SKILL = "parallel-workers";

/** Which part of the product wrote a line; a Loki stream label. */
export type Component = "cli" | "runner" | "app";
export const COMPONENTS: readonly Component[] = ["cli", "runner", "app"];

export interface LoggerOptions {
  component: Component;
  /** pino level; default LOG_LEVEL or "info". */
  level?: string;
  /** "stdout" (default), "stderr", or a file path that JSON lines are appended to. */
  destination?: string;
  /**
   * "json" (default): JSON lines. "pretty": one readable line per event on the local
   * destination, redacted the same; Loki still gets JSON.
   */
  format?: LogFormat;
  /** Colours in pretty lines (default false). */
  color?: boolean;
  env?: NodeJS.ProcessEnv;
  /**
   * Lines also go to Loki when `LOKI_URL` is set (default `true`); `false` keeps them local,
   * an object tunes batching and timeouts.
   */
  loki?: boolean | LokiTuning;
}

export interface FlushOptions {
  /** Longest wait for the Loki worker to finish its last push; default the push timeout + 1 s. */
  timeoutMs?: number;
}

interface Outputs {
  local: DestinationStream & { flushSync?: () => void };
  loki?: LokiStream;
  flushWaitMs: number;
}

const outputsKey = Symbol("parallel-workers.log.outputs");

/** Log-object keys pino-loki would turn into labels; renamed so a stray value cannot become one. */
const RESERVED_KEYS: Readonly<Record<string, string>> = {
  skill: "skill_detail",
  phase: "phase_detail",
  component: "component_detail",
  hostname: "host",
};

/**
 * Keeps Loki labels low-cardinality: `skill`, `phase` and `component` come from the logger, and
 * `state` is a label only when it is a worker state name.
 */
function guardLabelFields(object: Record<string, unknown>): Record<string, unknown> {
  let result = object;
  const rename = (from: string, to: string) => {
    if (result === object) result = { ...object };
    result[to] = result[from];
    delete result[from];
  };
  for (const [from, to] of Object.entries(RESERVED_KEYS)) if (from in object) rename(from, to);
  if ("state" in object && !(typeof object.state === "string" && isWorkerState(object.state))) rename("state", "state_detail");
  return result;
}

/** Fields a pretty line leaves out: constant ones, and those it puts before the message. */
const PRETTY_HIDDEN = ["pid", "hostname", "skill", "phase", "component", "worker_id", "task_id", "correlation_id", "state", "from_state"];

/** `runner worker-abc123 TASK-1: state NEEDS_INIT -> WORKING`, with the state when the message lacks it. */
function prettyMessage(log: Record<string, unknown>, messageKey: string): string {
  const who = [log.component, log.worker_id, log.task_id].filter((part) => typeof part === "string" && part !== "").join(" ");
  const message = String(log[messageKey] ?? "");
  const state = typeof log.state === "string" && !message.includes(log.state) ? ` [${log.state}]` : "";
  return `${who}: ${message}${state}`;
}

/**
 * Turns each JSON line (already redacted) into one readable line, written synchronously, so no
 * line is lost at exit. pino-pretty is loaded only here: it costs start-up time.
 */
function prettyDestination(local: Outputs["local"], color: boolean): Outputs["local"] {
  const { prettyFactory } = createRequire(import.meta.url)("pino-pretty") as typeof PinoPretty;
  const pretty = prettyFactory({
    colorize: color,
    singleLine: true,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: PRETTY_HIDDEN.join(","),
    messageFormat: prettyMessage,
    // an error object stays on the event's line, as JSON, instead of a multi-line stack
    errorLikeObjectKeys: [],
  });
  return {
    write: (line: string) => local.write(pretty(line)),
    flushSync: () => local.flushSync?.(),
  };
}

function openDestination(destination: string): Outputs["local"] {
  if (destination === "stdout") return pino.destination({ dest: 1, sync: true });
  if (destination === "stderr") return pino.destination({ dest: 2, sync: true });
  mkdirSync(dirname(destination), { recursive: true });
  return pino.destination({ dest: destination, append: true, sync: true });
}

/**
 * The one logger factory. Lines are JSON with the base fields `skill`, `phase` and `component`
 * and an epoch-millisecond `time`; children add `worker_id`, `task_id`, `correlation_id`, and
 * `state` on transitions. They are written synchronously to stdout, stderr or a file, and, when
 * `LOKI_URL` is set, also pushed to Loki from a worker thread that can never block or crash
 * the caller. With `format: "pretty"` the local lines are readable ones instead (Loki keeps
 * JSON). Secret-looking fields are redacted in both. Call `flushLogger` before a process exits.
 *
 * Throws InvalidInputError naming the variable when LOG_LEVEL, PW_PHASE or LOKI_* is invalid.
 */
export function createLogger(options: LoggerOptions): Logger {
  if (!COMPONENTS.includes(options.component)) {
    throw new InvalidInputError(`log component ${JSON.stringify(options.component)} is not known: use one of ${COMPONENTS.join(", ")}`);
  }
  const env = readLogEnv(options.env ?? process.env);
  const level = options.level !== undefined ? parseLogLevel(options.level) : env.level;
  const opened = openDestination(options.destination ?? "stdout");
  const local = options.format === "pretty" ? prettyDestination(opened, options.color ?? false) : opened;
  const outputs: Outputs = { local, flushWaitMs: 0 };
  // Each destination takes every level; the logger's own level (which callers may change) filters.
  const streams: StreamEntry[] = [{ level: "trace", stream: outputs.local }];
  if (env.loki && options.loki !== false) {
    const given = typeof options.loki === "object" ? options.loki : {};
    const defaultTimeoutMs = options.component === "cli" ? LOKI_CLI_TIMEOUT_MS : LOKI_DEFAULTS.timeoutMs;
    const tuning: LokiTuning = { ...given, timeoutMs: given.timeoutMs ?? defaultTimeoutMs };
    outputs.flushWaitMs = (tuning.timeoutMs ?? defaultTimeoutMs) + 1000;
    outputs.loki = new LokiStream(env.loki, tuning, (error) => {
      logger.warn({ err: error }, "Loki transport stopped; lines still go to the local destination");
    });
    streams.push({ level: "trace", stream: outputs.loki });
  }
  const logger = pino(
    {
      level,
      base: { skill: SKILL, phase: env.phase, component: options.component },
      // pino-loki needs epoch milliseconds to timestamp the Loki entry.
      timestamp: pino.stdTimeFunctions.epochTime,
      // redaction by our own rules, not pino's `redact` paths: its `*.key` paths ran over every
      // field of every line (90 us a line, against 6 us without)
      serializers,
      formatters: { log: (fields) => guardLabelFields(redactLogFields(fields)) },
    },
    pino.multistream(streams),
  );
  // Children inherit it through the prototype, so flushLogger works on them too.
  Object.defineProperty(logger, outputsKey, { value: outputs });
  // pino hands a child's bindings to no formatter: they are redacted here, for every descendant
  const pinoChild = logger.child;
  Object.defineProperty(logger, "child", {
    value: function child(this: Logger, bindings: Record<string, unknown>, options?: Parameters<Logger["child"]>[1]) {
      return pinoChild.call(this, redactLogFields(bindings), options);
    },
  });
  return logger;
}

/**
 * Flushes the local destination and ends Loki shipping, which pushes what is still buffered.
 * Bounded: a slow or unreachable Loki holds it for at most the push timeout (1 s for the `cli`
 * component, 5 s otherwise), and afterwards nothing of the logger keeps the process alive. Call it once, before exit or at
 * shutdown; later lines still reach stdout/file, not Loki. Safe on any logger, child or not.
 */
export async function flushLogger(logger: Logger, options: FlushOptions = {}): Promise<void> {
  const outputs = (logger as unknown as Record<symbol, Outputs | undefined>)[outputsKey];
  if (!outputs) return;
  try {
    outputs.local.flushSync?.();
  } catch {
    // A closed stdout (EPIPE) must not turn an exit into a crash.
  }
  await outputs.loki?.close(options.timeoutMs ?? outputs.flushWaitMs);
}

/** The ids that tie a line to one worker; null and undefined ones are left out. */
export interface WorkerLogFields {
  workerId: string;
  taskId?: string | null;
  correlationId?: string | null;
}

/** A child logger whose lines carry `worker_id`, `task_id` and `correlation_id` (JSON fields, never labels). */
export function workerLogger(logger: Logger, fields: WorkerLogFields): Logger {
  return logger.child(workerFields(fields));
}

function workerFields(fields: WorkerLogFields): Record<string, unknown> {
  const bindings: Record<string, unknown> = { worker_id: fields.workerId };
  if (fields.taskId) bindings.task_id = fields.taskId;
  if (fields.correlationId) bindings.correlation_id = fields.correlationId;
  return bindings;
}

/** A child logger for work not yet tied to a worker, such as one webhook delivery. */
export function correlatedLogger(logger: Logger, correlationId: string): Logger {
  return logger.child({ correlation_id: correlationId });
}

export interface TransitionLogFields {
  /** null when this move created the worker. */
  from: WorkerState | null;
  to: WorkerState;
  source: TransitionSource;
  /** Why, e.g. the error of a move to UNKNOWN. */
  detail?: string | null;
}

/**
 * One line per state change, with `state` (the new state, a Loki label), `from_state` and
 * `source`, and the worker's ids when given. A move into the error state UNKNOWN is logged at
 * level error.
 */
export function logTransition(logger: Logger, transition: TransitionLogFields, worker?: WorkerLogFields): void {
  // the worker's ids go on the line itself: a child logger per move costs more than the line
  const fields: Record<string, unknown> = worker ? workerFields(worker) : {};
  fields.state = transition.to;
  fields.from_state = transition.from;
  fields.source = transition.source;
  if (transition.detail) fields.detail = transition.detail;
  const message = `state ${transition.from ?? "(new)"} -> ${transition.to}`;
  if (transition.to === "UNKNOWN") logger.error(fields, message);
  else logger.info(fields, message);
}

/** A logger that drops everything, for library calls made without one. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
