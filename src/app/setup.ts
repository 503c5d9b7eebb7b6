/**
 * The registration page of `pw serve`'s first start without credentials: GitHub's manifest flow
 * (https://docs.github.com/apps/sharing-github-apps/registering-a-github-app-from-a-manifest)
 * with this package's `app.yml`, whose webhook URL is made to reach this server: WEBHOOK_PROXY_URL
 * when set, else a new smee.io channel when the page is opened at a loopback address (GitHub
 * cannot deliver there), else the address the page was opened at; always `WEBHOOK_PATH` on it.
 * GitHub's answer (the App's id, private key and webhook secret) is written to `.env`.
 *
 * Our own rather than Probot's setup app: Probot registers `<address>/` as the webhook URL (or
 * app.yml's fixed one, when it has one), where `pw serve` receives nothing.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { z } from "zod";
import { InvalidInputError } from "../core/errors.js";
import type { Logger } from "../log/logger.js";
import { WEBHOOK_PATH } from "./http.js";
import { EVENT_PERMISSIONS, requiredPermissions } from "./permissions.js";

/** This package's manifest (from dist/app/ or src/app/, two levels up). */
export const APP_MANIFEST_FILE = fileURLToPath(new URL("../../app.yml", import.meta.url));
export const SETUP_PAGE_PATH = "/probot";
/** GitHub sends the browser back here with the code to exchange (Probot's path, kept). */
export const SETUP_CALLBACK_PATH = "/probot/setup";
/** Registrations started from one page load, remembered for the callback (GitHub allows an hour). */
const PENDING_LIMIT = 50;

const manifestSchema = z.looseObject({
  name: z.string().min(1),
  url: z.url(),
  description: z.string().optional(),
  public: z.boolean().optional(),
  hook_attributes: z.looseObject({ url: z.url(), active: z.boolean().optional() }),
  default_events: z.array(z.string()).min(1),
  default_permissions: z.record(z.string(), z.enum(["read", "write", "admin"])),
});
export type AppManifest = z.infer<typeof manifestSchema>;

/** What `POST /app-manifests/{code}/conversions` answers that `pw serve` needs. */
const conversionSchema = z.object({
  id: z.number().int().positive(),
  slug: z.string().nullish(),
  html_url: z.url(),
  pem: z.string().includes("-----BEGIN"),
  webhook_secret: z.string().min(1),
});

const callbackSchema = z.object({
  code: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/, "expected the code GitHub sent back"),
  state: z.string().regex(/^[0-9a-f]{40}$/, "expected the state of a registration started here"),
});

/** app.yml as the manifest, validated (a broken file is one line naming the key). */
export function readAppManifest(file = APP_MANIFEST_FILE): AppManifest {
  let data: unknown;
  try {
    data = parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new InvalidInputError(`${file}: cannot be read as YAML (${(error as Error).message.split("\n")[0]})`);
  }
  const parsed = manifestSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidInputError(`${file}: ${issue?.path.join(".") || "(top)"}: ${issue?.message}`);
  }
  // an App registered without these would fail its first call or never hear of an event
  const granted = parsed.data.default_permissions;
  const lacking = Object.entries(requiredPermissions())
    .filter(([permission, access]) => granted[permission] !== access && granted[permission] !== "write" && granted[permission] !== "admin")
    .map(([permission, access]) => `${permission}: ${access}`);
  const unheard = Object.keys(EVENT_PERMISSIONS).filter((event) => !parsed.data.default_events.includes(event));
  if (lacking.length > 0 || unheard.length > 0) {
    const what = [...(lacking.length > 0 ? [`default_permissions lacks ${lacking.join(", ")}`] : []), ...(unheard.length > 0 ? [`default_events lacks ${unheard.join(", ")}`] : [])];
    throw new InvalidInputError(`${file}: ${what.join("; ")}, which pw serve needs (see docs/app.md)`);
  }
  return parsed.data;
}

