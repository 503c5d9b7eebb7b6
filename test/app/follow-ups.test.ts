/**
 * Deliveries are answered before any GitHub call they cause, and each comment acts once: real
 * HTTP with real signatures into the app's receiver, the GitHub stand-in holding its answers
 * where a test needs to see the order.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createAppHttpHandler, WEBHOOK_PATH } from "../../src/app/http.js";
import { APP_EVENTS } from "../../src/app/index.js";
import type { Role } from "../helpers/github-stand-in.js";
import { deliver, loadPayload, retarget, withComment, type DeliveryResult } from "../helpers/webhooks.js";
import { harnessPerTest, REPO, type Harness, type HarnessOptions } from "./harness.js";

const SECRET = "follow-up-secret";
const openApp = harnessPerTest();
let server: Server | undefined;
// registered after the harness's, so (hooks run as a stack) the server closes first
afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

async function start(options: HarnessOptions = {}): Promise<{ app: Harness; url: string }> {
  const app = await openApp({ secret: SECRET, ...options });
  await app.probot.ready();
  server = createServer(
    createAppHttpHandler({ probot: app.probot, store: app.store, logger: app.logger, metrics: app.metrics, installationRequiredFor: APP_EVENTS }),
  );
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return { app, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${WEBHOOK_PATH}` };
}

interface Said {
  issue: number;
  comment: number;
  payload: ReturnType<typeof loadPayload<"issue_comment.created">>;
}

/** `user` writes `body` on a new issue (or `issue`); returns the payload GitHub would deliver. */
function comment(app: Harness, body: string, options: { user?: string; role?: Role; issue?: number; title?: string } = {}): Said {
  const user = options.user ?? "alice";
  if (options.role) app.github.setPermission(REPO, user, options.role);
  const issue = options.issue ?? app.github.addIssue(REPO, { title: options.title ?? "Something to do" }).number;
  const written = app.github.addComment(REPO, issue, { body, user });
  const payload = withComment(retarget(loadPayload("issue_comment.created"), { repo: REPO, number: issue, title: options.title ?? "Something to do", sender: user }), {
    id: written.id,
    body,
    user,
  });
  return { issue, comment: written.id, payload };
}

function send(url: string, said: Said, id?: string): Promise<DeliveryResult> {
  return deliver(url, { event: "issue_comment", payload: said.payload, secret: SECRET, ...(id ? { id } : {}) });
}

/** What the app wrote on an issue, the hidden reply marker dropped. */
function replies(app: Harness, issue: number): string[] {
  return app.github
    .comments(REPO, issue)
    .filter((c) => c.user.login === app.github.actorLogin)
    .map((c) => c.body.replace(/\n\n<!-- parallel-workers:reply [0-9a-f]{16} -->$/, ""));
}

function reactions(app: Harness, commentId: number): string[] {
  return app.github.reactions(commentId).map((r) => r.content);
}

describe("answer first, write later", () => {
  it("a burst of commands from writers and non-writers is answered before GitHub answers anything; in the end one reply and one set of reactions per comment", async () => {
    const { app, url } = await start({ drainAfterReceive: false });
    const release = app.github.hold();
    const said = Array.from({ length: 20 }, (_, i) =>
      i % 2 === 0 ? comment(app, "/worker help", { user: `writer${i}`, role: "write" }) : comment(app, "/worker status", { user: `reader${i}`, role: "read" }),
    );
    const answers = await Promise.all(said.map((s) => send(url, s)));
    expect(answers.map((a) => a.status)).toEqual(said.map(() => 200));
    // every answer came while GitHub had answered nothing (the first calls wait on the hold)
    expect(app.github.requests).toEqual([]);
    release();
    await app.deps.followUps.drain();

    said.forEach((s, i) => {
      expect(reactions(app, s.comment)).toEqual(i % 2 === 0 ? ["eyes", "rocket"] : ["eyes", "confused"]);
      const [reply, ...more] = replies(app, s.issue);
      expect(more).toEqual([]);
      expect(reply).toContain(i % 2 === 0 ? "**parallel-workers** commands" : `@reader${i}: \`/worker status\` may be used only by`);
    });
    // the permission check is a GitHub read: it ran after the answer too, once per comment
    expect(app.github.requestsTo("GET", /\/collaborators\/[^/]+\/permission$/)).toHaveLength(20);
  });

  it("each comment's effects keep their order on its issue: eyes, the reply, then rocket", async () => {
    const { app, url } = await start();
    const said = comment(app, "/worker help", { role: "write" });
    await send(url, said);
    await app.deps.followUps.drain();
    expect(app.github.calls()).toEqual([
      `POST /repos/${REPO}/issues/comments/${said.comment}/reactions`,
      `GET /repos/${REPO}/collaborators/alice/permission`,
      `POST /repos/${REPO}/issues/${said.issue}/comments`,
      `POST /repos/${REPO}/issues/comments/${said.comment}/reactions`,
    ]);
  });
});

