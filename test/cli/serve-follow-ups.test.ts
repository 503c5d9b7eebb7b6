/**
 * `pw serve` answers every delivery before any GitHub write it causes, and carries the writes
 * out afterwards, once each, across a stop and a crash: the built CLI as a child process, signed
 * deliveries over real HTTP, App authentication against the local GitHub stand-in, which holds
 * its answers where a test needs to see the order.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import { removeTempDirs } from "../helpers/git.js";
import type { Role } from "../helpers/github-stand-in.js";
import { fakeAgent, REPOSITORY, runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";
import { serveEnv, SERVE_SECRET, startServe, until, type Served } from "../helpers/serve.js";
import { deliver, loadPayload, retarget, withComment, type DeliveryResult } from "../helpers/webhooks.js";
import { parsePrometheusText, sampleValue } from "../log/prometheus-text.js";

const running: Served[] = [];
const stores: SqliteWorkerStore[] = [];
let sandbox: RunnerSandbox | undefined;

afterEach(async () => {
  for (const served of running.splice(0)) await served.stop("SIGKILL");
  for (const store of stores.splice(0)) store.close();
  if (sandbox) {
    expect(sandbox.github.unknownRequests()).toEqual([]);
    await sandbox.close();
  }
  sandbox = undefined;
  removeTempDirs();
});

function serve(sb: RunnerSandbox): Promise<Served> {
  return startServe(serveEnv(sb), sb.repo, ["--no-reconcile"], (served) => running.push(served));
}

interface Command {
  issue: number;
  comment: number;
  user: string;
  body: string;
  payload: object;
}

/** `user` (with `role`) writes `body` on a new issue; returns what GitHub would deliver. */
function command(sb: RunnerSandbox, body: string, user: string, role: Role): Command {
  sb.github.setPermission(REPOSITORY, user, role);
  const issue = sb.github.addIssue(REPOSITORY, { title: `Task for ${user}`, body: "Make it so." });
  const written = sb.github.addComment(REPOSITORY, issue.number, { body, user });
  const payload = withComment(
    retarget(loadPayload("issue_comment.created"), { repo: REPOSITORY, number: issue.number, title: issue.title, body: issue.body, sender: user }),
    { id: written.id, body, user },
  );
  payload.repository.default_branch = "main";
  return { issue: issue.number, comment: written.id, user, body, payload };
}

function send(served: Served, said: Command): Promise<DeliveryResult> {
  return deliver(served.url, { event: "issue_comment", payload: said.payload, secret: SERVE_SECRET });
}

function appComments(sb: RunnerSandbox, issue: number) {
  return sb.github.comments(REPOSITORY, issue).filter((c) => c.user.login === sb.github.actorLogin);
}

function reactions(sb: RunnerSandbox, comment: number): string[] {
  return sb.github.reactions(comment).map((r) => r.content);
}

function unfinished(sb: RunnerSandbox): number {
  const store = new SqliteWorkerStore(join(sb.home, "state.db"));
  stores.push(store);
  const count = store.followUpBacklog().unfinished;
  store.close();
  stores.splice(stores.indexOf(store), 1);
  return count;
}

/** Every comment answered on GitHub: a reply (or status comment) and its two reactions, and no follow-up left. */
async function allAnswered(sb: RunnerSandbox, said: readonly Command[], timeoutMs: number): Promise<void> {
  await until(
    () => said.every((s) => appComments(sb, s.issue).length >= 1 && reactions(sb, s.comment).length >= 2) && unfinished(sb) === 0,
    timeoutMs,
    "every comment answered and the follow-up queue empty",
  );
}

