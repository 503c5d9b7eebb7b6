/**
 * `WEBHOOK_PROXY_URL`: forwards deliveries from a smee.io channel (a server-sent event stream)
 * to the local webhook path, as Probot does in development, without smee-client. Each event's
 * data holds the delivery's headers and body; only the headers a delivery needs are forwarded,
 * and the local receiver checks the signature as for any delivery.
 */
import type { Logger } from "../log/logger.js";

export interface WebhookProxyOptions {
  source: string;
  target: string;
  logger: Logger;
  /** First reconnect delay; doubles up to a minute. */
  retryMs?: number;
}

const FORWARDED = ["content-type", "user-agent", "x-github-event", "x-github-delivery", "x-github-hook-id", "x-hub-signature-256"];

async function forward(data: string, target: string, logger: Logger): Promise<void> {
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(data) as Record<string, unknown>;
  } catch {
    logger.warn("webhook proxy: an event was not JSON; skipped");
    return;
  }
  if (typeof event !== "object" || event === null || !("x-github-event" in event)) return;
  const headers: Record<string, string> = {};
  for (const name of FORWARDED) if (typeof event[name] === "string") headers[name] = event[name] as string;
  headers["content-type"] ??= "application/json";
  const body = typeof event.body === "string" ? event.body : JSON.stringify(event.body ?? {});
  try {
    const response = await fetch(target, { method: "POST", headers, body });
    await response.arrayBuffer();
    logger.debug({ delivery_id: headers["x-github-delivery"], status: response.status }, "webhook proxy: delivery forwarded");
  } catch (error) {
    logger.warn({ err_message: (error as Error).message }, "webhook proxy: delivery not forwarded");
  }
}

/** Starts forwarding; `close()` stops it. Reconnects when the stream ends or fails. */
export function forwardWebhooks(options: WebhookProxyOptions): { close(): void } {
  const abort = new AbortController();
  const first = options.retryMs ?? 1000;
  let delay = first;
  const source = new URL(options.source);
  const shown = `${source.origin}${source.pathname.replace(/\/[^/]{8,}$/, "/...")}`;

  async function connect(): Promise<void> {
    const response = await fetch(options.source, { headers: { accept: "text/event-stream" }, signal: abort.signal });
    if (!response.ok || !response.body) throw new Error(`the channel answered ${response.status}`);
    options.logger.info({ source: shown }, "webhook proxy connected");
    delay = first;
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, "\n");
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let type = "message";
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) type = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (type === "message" && data.length > 0) await forward(data.join("\n"), options.target, options.logger);
      }
    }
  }

  void (async () => {
    while (!abort.signal.aborted) {
      try {
        await connect();
      } catch (error) {
        if (abort.signal.aborted) break;
        options.logger.warn({ source: shown, err_message: (error as Error).message, retry_in_ms: delay }, "webhook proxy disconnected");
      }
      if (abort.signal.aborted) break;
      await new Promise((r) => setTimeout(r, delay).unref());
      delay = Math.min(60_000, delay * 2);
    }
  })();
  return { close: () => abort.abort() };
}
