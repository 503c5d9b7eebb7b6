import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { pino, type Logger } from "pino";

export type { Logger };

/** Which part of the product wrote a line; a Loki stream label. */
export type Component = "cli" | "runner" | "app";

export interface LoggerOptions {
  component: Component;
  /** pino level; default LOG_LEVEL or "info". */
  level?: string;
  /** "stdout" (default) or a file path that JSON lines are appended to. */
  destination?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The one logger factory. Base fields `skill`, `phase` and `component`; children add
 * `worker_id`, `task_id`, `correlation_id` and `state`.
 */
export function createLogger(options: LoggerOptions): Logger {
  const env = options.env ?? process.env;
  const level = options.level ?? env.LOG_LEVEL ?? "info";
  const destination = options.destination ?? "stdout";
  if (destination !== "stdout") mkdirSync(dirname(destination), { recursive: true });
  const stream =
    destination === "stdout" ? pino.destination(1) : pino.destination({ dest: destination, append: true, sync: true });
  return pino(
    {
      level,
      base: { skill: "parallel-workers", phase: env.PW_PHASE ?? "5", component: options.component },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    stream,
  );
}

/** A logger that drops everything, for library calls made without one. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
