/**
 * The status page over real HTTP (node:http, fetch) on a real SQLite file: access rules, the
 * token-for-cookie exchange, validation, the JSON API, security headers, the event stream.
 */
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { InvalidInputError } from "../../src/core/errors.js";
import { WORKER_STATES } from "../../src/core/states.js";
import { createLogger, flushLogger, type Logger } from "../../src/log/logger.js";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import { SqliteAsyncWorkerStore } from "../../src/store/sqlite-async.js";
import { statusPageOptionsFromEnv, type StatusPageOptions } from "../../src/web/index.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";
import { FIXTURE, fillStore, fixtureCounts, mountStatusPage, TOKEN, until, type FixtureWorker, type Mounted } from "./harness.js";

const mounted: Mounted[] = [];
const stores: SqliteAsyncWorkerStore[] = [];

afterEach(async () => {
  for (const m of mounted.splice(0)) await m.close();
  for (const s of stores.splice(0)) await s.close();
  removeTempDirs();
});

function storeWith(workers: FixtureWorker[] = FIXTURE): SqliteAsyncWorkerStore {
  const file = join(tempDir("pw-web-"), "state.db");
  fillStore(file, workers);
  const store = new SqliteAsyncWorkerStore(new SqliteWorkerStore(file));
  stores.push(store);
  return store;
}

async function mount(options: Partial<StatusPageOptions> & { store: SqliteAsyncWorkerStore }): Promise<Mounted> {
  const m = await mountStatusPage(options);
  mounted.push(m);
  return m;
}

function fileLogger(): { logger: Logger; text: () => Promise<string> } {
  const file = join(tempDir("pw-web-log-"), "app.log");
  const logger = createLogger({ component: "app", destination: file, level: "debug", env: {}, loki: false });
  return {
    logger,
    text: async () => {
      await flushLogger(logger);
      return readFileSync(file, "utf8");
    },
  };
}

const bearer = { authorization: `Bearer ${TOKEN}` };

