/**
 * `pw serve` end to end: the built CLI as a child process, signed deliveries over real HTTP, the
 * local GitHub stand-in as the REST API (App authentication through GHE_HOST), a real
 * repository with a bare origin, real agents.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import type { Worker } from "../../src/core/worker.js";
import { freePort, pw, PW_BIN } from "../helpers/cli.js";
import { makeRepo, removeTempDirs, tempDir } from "../helpers/git.js";
import { fakeAgent, REPOSITORY, runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";
import { deliver, loadPayload, retarget, withComment } from "../helpers/webhooks.js";
import { serveEnv, SERVE_PRIVATE_KEY, SERVE_SECRET, startServe as startServeProcess, until, type Served } from "../helpers/serve.js";

const SECRET = SERVE_SECRET;
const PEM = SERVE_PRIVATE_KEY;

const running: Served[] = [];
let sandbox: RunnerSandbox | undefined;
const stores: SqliteWorkerStore[] = [];

afterEach(async () => {
  for (const served of running.splice(0)) await served.stop();
  for (const store of stores.splice(0)) store.close();
  if (sandbox) {
    expect(sandbox.github.unknownRequests()).toEqual([]);
    await sandbox.close();
  }
  sandbox = undefined;
  removeTempDirs();
});

/** Starts `pw serve` (stopped after the test) and waits for its "listening" line. */
function startServe(env: NodeJS.ProcessEnv, cwd: string, args: string[] = []): Promise<Served> {
  return startServeProcess(env, cwd, args, (served) => running.push(served));
}

function openStore(sb: RunnerSandbox): SqliteWorkerStore {
  const store = new SqliteWorkerStore(join(sb.home, "state.db"));
  stores.push(store);
  return store;
}

function workerByTask(store: SqliteWorkerStore, taskId: string): Worker | undefined {
  return store.listWorkers().find((w) => w.taskId === taskId);
}

