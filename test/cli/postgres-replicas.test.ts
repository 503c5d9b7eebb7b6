/**
 * Replicas of the app on one PostgreSQL database (the `postgres` project): two `pw serve
 * --no-runner` processes, as two replicas behind one URL would be, serving what a runner
 * registered. The same delivery sent to both at once, and the same fact under two delivery ids,
 * make one transition, one status comment, one set of check runs. A delivery that comes while
 * the database is away is answered, held, and lands once it is back.
 */
import { randomUUID } from "node:crypto";
import { createServer, connect, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { GATE_NAMES } from "../../src/gates/index.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";
import { queryDatabase, testDatabase } from "../helpers/postgres.js";
import { fakeAgent, REPOSITORY, runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";
import { serveEnv, SERVE_SECRET, startServe, until, type Served } from "../helpers/serve.js";
import { deliver, loadPayload, retarget, withComment, type FixtureName } from "../helpers/webhooks.js";

// a database per test: the stand-in numbers issues and comments from 1 in each, and follow-up keys hold those numbers
const database = testDatabase();
const outageDatabase = testDatabase();
/** The database of the test running. */
let current = "";

let sandbox: RunnerSandbox | undefined;
const serving: Served[] = [];
const relays: CuttableRelay[] = [];
afterEach(async () => {
  for (const served of serving.splice(0)) await served.stop("SIGKILL");
  for (const relay of relays.splice(0)) await relay.cut();
  await sandbox?.close();
  sandbox = undefined;
  removeTempDirs();
});

/** A TCP relay to the database that can be cut (every connection dropped, none accepted) and opened again on its port. */
class CuttableRelay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async open(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on("close", () => this.sockets.delete(socket));
        socket.on("error", () => socket.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, "127.0.0.1", resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  async cut(): Promise<void> {
    if (!this.server?.listening) return;
    const closed = new Promise<void>((resolve) => this.server?.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

interface Setup {
  sb: RunnerSandbox;
  /** The environment of every process here, the database URL included. */
  env: NodeJS.ProcessEnv;
  runnerId: string;
}

/** A sandbox whose runner registered acme/widgets in the database, so an app with no checkout serves it. */
async function setup(databaseUrl: string): Promise<Setup> {
  current = databaseUrl;
  const sb = (sandbox = await runnerSandbox({ agents: { "code-author": fakeAgent("write-file.mjs") } }));
  sb.github.setPermission(REPOSITORY, "alice", "write");
  const env = { ...serveEnv(sb), PW_DATABASE_URL: databaseUrl };
  const runnerId = `runner-${randomUUID().slice(0, 8)}`;
  const registered = await sb.pw(["loop", "--max-iterations", "1", "--poll-interval", "0.1", "--runner-id", runnerId], { PW_DATABASE_URL: databaseUrl });
  expect(registered.code, registered.stderr).toBe(0);
  return { sb, env, runnerId };
}

/** A replica: `pw serve --no-runner` where there is no checkout. */
function replica(env: NodeJS.ProcessEnv): Promise<Served> {
  return startServe(env, tempDir("pw-replica-"), ["--no-runner"], (served) => serving.push(served));
}

/** A worker spawned by `/worker spawn` on a new issue and run to PR_OPEN by the runner. */
async function workerFromIssue(s: Setup, app: Served): Promise<{ id: string; issue: number; pr: number }> {
  const issue = s.sb.github.addIssue(REPOSITORY, { title: "Add the widget", body: "It must spin." });
  const comment = s.sb.github.addComment(REPOSITORY, issue.number, { body: "/worker spawn", user: "alice" });
  const payload = withComment(
    retarget(loadPayload("issue_comment.created"), { repo: REPOSITORY, number: issue.number, title: issue.title, body: issue.body, sender: "alice" }),
    { id: comment.id, body: "/worker spawn", user: "alice" },
  );
  payload.repository.default_branch = "main";
  expect((await deliver(app.url, { event: "issue_comment", payload, secret: SERVE_SECRET })).status).toBe(200);
  const id = await until(async () => (await workersOfTask(`issue-${issue.number}`))[0]?.id, 10_000, "the worker queued");
  const run = await s.sb.pw(["loop", "--until-idle", "--poll-interval", "0.1", "--runner-id", s.runnerId], { PW_DATABASE_URL: s.env.PW_DATABASE_URL });
  expect(run.code, run.stderr).toBe(0);
  const row = await workerRow(id);
  expect(row).toMatchObject({ id, state: "PR_OPEN" });
  return { id, issue: issue.number, pr: row!.pr_number! };
}

function workersOfTask(taskId: string): Promise<Array<{ id: string }>> {
  return queryDatabase(current, "SELECT id FROM workers WHERE task_id = $1", [taskId]);
}

async function workerRow(id: string): Promise<{ id: string; state: string; pr_number: number | null } | undefined> {
  return (await queryDatabase<{ id: string; state: string; pr_number: number | null }>(current, "SELECT id, state, pr_number FROM workers WHERE id = $1", [id]))[0];
}

async function history(id: string): Promise<Array<{ to_state: string; source: string }>> {
  return queryDatabase(current, "SELECT to_state, source FROM transitions WHERE worker_id = $1 ORDER BY seq", [id]);
}

/** Waits until no follow-up of the database is pending or running. */
async function followUpsDone(): Promise<void> {
  await until(
    async () => (await queryDatabase<{ n: string }>(current, "SELECT count(*) AS n FROM follow_ups WHERE state IN ('pending', 'running')"))[0]!.n === "0",
    20_000,
    "every follow-up done",
  );
}

/** A pull_request delivery about the worker's PR as the stand-in holds it. */
function pullRequestPayload(sb: RunnerSandbox, fixture: FixtureName & `pull_request.${string}`, number: number): object {
  const pr = sb.github.pull(REPOSITORY, number);
  return retarget(loadPayload(fixture), { repo: REPOSITORY, number, headRef: pr.head.ref, headSha: pr.head.sha, baseRef: "main", body: pr.body });
}

/** Sends one delivery to every replica at once; each answers 200. */
async function deliverToAll(replicas: Served[], payload: object, ids: string[]): Promise<void> {
  const answers = await Promise.all(replicas.map((r, i) => deliver(r.url, { event: "pull_request", payload, secret: SERVE_SECRET, id: ids[i]! })));
  expect(answers.map((a) => a.status)).toEqual(replicas.map(() => 200));
}

function statusComments(sb: RunnerSandbox, issue: number) {
  return sb.github.comments(REPOSITORY, issue).filter((c) => c.body.includes("<!-- parallel-workers:status"));
}

async function metric(replicas: Served[], pattern: RegExp): Promise<number> {
  let total = 0;
  for (const r of replicas) total += Number((await (await fetch(`${r.base}/metrics`)).text()).match(pattern)?.[1] ?? 0);
  return total;
}

describe.skipIf(!database)("replicas of the app on one PostgreSQL database", () => {
  it("the same delivery to two replicas at once, and the same fact under two delivery ids: one transition, one status comment, one set of check runs", async () => {
    const s = await setup(database!.url);
    const replicas = [await replica(s.env), await replica(s.env)];
    const worker = await workerFromIssue(s, replicas[0]!);
    await until(() => statusComments(s.sb, worker.issue)[0]?.body.includes("is **PR_OPEN**"), 10_000, "the status comment shows PR_OPEN");
    const sha = s.sb.github.pull(REPOSITORY, worker.pr).head.sha;
    const runsOfHead = () => s.sb.github.checkRuns(REPOSITORY).filter((run) => run.head_sha === sha);

    // the PR's opened delivery, to both at once under one id: its gates run once
    const opened = pullRequestPayload(s.sb, "pull_request.opened", worker.pr);
    const openedId = randomUUID();
    await deliverToAll(replicas, opened, [openedId, openedId]);
    await until(() => runsOfHead().length === GATE_NAMES.length, 20_000, "the gates' check runs");
    await followUpsDone();
    expect(await metric(replicas, /pw_webhook_duration_seconds_count\{event="pull_request.opened",outcome="duplicate"\} (\d+)/)).toBe(1);
    // the same fact again under two new ids, one to each: the runs are updated, not made again
    await deliverToAll(replicas, opened, [randomUUID(), randomUUID()]);
    await followUpsDone();
    expect(runsOfHead().map((run) => run.name).sort()).toEqual([...GATE_NAMES].sort());

    // the merge, to both at once under one id, then under two more: one move to MERGED
    s.sb.github.mergePullRequest(REPOSITORY, worker.pr);
    const merged = pullRequestPayload(s.sb, "pull_request.closed.merged", worker.pr);
    const mergedId = randomUUID();
    await deliverToAll(replicas, merged, [mergedId, mergedId]);
    await deliverToAll(replicas, merged, [randomUUID(), randomUUID()]);
    await until(() => statusComments(s.sb, worker.issue)[0]?.body.includes("is **MERGED**"), 10_000, "the status comment shows MERGED");
    await followUpsDone();
    expect((await history(worker.id)).map((t) => t.to_state)).toEqual(["NEEDS_INIT", "WORKING", "PR_OPEN", "MERGED"]);
    expect((await history(worker.id)).at(-1)).toMatchObject({ source: "webhook" });
    expect(await metric(replicas, /pw_transitions_total\{from="PR_OPEN",to="MERGED",source="webhook"\} (\d+)/)).toBe(1);
    expect(statusComments(s.sb, worker.issue)).toHaveLength(1);
    expect(runsOfHead()).toHaveLength(GATE_NAMES.length);
    expect(s.sb.github.requestsTo("POST", `/repos/${REPOSITORY}/check-runs`)).toHaveLength(GATE_NAMES.length);
  });

  it("a delivery that comes while the database is away is answered and held; the move lands once it is back, and the outage is said once", async () => {
    const server = new URL(outageDatabase!.url);
    const relay = new CuttableRelay({ host: server.hostname, port: Number(server.port || 5432) });
    relays.push(relay);
    await relay.open();
    const viaRelay = new URL(outageDatabase!.url);
    viaRelay.host = `127.0.0.1:${relay.port}`;
    const s = await setup(outageDatabase!.url);
    // the replicas reach the database through the relay; the runner and the test do not
    const replicas = [await replica({ ...s.env, PW_DATABASE_URL: viaRelay.toString() }), await replica({ ...s.env, PW_DATABASE_URL: viaRelay.toString() })];
    const worker = await workerFromIssue(s, replicas[0]!);
    await until(() => statusComments(s.sb, worker.issue)[0]?.body.includes("is **PR_OPEN**"), 10_000, "the status comment shows PR_OPEN");
    await followUpsDone();

    await relay.cut();
    s.sb.github.mergePullRequest(REPOSITORY, worker.pr);
    const merged = pullRequestPayload(s.sb, "pull_request.closed.merged", worker.pr);
    // GitHub does not redeliver by itself: both answer, and hold it
    await deliverToAll(replicas, merged, [randomUUID(), randomUUID()]);
    for (const r of replicas) await until(() => r.output().includes("deliveries: the store is unavailable"), 10_000, "the outage said");
    expect(await workerRow(worker.id)).toMatchObject({ state: "PR_OPEN" });

    await relay.open();
    await until(async () => (await workerRow(worker.id))?.state === "MERGED", 20_000, "the held delivery's move");
    await until(() => statusComments(s.sb, worker.issue)[0]?.body.includes("is **MERGED**"), 20_000, "the status comment shows MERGED");
    await followUpsDone();
    expect((await history(worker.id)).map((t) => t.to_state)).toEqual(["NEEDS_INIT", "WORKING", "PR_OPEN", "MERGED"]);
    expect(statusComments(s.sb, worker.issue)).toHaveLength(1);
    for (const r of replicas) {
      await until(() => r.output().includes("deliveries: the store answers again"), 10_000, "the recovery said");
      const said = r.output().split("\n").filter((line) => line.includes("deliveries: the store is unavailable"));
      expect(said).toHaveLength(1);
      expect(JSON.parse(said[0]!)).toMatchObject({ level: 40, component: "app" });
    }
  });
});
