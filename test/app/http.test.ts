import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { createAppHttpHandler, WEBHOOK_PATH } from "../../src/app/http.js";
import { deliver, loadPayload, retarget, signPayload } from "../helpers/webhooks.js";
import { parsePrometheusText, sampleValue } from "../log/prometheus-text.js";
import { harnessPerTest, REPO, type Harness } from "./harness.js";

const SECRET = "test-secret";
const openApp = harnessPerTest();
let server: Server | undefined;
// registered after the harness's, so (hooks run as a stack) the server closes first
afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

async function start(next?: Parameters<typeof createAppHttpHandler>[0]["next"]): Promise<{ app: Harness; base: string; url: string }> {
  const app = await openApp({ secret: SECRET });
  await app.probot.ready();
  server = createServer(createAppHttpHandler({ probot: app.probot, store: app.store, logger: app.logger, metrics: app.metrics, next }));
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { app, base, url: `${base}${WEBHOOK_PATH}` };
}

/** A merged-PR delivery for the worker on feature/task-1, with a body that must never be logged. */
async function mergedPayload(app: Harness) {
  await app.addWorker({ id: "worker-aaaaa1", state: "PR_OPEN", prNumber: 1 });
  const pr = app.github.addPullRequest(REPO, { head: "feature/task-1" });
  app.github.mergePullRequest(REPO, pr.number);
  return retarget(loadPayload("pull_request.closed.merged"), { repo: REPO, number: pr.number, headRef: "feature/task-1", body: "SECRET-BODY-TEXT" });
}

