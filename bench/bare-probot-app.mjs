#!/usr/bin/env node
// The baseline for bench/webhooks.mjs: a bare Probot app with a no-op handler, served the way
// Probot documents it (node:http + createNodeMiddleware), with the same Probot version, auth,
// GitHub base URL and webhook path as `pw serve`. Prints one JSON line with its port.
import { createServer } from "node:http";
import { pino } from "pino";
import { createNodeMiddleware, Probot } from "probot";

const env = process.env;
const probot = new Probot({
  githubToken: env.GITHUB_TOKEN ?? "bench",
  secret: env.WEBHOOK_SECRET,
  baseUrl: env.GHE_HOST ? `${env.GHE_PROTOCOL ?? "https"}://${env.GHE_HOST}/api/v3` : undefined,
  log: pino({ level: env.LOG_LEVEL ?? "info" }),
});
const middleware = await createNodeMiddleware(
  (app) => {
    app.onAny(async () => {});
  },
  { probot },
);
const server = createServer((req, res) =>
  middleware(req, res, () => {
    res.writeHead(404).end();
  }),
);
server.listen(Number(env.PORT ?? 0), env.HOST ?? "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ msg: "bare probot listening", port: server.address().port })}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