describe("pw serve", () => {
  it("moves workers by webhook over real HTTP: bad signature refused, a redelivery moves once, a merge removes the worktree within a second", async () => {
    const sb = (sandbox = await runnerSandbox({ agents: { "code-author": fakeAgent("write-file.mjs") } }));
    expect((await sb.pw(["worker", "spawn", "--task-id", "T-1", "--description", "Build the frobnicator"])).code).toBe(0);
    const served = await startServe(serveEnv(sb), sb.repo);
    const store = openStore(sb);

    const open = await until(() => {
      const w = workerByTask(store, "T-1");
      return w?.state === "PR_OPEN" ? w : undefined;
    }, 20_000, "T-1 in PR_OPEN");
    expect(existsSync(open.worktreePath!)).toBe(true);
    const pr = sb.github.pull(REPOSITORY, open.prNumber!);
    sb.github.mergePullRequest(REPOSITORY, pr.number);
    const payload = retarget(loadPayload("pull_request.closed.merged"), { repo: REPOSITORY, number: pr.number, headRef: pr.head.ref, body: pr.body });

    const forged = await deliver(served.url, { event: "pull_request", payload: { ...payload, zzz: "FORGED-PAYLOAD-TEXT" }, secret: "not-the-secret" });
    expect(forged.status).toBe(401);
    await new Promise((r) => setTimeout(r, 300));
    expect(store.requireWorker(open.id).state).toBe("PR_OPEN");
    expect(existsSync(open.worktreePath!)).toBe(true);

    const id = randomUUID();
    const first = await deliver(served.url, { event: "pull_request", payload, secret: SECRET, id });
    const delivered = Date.now();
    const again = await deliver(served.url, { event: "pull_request", payload, secret: SECRET, id });
    expect([first.status, again.status]).toEqual([200, 200]);
    expect(store.requireWorker(open.id).state).toBe("MERGED");
    await until(() => !existsSync(open.worktreePath!), 1000, "worktree removed within a second");
    expect(Date.now() - delivered).toBeLessThan(1000);
    expect(store.history(open.id).filter((t) => t.to === "MERGED")).toEqual([
      expect.objectContaining({ from: "PR_OPEN", source: "webhook", correlationId: id }),
    ]);

    const metrics = await (await fetch(`${served.base}/metrics`)).text();
    expect(metrics).toMatch(/pw_transitions_total\{from="PR_OPEN",to="MERGED",source="webhook"\} 1/);
    expect(metrics).toMatch(/pw_webhook_duration_seconds_count\{event="pull_request.closed",outcome="duplicate"\} 1/);
    expect(metrics).toMatch(/pw_github_api_requests_total\{method="GET",status="200"\} \d+/);
    expect((await fetch(`${served.base}/healthz`)).status).toBe(200);

    expect(await served.stop()).toBe(0);
    const output = served.output();
    expect(output).not.toContain("FORGED-PAYLOAD-TEXT");
    const rejected = output.split("\n").filter((l) => l.includes("webhook delivery rejected"));
    expect(rejected).toHaveLength(1);
    expect(JSON.parse(rejected[0]!)).toMatchObject({ component: "app", status: 401, event: "pull_request", delivery_id: forged.id });
    expect(output).toContain('"component":"runner"');
  });

  it("runs slash commands end to end: spawn, a status comment edited as the worker moves, terminate carried out by the runner", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    const pids = join(sb.out, "pids.json");
    sb.configure({ agents: { "code-author": fakeAgent("write-file.mjs"), "test-author": fakeAgent("hang.mjs", pids) } });
    sb.github.setPermission(REPOSITORY, "alice", "write");
    const served = await startServe(serveEnv(sb), sb.repo);
    const store = openStore(sb);

    const command = async (issue: { number: number; title: string; body: string | null }, body: string) => {
      const comment = sb.github.addComment(REPOSITORY, issue.number, { body, user: "alice" });
      const payload = withComment(
        retarget(loadPayload("issue_comment.created"), { repo: REPOSITORY, number: issue.number, title: issue.title, body: issue.body, sender: "alice" }),
        { id: comment.id, body, user: "alice" },
      );
      payload.repository.default_branch = "main";
      const result = await deliver(served.url, { event: "issue_comment", payload, secret: SECRET });
      expect(result.status).toBe(200);
      return comment.id;
    };
    const statusComment = (issueNumber: number) =>
      sb.github.comments(REPOSITORY, issueNumber).find((c) => c.body.includes("<!-- parallel-workers:status"))?.body ?? "";

    // a spawned worker runs to a PR that closes its issue; its status comment follows it
    const first = sb.github.addIssue(REPOSITORY, { title: "Add the widget", body: "It must spin." });
    await command(first, "/worker spawn");
    const done = await until(() => {
      const w = workerByTask(store, `issue-${first.number}`);
      return w?.state === "PR_OPEN" ? w : undefined;
    }, 20_000, "issue worker in PR_OPEN");
    expect(done).toMatchObject({ agent: "code-author", baseBranch: "main", branch: `feature/issue-${first.number}`, repoPath: sb.repo });
    expect(sb.github.pull(REPOSITORY, done.prNumber!).body).toContain(`Closes #${first.number}`);
    await until(() => statusComment(first.number).includes("is **PR_OPEN**"), 5000, "status comment shows PR_OPEN");
    expect(statusComment(first.number)).toContain(done.prUrl!);
    expect(sb.github.comments(REPOSITORY, first.number).filter((c) => c.user.login === sb.github.actorLogin)).toHaveLength(1);

    // a hanging agent is stopped by /worker terminate: the runner kills its process group
    const second = sb.github.addIssue(REPOSITORY, { title: "Hang around", body: null });
    await command(second, "/worker spawn test-author");
    const working = await until(() => {
      const w = workerByTask(store, `issue-${second.number}`);
      return w?.state === "WORKING" && existsSync(pids) ? w : undefined;
    }, 20_000, "hanging worker in WORKING");
    await until(() => statusComment(second.number).includes("is **WORKING**"), 5000, "status comment shows WORKING");
    const { agent, child } = JSON.parse(readFileSync(pids, "utf8")) as { agent: number; child: number };
    const terminate = await command(second, `/worker terminate ${working.id}`);
    await until(() => store.requireWorker(working.id).state === "ABANDONED", 10_000, "terminated worker ABANDONED");
    await until(() => !alive(agent) && !alive(child), 5000, "agent process group gone");
    expect(store.requireWorker(working.id)).toMatchObject({ request: null, pid: null });
    expect(existsSync(working.worktreePath!)).toBe(true);
    await until(() => statusComment(second.number).includes("is **ABANDONED**"), 5000, "status comment shows ABANDONED");
    expect(sb.github.reactions(terminate).map((r) => r.content)).toEqual(["eyes", "rocket"]);
    expect(await served.stop()).toBe(0);
  });

  it("reconciles with one listing per repository: `pw reconcile`, and `pw serve` on start", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    const store = openStore(sb);
    const mergedWhileAway = (task: string) => {
      const branch = `feature/${task.toLowerCase()}`;
      sb.github.pushBranch(REPOSITORY, branch);
      const pr = sb.github.addPullRequest(REPOSITORY, { head: branch });
      sb.github.mergePullRequest(REPOSITORY, pr.number);
      return pr;
    };
    const pr = mergedWhileAway("T-9");
    store.createWorker({ id: "worker-aaaaa9", repo: REPOSITORY, taskId: "T-9", branch: "feature/t-9", state: "PR_OPEN" }, { source: "cli" });

    const result = await sb.pw(["reconcile"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/worker-aaaaa9\s+T-9\s+PR_OPEN\s+MERGED\s+https:\/\/github.com\/acme\/widgets\/pull\/1/);
    expect(store.requireWorker("worker-aaaaa9")).toMatchObject({ state: "MERGED", prNumber: pr.number });
    expect(sb.github.requestsTo("GET", `/repos/${REPOSITORY}/pulls`)).toHaveLength(1);
    expect(JSON.parse((await sb.pw(["reconcile", "--json"])).stdout)).toMatchObject({ checked: 0, changes: [] });

    mergedWhileAway("T-10");
    store.createWorker({ id: "worker-aaaa10", repo: REPOSITORY, taskId: "T-10", branch: "feature/t-10", state: "PR_OPEN" }, { source: "cli" });
    await startServe(serveEnv(sb), sb.repo);
    await until(() => store.requireWorker("worker-aaaa10").state === "MERGED", 10_000, "reconciled on start");
    expect(store.history("worker-aaaa10").at(-1)).toMatchObject({ source: "reconcile" });
    expect(sb.github.requestsTo("GET", `/repos/${REPOSITORY}/pulls`)).toHaveLength(2);
  });

  it.each([
    ["PORT", "abc", 'PORT: expected a port number, got "abc"'],
    ["PORT", "70000", "PORT: expected a port number up to 65535, got 70000"],
    ["HOST", "a b", 'HOST: expected a host name or address, got "a b"'],
    ["GH_ORG", "acme/widgets", `GH_ORG: expected an organization's login, got "acme/widgets"`],
  ])("refuses %s=%s with exit 2, naming the value, before anything is made", async (name, value, said) => {
    const sb = (sandbox = await runnerSandbox({}));
    const home = join(sb.out, "unused-home");
    const result = await pw(["serve"], { cwd: sb.repo, env: { ...serveEnv(sb), PW_HOME: home, [name]: value } });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(`pw: environment: ${said}`);
    expect(existsSync(home)).toBe(false);
  });

  it("in a checkout whose .parallel-workers.yml is invalid, says so (file and key path), exit 2; outside one, that it is not a repository", async () => {
    const { dir } = makeRepo();
    const home = join(tempDir(), "unused-home");
    const env = { ...process.env, WEBHOOK_SECRET: SECRET, APP_ID: "123456", PRIVATE_KEY: PEM, PORT: "0", HOST: "127.0.0.1", PW_HOME: home };
    writeFileSync(join(dir, ".parallel-workers.yml"), "agents:\n  docs-writer: { timeout: 20m }\n");
    const bad = await pw(["serve"], { cwd: dir, env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      `pw: ${join(dir, ".parallel-workers.yml")}: agents.docs-writer.command: required for an agent that is not built in (code-author, test-author, iac-engineer)\n`,
    );
    // the same with --repo naming another checkout: the current one is served too, so its error counts
    const other = makeRepo().dir;
    const withRepo = await pw(["serve", "--repo", other], { cwd: dir, env });
    expect(withRepo.code).toBe(2);
    expect(withRepo.stderr).toContain(`${join(dir, ".parallel-workers.yml")}: agents.docs-writer.command: required`);

    const plain = tempDir();
    const outside = await pw(["serve"], { cwd: plain, env });
    expect(outside.code).toBe(2);
    expect(outside.stderr).toBe(`pw: ${plain} is not a git repository: run \`pw serve\` in a checkout or pass --repo DIR\n`);
    expect(existsSync(home)).toBe(false);
  });

  it("without credentials offers the registration page; restarted with the .env it writes, pw serve takes deliveries at the URL it registered", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, ...sb.env, PORT: String(port), HOST: "127.0.0.1", NO_SMEE_SETUP: "true", NODE_ENV: "development", LOG_LEVEL: "info" };
    for (const name of ["APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "GITHUB_TOKEN", "WEBHOOK_SECRET", "WEBHOOK_PROXY_URL", "GH_ORG"]) delete env[name];
    const child = spawn(process.execPath, [PW_BIN, "serve"], { cwd: sb.repo, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const stopped = new Promise((resolve) => child.on("exit", resolve));
    let manifest: { hook_attributes: { url: string }; redirect_url: string; name: string; default_events: string[] };
    try {
      // opened through a reverse proxy, at the address GitHub can reach
      const page = await until(async () => {
        const response = await fetch(`http://127.0.0.1:${port}/probot`, { headers: { "x-forwarded-host": "pw.example.com", "x-forwarded-proto": "https" } }).catch(() => undefined);
        return response?.status === 200 ? response.text() : undefined;
      }, 15_000, "the registration page");
      const unescape = (text: string) => text.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
      manifest = JSON.parse(unescape(/name="manifest" value="([^"]+)"/.exec(page)![1]!)) as typeof manifest;
      const state = /state=([0-9a-f]+)/.exec(page)![1]!;
      expect(manifest).toMatchObject({ name: "parallel-workers", hook_attributes: { url: "https://pw.example.com/api/github/webhooks" }, redirect_url: "https://pw.example.com/probot/setup" });
      expect(manifest.default_events.sort()).toEqual(["check_run", "check_suite", "issue_comment", "merge_group", "pull_request", "pull_request_review", "push"]);
      // GitHub creates the App and sends the browser back with a code
      const code = sb.github.submitManifest(manifest);
      const back = await fetch(`http://127.0.0.1:${port}/probot/setup?code=${code}&state=${state}`, { redirect: "manual" });
      expect(back.status).toBe(302);
      expect(out).toContain("GitHub App registered");
    } finally {
      child.kill("SIGINT");
      await stopped;
    }
    const [app] = sb.github.registeredApps;
    expect(readFileSync(join(sb.repo, ".env"), "utf8")).toContain(`APP_ID="${app!.id}"`);

    // restarted in the same directory, with nothing else set: the credentials come from .env
    delete env.PORT;
    const served = await startServe({ ...env, PORT: "0" }, sb.repo);
    const hook = `${served.base}${new URL(manifest.hook_attributes.url).pathname}`;
    expect((await deliver(hook, { event: "ping", payload: { zen: "Hello." }, secret: app!.webhookSecret })).status).toBe(200);
    expect((await deliver(hook, { event: "ping", payload: { zen: "Hello." }, secret: "not-the-secret" })).status).toBe(401);
    expect((await deliver(`${served.base}/`, { event: "ping", payload: { zen: "Hello." }, secret: app!.webhookSecret })).status).toBe(404);
    // the App's webhook settings were read on start, and found to reach pw serve
    await until(() => sb.github.requestsTo("GET", "/app/hook/config").length > 0, 5000, "the App's webhook settings read");
    expect(await served.stop()).toBe(0);
    expect(served.output()).not.toMatch(/"msg":"the GitHub App/);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
