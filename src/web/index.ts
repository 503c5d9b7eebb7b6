/**
 * The status page of `pw serve`: `GET /workers` (server-rendered, refreshed by server-sent
 * events), `GET /api/workers` and `GET /api/workers/:id` (JSON with history). One handler that
 * answers its own paths and returns false for anything else, so serve routes on. It only reads
 * the store. See docs/status-page.md.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { gzipSync } from "node:zlib";
import { DEFAULT_STALE_AFTER_MS } from "../core/runner-health.js";
import type { Worker } from "../core/worker.js";
import { silentLogger, type Logger } from "../log/logger.js";
import type { WorkerStore } from "../store/store.js";
import { accessMode, MIN_TOKEN_LENGTH, PUBLIC_FLAG, TOKEN_ENV, TokenGate, type AccessMode } from "./access.js";
import { CLIENT_SCRIPT, STYLESHEET, type Asset } from "./assets.js";
import { EventHub } from "./events.js";
import { html } from "./html.js";
import { BadRequest, parseFilters, parseWorkerIdParam } from "./query.js";
import { renderLive, renderMessagePage, renderPage } from "./render.js";
import { API_PATH, EVENTS_PATH, PAGE_PATH, SCRIPT_PATH, STYLE_PATH } from "./routes.js";
import { countByState, matches, toWorkerView, type Filters, type WorkersView } from "./view.js";

export { statusPageOptionsFromEnv, type AccessMode, type StatusPageAccessOptions } from "./access.js";
export type { Filters, HistoryEntry, StateCounts, WorkersView, WorkerView } from "./view.js";

/** All the page needs of a store: it only reads. */
export type WorkerReader = Pick<WorkerStore, "listWorkers" | "getWorker" | "history" | "listRunners">;

export interface StatusPageOptions {
  store: WorkerReader;
  /** PW_DASHBOARD_TOKEN: required for everything but the stylesheet and script when set. */
  token?: string;
  /** Serve without a token (only matters when none is set). */
  public?: boolean;
  logger?: Logger;
  now?: () => number;
  /** How often the event stream reads the store while a page listens (default 500 ms). */
  pollIntervalMs?: number;
  /** How often a page that saw no change still hears that the store answers (default 5 s). */
  heartbeatMs?: number;
  /** Most pages listening at once (default 50). */
  maxStreams?: number;
}

export interface StatusPage {
  /** "off" (404 with how to turn it on), "public" or "token". */
  readonly mode: AccessMode;
  /** Answers `/workers...` and `/api/workers...` and resolves true; resolves false for anything else. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** Ends the event streams and their timer; call before closing the server. */
  close(): void;
}

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  // no inline script or style anywhere: the script and stylesheet are routes of their own
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

const OFF_MESSAGE = `The status page is off: set ${TOKEN_ENV} (at least ${MIN_TOKEN_LENGTH} characters) or pass ${PUBLIC_FLAG} to pw serve.`;
const VERSION_PATTERN = /^[a-f0-9]{0,64}$/;
/** Compress answers larger than this when the browser accepts gzip. */
const GZIP_MIN_BYTES = 1024;

type Route = "page" | "asset" | "events" | "api";

interface Response {
  status: number;
  body: string | Buffer;
  contentType: string;
  headers?: Record<string, string>;
}

function json(status: number, value: unknown, headers?: Record<string, string>): Response {
  return { status, body: `${JSON.stringify(value, null, 2)}\n`, contentType: "application/json; charset=utf-8", ...(headers ? { headers } : {}) };
}

function page(status: number, body: string, headers?: Record<string, string>): Response {
  return { status, body, contentType: "text/html; charset=utf-8", ...(headers ? { headers } : {}) };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function send(req: IncomingMessage, res: ServerResponse, response: Response): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  let body = typeof response.body === "string" ? Buffer.from(response.body, "utf8") : response.body;
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    "cache-control": "no-store",
    ...response.headers,
    "content-type": response.contentType,
  };
  if (body.length >= GZIP_MIN_BYTES) {
    headers.vary = "accept-encoding";
    if (/\bgzip\b/.test(header(req, "accept-encoding") ?? "")) {
      body = gzipSync(body);
      headers["content-encoding"] = "gzip";
    }
  }
  headers["content-length"] = String(body.length);
  res.writeHead(response.status, headers);
  res.end(req.method === "HEAD" ? undefined : body);
}

