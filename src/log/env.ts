import { z } from "zod";
import { InvalidInputError } from "../core/errors.js";

/** pino's levels, plus `silent`; `LOG_LEVEL` is shared with Probot, which takes the same names. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** How lines look where `pw loop` and `pw serve` write them: JSON lines, or one readable line each. */
export const LOG_FORMATS = ["pretty", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Loki's push path; appended to `LOKI_URL` unless the URL already ends with it. */
export const LOKI_PUSH_PATH = "/loki/api/v1/push";

/** Where and as whom log lines are pushed to Loki. */
export interface LokiConnection {
  /** The full push URL, e.g. `http://localhost:3100/loki/api/v1/push`. */
  pushUrl: string;
  basicAuth?: { username: string; password: string };
  /** Sent as `X-Scope-OrgID` (multi-tenant Loki, Grafana Cloud). */
  tenant?: string;
}

/** The logging part of the environment, validated. */
export interface LogEnv {
  level: LogLevel;
  /** The `phase` base field and Loki label (`PW_PHASE`, default "5"). */
  phase: string;
  /** Present only when `LOKI_URL` is set. */
  loki?: LokiConnection;
  /** `PW_LOG_FORMAT`, present only when set: the default of `--log-format`. */
  format?: LogFormat;
}

function shown(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
}

/** An unset variable and an empty one (`LOKI_URL=` in a .env file) mean the same. */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === "" ? undefined : value), schema.optional());

const levelSchema = z.string().superRefine((value, ctx) => {
  if (!(LOG_LEVELS as readonly string[]).includes(value.toLowerCase())) {
    ctx.addIssue({ code: "custom", message: `${shown(value)} is not a log level: use one of ${LOG_LEVELS.join(", ")}` });
  }
});

const phaseSchema = z.string().superRefine((value, ctx) => {
  if (!/^[A-Za-z0-9._-]{1,32}$/.test(value)) {
    ctx.addIssue({
      code: "custom",
      message: `${shown(value)} is not a valid phase: use up to 32 letters, digits, '.', '_' or '-'`,
    });
  }
});

const lokiUrlSchema = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: "custom", message: `${shown(value)} is not a URL: use http(s)://host:port, like http://localhost:3100` });
    return;
  }
  // Never echo a value that may hold a password.
  if (url.username !== "" || url.password !== "") {
    ctx.addIssue({ code: "custom", message: "must not contain a user name or password: use LOKI_USERNAME and LOKI_PASSWORD" });
  } else if (url.protocol !== "http:" && url.protocol !== "https:") {
    ctx.addIssue({ code: "custom", message: `${shown(value)} is not an http(s) URL: use http(s)://host:port, like http://localhost:3100` });
  }
});

// Header values: visible ASCII only, so a stray newline can never split a header.
const tenantSchema = z.string().superRefine((value, ctx) => {
  if (!/^[\x21-\x7e]{1,150}$/.test(value)) {
    ctx.addIssue({ code: "custom", message: `${shown(value)} is not a valid tenant id: use up to 150 visible ASCII characters, no spaces` });
  }
});

const formatSchema = z.string().superRefine((value, ctx) => {
  if (!(LOG_FORMATS as readonly string[]).includes(value)) {
    ctx.addIssue({ code: "custom", message: `${shown(value)} is not a log format: use ${LOG_FORMATS.join(" or ")}` });
  }
});

const secretText = z.string().superRefine((value, ctx) => {
  if (/[\r\n]/.test(value)) ctx.addIssue({ code: "custom", message: "must not contain a line break" });
});

const logEnvSchema = z
  .object({
    LOG_LEVEL: optional(levelSchema),
    PW_PHASE: optional(phaseSchema),
    PW_LOG_FORMAT: optional(formatSchema),
    LOKI_URL: optional(lokiUrlSchema),
    LOKI_USERNAME: optional(secretText),
    LOKI_PASSWORD: optional(secretText),
    LOKI_TENANT: optional(tenantSchema),
  })
  .superRefine((env, ctx) => {
    if (env.LOKI_URL === undefined) return;
    if (env.LOKI_USERNAME !== undefined && env.LOKI_PASSWORD === undefined) {
      ctx.addIssue({ code: "custom", path: ["LOKI_PASSWORD"], message: "is not set but LOKI_USERNAME is: set both for basic auth, or neither" });
    }
    if (env.LOKI_PASSWORD !== undefined && env.LOKI_USERNAME === undefined) {
      ctx.addIssue({ code: "custom", path: ["LOKI_USERNAME"], message: "is not set but LOKI_PASSWORD is: set both for basic auth, or neither" });
    }
  });

/** `http://loki:3100` and `http://loki:3100/loki/api/v1/push` both push to the latter; a path prefix is kept. */
export function lokiPushUrl(base: string): string {
  const url = new URL(base);
  if (!url.pathname.endsWith(LOKI_PUSH_PATH)) url.pathname = url.pathname.replace(/\/+$/, "") + LOKI_PUSH_PATH;
  return url.href;
}

/**
 * Reads LOG_LEVEL, PW_PHASE, PW_LOG_FORMAT and LOKI_* once, at the edge. A bad value is an InvalidInputError
 * whose one line names the variable (and never repeats a password).
 */
export function readLogEnv(env: NodeJS.ProcessEnv = process.env): LogEnv {
  const parsed = logEnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InvalidInputError(`environment variable ${issue.path.join(".")} ${issue.message}`);
  }
  const vars = parsed.data;
  const result: LogEnv = {
    level: (vars.LOG_LEVEL?.toLowerCase() ?? "info") as LogLevel,
    phase: vars.PW_PHASE ?? "5",
  };
  if (vars.PW_LOG_FORMAT !== undefined) result.format = vars.PW_LOG_FORMAT as LogFormat;
  if (vars.LOKI_URL !== undefined) {
    const loki: LokiConnection = { pushUrl: lokiPushUrl(vars.LOKI_URL) };
    if (vars.LOKI_USERNAME !== undefined && vars.LOKI_PASSWORD !== undefined) {
      loki.basicAuth = { username: vars.LOKI_USERNAME, password: vars.LOKI_PASSWORD };
    }
    if (vars.LOKI_TENANT !== undefined) loki.tenant = vars.LOKI_TENANT;
    result.loki = loki;
  }
  return result;
}

/** Validates a level given in code (not the environment), with the same one-line error. */
export function parseLogLevel(value: string): LogLevel {
  const result = levelSchema.safeParse(value);
  if (!result.success) throw new InvalidInputError(result.error.issues[0]?.message ?? `${shown(value)} is not a log level`);
  return value.toLowerCase() as LogLevel;
}

/**
 * The format of a long-running command's lines: `--log-format`, else PW_LOG_FORMAT, else
 * readable lines on a terminal and JSON lines into a pipe or file (for log shippers and jq).
 */
export function chooseLogFormat(flag: LogFormat | undefined, fromEnv: LogFormat | undefined, isTerminal: boolean): LogFormat {
  return flag ?? fromEnv ?? (isTerminal ? "pretty" : "json");
}

/**
 * Whether readable lines get colours: never when NO_COLOR is set (no-color.org: any non-empty
 * value), always when FORCE_COLOR is (other than 0), else only on a terminal that is not "dumb".
 */
export function wantsColor(env: NodeJS.ProcessEnv, isTerminal: boolean): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== "0") return true;
  return isTerminal && env.TERM !== "dumb";
}