describe("the webhook receiver", () => {
  it("handles a signed delivery and answers 200", async () => {
    const { app, url } = await start();
    const result = await deliver(url, { event: "pull_request", payload: await mergedPayload(app), secret: SECRET });
    expect(result.status).toBe(200);
    expect((await app.store.requireWorker("worker-aaaaa1")).state).toBe("MERGED");
  });

  it("rejects a bad signature with 401, changes nothing, and logs one line without the payload", async () => {
    const { app, url } = await start();
    const payload = await mergedPayload(app);
    const result = await deliver(url, { event: "pull_request", payload, secret: "wrong-secret" });
    expect(result.status).toBe(401);
    expect((await app.store.requireWorker("worker-aaaaa1")).state).toBe("PR_OPEN");
    expect(app.deps.deliveries.has(result.id)).toBe(false);
    const lines = app.logLines();
    expect(lines.filter((l) => l.level === 40 || l.level === 50)).toEqual([
      expect.objectContaining({ msg: "webhook delivery rejected", status: 401, event: "pull_request", delivery_id: result.id }),
    ]);
    expect(JSON.stringify(lines)).not.toContain("SECRET-BODY-TEXT");
    expect(app.github.calls()).toEqual([]);
  });

  it.each([
    ["malformed JSON", { event: "pull_request", payload: "{not json" }, 400, "payload is not valid JSON"],
    ["a JSON array", { event: "pull_request", payload: "[1,2]" }, 400, "payload is not a JSON object"],
    ["an unknown event", { event: "pull_requests", payload: "{}" }, 400, "unknown event"],
    ["a payload without what the app reads", { event: "pull_request", payload: JSON.stringify({ action: "closed", number: 1 }) }, 400, "payload lacks what the app reads"],
  ])("rejects %s with 4xx", async (_name, delivery, status, error) => {
    const { app, url } = await start();
    const result = await deliver(url, { ...delivery, secret: SECRET });
    expect(result.status).toBe(status);
    expect(JSON.parse(result.body)).toEqual({ error });
    expect(app.github.calls()).toEqual([]);
  });

  it("rejects missing headers, the wrong content type and other methods", async () => {
    const { url } = await start();
    const body = JSON.stringify({ zen: "hi" });
    const missing = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({ error: "required headers missing: x-github-event, x-github-delivery, x-hub-signature-256" });
    const form = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "x-github-event": "ping", "x-github-delivery": "1", "x-hub-signature-256": signPayload(body, SECRET) },
      body,
    });
    expect(form.status).toBe(415);
    expect((await fetch(url)).status).toBe(405);
  });

  it("answers a ping, and a redelivery changes nothing", async () => {
    const { app, url } = await start();
    expect((await deliver(url, { event: "ping", payload: { zen: "Keep it simple." }, secret: SECRET })).status).toBe(200);
    const payload = await mergedPayload(app);
    const first = await deliver(url, { event: "pull_request", payload, secret: SECRET });
    const again = await deliver(url, { event: "pull_request", payload, secret: SECRET, id: first.id });
    expect([first.status, again.status]).toEqual([200, 200]);
    expect((await app.store.history("worker-aaaaa1")).map((t) => t.to)).toEqual(["PR_OPEN", "MERGED"]);
  });

  it("handles a signed delivery to the webhook URL in app.yml", async () => {
    const { app, base } = await start();
    const manifest = parse(readFileSync(new URL("../../app.yml", import.meta.url), "utf8")) as { hook_attributes: { url: string } };
    const { pathname } = new URL(manifest.hook_attributes.url);
    const result = await deliver(`${base}${pathname}`, { event: "pull_request", payload: await mergedPayload(app), secret: SECRET });
    expect(result.status).toBe(200);
    expect((await app.store.requireWorker("worker-aaaaa1")).state).toBe("MERGED");
  });

  it("refuses a delivery to / (an App registered with the webhook URL /) with 404 naming the webhook path, and one warning", async () => {
    const seen: string[] = [];
    const { app, base } = await start(async (req) => {
      seen.push(`${req.method} ${req.url}`);
      return false;
    });
    const payload = await mergedPayload(app);
    for (const target of [`${base}/`, `${base}/webhooks?x=1`]) {
      const result = await deliver(target, { event: "pull_request", payload, secret: SECRET });
      expect(result.status).toBe(404);
      expect(JSON.parse(result.body)).toEqual({
        error: `webhooks are received at ${WEBHOOK_PATH}, not ${new URL(target).pathname}: set the GitHub App's webhook URL to https://<this host>${WEBHOOK_PATH}`,
      });
    }
    expect((await app.store.requireWorker("worker-aaaaa1")).state).toBe("PR_OPEN");
    expect(app.github.calls()).toEqual([]);
    expect(seen).toEqual([]);
    const warnings = app.logLines().filter((l) => (l.level as number) >= 40);
    expect(warnings).toEqual([
      expect.objectContaining({ msg: `webhook delivery to the wrong path: set the GitHub App's webhook URL to end in ${WEBHOOK_PATH}`, path: "/", event: "pull_request", status: 404 }),
      expect.objectContaining({ path: "/webhooks", status: 404 }),
    ]);
    // a POST that is not a delivery is still the next handler's
    await fetch(`${base}/`, { method: "POST" });
    expect(seen).toEqual(["POST /"]);
  });

  it("serves /healthz and /metrics on the same server", async () => {
    const { app, base, url } = await start();
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    await deliver(url, { event: "pull_request", payload: await mergedPayload(app), secret: SECRET });
    await deliver(url, { event: "pull_request", payload: "{}", secret: "bad" });
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    const families = parsePrometheusText(await metrics.text());
    expect(sampleValue(families, "pw_webhook_duration_seconds_count", { event: "pull_request.closed", outcome: "handled" })).toBe(1);
    expect(sampleValue(families, "pw_webhook_duration_seconds_count", { event: "pull_request", outcome: "error" })).toBe(1);
    expect((await fetch(`${base}/nothing`)).status).toBe(404);
    await app.store.close();
    expect((await fetch(`${base}/healthz`)).status).toBe(503);
  });

  it("hands every other request to `next` (the status page in pw serve), after its own routes", async () => {
    const seen: string[] = [];
    const { app, base, url } = await start(async (req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url === "/unanswered") return false;
      res.writeHead(418).end();
      return true;
    });
    expect((await fetch(`${base}/workers?x=1`)).status).toBe(418);
    expect((await fetch(`${base}/healthz`, { method: "POST" })).status).toBe(418);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}${WEBHOOK_PATH}/?q=1`, { method: "GET" })).status).toBe(405);
    expect((await deliver(url, { event: "pull_request", payload: await mergedPayload(app), secret: SECRET })).status).toBe(200);
    expect((await fetch(`${base}/unanswered`)).status).toBe(404);
    expect(seen).toEqual(["GET /workers?x=1", "POST /healthz", "GET /unanswered"]);
  });
});