describe("pw serve: answer first, write later", () => {
  it("a burst of 50 commands from writers and non-writers: every delivery answered before GitHub answered anything; in the end one reply and one set of reactions per comment", async () => {
    const sb = (sandbox = await runnerSandbox({ agents: { "code-author": fakeAgent("write-file.mjs") } }));
    const served = await serve(sb);
    // nothing GitHub is asked answers until every delivery has its answer
    const release = sb.github.hold();
    const said = Array.from({ length: 50 }, (_, i) => {
      if (i % 10 === 0) return command(sb, "/worker spawn", `writer${i}`, "write");
      if (i % 2 === 0) return command(sb, i % 4 === 0 ? "/worker help" : "/worker status", `writer${i}`, "maintain");
      return command(sb, "/worker spawn", `reader${i}`, i % 3 === 0 ? "none" : "read");
    });
    const answers = await Promise.all(said.map((s) => send(served, s)));
    expect(answers.map((a) => a.status)).toEqual(said.map(() => 200));
    expect(sb.github.requests).toEqual([]);
    const metrics = parsePrometheusText(await (await fetch(`${served.base}/metrics`)).text());
    expect(sampleValue(metrics, "pw_follow_up_queue_depth")).toBeGreaterThanOrEqual(50);
    expect(sampleValue(metrics, "pw_follow_up_queue_oldest_age_seconds")).toBeGreaterThanOrEqual(0);
    release();

    await allAnswered(sb, said, 60_000);
    said.forEach((s, i) => {
      const [reply, ...more] = appComments(sb, s.issue);
      expect(more).toEqual([]);
      if (i % 10 === 0) {
        expect(reply?.body).toContain("<!-- parallel-workers:status worker=");
        expect(reactions(sb, s.comment)).toEqual(["eyes", "rocket"]);
      } else if (i % 2 === 0) {
        expect(reply?.body).toMatch(i % 4 === 0 ? /\*\*parallel-workers\*\* commands/ : /> \/worker status\n\n(Workers of|No workers in) acme\/widgets/);
        expect(reactions(sb, s.comment)).toEqual(["eyes", "rocket"]);
      } else {
        expect(reply?.body).toContain(`@${s.user}: \`/worker spawn\` may be used only by`);
        expect(reactions(sb, s.comment)).toEqual(["eyes", "confused"]);
      }
    });
    // one reply per comment was asked for: no POST of a comment was repeated
    expect(sb.github.requestsTo("POST", /^\/repos\/acme\/widgets\/issues\/\d+\/comments$/)).toHaveLength(50);
    const after = parsePrometheusText(await (await fetch(`${served.base}/metrics`)).text());
    expect(sampleValue(after, "pw_follow_up_queue_depth")).toBe(0);
    expect(sampleValue(after, "pw_follow_ups_total", { kind: "command", outcome: "done" })).toBe(50);
    expect(await served.stop()).toBe(0);
  });

  it("refuses an installation id of 0 or a negative one, and a negative or huge PR number, with 400 and one line each, never 500", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    const served = await serve(sb);
    const said = command(sb, "/worker help", "alice", "write");
    const merged = retarget(loadPayload("pull_request.closed.merged"), { repo: REPOSITORY, headRef: "feature/t-1" });
    const cases: Array<[string, object]> = [
      ["issue_comment", { ...said.payload, installation: { id: 0 } }],
      ["issue_comment", { ...said.payload, installation: { id: -7 } }],
      ["pull_request", { ...merged, number: -3, pull_request: { ...merged.pull_request, number: -3 } }],
      ["pull_request", { ...merged, number: 2 ** 64, pull_request: { ...merged.pull_request, number: 2 ** 64 } }],
    ];
    const results = await Promise.all(cases.map(([event, payload]) => deliver(served.url, { event, payload, secret: SERVE_SECRET })));
    expect(results.map((r) => r.status)).toEqual([400, 400, 400, 400]);
    expect(await served.stop()).toBe(0);
    const rejected = served.output().split("\n").filter((l) => l.includes("webhook delivery rejected"));
    expect(rejected.map((l) => JSON.parse(l) as { status: number; delivery_id: string })).toEqual(
      results.map((r) => expect.objectContaining({ status: 400, delivery_id: r.id })),
    );
    expect(served.output()).not.toMatch(/"level":50/);
    // GitHub heard only pw serve's own start (the App's webhook settings, the runner's check of
    // the repository), nothing of these deliveries
    const startUp = ["GET /app/hook/config", "GET /repos/{owner}/{repo}/installation", "POST /app/installations/{installation_id}/access_tokens", "GET /repos/{owner}/{repo}"];
    expect(sb.github.requests.map((r) => r.route).filter((route) => route === null || !startUp.includes(route))).toEqual([]);
  });

  it("stopped with writes queued, then started: every write lands once", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    const first = await serve(sb);
    // replies wait on GitHub; everything before them (eyes, the permission check) goes through
    const release = sb.github.hold({ method: "POST", path: /^\/repos\/acme\/widgets\/issues\/\d+\/comments$/ });
    const said = Array.from({ length: 8 }, (_, i) => command(sb, "/worker help", `writer${i}`, "write"));
    expect((await Promise.all(said.map((s) => send(first, s)))).map((a) => a.status)).toEqual(said.map(() => 200));
    await until(() => sb.github.heldRequests() > 0, 15_000, "a reply on its way to GitHub");
    const exited = first.stop("SIGTERM");
    await until(() => first.output().includes('"msg":"stopping'), 5000, "pw serve stopping");
    // the replies under way land; the rest wait in the store
    release();
    expect(await exited).toBe(0);
    expect(first.output()).toMatch(/"follow-ups left for the next start"/);

    const second = await serve(sb);
    await allAnswered(sb, said, 30_000);
    for (const s of said) {
      expect(appComments(sb, s.issue)).toHaveLength(1);
      expect(reactions(sb, s.comment)).toEqual(["eyes", "rocket"]);
    }
    expect(second.output()).toMatch(/"follow-ups left by the last run are picked up"/);
    expect(await second.stop()).toBe(0);
  });

  it("killed with a reply on its way, then started: the reply GitHub made is found by its marker, not posted again", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    const first = await serve(sb);
    const replies = { method: "POST", path: /^\/repos\/acme\/widgets\/issues\/\d+\/comments$/ };
    const release = sb.github.hold(replies);
    const said = Array.from({ length: 6 }, (_, i) => command(sb, "/worker help", `writer${i}`, "write"));
    expect((await Promise.all(said.map((s) => send(first, s)))).map((a) => a.status)).toEqual(said.map(() => 200));
    await until(() => sb.github.heldRequests() > 0, 15_000, "a reply on its way to GitHub");
    await first.stop("SIGKILL");
    // GitHub makes the replies the dead process had sent
    release();
    await until(() => sb.github.heldRequests() === 0, 5000, "the replies in flight made");
    expect(sb.github.requestsTo("POST", replies.path).length).toBeGreaterThan(0);

    const second = await serve(sb);
    await allAnswered(sb, said, 30_000);
    for (const s of said) expect(appComments(sb, s.issue)).toHaveLength(1);
    expect(sb.github.requestsTo("POST", replies.path)).toHaveLength(said.length);
    // the replies cut short were looked for before being sent again
    expect(sb.github.requestsTo("GET", /^\/repos\/acme\/widgets\/issues\/\d+\/comments$/).length).toBeGreaterThan(0);
    expect(await second.stop()).toBe(0);
  });
});