/**
 * Sets `values` in a .env file, keeping every other line: a value is double-quoted with its
 * newlines escaped, which `process.loadEnvFile` (and dotenv) read back. Written as a whole
 * (temporary file, then rename) and readable by its owner only: it holds a private key.
 */
export function updateEnvFile(file: string, values: Record<string, string>): void {
  for (const [name, value] of Object.entries(values)) {
    if (value.includes('"')) throw new InvalidInputError(`${name}: a value with a double quote cannot be written to ${file}`);
  }
  const names = Object.keys(values);
  const setsOne = (line: string) => names.some((name) => new RegExp(`^\\s*(export\\s+)?${name}\\s*=`).test(line));
  const kept = existsSync(file) ? readFileSync(file, "utf8").split(/\r?\n/).filter((line) => !setsOne(line)) : [];
  while (kept.length > 0 && kept.at(-1)!.trim() === "") kept.pop();
  const lines = [...kept, ...Object.entries(values).map(([name, value]) => `${name}="${value.replace(/\r?\n/g, "\\n")}"`)];
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${lines.join("\n")}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}

/** GitHub's web address for its REST API's (github.com, or a GitHub Enterprise Server). */
export function githubWebUrl(apiUrl: string): string {
  return apiUrl === "https://api.github.com" ? "https://github.com" : apiUrl.replace(/\/api\/v3\/?$/, "");
}

export interface SetupPageOptions {
  logger: Logger;
  /** The .env that the next `pw serve` reads (the current directory's). */
  envFile: string;
  /** GitHub's REST API, as `githubBaseUrl` gives it. */
  apiUrl: string;
  /** GH_ORG: register the App on this organization instead of the person's account. */
  organization?: string;
  /** WEBHOOK_PROXY_URL, when set: the App's webhook URL. */
  webhookProxyUrl?: string;
  /** Where to ask for a new channel (smee.io) for a page opened at a loopback address; off when undefined. */
  smeeUrl?: string;
  manifestFile?: string;
}

interface Pending {
  webhookUrl: string;
  /** A channel made for this registration: saved as WEBHOOK_PROXY_URL with the credentials. */
  newChannel?: string;
}

/** Text for element content and quoted attributes (`app` may not use the web layer's `html`). */
function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return (Array.isArray(value) ? value[0] : value)?.split(",")[0]?.trim();
}

/** The address the browser used, through a reverse proxy's X-Forwarded-* headers when present. */
function pageBase(req: IncomingMessage): string | undefined {
  const host = header(req, "x-forwarded-host") ?? header(req, "host");
  if (!host || !/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)) return undefined;
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  const protocol = header(req, "x-forwarded-proto") ?? (encrypted ? "https" : "http");
  return /^https?$/.test(protocol) ? `${protocol}://${host}` : undefined;
}

function isLoopback(base: string): boolean {
  const { hostname } = new URL(base);
  return hostname === "localhost" || hostname.endsWith(".localhost") || /^127\./.test(hostname) || hostname === "[::1]" || hostname === "0.0.0.0";
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

function page(title: string, body: string, formAction?: string): { body: string; headers: Record<string, string> } {
  return {
    body: `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}code{background:#f3f3f3;padding:0 .2em}.warn{border-left:4px solid #d4a72c;padding-left:.8rem}th{text-align:left;padding-right:1rem;vertical-align:top}button{font-size:1rem;padding:.5rem 1rem}</style>
</head><body>
${body}
</body></html>
`,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": `default-src 'none'; style-src 'unsafe-inline'; form-action ${formAction ? new URL(formAction).origin : "'none'"}; frame-ancestors 'none'`,
      "cache-control": "no-store",
    },
  };
}