/** Which of our routes a path is, or undefined when it is not ours. */
function routeOf(pathname: string): Route | undefined {
  if (pathname === PAGE_PATH) return "page";
  if (pathname === STYLE_PATH || pathname === SCRIPT_PATH) return "asset";
  if (pathname === EVENTS_PATH) return "events";
  if (pathname.startsWith(`${PAGE_PATH}/`)) return "page"; // ours, answered 404 below
  if (pathname === API_PATH || pathname.startsWith(`${API_PATH}/`)) return "api";
  return undefined;
}

/** A short fingerprint of every worker's id, state and last change. */
function versionOf(workers: readonly Worker[]): string {
  const hash = createHash("sha256");
  for (const w of workers) hash.update(`${w.id}\0${w.state}\0${w.updatedAt}\n`);
  return hash.digest("hex").slice(0, 16);
}

export function createStatusPage(options: StatusPageOptions): StatusPage {
  const { store } = options;
  const logger = options.logger ?? silentLogger();
  const now = options.now ?? Date.now;
  const mode = accessMode(options);
  const gate = options.token ? new TokenGate(options.token) : undefined;
  let lastHeard: number | undefined;
  /** Histories by worker id, valid while the worker's state and updatedAt are unchanged. */
  const histories = new Map<string, { key: string; view: ReturnType<typeof toWorkerView> }>();

  async function readAll(): Promise<Worker[]> {
    const workers = await store.listWorkers();
    lastHeard = now();
    return workers;
  }

  /** The view of each worker, its history read only when it changed since the last read. */
  async function viewsOf(workers: readonly Worker[]): Promise<Array<ReturnType<typeof toWorkerView>>> {
    const stale = workers.filter((w) => histories.get(w.id)?.key !== `${w.state}\0${w.updatedAt}`);
    const read = await Promise.all(stale.map(async (w) => [w, await store.history(w.id)] as const));
    for (const [worker, history] of read) histories.set(worker.id, { key: `${worker.state}\0${worker.updatedAt}`, view: toWorkerView(worker, history) });
    return workers.map((w) => histories.get(w.id)!.view);
  }

  async function buildView(all: readonly Worker[], filters: Filters): Promise<WorkersView> {
    const ids = new Set(all.map((w) => w.id));
    for (const id of histories.keys()) if (!ids.has(id)) histories.delete(id);
    const inRepo = filters.repo ? all.filter((w) => w.repo === filters.repo) : all;
    const shown = inRepo
      .filter((w) => matches(w, filters))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
    // staleness changes with no worker changing: judged on every view, not kept with the histories
    const liveRunners = new Set((await store.listRunners(DEFAULT_STALE_AFTER_MS)).filter((r) => !r.stale).map((r) => r.id));
    const views = (await viewsOf(shown)).map((view) => (view.runnerId && !liveRunners.has(view.runnerId) ? { ...view, runnerStale: true } : view));
    return {
      heardAt: new Date(lastHeard ?? now()).toISOString(),
      filters,
      counts: countByState(inRepo),
      total: inRepo.length,
      repositories: [...new Set(all.map((w) => w.repo).filter((r): r is string => r !== null))].sort(),
      version: versionOf(all),
      workers: views,
    };
  }

  const hub = new EventHub({
    readAll,
    versionOf,
    render: async (workers, filters) => {
      const view = await buildView(workers, filters);
      const nowMs = now();
      return { version: view.version, heardAt: view.heardAt, now: nowMs, html: renderLive(view, nowMs).text };
    },
    lastHeard: () => lastHeard,
    now,
    logger,
    pollIntervalMs: options.pollIntervalMs ?? 500,
    heartbeatMs: options.heartbeatMs ?? 5000,
    maxStreams: options.maxStreams ?? 50,
  });

  function refused(route: Route, reason: string): void {
    // the route and a reason only: never the address, which may carry a token
    logger.info({ route, reason }, "status page: access refused");
  }

  function unauthorized(route: Route, req: IncomingMessage): Response {
    const challenge = { "www-authenticate": 'Bearer realm="parallel-workers status page"' };
    if (route === "api" || route === "events") {
      return json(401, { error: `the status API needs the header Authorization: Bearer <${TOKEN_ENV}>` }, challenge);
    }
    // A SameSite=Strict cookie is not sent when the navigation started on another site (a link
    // in chat, or the redirect after `?token=` opened from one). Reloading from this page is a
    // same-site navigation that carries it; when there is no cookie, that reload is refused
    // without another refresh, so it cannot loop.
    const crossSite = header(req, "sec-fetch-site") === "cross-site" && header(req, "sec-fetch-mode") === "navigate";
    return page(
      401,
      renderMessagePage(
        "Token needed",
        [
          html`This status page needs its token. Open <code>${PAGE_PATH}?token=</code> followed by the value of <code>${TOKEN_ENV}</code> once; this browser then keeps a cookie for a week and the address loses the token.`,
        ],
        crossSite ? html`<meta http-equiv="refresh" content="0">` : undefined,
      ),
      challenge,
    );
  }

  function storeFailed(route: Route, error: unknown): Response {
    logger.warn({ route, err_message: (error as Error).message.split("\n")[0] }, "status page: the store did not answer");
    const heard = lastHeard === undefined ? "never" : new Date(lastHeard).toISOString();
    if (route === "api") return json(503, { error: "the store did not answer", heardAt: lastHeard === undefined ? null : heard });
    return page(503, renderMessagePage("Store not answering", [`The store did not answer. Last heard from it: ${heard}.`, "Reload in a moment."]));
  }

  function badRequest(route: Route, message: string): Response {
    if (route === "api" || route === "events") return json(400, { error: message });
    return page(400, renderMessagePage("Bad request", [message, html`<a href="${PAGE_PATH}">Show all workers</a>`]));
  }

  function asset(req: IncomingMessage, which: Asset): Response {
    const headers = { "cache-control": "no-cache", etag: which.etag };
    if (header(req, "if-none-match") === which.etag) return { status: 304, body: "", contentType: which.contentType, headers };
    return { status: 200, body: which.body, contentType: which.contentType, headers };
  }

  /** The `?token=` exchange: a redirect to the same address without it, setting the cookie. */
  function exchangeToken(req: IncomingMessage, url: URL): Response {
    const given = url.searchParams.getAll("token");
    if (given.length !== 1 || !gate!.matches(given[0]!)) {
      refused("page", "wrong token in the address");
      return unauthorized("page", req);
    }
    const rest = new URLSearchParams(url.searchParams);
    rest.delete("token");
    const query = rest.toString();
    return {
      status: 303,
      body: "",
      contentType: "text/plain; charset=utf-8",
      headers: { location: `${PAGE_PATH}${query ? `?${query}` : ""}`, "set-cookie": gate!.setCookie(req) },
    };
  }

  function authorized(req: IncomingMessage): boolean {
    return !gate || gate.cookie(req) || gate.bearer(req);
  }

  async function answerPage(req: IncomingMessage, url: URL): Promise<Response> {
    if (url.pathname !== PAGE_PATH) return page(404, renderMessagePage("Not found", [html`<a href="${PAGE_PATH}">Workers</a>`]));
    if (gate && url.searchParams.has("token")) return exchangeToken(req, url);
    if (!authorized(req)) {
      refused("page", "no token or cookie");
      return unauthorized("page", req);
    }
    const filters = parseFilters(url.searchParams);
    let view: WorkersView;
    try {
      view = await buildView(await readAll(), filters);
    } catch (error) {
      return storeFailed("page", error);
    }
    return page(200, renderPage(view, now()));
  }

  async function answerApi(req: IncomingMessage, url: URL): Promise<Response> {
    if (url.searchParams.has("token")) return badRequest("api", `pass the token as the header Authorization: Bearer <${TOKEN_ENV}>, not in the address`);
    if (!authorized(req)) {
      refused("api", "no bearer token or cookie");
      return unauthorized("api", req);
    }
    const rest = url.pathname.slice(API_PATH.length);
    try {
      if (rest === "") {
        const filters = parseFilters(url.searchParams);
        const view = await buildView(await readAll(), filters);
        return json(200, {
          heardAt: view.heardAt,
          filters: view.filters,
          total: view.total,
          counts: view.counts,
          repositories: view.repositories,
          workers: view.workers,
        });
      }
      const segments = rest.slice(1).split("/");
      if (segments.length !== 1) return json(404, { error: `not found: use ${API_PATH} or ${API_PATH}/<worker id>` });
      const id = parseWorkerIdParam(segments[0]!);
      const stray = [...url.searchParams.keys()][0];
      if (stray !== undefined) throw new BadRequest(`${API_PATH}/<worker id> takes no query parameters; got ${JSON.stringify(stray.slice(0, 40))}`);
      const worker = await store.getWorker(id);
      lastHeard = now();
      if (!worker) return json(404, { error: `no worker ${id}` });
      return json(200, { heardAt: new Date(lastHeard).toISOString(), worker: toWorkerView(worker, await store.history(id)) });
    } catch (error) {
      if (error instanceof BadRequest) throw error;
      return storeFailed("api", error);
    }
  }

  function openEvents(req: IncomingMessage, res: ServerResponse, url: URL): Response | undefined {
    if (url.searchParams.has("token")) return badRequest("events", "the event stream takes the cookie or a bearer token, not a token in the address");
    if (!authorized(req)) {
      refused("events", "no token or cookie");
      return unauthorized("events", req);
    }
    const filters = parseFilters(url.searchParams, ["v"]);
    // on reconnect the browser says which update it saw last
    const version = header(req, "last-event-id") ?? url.searchParams.get("v") ?? "";
    if (!VERSION_PATTERN.test(version)) throw new BadRequest("v: expected the page's version (hex)");
    if (!hub.canAccept()) return json(503, { error: "too many pages are listening: try again later" }, { "retry-after": "10" });
    hub.open(res, filters, version, SECURITY_HEADERS);
    return undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://localhost");
    } catch {
      return false;
    }
    const pathname = url.pathname.replace(/\/+$/, "") || "/";
    const route = routeOf(pathname);
    if (!route) return false;
    url.pathname = pathname;
    try {
      if (mode === "off") {
        send(req, res, route === "api" || route === "events" ? json(404, { error: OFF_MESSAGE }) : page(404, renderMessagePage("Status page is off", [OFF_MESSAGE])));
        return true;
      }
      const method = req.method ?? "GET";
      if (method !== "GET" && method !== "HEAD") {
        send(req, res, { status: 405, body: "use GET\n", contentType: "text/plain; charset=utf-8", headers: { allow: "GET, HEAD" } });
        return true;
      }
      let response: Response | undefined;
      try {
        if (route === "asset") response = asset(req, pathname === STYLE_PATH ? STYLESHEET : CLIENT_SCRIPT);
        else if (route === "page") response = await answerPage(req, url);
        else if (route === "api") response = await answerApi(req, url);
        else response = method === "HEAD" ? json(405, { error: "use GET" }, { allow: "GET" }) : openEvents(req, res, url);
      } catch (error) {
        if (!(error instanceof BadRequest)) throw error;
        response = badRequest(route, error.message);
      }
      if (response) send(req, res, response);
    } catch (error) {
      logger.error({ route, err_message: (error as Error).message.split("\n")[0] }, "status page failed");
      send(req, res, json(500, { error: "internal error" }));
    }
    return true;
  }

  return {
    mode,
    handle,
    close: () => hub.close(),
  };
}
