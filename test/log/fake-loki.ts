import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Worker } from "node:worker_threads";

/** One entry of a Loki push: [timestamp in ns, line] or [timestamp, line, structured metadata]. */
export type LokiValue = [string, string] | [string, string, Record<string, string>];

export interface LokiStreamPush {
  stream: Record<string, string>;
  values: LokiValue[];
}

export interface LokiPush {
  headers: Record<string, string | string[] | undefined>;
  streams: LokiStreamPush[];
}

export interface FakeLoki {
  url: string;
  pushes: LokiPush[];
  /** Requests that were refused (wrong path, method, content type or encoding). */
  refusals: string[];
  /** Every (labels, parsed line) pair received so far. */
  entries(): { labels: Record<string, string>; line: Record<string, unknown>; timestampNs: string }[];
  /** Resolves once the pushes received satisfy `predicate`. */
  waitFor(predicate: (pushes: LokiPush[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

// Plain JavaScript, run in a worker thread: flushLogger waits synchronously for pino-loki's last
// push, so a stand-in served from the test's own thread could not answer it.
const SERVER_SOURCE = `
const { createServer } = require("node:http");
const { parentPort, workerData } = require("node:worker_threads");
const zlib = require("node:zlib");
const decoders = { gzip: zlib.gunzipSync, deflate: zlib.inflateSync, br: zlib.brotliDecompressSync };
const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    if (workerData.mode === "hang") return;
    const refuse = (why) => {
      parentPort.postMessage({ type: "refused", why });
      res.writeHead(400, { "content-type": "text/plain" }).end(why);
    };
    if (req.method !== "POST" || req.url !== "/loki/api/v1/push") return refuse("unexpected " + req.method + " " + req.url);
    const type = req.headers["content-type"] || "";
    if (!type.startsWith("application/json")) return refuse("unexpected content-type " + type);
    const encoding = req.headers["content-encoding"];
    let body = Buffer.concat(chunks);
    if (encoding && encoding !== "identity") {
      if (!decoders[encoding]) return refuse("unexpected content-encoding " + encoding);
      body = decoders[encoding](body);
    }
    let parsed;
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch (error) {
      return refuse("body is not JSON: " + error.message);
    }
    parentPort.postMessage({ type: "push", headers: req.headers, streams: parsed.streams });
    res.writeHead(204).end();
  });
});
server.listen(0, "127.0.0.1", () => parentPort.postMessage({ type: "listening", port: server.address().port }));
parentPort.on("message", (message) => {
  if (message === "close") {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
`;

type ServerMessage =
  | { type: "listening"; port: number }
  | { type: "refused"; why: string }
  | { type: "push"; headers: LokiPush["headers"]; streams: LokiStreamPush[] };

/**
 * A stand-in for Loki's push API on 127.0.0.1 and a random port, in a worker thread. `hang`
 * accepts requests and never answers (a slow Loki). Pushes that are not JSON are refused (400).
 */
export async function startFakeLoki(mode: "ok" | "hang" = "ok"): Promise<FakeLoki> {
  const worker = new Worker(SERVER_SOURCE, { eval: true, workerData: { mode } });
  const pushes: LokiPush[] = [];
  const refusals: string[] = [];
  const waiters = new Set<() => void>();
  const port = await new Promise<number>((resolve, reject) => {
    worker.once("error", reject);
    worker.on("message", (message: ServerMessage) => {
      if (message.type === "listening") resolve(message.port);
      else if (message.type === "refused") refusals.push(message.why);
      else pushes.push({ headers: message.headers, streams: message.streams });
      for (const wake of waiters) wake();
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pushes,
    refusals,
    entries() {
      return pushes.flatMap((push) =>
        push.streams.flatMap((stream) =>
          stream.values.map(([timestampNs, line]) => ({
            labels: stream.stream,
            line: JSON.parse(line) as Record<string, unknown>,
            timestampNs,
          })),
        ),
      );
    },
    waitFor(predicate, timeoutMs = 5000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!predicate(pushes)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const refused = refusals.length > 0 ? `; refused: ${refusals.join("; ")}` : "";
          reject(new Error(`no matching push reached the fake Loki within ${timeoutMs} ms (got ${pushes.length})${refused}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
      worker.postMessage("close");
      await Promise.race([exited, new Promise<void>((resolve) => setTimeout(resolve, 1000))]);
      await worker.terminate();
    },
  };
}

/** A port on 127.0.0.1 that refuses connections (a Loki that is down). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
