/**
 * Who may see the status page. Off unless a token is configured (PW_DASHBOARD_TOKEN) or it is
 * explicitly public (--dashboard-public); a configured token is always required, public or not.
 * The token travels as `Authorization: Bearer`, or once as `?token=` on the page, which is
 * exchanged for an HttpOnly cookie. The cookie holds a value derived from the token, never the
 * token itself. Comparisons take constant time.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { z } from "zod";
import { InvalidInputError } from "../core/errors.js";

export const TOKEN_ENV = "PW_DASHBOARD_TOKEN";
export const PUBLIC_FLAG = "--dashboard-public";
export const MIN_TOKEN_LENGTH = 16;
const MAX_TOKEN_LENGTH = 512;
export const COOKIE_NAME = "pw_status";
/** A week: the link with the token is needed again after that. */
export const COOKIE_MAX_AGE_S = 7 * 24 * 3600;

export type AccessMode = "off" | "public" | "token";

/**
 * PW_DASHBOARD_TOKEN: long enough not to be guessed, and plain printable ASCII so that it fits
 * a header and a URL. The messages never include the value.
 */
const tokenSchema = z
  .string()
  .min(MIN_TOKEN_LENGTH, `${TOKEN_ENV} is too short: use at least ${MIN_TOKEN_LENGTH} characters, e.g. \`openssl rand -hex 32\``)
  .max(MAX_TOKEN_LENGTH, `${TOKEN_ENV} is too long: use at most ${MAX_TOKEN_LENGTH} characters`)
  .regex(/^[\x21-\x7e]+$/, `${TOKEN_ENV} must be printable ASCII without spaces, e.g. \`openssl rand -hex 32\``);

export interface StatusPageAccessOptions {
  /** Required to see the page and the API when set. */
  token?: string;
  /** Serve without a token (only when no token is set): anyone who reaches the port sees it. */
  public: boolean;
}

/**
 * The status page's access settings from the environment (PW_DASHBOARD_TOKEN; empty counts as
 * unset) and serve's flags. Throws InvalidInputError naming the variable, never its value.
 */
export function statusPageOptionsFromEnv(env: NodeJS.ProcessEnv, flags: { dashboardPublic?: boolean } = {}): StatusPageAccessOptions {
  const raw = env[TOKEN_ENV];
  const options: StatusPageAccessOptions = { public: flags.dashboardPublic === true };
  if (raw === undefined || raw === "") return options;
  const result = tokenSchema.safeParse(raw);
  if (!result.success) throw new InvalidInputError(result.error.issues[0]?.message ?? `${TOKEN_ENV} is not valid`);
  options.token = result.data;
  return options;
}

export function accessMode(options: { token?: string; public?: boolean }): AccessMode {
  if (options.token) return "token";
  return options.public ? "public" : "off";
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/** Equal-length digests, so neither the length nor the content leaks through timing. */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Checks tokens and cookies against the configured token. */
export class TokenGate {
  private readonly cookieValue: string;

  constructor(private readonly token: string) {
    // the cookie proves the holder once knew the token, without being the token
    this.cookieValue = createHmac("sha256", token).update("parallel-workers status page session v1").digest("base64url");
  }

  matches(candidate: string): boolean {
    return sameSecret(candidate, this.token);
  }

  /** True when the request carries `Authorization: Bearer <token>`. */
  bearer(req: IncomingMessage): boolean {
    const value = header(req, "authorization");
    const match = value ? /^Bearer[ ]+(\S+)\s*$/i.exec(value) : null;
    return match !== null && this.matches(match[1]!);
  }

  /** True when the request carries the session cookie. */
  cookie(req: IncomingMessage): boolean {
    const value = readCookie(header(req, "cookie"), COOKIE_NAME);
    return value !== undefined && sameSecret(value, this.cookieValue);
  }

  /** The Set-Cookie value for a browser that presented the token; Secure when it came over https. */
  setCookie(req: IncomingMessage): string {
    const attributes = [`${COOKIE_NAME}=${this.cookieValue}`, "HttpOnly", "SameSite=Strict", "Path=/", `Max-Age=${COOKIE_MAX_AGE_S}`];
    if (cameOverHttps(req)) attributes.push("Secure");
    return attributes.join("; ");
  }
}

/** TLS on this socket, or a proxy in front that says it terminated https. */
export function cameOverHttps(req: IncomingMessage): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted) return true;
  return (header(req, "x-forwarded-proto") ?? "").split(",")[0]!.trim().toLowerCase() === "https";
}

export function readCookie(cookieHeader: string | undefined, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
