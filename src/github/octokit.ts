import { createAppAuth } from "@octokit/auth-app";
import { retry } from "@octokit/plugin-retry";
import { throttling } from "@octokit/plugin-throttling";
import { Octokit } from "@octokit/rest";
import Bottleneck from "bottleneck";
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { InvalidInputError } from "../core/errors.js";
import { parseWith } from "../core/validate.js";

export const GitHubClient = Octokit.plugin(retry, throttling);
export type GitHubClient = InstanceType<typeof GitHubClient>;

/** An empty variable (`GITHUB_TOKEN=` in a .env file) means unset. */
const unsetWhenEmpty = (value: unknown) => (value === "" ? undefined : value);

/** A message that names the value it refuses (for settings that hold no secret). */
const naming = (expected: string) => ({ error: (issue: { input?: unknown }) => `expected ${expected}, got ${JSON.stringify(issue.input)}` });

const envSchema = z.preprocess((env) => Object.fromEntries(Object.entries(env as object).map(([k, v]) => [k, unsetWhenEmpty(v)])), z.object({
  GHE_HOST: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:\d+)?$/, naming("a host name, optionally with :port, like github.example.com"))
    .optional(),
  GHE_PROTOCOL: z.enum(["http", "https"], naming("http or https")).optional(),
  APP_ID: z.string().regex(/^\d+$/, naming("the App's numeric id")).optional(),
  PRIVATE_KEY: z.string().min(1).optional(),
  PRIVATE_KEY_PATH: z.string().min(1).optional(),
  GITHUB_TOKEN: z.string().min(1).optional(),
  /**
   * Milliseconds between mutating requests. GitHub asks integrations to space POST/PATCH/PUT/DELETE
   * by a second (the default); a GitHub Enterprise Server without secondary limits may allow less.
   */
  PW_GITHUB_WRITE_INTERVAL_MS: z
    .string()
    .regex(/^\d{1,5}$/, naming("a whole number of milliseconds from 0 to 60000"))
    .transform(Number)
    .refine((ms) => ms <= 60_000, naming("a whole number of milliseconds from 0 to 60000"))
    .optional(),
}));

/** The spacing of mutating requests the environment asks for (default 1000 ms). */
export function writeIntervalFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return parseWith(envSchema, env, "environment").PW_GITHUB_WRITE_INTERVAL_MS ?? 1000;
}

/** GitHub's REST base URL: github.com, or GitHub Enterprise Server exactly as Probot builds it. */
export function githubBaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  const parsed = parseWith(envSchema, env, "environment");
  if (!parsed.GHE_HOST) return "https://api.github.com";
  return `${parsed.GHE_PROTOCOL ?? "https"}://${parsed.GHE_HOST}/api/v3`;
}

export type GitHubAuth = { kind: "token"; token: string } | { kind: "app"; appId: string; privateKey: string };

/**
 * A PEM key given inline, with escaped newlines, or base64-encoded (as Probot accepts it), and
 * one that Node can read as a private key. `from` names where it came from; never the key.
 */
function normalizePrivateKey(value: string, from: string): string {
  const text = value.includes("\\n") ? value.replace(/\\n/g, "\n") : value;
  const decoded = text.includes("-----BEGIN") ? text : Buffer.from(text, "base64").toString("utf8");
  if (!decoded.includes("-----BEGIN")) throw new InvalidInputError(`${from} is not a PEM private key (nor base64 of one): use the .pem file GitHub gave for the App`);
  try {
    createPrivateKey(decoded);
  } catch {
    throw new InvalidInputError(`${from} holds a PEM block that is not a readable private key: use the .pem file GitHub gave for the App`);
  }
  return decoded;
}

/** What to do when there are no credentials at all. */
export const NO_CREDENTIALS = "no GitHub credentials: set GITHUB_TOKEN, or APP_ID with PRIVATE_KEY or PRIVATE_KEY_PATH";

