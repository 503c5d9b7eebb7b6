import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { forwardWebhooks } from "../../src/app/webhook-proxy.js";
import { silentLogger } from "../../src/log/logger.js";
import { signPayload } from "../helpers/webhooks.js";

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("WEBHOOK_PROXY_URL forwarding", () => {
  it("posts each delivery of a smee-style event stream to the local webhook path, with its headers", async () => {
    const received: Array<{ headers: Record<string, unknown>; body: string }> = [];
    const target = await serve((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        received.push({ headers: req.headers, body });
        res.end("ok");
      });
    });
    const payload = { action: "opened", number: 1 };
    const text = JSON.stringify(payload);
    const source = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("event: ready\ndata: {}\n\n");
      const event = {
        "x-github-event": "pull_request",
        "x-github-delivery": "proxy-1",
        "x-hub-signature-256": signPayload(text, "s"),
        "content-type": "application/json",
        host: "smee.io",
        body: payload,
        query: {},
        timestamp: Date.now(),
      };
      res.write(`id: 1\ndata: ${JSON.stringify(event)}\n\n`);
    });
    const proxy = forwardWebhooks({ source: `${source}/channel-abc`, target: `${target}/api/github/webhooks`, logger: silentLogger() });
    try {
      const deadline = Date.now() + 5000;
      while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    } finally {
      proxy.close();
    }
    expect(received).toHaveLength(1);
    expect(received[0]!.body).toBe(text);
    expect(received[0]!.headers).toMatchObject({
      "x-github-event": "pull_request",
      "x-github-delivery": "proxy-1",
      "x-hub-signature-256": signPayload(text, "s"),
      "content-type": "application/json",
    });
    expect(received[0]!.headers.host).not.toBe("smee.io");
  });
});
