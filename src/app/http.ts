/**
 * The app's HTTP surface, one node:http handler: webhooks at Probot's default path, `/healthz`
 * and `/metrics`; a delivery to any other path gets 404 naming the webhook path. Webhooks are received here rather than through Probot's middleware so that a
 * rejected delivery (bad signature, malformed JSON, unknown event, wrong shape) is answered 4xx
 * and logged as one line without its payload; accepted ones go to Probot's handlers.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { emitterEventNames } from "@octokit/webhooks";
import type { Probot } from "probot";
import { InvalidInputError } from "../core/errors.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../log/metrics.js";
import type { WorkerStore } from "../store/store.js";
import { checkDeliveryNumbers } from "./payloads.js";

/** Probot's (and @octokit/webhooks') default webhook path. */
export const WEBHOOK_PATH = "/api/github/webhooks";
/** GitHub caps payloads at 25 MB. */
const MAX_BODY_BYTES = 25 * 1024 * 1024;
/** Like Probot: answer 202 when handlers take longer, and let them finish. */
const HANDLER_TIMEOUT_MS = 9000;
const EVENT_NAMES = new Set<string>(emitterEventNames.filter((name) => !name.includes(".")));
const DELIVERY_ID = /^[A-Za-z0-9-]{1,100}$/;

export interface AppHttpOptions {
  /** A Probot that is ready (`await probot.ready()`), with the app loaded. */
  probot: Probot;
  store: WorkerStore;
  logger: Logger;
  metrics?: Metrics;
  webhookPath?: string;
  handlerTimeoutMs?: number;
  /**
   * Offered the requests this handler does not own (not the webhook path, `/healthz` or
   * `/metrics`), such as the status page's; resolves false for those it does not answer either,
   * which get 404. Webhooks are routed first, so a delivery never waits behind another surface.
   */
  next?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
  /**
   * The events whose deliveries must carry an installation id (with App credentials, those the
   * app handles: Probot authenticates with it); refused with 400 otherwise.
   */
  installationRequiredFor?: ReadonlySet<string>;
}

class Rejection extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function send(res: ServerResponse, status: number, body: string, contentType = "text/plain; charset=utf-8", extra: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body), ...extra });
  res.end(body);
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const collect = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      // stop keeping it, but read the rest so the answer reaches the sender
      req.off("data", collect);
      req.resume();
      reject(new Rejection(413, `payload larger than ${limit} bytes`));
    };
    req.on("data", collect);
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** The event header as it may appear in a log line or a metric label. */
function eventLabel(value: string | undefined): string {
  return value && EVENT_NAMES.has(value) ? value : "unknown";
}

/** True when handling failed because the payload lacked what the app reads (a 400, not a 500). */
function isPayloadRefusal(error: unknown): boolean {
  const errors = error instanceof AggregateError ? error.errors : [error];
  return errors.some((e) => e instanceof InvalidInputError);
}

