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
const SECRET_HEADERS = ["authorization", "cookie", '"set-cookie"', '"proxy-authorization"', '"x-api-key"'];

/** Keys under which a whole body or payload tends to be logged. */
const BODY_KEYS = ["body", "rawBody", "payload"];

function headerPaths(prefix: string): string[] {
  return SECRET_HEADERS.map((header) => (header.startsWith('"') ? `${prefix}headers[${header}]` : `${prefix}headers.${header}`));
}

/**
 * pino `redact` paths: secret-looking fields at the top level and one level down, credential
 * headers up to two levels down (`err.request.headers.authorization`), bodies, and URLs (whose
 * secret query values are scrubbed). A top-level `payload` is not here: its serializer keeps a
 * short summary instead.
 */
export const REDACT_PATHS: readonly string[] = [
  ...SECRET_KEYS.flatMap((key) => [key, `*.${key}`]),
  ...headerPaths(""),
  ...headerPaths("*."),
  ...headerPaths("*.*."),
  "body",
  "rawBody",
  "*.body",
  "*.rawBody",
  "*.payload",
  "*.*.body",
  // pino-http's `req.query`; the status page's one-time login is `?token=`
  "query.token",
  "*.query.token",
  // URLs are kept, with secret query values scrubbed (see censor)
  "url",
  "*.url",
  "*.*.url",
];

function censor(value: unknown, path: string[]): unknown {
  const key = path[path.length - 1] ?? "";
  if (key === "url") return scrubUrl(value);
  return BODY_KEYS.includes(key) ? OMITTED : REDACTED;
}

export const redactOptions = { paths: [...REDACT_PATHS], censor };

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

export const serializers: Record<string, SerializerFn> = {
  err: pino.stdSerializers.err,
  error: pino.stdSerializers.err,
  payload: summarizePayload,
};