/** The registration page and its callback, as one node:http handler. */
export function createSetupPage(options: SetupPageOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { logger } = options;
  const manifestFile = options.manifestFile ?? APP_MANIFEST_FILE;
  // read once on start: a broken app.yml stops `pw serve` with one line, before anything listens
  const appManifest = readAppManifest(manifestFile);
  const webUrl = githubWebUrl(options.apiUrl);
  const createUrl = `${webUrl}${options.organization ? `/organizations/${encodeURIComponent(options.organization)}` : ""}/settings/apps/new`;
  const pending = new Map<string, Pending>();
  let channel: Promise<string | undefined> | undefined;

  /** One smee.io channel per process, asked for on the first page opened at a loopback address. */
  function smeeChannel(): Promise<string | undefined> {
    const smeeUrl = options.smeeUrl;
    if (!smeeUrl) return Promise.resolve(undefined);
    channel ??= (async () => {
      try {
        const response = await fetch(new URL("/new", smeeUrl), { method: "HEAD", redirect: "manual", signal: AbortSignal.timeout(10_000) });
        return z.url({ protocol: /^https?$/ }).parse(response.headers.get("location"));
      } catch (error) {
        logger.warn({ err_message: (error as Error).message.split("\n")[0] }, "no smee.io channel could be made: set WEBHOOK_PROXY_URL to one (https://smee.io/new) and restart pw serve");
        channel = undefined;
        return undefined;
      }
    })();
    return channel;
  }

  async function registrationPage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const base = pageBase(req);
    if (!base) return send(res, 400, "bad request: the Host header is not a host name\n");
    const loopback = isLoopback(base);
    const newChannel = options.webhookProxyUrl || !loopback ? undefined : await smeeChannel();
    const webhookUrl = options.webhookProxyUrl ?? newChannel ?? `${base}${WEBHOOK_PATH}`;
    const state = randomBytes(20).toString("hex");
    pending.set(state, { webhookUrl, ...(newChannel ? { newChannel } : {}) });
    if (pending.size > PENDING_LIMIT) pending.delete(pending.keys().next().value!);
    const manifest = {
      ...appManifest,
      hook_attributes: { ...appManifest.hook_attributes, url: webhookUrl },
      redirect_url: `${base}${SETUP_CALLBACK_PATH}`,
    };
    const action = `${createUrl}?state=${state}`;
    const source = options.webhookProxyUrl
      ? "WEBHOOK_PROXY_URL: pw serve forwards what arrives there to itself"
      : newChannel
        ? "a new smee.io channel (saved as WEBHOOK_PROXY_URL): pw serve forwards what arrives there to itself"
        : "this page's address";
    const unreachable = !options.webhookProxyUrl && !newChannel && loopback;
    const rows = [
      ["Webhook URL", `<code>${escapeHtml(webhookUrl)}</code><br>from ${escapeHtml(source)}`],
      ["Events", appManifest.default_events.map((e) => `<code>${escapeHtml(e)}</code>`).join(", ")],
      ["Permissions", Object.entries(appManifest.default_permissions).map(([p, a]) => `${escapeHtml(p)}: ${escapeHtml(a)}`).join(", ")],
      ["Owner", options.organization ? `the organization ${escapeHtml(options.organization)}` : "your account"],
    ];
    const rendered = page(
      `Register ${appManifest.name}`,
      `<h1>Register the GitHub App ${escapeHtml(appManifest.name)}</h1>
<p>${escapeHtml(appManifest.description ?? "")}</p>
<table>${rows.map(([name, value]) => `<tr><th>${name}</th><td>${value}</td></tr>`).join("")}</table>
${unreachable ? `<p class="warn">GitHub cannot deliver webhooks to <code>${escapeHtml(base)}</code>. Set <code>WEBHOOK_PROXY_URL</code> to a channel from <a href="https://smee.io/new">smee.io/new</a> and restart <code>pw serve</code>, or open this page at the public address that reaches it.</p>` : ""}
<form action="${escapeHtml(action)}" method="post">
<input type="hidden" name="manifest" value="${escapeHtml(JSON.stringify(manifest))}">
<button type="submit">Register on GitHub</button>
</form>
<p>GitHub asks for the App's name (it must be unique there), creates it, and sends you back here: the App's id, private key and webhook secret are then written to <code>${escapeHtml(options.envFile)}</code>. Install the App on your repositories and restart <code>pw serve</code>.</p>
<p>Already registered one? Put <code>APP_ID</code>, <code>PRIVATE_KEY</code> (or <code>PRIVATE_KEY_PATH</code>) and <code>WEBHOOK_SECRET</code> in that file and restart <code>pw serve</code>.</p>`,
      action,
    );
    send(res, 200, rendered.body, rendered.headers);
  }

  async function callback(url: URL, res: ServerResponse): Promise<void> {
    const parsed = callbackSchema.safeParse(Object.fromEntries(url.searchParams));
    const registration = parsed.success ? pending.get(parsed.data.state) : undefined;
    if (!parsed.success || !registration) {
      const reason = parsed.success ? "this registration was not started here (or pw serve restarted since)" : parsed.error.issues[0]!.message;
      logger.warn({ reason }, "app registration callback refused");
      return send(res, 400, `${reason}: open ${SETUP_PAGE_PATH} and register again\n`);
    }
    const { code, state } = parsed.data;
    let app: z.infer<typeof conversionSchema>;
    try {
      const response = await fetch(`${options.apiUrl}/app-manifests/${code}/conversions`, {
        method: "POST",
        headers: { accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28", "user-agent": "parallel-workers" },
        signal: AbortSignal.timeout(30_000),
      });
      if (response.status !== 201) throw new Error(`GitHub answered ${response.status} ${response.statusText}`);
      app = conversionSchema.parse(await response.json());
    } catch (error) {
      const reason = error instanceof z.ZodError ? `GitHub's answer lacked ${error.issues[0]?.path.join(".")}` : (error as Error).message.split("\n")[0]!;
      logger.warn({ reason }, "app registration not completed");
      return send(res, 502, `the App could not be fetched from GitHub (${reason}): open ${SETUP_PAGE_PATH} and register again\n`);
    }
    pending.delete(state);
    updateEnvFile(options.envFile, {
      APP_ID: String(app.id),
      PRIVATE_KEY: app.pem,
      WEBHOOK_SECRET: app.webhook_secret,
      ...(registration.newChannel ? { WEBHOOK_PROXY_URL: registration.newChannel } : {}),
    });
    logger.info(
      { app: app.slug ?? app.html_url, app_id: app.id, env_file: options.envFile, webhook_url: registration.webhookUrl },
      "GitHub App registered; its credentials are in the .env file (keep it out of git): install the App, then restart pw serve",
    );
    const install = `${app.html_url}/installations/new`;
    send(res, 302, `registered: install the App at ${install}, then restart pw serve\n`, { location: install });
  }

  return (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://localhost");
    } catch {
      return send(res, 400, "bad request\n");
    }
    const method = req.method ?? "GET";
    const pathname = url.pathname.replace(/\/+$/, "") || "/";
    const done = (work: Promise<void>) =>
      void work.catch((error: Error) => {
        logger.error({ err_message: error.message.split("\n")[0] }, "setup page failed");
        if (!res.headersSent) send(res, 500, "internal error\n");
      });
    if (method === "POST" && req.headers["x-github-event"] !== undefined) {
      req.resume();
      logger.warn("a webhook delivery arrived before the App's credentials are set: restart pw serve once they are in .env");
      const error = "pw serve has no GitHub App credentials yet: finish the registration at its page, then restart it";
      return send(res, 503, JSON.stringify({ error }), { "content-type": "application/json" });
    }
    if (method !== "GET" && method !== "HEAD") return send(res, 405, "use GET\n", { allow: "GET, HEAD" });
    if (pathname === "/") return send(res, 302, `see ${SETUP_PAGE_PATH}\n`, { location: SETUP_PAGE_PATH });
    if (pathname === SETUP_PAGE_PATH) return done(registrationPage(req, res));
    // the code is good for one exchange: never on a HEAD (a link preview, a prefetch)
    if (pathname === SETUP_CALLBACK_PATH) return method === "GET" ? done(callback(url, res)) : send(res, 405, "use GET\n", { allow: "GET" });
    send(res, 404, "not found\n");
  };
}