export function createAppHttpHandler(options: AppHttpOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const path = options.webhookPath ?? WEBHOOK_PATH;
  const timeoutMs = options.handlerTimeoutMs ?? HANDLER_TIMEOUT_MS;
  const { probot, store, logger, metrics } = options;

  async function receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const name = header(req, "x-github-event");
    const id = header(req, "x-github-delivery");
    const reject = (status: number, reason: string) => {
      const fields = { delivery_id: id && DELIVERY_ID.test(id) ? id : "(invalid)", event: eventLabel(name), status, reason };
      logger.warn(fields, "webhook delivery rejected");
      metrics?.observeWebhook(eventLabel(name), "error", (performance.now() - started) / 1000);
      send(res, status, JSON.stringify({ error: reason }), "application/json");
    };
    try {
      const contentType = header(req, "content-type") ?? "";
      if (!/^\s*application\/json\s*(;|$)/i.test(contentType)) throw new Rejection(415, 'content-type must be "application/json"');
      const signature = header(req, "x-hub-signature-256");
      const missing = [
        ...(name ? [] : ["x-github-event"]),
        ...(id ? [] : ["x-github-delivery"]),
        ...(signature ? [] : ["x-hub-signature-256"]),
      ];
      if (missing.length > 0) throw new Rejection(400, `required headers missing: ${missing.join(", ")}`);
      if (!DELIVERY_ID.test(id!)) throw new Rejection(400, "x-github-delivery is not a delivery id");
      if (!EVENT_NAMES.has(name!)) throw new Rejection(400, "unknown event");
      const body = await readBody(req, MAX_BODY_BYTES);
      const valid = await probot.webhooks.verify(body, signature!).catch(() => false);
      if (!valid) throw new Rejection(401, "signature does not match the payload and WEBHOOK_SECRET");
      let payload: unknown;
      try {
        payload = JSON.parse(body);
      } catch {
        throw new Rejection(400, "payload is not valid JSON");
      }
      if (typeof payload !== "object" || payload === null || Array.isArray(payload)) throw new Rejection(400, "payload is not a JSON object");
      // an installation id of 0 or a PR number past 2^53 is bad input, refused before Probot's auth reads it
      try {
        checkDeliveryNumbers(payload as Record<string, unknown>, { installation: options.installationRequiredFor?.has(name!) ?? false });
      } catch (error) {
        throw new Rejection(400, (error as Error).message);
      }

      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
      const handled = probot.webhooks
        .receive({ id: id!, name: name as never, payload: payload as never })
        .then(() => "ok" as const);
      try {
        const result = await Promise.race([handled, timedOut]);
        if (result === "timeout") {
          send(res, 202, "still processing\n");
          handled.catch(() => undefined); // Probot's error handler has logged it
        } else send(res, 200, "ok\n");
      } catch (error) {
        // the handler has logged it (one line); the answer says only what kind of failure it was
        if (isPayloadRefusal(error)) send(res, 400, JSON.stringify({ error: "payload lacks what the app reads" }), "application/json");
        else send(res, 500, JSON.stringify({ error: "handler failed" }), "application/json");
      } finally {
        clearTimeout(timer);
      }
    } catch (error) {
      if (error instanceof Rejection) return reject(error.status, error.message);
      logger.error({ err_message: (error as Error).message.split("\n")[0] }, "webhook receiver failed");
      send(res, 500, JSON.stringify({ error: "internal error" }), "application/json");
    }
  }

  async function metricsPage(res: ServerResponse): Promise<void> {
    if (!metrics) return send(res, 404, "not found\n");
    try {
      const rendered = await metrics.render();
      send(res, 200, rendered.body, rendered.contentType);
    } catch (error) {
      logger.warn({ err_message: (error as Error).message.split("\n")[0] }, "metrics not rendered");
      send(res, 500, "metrics unavailable\n");
    }
  }

  async function health(res: ServerResponse): Promise<void> {
    try {
      await store.ping();
      send(res, 200, JSON.stringify({ status: "ok" }), "application/json");
    } catch (error) {
      logger.warn({ err_message: (error as Error).message.split("\n")[0] }, "health check failed");
      send(res, 503, JSON.stringify({ status: "store unreachable" }), "application/json");
    }
  }

  /**
   * A delivery sent to another path (an App registered with the webhook URL `/`): refused with
   * 404 and a body that says where webhooks go, which GitHub shows under Recent Deliveries.
   */
  function misdirected(req: IncomingMessage, res: ServerResponse, pathname: string): void {
    req.resume();
    const id = header(req, "x-github-delivery");
    const name = eventLabel(header(req, "x-github-event"));
    logger.warn(
      { delivery_id: id && DELIVERY_ID.test(id) ? id : "(invalid)", event: name, status: 404, path: pathname.slice(0, 200) },
      `webhook delivery to the wrong path: set the GitHub App's webhook URL to end in ${path}`,
    );
    metrics?.observeWebhook(name, "error", 0);
    const error = `webhooks are received at ${path}, not ${pathname.length > 200 ? "this path" : pathname}: set the GitHub App's webhook URL to https://<this host>${path}`;
    send(res, 404, JSON.stringify({ error }), "application/json");
  }

  const next = options.next ?? (() => Promise.resolve(false));

  return (req, res) => {
    const url = req.url ?? "/";
    let pathname: string;
    // GitHub posts to the path exactly; anything else is parsed (query, trailing slashes)
    if (url === path) pathname = path;
    else {
      try {
        pathname = new URL(url, "http://localhost").pathname.replace(/\/+$/, "") || "/";
      } catch {
        return send(res, 400, "bad request\n");
      }
    }
    const method = req.method ?? "GET";
    if (pathname === path) {
      if (method !== "POST") return send(res, 405, "use POST\n", undefined, { allow: "POST" });
      void receive(req, res);
      return;
    }
    const reading = method === "GET" || method === "HEAD";
    if (reading && pathname === "/healthz") return void health(res);
    if (reading && pathname === "/metrics") return void metricsPage(res);
    if (method === "POST" && header(req, "x-github-event") !== undefined) return misdirected(req, res, pathname);
    next(req, res).then(
      (answered) => answered || send(res, 404, "not found\n"),
      () => res.destroy(),
    );
  };
}