describe("a comment acts once", () => {
  it("the same comment under five delivery ids: one worker, one status comment, one reply, one set of reactions", async () => {
    const { app, url } = await start();
    const spawn = comment(app, "/worker spawn", { role: "write" });
    const help = comment(app, "/worker help", { role: "write" });
    const answers = await Promise.all([...Array.from({ length: 5 }, () => send(url, spawn)), ...Array.from({ length: 5 }, () => send(url, help))]);
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    expect(new Set(answers.map((a) => a.id)).size).toBe(10);
    await app.deps.followUps.drain();

    expect((await app.store.listWorkers())).toHaveLength(1);
    expect(replies(app, spawn.issue)).toEqual([expect.stringContaining("is **NEEDS_INIT**")]);
    expect(replies(app, help.issue)).toHaveLength(1);
    expect(reactions(app, spawn.comment)).toEqual(["eyes", "rocket"]);
    expect(reactions(app, help.comment)).toEqual(["eyes", "rocket"]);
    expect(app.github.requestsTo("POST", /\/reactions$/)).toHaveLength(4);
    expect(app.logLines().filter((l) => l.msg === "comment acted on before: ignored")).toHaveLength(8);
  });

  it("an edit that leaves the text alone does nothing; an edit that changes it is a new command", async () => {
    const { app, url } = await start();
    const said = comment(app, "/worker help", { role: "write" });
    await send(url, said);
    await app.deps.followUps.drain();
    const edited = (body: string, from: string | undefined, at: string) => {
      const payload = structuredClone(loadPayload("issue_comment.edited")) as unknown as Record<string, unknown>;
      const base = said.payload as unknown as Record<string, unknown>;
      const next: Record<string, unknown> = { ...payload, repository: base.repository, sender: base.sender, issue: base.issue, installation: base.installation };
      next.comment = { ...(base.comment as object), body, updated_at: at };
      next.changes = from === undefined ? {} : { body: { from } };
      return deliver(url, { event: "issue_comment", payload: next, secret: SECRET });
    };
    expect((await edited("/worker help", "/worker help", "2030-01-01T00:00:01Z")).status).toBe(200);
    expect((await edited("/worker help", undefined, "2030-01-01T00:00:02Z")).status).toBe(200);
    await app.deps.followUps.drain();
    expect(replies(app, said.issue)).toHaveLength(1);

    expect((await edited("/worker status", "/worker help", "2030-01-01T00:00:03Z")).status).toBe(200);
    await app.deps.followUps.drain();
    expect(replies(app, said.issue)).toEqual([expect.stringContaining("commands"), "> /worker status\n\nNo workers in acme/widgets yet."]);
  });

  it("a reply whose run was cut short after GitHub made it is not posted again: the next run finds its marker", async () => {
    const { app, url } = await start({ drainAfterReceive: false });
    const said = comment(app, "/worker help", { role: "write" });
    const posted = { method: "POST", path: `/repos/${REPO}/issues/${said.issue}/comments` };
    const release = app.github.hold(posted);
    await send(url, said);
    const deadline = Date.now() + 5000;
    while (app.github.heldRequests() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(app.github.heldRequests()).toBe(1);
    await app.restartFollowUps(async () => {
      // the process died with the reply on its way: its claim is let go, then GitHub makes the comment
      await app.store.releaseFollowUps(null);
      release();
      await app.github.waitForRequest(posted);
    });
    await app.deps.followUps.drain();
    expect(replies(app, said.issue)).toHaveLength(1);
    expect(app.github.requestsTo("POST", posted.path)).toHaveLength(1);
    expect(app.github.requestsTo("GET", posted.path)).toHaveLength(1);
    expect(reactions(app, said.comment)).toEqual(["eyes", "rocket"]);
  });
});

describe("bad numbers are bad input", () => {
  const tamper = (change: (payload: Record<string, unknown>) => void) => (said: Said) => {
    const payload = structuredClone(said.payload) as unknown as Record<string, unknown>;
    change(payload);
    return payload;
  };
  const field = (path: string, value: unknown) =>
    tamper((payload) => {
      const keys = path.split(".");
      let node = payload;
      for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
      if (value === undefined) delete node[keys.at(-1)!];
      else node[keys.at(-1)!] = value;
    });

  it.each([
    ["an installation id of 0", field("installation.id", 0), "payload: installation.id: expected a positive integer, got 0"],
    ["a negative installation id", field("installation.id", -1), "payload: installation.id: expected a positive integer, got -1"],
    ["no installation", field("installation", undefined), "payload: installation.id: missing, and a delivery to a GitHub App carries one"],
    ["a huge issue number", field("issue.number", 2 ** 60), "payload: issue.number: expected a positive integer, got 1152921504606847000"],
    ["a fractional issue number", field("issue.number", 1.5), "payload: issue.number: expected a positive integer, got 1.5"],
    ["a comment id as text", field("comment.id", "7"), 'payload: comment.id: expected a positive integer, got "7"'],
  ])("%s: 400 and one line, nothing recorded, nothing called", async (_name, change, reason) => {
    const { app, url } = await start();
    const said = comment(app, "/worker spawn", { role: "write" });
    const result = await deliver(url, { event: "issue_comment", payload: change(said), secret: SECRET });
    expect(result.status).toBe(400);
    expect(JSON.parse(result.body)).toEqual({ error: reason });
    expect(app.logLines().filter((l) => (l.level as number) >= 40)).toEqual([
      expect.objectContaining({ msg: "webhook delivery rejected", status: 400, reason, delivery_id: result.id }),
    ]);
    expect(app.deps.deliveries.has(result.id)).toBe(false);
    expect((await app.store.followUpBacklog()).unfinished).toBe(0);
    expect(app.github.calls()).toEqual([]);
  });

  it.each([
    ["a negative PR number", -5],
    ["a PR number past 2^53", 1e20],
    ["a PR number of 0", 0],
  ])("%s in a pull_request delivery: 400", async (_name, number) => {
    const { app, url } = await start();
    const payload = retarget(loadPayload("pull_request.closed.merged"), { repo: REPO, headRef: "feature/task-1" }) as unknown as Record<string, unknown>;
    (payload.pull_request as Record<string, unknown>).number = number;
    payload.number = number;
    const result = await deliver(url, { event: "pull_request", payload, secret: SECRET });
    expect(result.status).toBe(400);
    expect(JSON.parse(result.body).error).toMatch(/^payload: (number|pull_request\.number): expected a positive integer/);
    expect(app.github.calls()).toEqual([]);
  });
});

describe("text from outside is made safe", () => {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  const CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

  it("control characters of a login, a title and a comment never reach the store, a log line or a reply", async () => {
    const { app, url } = await start();
    const title = "Add \u001b[31mred\u001b[0m \u202egnirts\u202c widgets\u0000";
    // a non-writer whose login holds NUL and an escape: the refusal names them without
    const refused = comment(app, "/worker spawn\u0085", { user: "mal\u0000lory\u001b", role: "read", title });
    refused.payload.comment.user!.login = "mal\u0000lory\u001b";
    refused.payload.sender.login = "mal\u0000lory\u001b";
    app.github.setPermission(REPO, "mallory", "read");
    expect((await send(url, refused)).status).toBe(200);
    const spawned = comment(app, "\u2066/worker spawn\u2069\r\nplease\u0007", { role: "write", title });
    spawned.payload.issue.body = "It must \u009bspin\u0000.";
    expect((await send(url, spawned)).status).toBe(200);
    await app.deps.followUps.drain();

    expect(replies(app, refused.issue)).toEqual([expect.stringContaining("@mallory: `/worker spawn` may be used only by")]);
    const [worker] = (await app.store.listWorkers());
    expect(worker?.description).toBe("Add [31mred[0m gnirts widgets\n\nIt must spin.");
    expect((await app.store.history(worker!.id))[0]?.detail).toBe("/worker spawn by @alice");
    const everything = [
      ...replies(app, refused.issue),
      ...replies(app, spawned.issue),
      JSON.stringify(worker),
      ...app.github.requests.map((r) => `${r.path} ${JSON.stringify(r.body)}`),
    ];
    for (const text of everything) expect(text).not.toMatch(CONTROLS);
    // JSON log lines hold no raw control character, and no escaped one from the payloads either
    const logged = app.logLines().map((l) => JSON.stringify(l));
    for (const line of logged) expect(line).not.toMatch(/\\u00(0[0-8bcef]|1[0-9a-f]|7f|8[0-9a-f]|9[0-9a-f])|\\u202[a-e]|\\u206[6-9]/i);
    expect(app.github.requestsTo("GET", `/repos/${REPO}/collaborators/mallory/permission`)).toHaveLength(1);
  });
});
