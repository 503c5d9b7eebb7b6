import { pino, type SerializerFn } from "pino";

/** What a secret is replaced with in a log line. */
export const REDACTED = "[REDACTED]";
/** What a request or webhook body is replaced with: bodies are never logged whole. */
export const OMITTED = "[omitted]";

/** Field names whose values are secrets, wherever they are logged by accident. */
const SECRET_KEYS = [
  "authorization",
  "Authorization",
  "cookie",
  "token",
  "accessToken",
  "access_token",
  "refreshToken",
  "refresh_token",
  "githubToken",
  "installationToken",
  "jwt",
  "password",
  "passwd",
  "secret",
  "clientSecret",
  "client_secret",
  "webhookSecret",
  "webhook_secret",
  "privateKey",
  "private_key",
  "apiKey",
  "api_key",
  "dashboardToken",
  "basicAuth",
  "GITHUB_TOKEN",
  "PRIVATE_KEY",
  "WEBHOOK_SECRET",
  "GITHUB_CLIENT_SECRET",
  "LOKI_PASSWORD",
  "PW_DASHBOARD_TOKEN",
  // a whole environment holds every secret above
  "env",
];

/** HTTP headers that carry credentials; header names are lowercase in Node. */
const SECRET_HEADERS = new Set(["authorization", "cookie", "set-cookie", "proxy-authorization", "x-api-key"]);

const SECRET_KEY_SET = new Set(SECRET_KEYS);

/** How deep the rules reach: a credential header of `err.request.headers` is at depth 3. */
const MAX_DEPTH = 3;

/**
 * What a field becomes in a log line, by its key, its depth (0 for a field of the line itself)
 * and the key of the object holding it: secret-looking fields at the top level and one level
 * down, credential headers up to `*.*.headers.<name>`, bodies (`body` and `rawBody` up to one
 * level down, `*.payload`, `*.*.body`), `query.token` and `*.query.token`, and URLs up to two
 * levels down (kept, with secret query values scrubbed). `undefined`: the rule keeps it.
 */
function censored(key: string, depth: number, parentKey: string | undefined, value: unknown): unknown {
  if (depth <= 1 && SECRET_KEY_SET.has(key)) return REDACTED;
  if (parentKey === "headers" && depth >= 1 && SECRET_HEADERS.has(key)) return REDACTED;
  if (parentKey === "query" && (depth === 1 || depth === 2) && key === "token") return REDACTED;
  if ((key === "body" || key === "rawBody") && depth <= 1) return OMITTED;
  if ((key === "payload" && depth === 1) || (key === "body" && depth === 2)) return OMITTED;
  if (key === "url" && depth <= 2) return scrubUrl(value);
  return undefined;
}

function isWalkable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !(value instanceof URL) && !(value instanceof Date) && !Buffer.isBuffer(value);
}

/**
 * `value` with the rules applied to its fields (at `depth`) and below; the same object when
 * nothing changed (copy on write). An error under a line's own `err` or `error` is left to its
 * serializer, which redacts what it makes (see `serializers`).
 */
function redactBelow(value: Record<string, unknown>, depth: number, key: string | undefined): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const name of Object.keys(value)) {
    const field = value[name];
    if (field === undefined || (depth === 0 && (name === "err" || name === "error") && field instanceof Error)) continue;
    let next = censored(name, depth, key, field);
    if (next === undefined && depth < MAX_DEPTH && isWalkable(field)) {
      const below = redactBelow(field, depth + 1, name);
      if (below !== field) next = below;
    }
    if (next === undefined || next === field) continue;
    copy ??= Array.isArray(value) ? ([...value] as unknown as Record<string, unknown>) : { ...value };
    copy[name] = next;
  }
  return copy ?? value;
}

/** A log line's fields (or a child logger's bindings) with secrets redacted. */
export function redactLogFields(fields: Record<string, unknown>): Record<string, unknown> {
  return redactBelow(fields, 0, undefined);
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * A webhook payload logged under `payload` becomes the few fields that say what it was about;
 * the rest (comment bodies, diffs, user data) never reaches a log line.
 */
export function summarizePayload(value: unknown): unknown {
  if (typeof value === "string") return `${OMITTED} ${value.length} characters`;
  const payload = record(value);
  if (!payload) return value;
  const summary: Record<string, unknown> = {};
  if (typeof payload.action === "string") summary.action = payload.action;
  const repository = record(payload.repository);
  if (typeof repository?.full_name === "string") summary.repository = repository.full_name;
  const installation = record(payload.installation);
  if (typeof installation?.id === "number") summary.installation = installation.id;
  const sender = record(payload.sender);
  if (typeof sender?.login === "string") summary.sender = sender.login;
  const pullRequest = record(payload.pull_request);
  if (typeof pullRequest?.number === "number") summary.pull_request = pullRequest.number;
  const issue = record(payload.issue);
  if (typeof issue?.number === "number") summary.issue = issue.number;
  const comment = record(payload.comment);
  if (typeof comment?.id === "number") summary.comment = comment.id;
  return summary;
}

const SECRET_QUERY = /([?&][^=&#]*(?:token|secret|password|passwd|key|code|sig|auth)[^=&#]*=)[^&#]*/gi;

/** `?token=...` (the status page's one-time login) and the like never reach a log line. */
export function scrubUrl(value: unknown): unknown {
  if (value instanceof URL) return scrubUrl(value.href);
  return typeof value === "string" ? value.replace(SECRET_QUERY, `$1${REDACTED}`) : value;
}

/** An error as pino serializes it, with the rules applied below the field that holds it. */
function serializeError(name: string): SerializerFn {
  return (value: unknown) => {
    const serialized: unknown = pino.stdSerializers.err(value as Error);
    return isWalkable(serialized) ? redactBelow(serialized, 1, name) : serialized;
  };
}

export const serializers: Record<string, SerializerFn> = {
  err: serializeError("err"),
  error: serializeError("error"),
  payload: summarizePayload,
};