/** App credentials when APP_ID is set, else GITHUB_TOKEN; undefined when there are neither. */
export function githubAuthFromEnv(env: NodeJS.ProcessEnv = process.env): GitHubAuth | undefined {
  const parsed = parseWith(envSchema, env, "environment");
  if (parsed.APP_ID) {
    if (parsed.PRIVATE_KEY) return { kind: "app", appId: parsed.APP_ID, privateKey: normalizePrivateKey(parsed.PRIVATE_KEY, "PRIVATE_KEY") };
    if (!parsed.PRIVATE_KEY_PATH) {
      throw new InvalidInputError("APP_ID is set but neither PRIVATE_KEY nor PRIVATE_KEY_PATH is: set one to the App's private key (or unset APP_ID and use GITHUB_TOKEN)");
    }
    let key: string;
    try {
      key = readFileSync(parsed.PRIVATE_KEY_PATH, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new InvalidInputError(`PRIVATE_KEY_PATH ${parsed.PRIVATE_KEY_PATH} cannot be read (${code}): point it at the App's .pem file`);
    }
    return { kind: "app", appId: parsed.APP_ID, privateKey: normalizePrivateKey(key, `PRIVATE_KEY_PATH ${parsed.PRIVATE_KEY_PATH}`) };
  }
  if (parsed.GITHUB_TOKEN) return { kind: "token", token: parsed.GITHUB_TOKEN };
  return undefined;
}

export interface ClientOptions {
  baseUrl: string;
  /** Retries of failed requests (5xx, rate limits); 0 in tests. */
  retries?: number;
  /** Milliseconds between mutating requests (default 1000, as GitHub asks). */
  writeIntervalMs?: number;
  /** Called after every request with its method and status (0 for a network failure). */
  onResponse?: (method: string, status: number) => void;
}

function makeClient(options: ClientOptions, auth: Record<string, unknown>): GitHubClient {
  const retries = options.retries ?? 3;
  const client = new GitHubClient({
    ...auth,
    baseUrl: options.baseUrl,
    userAgent: "parallel-workers",
    // a failed request is thrown and reported once by its caller; Octokit's own line on stderr
    // ("GET /repos/... - 500 with id ...") would be a second, raw one
    log: { debug: () => undefined, info: () => undefined, warn: (message: string) => process.emitWarning(message), error: () => undefined },
    retry: { enabled: retries > 0, retries },
    throttle: {
      enabled: true,
      // requests that notify people (a new comment, a new PR) keep the plugin's 3x spacing, as pw serve's clients do
      ...(options.writeIntervalMs !== undefined && options.writeIntervalMs !== 1000
        ? {
            write: new Bottleneck.Group({ id: "pw-write", maxConcurrent: 1, minTime: options.writeIntervalMs }),
            notifications: new Bottleneck.Group({ id: "pw-notifications", maxConcurrent: 1, minTime: 3 * options.writeIntervalMs }),
          }
        : {}),
      onRateLimit: (_after: number, _options: unknown, _octokit: unknown, retryCount: number) => retryCount < retries,
      onSecondaryRateLimit: (_after: number, _options: unknown, _octokit: unknown, retryCount: number) => retryCount < 1,
    },
  });
  if (options.onResponse) {
    const report = options.onResponse;
    client.hook.after("request", (response, request) => report(request.method, response.status));
    client.hook.error("request", (error, request) => {
      report(request.method, (error as { status?: number }).status ?? 0);
      throw error;
    });
  }
  return client;
}

/**
 * A client for one repository: with a token as it is, with App credentials through that
 * repository's installation token (refreshed by the auth strategy when it expires).
 */
export async function clientForRepository(repository: string, auth: GitHubAuth, options: ClientOptions): Promise<GitHubClient> {
  if (auth.kind === "token") return makeClient(options, { auth: auth.token });
  const [owner, repo] = repository.split("/") as [string, string];
  const app = makeClient(options, { authStrategy: createAppAuth, auth: { appId: auth.appId, privateKey: auth.privateKey } });
  const { data: installation } = await app.rest.apps.getRepoInstallation({ owner, repo });
  return makeClient(options, {
    authStrategy: createAppAuth,
    auth: { appId: auth.appId, privateKey: auth.privateKey, installationId: installation.id },
  });
}