describe("statusPageOptionsFromEnv", () => {
  it.each([
    [{}, {}, { public: false }],
    [{ PW_DASHBOARD_TOKEN: "" }, {}, { public: false }],
    [{}, { dashboardPublic: true }, { public: true }],
    [{ PW_DASHBOARD_TOKEN: TOKEN }, {}, { public: false, token: TOKEN }],
  ])("reads %j with flags %j", (env, flags, expected) => {
    expect(statusPageOptionsFromEnv(env, flags)).toEqual(expected);
  });

  it.each([
    ["16 characters", "short-token-1234", undefined],
    ["8 characters", "tooshort", /too short: use at least 16 characters/],
    ["spaces", "has a space in it 0123456789", /printable ASCII without spaces/],
    ["600 characters", "x".repeat(600), /too long/],
  ])("checks a token of %s without ever repeating it", (_, token, problem) => {
    if (!problem) return void expect(statusPageOptionsFromEnv({ PW_DASHBOARD_TOKEN: token }).token).toBe(token);
    let error: unknown;
    try {
      statusPageOptionsFromEnv({ PW_DASHBOARD_TOKEN: token });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(problem);
    expect((error as Error).message).toMatch(/^PW_DASHBOARD_TOKEN /);
    expect((error as Error).message).not.toContain(token);
  });
});

describe("status page over HTTP", () => {
  it("is off without a token or --dashboard-public: 404 saying how to turn it on; other paths are left to serve", async () => {
    const m = await mount({ store: storeWith() });
    expect(m.page.mode).toBe("off");
    for (const path of ["/workers", "/workers/style.css", "/workers/events", "/api/workers", "/api/workers/worker-w1aaaa"]) {
      const res = await fetch(m.base + path);
      expect(res.status, path).toBe(404);
      expect(await res.text(), path).toMatch(/set PW_DASHBOARD_TOKEN .* or pass --dashboard-public/);
    }
    for (const path of ["/healthz", "/metrics", "/api/github/webhooks", "/workersx", "/api/workersx", "/"]) {
      const res = await fetch(m.base + path);
      expect(await res.text(), path).toBe("not the status page\n");
    }
  });

  it("with a token: the API answers only with the bearer token (401 otherwise) and the token is never logged", async () => {
    const log = fileLogger();
    const m = await mount({ store: storeWith(), token: TOKEN, logger: log.logger });
    expect(m.page.mode).toBe("token");

    const none = await fetch(`${m.base}/api/workers`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer /);
    expect(await none.json()).toEqual({ error: "the status API needs the header Authorization: Bearer <PW_DASHBOARD_TOKEN>" });
    for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, TOKEN, "Bearer"]) {
      expect((await fetch(`${m.base}/api/workers`, { headers: { authorization } })).status, authorization).toBe(401);
    }
    const inQuery = await fetch(`${m.base}/api/workers?token=${TOKEN}`);
    expect(inQuery.status).toBe(400);
    expect(await inQuery.text()).not.toContain(TOKEN);

    const ok = await fetch(`${m.base}/api/workers`, { headers: bearer });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { counts: Record<string, number>; total: number; workers: { id: string }[] };
    expect(body.counts).toEqual(fixtureCounts());
    expect(body.total).toBe(FIXTURE.length);

    // the page and its stream refuse too, including a wrong token in the address
    expect((await fetch(`${m.base}/workers`)).status).toBe(401);
    const wrong = await fetch(`${m.base}/workers?token=not-the-token-0123456789`, { redirect: "manual" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
    expect(await wrong.text()).not.toContain("not-the-token");
    expect((await fetch(`${m.base}/workers/events`)).status).toBe(401);
    // the right one, exchanged for a cookie
    expect((await fetch(`${m.base}/workers?token=${TOKEN}&state=WORKING`, { redirect: "manual" })).status).toBe(303);

    const logged = await log.text();
    expect(logged).toContain("status page: access refused");
    expect(logged).not.toContain(TOKEN);
    expect(logged).not.toContain("not-the-token");
    expect(logged).not.toContain("token=");
  });

  it("exchanges ?token= once for an HttpOnly, SameSite=Strict cookie and a redirect that drops the token", async () => {
    const m = await mount({ store: storeWith(), token: TOKEN });
    const res = await fetch(`${m.base}/workers?state=PR_OPEN&token=${encodeURIComponent(TOKEN)}&repo=acme%2Fwidgets`, { redirect: "manual" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/workers?state=PR_OPEN&repo=acme%2Fwidgets");
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^pw_status=[A-Za-z0-9_-]{20,}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=604800$/);
    expect(cookie).not.toContain(TOKEN);
    expect(await res.text()).toBe("");

    const pair = cookie.split(";")[0]!;
    const pageRes = await fetch(`${m.base}/workers?state=PR_OPEN&repo=acme%2Fwidgets`, { headers: { cookie: `other=1; ${pair}` } });
    expect(pageRes.status).toBe(200);
    const html = await pageRes.text();
    expect(html).toContain("<code>worker-p1aaaa</code>");
    expect(html).not.toContain("worker-p2aaaa"); // acme/gadgets
    expect(html).not.toContain(TOKEN);
    // the cookie also opens the API and the stream; a forged one does not
    expect((await fetch(`${m.base}/api/workers`, { headers: { cookie: pair } })).status).toBe(200);
    expect((await fetch(`${m.base}/api/workers`, { headers: { cookie: `pw_status=${TOKEN}` } })).status).toBe(401);
    expect((await fetch(`${m.base}/workers`, { headers: { cookie: "pw_status=" } })).status).toBe(401);

    // behind an https proxy the cookie is Secure
    const secure = await fetch(`${m.base}/workers?token=${TOKEN}`, { redirect: "manual", headers: { "x-forwarded-proto": "https" } });
    expect(secure.headers.get("location")).toBe("/workers");
    expect(secure.headers.get("set-cookie")).toMatch(/; Secure$/);
    // two tokens are one too many
    expect((await fetch(`${m.base}/workers?token=${TOKEN}&token=${TOKEN}`, { redirect: "manual" })).status).toBe(401);
  });

  it("validates the worker id and the filters before they reach the store: 400 with a clear message", async () => {
    const m = await mount({ store: storeWith(), token: TOKEN });
    const cases: [string, RegExp][] = [
      ["/api/workers/not-a-worker", /worker id "not-a-worker" is not valid: expected "worker-" and 6 lowercase letters or digits/],
      ["/api/workers/worker-ABCDEF", /worker id "worker-ABCDEF" is not valid/],
      ["/api/workers/worker-abc%2F..", /worker id "worker-abc\/\.\." is not valid/],
      ["/api/workers?state=DONE", /state: unknown state "DONE": use one of UNKNOWN, NEEDS_INIT, WORKING, PR_OPEN, MERGED, ABANDONED/],
      ["/api/workers?state=working", /unknown state "working"/],
      ["/api/workers?repo=acme", /repo: expected owner\/name, like acme\/web/],
      ["/api/workers?repo=acme%2F..%2Fx", /repo: expected owner\/name/],
      ["/api/workers?state=WORKING&state=MERGED", /query parameter "state" is given more than once/],
      ["/api/workers?sort=age", /unknown query parameter "sort": use state or repo/],
      ["/api/workers/worker-w1aaaa?x=1", /\/api\/workers\/<worker id> takes no query parameters; got "x"/],
    ];
    for (const [path, message] of cases) {
      const res = await fetch(m.base + path, { headers: bearer });
      expect(res.status, path).toBe(400);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(((await res.json()) as { error: string }).error, path).toMatch(message);
    }
    const pageRes = await fetch(`${m.base}/workers?state=%3Cscript%3E`, { headers: bearer });
    expect(pageRes.status).toBe(400);
    const text = await pageRes.text();
    expect(text).toContain("unknown state &quot;&lt;script&gt;&quot;");
    expect(text).not.toContain("<script>");

    expect((await fetch(`${m.base}/api/workers/worker-zzzzzz`, { headers: bearer })).status).toBe(404);
    expect((await fetch(`${m.base}/api/workers/worker-w1aaaa/history`, { headers: bearer })).status).toBe(404);
    expect((await fetch(`${m.base}/workers/worker-w1aaaa`, { headers: bearer })).status).toBe(404);
    const post = await fetch(`${m.base}/api/workers`, { method: "POST", headers: bearer });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });

  it("serves the same data as JSON: the list with counts and histories, one worker, filters", async () => {
    const now = Date.now();
    const m = await mount({ store: storeWith(), token: TOKEN, now: () => now });
    const list = (await (await fetch(`${m.base}/api/workers?repo=acme%2Fgadgets`, { headers: bearer })).json()) as {
      heardAt: string;
      filters: object;
      total: number;
      counts: Record<string, number>;
      repositories: string[];
      workers: { id: string; state: string; history: { to: string }[]; runner: string | null }[];
    };
    expect(list.heardAt).toBe(new Date(now).toISOString());
    expect(list.filters).toEqual({ repo: "acme/gadgets" });
    expect(list.repositories).toEqual(["acme/gadgets", "acme/widgets"]);
    expect(list.total).toBe(3);
    expect(list.counts).toEqual({ UNKNOWN: 1, NEEDS_INIT: 0, WORKING: 1, PR_OPEN: 1, MERGED: 0, ABANDONED: 0 });
    expect(list.workers.map((w) => w.id).sort()).toEqual(["worker-p2aaaa", "worker-u1aaaa", "worker-w2aaaa"]);

    const byState = (await (await fetch(`${m.base}/api/workers?state=WORKING`, { headers: bearer })).json()) as typeof list;
    expect(byState.workers.map((w) => w.id).sort()).toEqual(["worker-w1aaaa", "worker-w2aaaa"]);
    expect(byState.counts).toEqual(fixtureCounts()); // counts are over every state

    const one = await fetch(`${m.base}/api/workers/worker-u1aaaa`, { headers: bearer });
    expect(one.status).toBe(200);
    const { worker } = (await one.json()) as { worker: Record<string, unknown> & { history: { from: string | null; to: string; source: string; detail: string | null }[] } };
    expect(worker).toMatchObject({
      id: "worker-u1aaaa",
      taskId: "T-108",
      state: "UNKNOWN",
      repo: "acme/gadgets",
      runner: "build-02:977:p0x1zz",
      error: "agent exited with code 1: 3 tests failed in src/search/index.test.ts",
    });
    expect(worker.stateSince).toBe(worker.history.at(-1) && (worker.history.at(-1) as unknown as { at: string }).at);
    expect(worker.history.map((t) => [t.from, t.to, t.source, t.detail])).toEqual([
      [null, "NEEDS_INIT", "cli", null],
      ["NEEDS_INIT", "WORKING", "runner", null],
      ["WORKING", "UNKNOWN", "runner", "agent exited with code 1"],
    ]);
    // local paths, process ids and leases are not the page's business
    for (const key of ["repoPath", "worktreePath", "pid", "leaseUntil", "owner"]) expect(worker).not.toHaveProperty(key);
  });

  it("shows the runner holding each worker's worktree, marked stale when it is not heard from", async () => {
    const store = storeWith();
    await store.registerRunner({ id: "build-01-aaaaaa", host: "build-01", repositories: ["acme/widgets"] });
    await store.updateWorker("worker-w1aaaa", { runnerId: "build-01-aaaaaa" });
    await store.updateWorker("worker-w2aaaa", { runnerId: "build-02-bbbbbb" });
    const m = await mount({ store, token: TOKEN });
    const list = (await (await fetch(`${m.base}/api/workers?state=WORKING`, { headers: bearer })).json()) as {
      workers: { id: string; runner: string | null; runnerId: string | null; runnerStale: boolean }[];
    };
    expect(list.workers.map((w) => [w.id, w.runner, w.runnerId, w.runnerStale]).sort()).toEqual([
      ["worker-w1aaaa", "build-01-aaaaaa", "build-01-aaaaaa", false],
      ["worker-w2aaaa", "build-02-bbbbbb", "build-02-bbbbbb", true],
    ]);
    const page = await (await fetch(`${m.base}/workers?state=WORKING`, { headers: bearer })).text();
    const rows = page.split("<tr>").filter((row) => row.includes("worker-w"));
    expect(rows.find((row) => row.includes("worker-w2aaaa"))).toContain('build-02-bbbbbb <small class="stale"');
    expect(rows.find((row) => row.includes("worker-w1aaaa"))).not.toContain('class="stale"');
  });

  it("sends security headers on every answer and keeps script and style out of the markup", async () => {
    const m = await mount({ store: storeWith(), token: TOKEN });
    for (const path of ["/workers", "/workers/app.js", "/workers/style.css", "/api/workers", "/api/workers/bad", "/workers/nope"]) {
      const res = await fetch(m.base + path, { headers: bearer });
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp, path).toContain("script-src 'self'");
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).not.toContain("unsafe-inline");
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
      expect(res.headers.get("referrer-policy"), path).toBe("no-referrer");
      expect(res.headers.get("x-frame-options"), path).toBe("DENY");
    }
    const html = await (await fetch(`${m.base}/workers`, { headers: bearer })).text();
    expect(html).toMatch(/<script src="\/workers\/app.js" defer><\/script>/);
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).not.toMatch(/<style|style="|\son[a-z]+=/i);
    // assets revalidate by ETag
    const script = await fetch(`${m.base}/workers/app.js`);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    const etag = script.headers.get("etag")!;
    expect((await fetch(`${m.base}/workers/app.js`, { headers: { "if-none-match": etag } })).status).toBe(304);
  });

  it("is open to anyone with --dashboard-public and no token; a token, when set, is still required", async () => {
    const store = storeWith();
    const open = await mount({ store, public: true });
    expect(open.page.mode).toBe("public");
    expect((await fetch(`${open.base}/workers`)).status).toBe(200);
    expect((await fetch(`${open.base}/api/workers/worker-m1aaaa`)).status).toBe(200);
    const empty = await mount({ store: storeWith([]), public: true });
    const emptyPage = await (await fetch(`${empty.base}/workers`)).text();
    expect(emptyPage).toContain('aria-label="Workers by state: no workers"');
    expect(emptyPage).toContain("No workers yet.");
    const both = await mount({ store, public: true, token: TOKEN });
    expect(both.page.mode).toBe("token");
    expect((await fetch(`${both.base}/api/workers`)).status).toBe(401);
  });

  it("answers 503 when the store does not answer, saying when it last did", async () => {
    const store = storeWith();
    const m = await mount({ store, token: TOKEN });
    expect((await fetch(`${m.base}/api/workers`, { headers: bearer })).status).toBe(200);
    await store.close();
    const api = await fetch(`${m.base}/api/workers`, { headers: bearer });
    expect(api.status).toBe(503);
    expect(((await api.json()) as { heardAt: string }).heardAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const pageRes = await fetch(`${m.base}/workers`, { headers: bearer });
    expect(pageRes.status).toBe(503);
    expect(await pageRes.text()).toContain("Last heard from it: 20");
  });

  it("pushes a change to a listening page within 2 s, and close() ends the stream", async () => {
    const store = storeWith();
    const m = await mount({ store, token: TOKEN, pollIntervalMs: 100 });
    const received: string[] = [];
    let ended = false;
    const req = request(`${m.base}/workers/events?state=WORKING&v=0`, { headers: bearer }, (res) => {
      expect(res.statusCode).toBe(200);
      expect(res.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => received.push(chunk));
      res.on("end", () => (ended = true));
    });
    req.end();
    // a page that shows an old version gets the current one at once
    await until(() => received.join("").includes("event: update"), 2000, "first update");
    const first = received.join("");
    expect(first).toMatch(/^retry: 2000\n\n/);
    expect(first).toContain("worker-w1aaaa");
    expect(first).not.toContain("worker-p1aaaa"); // the stream keeps the page's filter
    received.length = 0;

    const moved = Date.now();
    await store.transition("worker-w1aaaa", "WORKING", "PR_OPEN", { source: "webhook", patch: { prNumber: 13, prUrl: "https://github.com/acme/widgets/pull/13" } });
    await until(() => received.join("").includes("event: update"), 2000, "update after the move");
    expect(Date.now() - moved).toBeLessThan(2000);
    const data = JSON.parse(/data: (.*)\n/.exec(received.join("").split("event: update")[1]!)![1]!) as { html: string; heardAt: string; version: string };
    expect(data.html).toContain('<b data-count="PR_OPEN">3</b>');
    expect(data.html).not.toContain("worker-w1aaaa"); // no longer WORKING
    expect(data.version).toMatch(/^[0-9a-f]{16}$/);

    m.page.close();
    await until(() => ended, 2000, "stream ended");
    // closed: new streams are refused
    expect((await fetch(`${m.base}/workers/events`, { headers: bearer })).status).toBe(503);
  });

  it("keeps the page under 50 KB for 100 workers", async () => {
    const many: FixtureWorker[] = Array.from({ length: 100 }, (_, i) => {
      const base = FIXTURE[i % FIXTURE.length]!;
      const id = `worker-${String(i).padStart(3, "0")}zzz`;
      return { ...base, id, taskId: `TASK-${1000 + i}`, prUrl: base.prUrl ? `${base.prUrl}${i}` : null };
    });
    const m = await mount({ store: storeWith(many), token: TOKEN });
    const res = await fetch(`${m.base}/workers`, { headers: { ...bearer, "accept-encoding": "identity" } });
    const html = await res.text();
    expect(html.match(/<tr><td><b>TASK-/g)).toHaveLength(100);
    expect(Buffer.byteLength(html)).toBeLessThan(50 * 1024);
    // and a good deal less on the wire
    const zipped = await new Promise<{ encoding: string | undefined; bytes: number }>((resolve, reject) => {
      request(`${m.base}/workers`, { headers: { ...bearer, "accept-encoding": "gzip" } }, (r) => {
        let bytes = 0;
        r.on("data", (c: Buffer) => (bytes += c.length));
        r.on("end", () => resolve({ encoding: r.headers["content-encoding"], bytes }));
      })
        .on("error", reject)
        .end();
    });
    expect(zipped.encoding).toBe("gzip");
    expect(zipped.bytes).toBeLessThan(10 * 1024);
  });

  it("lists every state in the legend, with its count, in the page", async () => {
    const m = await mount({ store: storeWith(), token: TOKEN });
    const html = await (await fetch(`${m.base}/workers`, { headers: bearer })).text();
    for (const state of WORKER_STATES) expect(html).toContain(`<b data-count="${state}">${fixtureCounts()[state]}</b>`);
  });
});
