import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isProcessAlive } from "../../src/runner/process.js";
import { branches, git, removeTempDirs, tree } from "../helpers/git.js";
import { fakeAgent, originBranches, REPOSITORY, runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";

let sandbox: RunnerSandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
  removeTempDirs();
});

async function open(config: Record<string, unknown>): Promise<RunnerSandbox> {
  sandbox = await runnerSandbox(config);
  return sandbox;
}

interface WorkerJson {
  id: string;
  taskId: string;
  state: string;
  error: string | null;
  prNumber: number | null;
  prUrl: string | null;
  worktreePath: string | null;
  branch: string;
  agent: string | null;
}

async function workers(sb: RunnerSandbox): Promise<WorkerJson[]> {
  return JSON.parse((await sb.pw(["worker", "list", "--json"])).stdout) as WorkerJson[];
}

async function workerByTask(sb: RunnerSandbox, taskId: string): Promise<WorkerJson> {
  const found = (await workers(sb)).find((w) => w.taskId === taskId);
  if (!found) throw new Error(`no worker for ${taskId}`);
  return found;
}

function spawnArgs(taskId: string, description = `Do ${taskId}`, ...extra: string[]): string[] {
  return ["worker", "spawn", "--task-id", taskId, "--description", description, ...extra];
}

function writeSpec(sb: RunnerSandbox, yaml: string): string {
  const file = join(sb.out, "tasks.yml");
  writeFileSync(file, yaml);
  return file;
}

describe("spawn --wait: from task to pull request", () => {
  it("commits the agent's work, pushes it, and opens a labelled, milestoned PR", async () => {
    const sb = await open({ agents: { "code-author": fakeAgent("write-file.mjs") }, milestone: "Sprint 1" });
    const result = await sb.pw(spawnArgs("TASK-001", "Implement authentication", "--label", "area:auth", "--wait"));
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);

    const worker = await workerByTask(sb, "TASK-001");
    expect(worker).toMatchObject({ state: "PR_OPEN", prNumber: 1, branch: "feature/task-001", error: null });
    expect(result.stdout).toContain(worker.prUrl!);

    const [pr] = sb.github.pulls(REPOSITORY);
    expect(pr).toMatchObject({ title: "[TASK-001] Implement authentication", state: "open", draft: false });
    expect(pr!.head.ref).toBe("feature/task-001");
    expect(pr!.base.ref).toBe("main");
    expect(pr!.body).toContain("Implement authentication");
    expect(pr!.body).toContain(`<!-- parallel-workers: worker=${worker.id} task=TASK-001 -->`);
    expect(pr!.labels.map((l) => l.name).sort()).toEqual(["area:auth", "phase:5", "type:task"]);
    expect(pr!.milestone?.title).toBe("Sprint 1");

    expect(originBranches(sb.origin)).toContain("feature/task-001");
    const log = git(sb.origin, "log", "--format=%s", "feature/task-001", "-1").trim();
    expect(log).toBe("feat(TASK-001): Implement authentication");
    expect(git(sb.origin, "show", "feature/task-001:TASK-001.txt")).toBe("Implement authentication\n");
    expect(sb.github.unknownRequests()).toEqual([]);

    const history = JSON.parse((await sb.pw(["state", "history", worker.id, "--json"])).stdout) as Array<{ to: string }>;
    expect(history.map((t) => t.to)).toEqual(["NEEDS_INIT", "WORKING", "PR_OPEN"]);

    // the worker's story, without Loki
    const logs = await sb.pw(["worker", "logs", worker.id]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain("agent for TASK-001 working in");
    expect(logs.stdout).toContain("committed what the agent left uncommitted");
    expect(logs.stdout).toContain(`opened pull request #1 ${worker.prUrl}`);
    const followed = await sb.pw(["worker", "logs", worker.id, "--follow"]);
    expect(followed.stdout).toBe(logs.stdout);
    const got = JSON.parse((await sb.pw(["worker", "get", worker.id, "--json"])).stdout) as { id: string; history: unknown[] };
    expect(got.id).toBe(worker.id);
    expect(got.history).toHaveLength(3);
    const text = (await sb.pw(["worker", "get", worker.id])).stdout;
    expect(text).toMatch(/^worker\s+worker-/);
    expect(text).toContain("pull request https://github.com/acme/widgets/pull/1");
  });

  it("keeps an agent's own commits and opens a draft when configured", async () => {
    const sb = await open({ agents: { "code-author": fakeAgent("commit.mjs") }, draft: true });
    expect((await sb.pw(spawnArgs("T-2", "Self-committing agent", "--wait"))).code).toBe(0);
    expect(git(sb.origin, "log", "--format=%s", "feature/t-2", "-1").trim()).toBe("agent: T-2");
    expect(sb.github.pulls(REPOSITORY)[0]?.draft).toBe(true);
  });

  it("authenticates as the GitHub App with an installation token when APP_ID is set", async () => {
    const sb = await open({ agents: { "code-author": fakeAgent("write-file.mjs") } });
    const { generateKeyPairSync } = await import("node:crypto");
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
    const keyFile = join(sb.out, "app.pem");
    writeFileSync(keyFile, pem);
    const result = await sb.pw(spawnArgs("APP-1", "as the app", "--wait"), { GITHUB_TOKEN: "", APP_ID: "123456", PRIVATE_KEY_PATH: keyFile });
    expect(result.stdout).not.toContain("UNKNOWN");
    expect(result.code).toBe(0);
    expect(sb.github.calls().slice(0, 2)).toEqual([
      "GET /repos/acme/widgets/installation",
      "POST /app/installations/1/access_tokens",
    ]);
    const [token] = sb.github.issuedTokens;
    expect(token).toBeTruthy();
    expect(sb.github.requestsTo("GET", "/repos/acme/widgets/installation")[0]?.headers.authorization).toMatch(/^bearer \S+\.\S+\.\S+$/i);
    expect(sb.github.requestsTo("POST", "/repos/acme/widgets/pulls")[0]?.headers.authorization).toBe(`token ${token}`);
  });

  it("returns at once without --wait, and `pw loop` starts the worker", async () => {
    const sb = await open({ agents: { "code-author": fakeAgent("write-file.mjs") } });
    const spawned = await sb.pw(spawnArgs("T-3"));
    expect(spawned.code).toBe(0);
    const id = spawned.stdout.split(/\s+/)[0]!;
    expect(id).toMatch(/^worker-[a-z0-9]{6}$/);
    expect((await sb.pw(["state", "get", id])).stdout).toBe("NEEDS_INIT\n");
    expect(existsSync(join(sb.root, "widgets", "t-3"))).toBe(true);

    const loop = await sb.pw(["loop", "--poll-interval", "0.2", "--max-iterations", "3"]);
    expect(loop.code).toBe(0);
    expect((await sb.pw(["state", "get", id])).stdout).toBe("PR_OPEN\n");
    // the runner's moves carry the spawn's correlation id: one worker's story, one id
    const history = JSON.parse((await sb.pw(["state", "history", id, "--json"])).stdout) as Array<{ to: string; correlationId: string }>;
    expect(history.map((t) => t.to)).toEqual(["NEEDS_INIT", "WORKING", "PR_OPEN"]);
    expect(new Set(history.map((t) => t.correlationId)).size).toBe(1);
    const runnerLines = loop.stdout
      .split("\n")
      .filter((line) => line.includes(id))
      .map((line) => JSON.parse(line) as { correlation_id: string; state: string; component: string });
    expect(runnerLines.map((l) => [l.component, l.state, l.correlation_id])).toEqual([
      ["runner", "WORKING", history[0]!.correlationId],
      ["runner", "PR_OPEN", history[0]!.correlationId],
    ]);
  });
});

describe("the runner", () => {
  it("never runs more than max_workers agents at once", async () => {
    const sb = await open({});
    const recordFile = join(sb.out, "record.log");
    sb.configure({ max_workers: 2, agents: { "code-author": fakeAgent("write-file.mjs", "600", recordFile) } });
    const spec = writeSpec(
      sb,
      `tasks:\n${[1, 2, 3, 4, 5].map((n) => `  - { id: C-${n}, description: task ${n} }`).join("\n")}\n`,
    );
    const result = await sb.pw(["worker", "spawn-batch", "--spec-file", spec, "--wait"]);
    expect(result.code, `${result.stdout}\n${result.stderr}\n${(await sb.pw(["worker", "list", "--json"])).stdout}`).toBe(0);

    const events = readFileSync(recordFile, "utf8")
      .trim()
      .split("\n")
      .map((line) => {
        const [kind, task, at] = line.split(" ");
        return { kind: kind!, task: task!, at: Number(at) };
      })
      .sort((a, b) => a.at - b.at || (a.kind === "end" ? -1 : 1));
    let running = 0;
    let most = 0;
    for (const e of events) {
      running += e.kind === "start" ? 1 : -1;
      most = Math.max(most, running);
    }
    expect(events.filter((e) => e.kind === "start")).toHaveLength(5);
    expect(most).toBe(2);
    expect((await workers(sb)).map((w) => w.state)).toEqual(Array(5).fill("PR_OPEN"));
    expect(sb.github.pulls(REPOSITORY)).toHaveLength(5);
  });

  it("starts a task only after the tasks it depends on are MERGED", async () => {
    const sb = await open({ agents: { "code-author": fakeAgent("write-file.mjs") } });
    const spec = writeSpec(
      sb,
      `milestone: Sprint 2
tasks:
  - { id: BASE-1, description: first }
  - { id: NEXT-2, description: second, depends_on: [BASE-1] }
`,
    );
    const first = await sb.pw(["worker", "spawn-batch", "--spec-file", spec, "--wait"]);
    expect(first.code).toBe(1);
    expect(first.stdout).toMatch(/NEXT-2\) waits for BASE-1 \(PR_OPEN\) to be merged/);
    const base = await workerByTask(sb, "BASE-1");
    expect(base.state).toBe("PR_OPEN");
    expect((await workerByTask(sb, "NEXT-2")).state).toBe("NEEDS_INIT");
    expect(sb.github.pulls(REPOSITORY)).toHaveLength(1);

    // the merge arrives (in production: the pull_request.closed webhook)
    expect((await sb.pw(["state", "transition", base.id, "PR_OPEN", "MERGED"])).code).toBe(0);
    expect((await sb.pw(["loop", "--poll-interval", "0.2", "--max-iterations", "3"])).code).toBe(0);
    expect((await workerByTask(sb, "NEXT-2")).state).toBe("PR_OPEN");
    const pulls = sb.github.pulls(REPOSITORY);
    expect(pulls.map((p) => p.title)).toEqual(["[BASE-1] first", "[NEXT-2] second"]);
    // both PRs share one milestone, created once
    expect(pulls.map((p) => p.milestone?.title)).toEqual(["Sprint 2", "Sprint 2"]);
    expect(sb.github.milestones(REPOSITORY)).toHaveLength(1);
    expect(sb.github.requestsTo("POST", "/repos/acme/widgets/milestones")).toHaveLength(1);
    // and the merged worker's worktree and branch were cleaned up by the loop
    expect(existsSync(join(sb.root, "widgets", "base-1"))).toBe(false);
    expect(branches(sb.repo)).not.toContain("refs/heads/feature/base-1");
  });

  it("gives the agent an allowlisted environment with no secrets in it", async () => {
    const sb = await open({});
    const dump = join(sb.out, "env.json");
    sb.configure({
      env: { passthrough: ["NODE_OPTIONS", "GITHUB_TOKEN", "CUSTOM_SETTING", "DEPLOY_PASSWORD"] },
      agents: { "code-author": { ...fakeAgent("dump-env.mjs", dump), env: { AGENT_MODE: "fast", OPENAI_API_KEY: "sk-agent" } } },
    });
    const secrets = {
      AWS_ACCESS_KEY_ID: "AKIAABCDEFGHIJKLMNOP",
      AWS_SECRET_ACCESS_KEY: "abcd",
      ANTHROPIC_API_KEY: "sk-ant-xyz",
      NPM_TOKEN: "npm_abc",
      DEPLOY_PASSWORD: "hunter2",
      PRIVATE_KEY: "-----BEGIN RSA PRIVATE KEY-----",
      WEBHOOK_SECRET: "s3cret",
      UNRELATED_VARIABLE: "not allowlisted",
    };
    const result = await sb.pw(spawnArgs("ENV-1", "check env", "--wait"), { ...secrets, CUSTOM_SETTING: "yes", NODE_OPTIONS: "--no-warnings" });
    expect(result.code).toBe(0);
    const env = JSON.parse(readFileSync(dump, "utf8")) as Record<string, string>;
    for (const name of [...Object.keys(secrets), "GITHUB_TOKEN", "OPENAI_API_KEY", "PW_HOME", "GHE_HOST"]) {
      if (name === "AWS_ACCESS_KEY_ID") continue; // not secret by name, and not allowlisted either
      expect(env).not.toHaveProperty(name);
    }
    expect(env).not.toHaveProperty("AWS_ACCESS_KEY_ID");
    expect(env).toMatchObject({ CUSTOM_SETTING: "yes", NODE_OPTIONS: "--no-warnings", AGENT_MODE: "fast", PW_TASK_ID: "ENV-1", PW_DESCRIPTION: "check env" });
    expect(env.PW_WORKER_ID).toMatch(/^worker-/);
    expect(env.PW_PROMPT).toContain("check env");
    expect(env.PATH).toBeTruthy();
    const id = (await workerByTask(sb, "ENV-1")).id;
    const log = readFileSync(join(sb.home, "logs", `${id}.log`), "utf8");
    expect(log).toContain("not passed to the agent (names that look secret): DEPLOY_PASSWORD, GITHUB_TOKEN, OPENAI_API_KEY");
    for (const value of Object.values(secrets)) expect(log).not.toContain(value);
  });
});

describe("failures leave a recorded, recoverable worker and push nothing", () => {
  it("an agent that fails: UNKNOWN with its exit code and last lines, worktree kept", async () => {
    const sb = await open({ agents: { "code-author": fakeAgent("fail.mjs", "3") } });
    const result = await sb.pw(spawnArgs("F-1", "will fail", "--wait"));
    expect(result.code).toBe(1);
    const worker = await workerByTask(sb, "F-1");
    expect(worker.state).toBe("UNKNOWN");
    expect(worker.error).toContain('agent "code-author" exited with code 3');
    expect(worker.error).toContain("fatal: could not finish the task");
    expect(worker.error).toContain("working on step 12");
    expect(existsSync(worker.worktreePath!)).toBe(true);
    expect(originBranches(sb.origin)).toEqual(["main"]);
    // only the spawn's preflight read the repository
    expect(sb.github.calls()).toEqual(["GET /repos/acme/widgets"]);
  });

  it("an agent that changes nothing: UNKNOWN, nothing pushed", async () => {
    const sb = await open({ agents: { "code-author": fakeAgent("no-changes.mjs") } });
    expect((await sb.pw(spawnArgs("F-2", "idle", "--wait"))).code).toBe(1);
    expect((await workerByTask(sb, "F-2")).error).toBe("agent made no changes");
    expect(originBranches(sb.origin)).toEqual(["main"]);
    expect(sb.github.calls()).toEqual(["GET /repos/acme/widgets"]);
  });

  it("an agent whose program is not installed says how to fix it", async () => {
    const sb = await open({ agents: { "code-author": { command: ["claude-not-installed-here", "-p", "{prompt}"] } } });
    expect((await sb.pw(spawnArgs("F-3", "x", "--wait"))).code).toBe(1);
    expect((await workerByTask(sb, "F-3")).error).toBe(
      'agent "code-author": command "claude-not-installed-here" not found; set agents.code-author.command in .parallel-workers.yml',
    );
  });

  it("a setup program missing from PATH fails the worker before any setup command runs", async () => {
    const sb = await open({});
    const marker = join(sb.out, "first-setup-ran");
    sb.configure({
      agents: { "code-author": fakeAgent("write-file.mjs") },
      setup: [[process.execPath, "-e", `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "")`], ["no-such-setup-tool", "install"]],
    });
    const id = (await sb.pw(spawnArgs("S-1"))).stdout.split(/\s+/)[0]!;
    // as a worker queued from a comment: the runner makes its worktree, and runs setup there
    const worker = await workerByTask(sb, "S-1");
    git(sb.repo, "worktree", "remove", "--force", worker.worktreePath!);
    git(sb.repo, "branch", "-D", "feature/s-1");
    expect((await sb.pw(["loop", "--poll-interval", "0.2", "--max-iterations", "2"])).code).toBe(0);
    expect((await workerByTask(sb, "S-1")).error).toBe('setup failed: setup command "no-such-setup-tool" not found; fix setup in .parallel-workers.yml');
    expect(existsSync(marker)).toBe(false);
    expect((await sb.pw(["state", "get", id])).stdout).toBe("UNKNOWN\n");
  });

  it("a spawn without --agent takes default_agent, else the only agent configured; with several and no default it asks, making nothing", async () => {
    const sb = await open({ agents: { "docs-writer": fakeAgent("write-file.mjs") } });
    expect((await sb.pw(spawnArgs("AG-1"))).code).toBe(0);
    expect((await workerByTask(sb, "AG-1")).agent).toBe("docs-writer");

    sb.configure({ agents: { "docs-writer": fakeAgent("write-file.mjs"), "lint-fixer": fakeAgent("write-file.mjs") } });
    const refused = await sb.pw(spawnArgs("AG-2"));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe("pw: --agent is needed: this repository configures several agents (docs-writer, lint-fixer) and no default_agent\n");
    expect((await workers(sb)).map((w) => w.taskId)).toEqual(["AG-1"]);
    const spec = writeSpec(sb, "tasks:\n  - id: AG-3\n    description: d\n");
    expect((await sb.pw(["worker", "spawn-batch", "--spec-file", spec])).code).toBe(2);

    sb.configure({ default_agent: "lint-fixer", agents: { "docs-writer": fakeAgent("write-file.mjs"), "lint-fixer": fakeAgent("write-file.mjs") } });
    expect((await sb.pw(["worker", "spawn-batch", "--spec-file", spec])).code).toBe(0);
    expect((await workerByTask(sb, "AG-3")).agent).toBe("lint-fixer");
  });

  it("setup runs once in a worktree the spawn made, and again after a setup that failed", async () => {
    const sb = await open({});
    const runs = join(sb.out, "setup-runs");
    const allowed = join(sb.out, "setup-may-pass");
    // appends one line per run (the worktree it ran in), then fails unless `allowed` exists
    const script = `const fs = require("node:fs"); fs.appendFileSync(${JSON.stringify(runs)}, process.cwd() + "\\n"); process.exit(fs.existsSync(${JSON.stringify(allowed)}) ? 0 : 1);`;
    sb.configure({ agents: { "code-author": fakeAgent("write-file.mjs") }, setup: [[process.execPath, "-e", script]] });
    const spawned = await sb.pw(spawnArgs("SET-1"));
    expect(spawned.code).toBe(0);
    const worker = await workerByTask(sb, "SET-1");
    // the spawn made the worktree; the runner still runs setup in it before the agent
    expect((await sb.pw(["loop", "--poll-interval", "0.2", "--until-idle"])).code).toBe(1);
    expect(readFileSync(runs, "utf8")).toBe(`${worker.worktreePath}\n`);
    expect((await workerByTask(sb, "SET-1")).error).toMatch(/^setup failed: setup command .* exited with code 1$/);

    writeFileSync(allowed, "");
    expect((await sb.pw(["worker", "retry", worker.id])).code).toBe(0);
    expect((await sb.pw(["loop", "--poll-interval", "0.2", "--until-idle"])).code).toBe(0);
    expect((await workerByTask(sb, "SET-1")).state).toBe("PR_OPEN");
    expect(readFileSync(runs, "utf8").split("\n").filter(Boolean)).toEqual([worker.worktreePath, worker.worktreePath]);

    // a setup that passed is not run again for the same worktree (a later round, a retry)
    await sb.pw(["state", "set", worker.id, "UNKNOWN"]);
    expect((await sb.pw(["worker", "retry", worker.id])).code).toBe(0);
    await sb.pw(["loop", "--poll-interval", "0.2", "--until-idle"]);
    expect(readFileSync(runs, "utf8").split("\n").filter(Boolean)).toHaveLength(2);
  });

  it("a timeout kills the agent's whole process group", async () => {
    const sb = await open({});
    const pids = join(sb.out, "pids.json");
    sb.configure({ agents: { "code-author": { ...fakeAgent("hang.mjs", pids), timeout: "1500ms" } } });
    expect((await sb.pw(spawnArgs("F-4", "hang", "--wait"))).code).toBe(1);
    expect((await workerByTask(sb, "F-4")).error).toContain('agent "code-author" timed out after 2s');
    const { agent, child } = JSON.parse(readFileSync(pids, "utf8")) as { agent: number; child: number };
    expect(isProcessAlive(agent)).toBe(false);
    expect(isProcessAlive(child)).toBe(false);
  });

  it("a push that fails: UNKNOWN, no PR", async () => {
    const sb = await open({ agents: { "code-author": fakeAgent("write-file.mjs") } });
    // origin answers (the preflight passes) but refuses every pack pushed to it
    git(sb.origin, "config", "receive.maxInputSize", "1");
    expect((await sb.pw(spawnArgs("F-5", "push fails", "--wait"))).code).toBe(1);
    expect((await workerByTask(sb, "F-5")).error).toMatch(/^push of feature\/f-5 to origin failed/);
    expect(originBranches(sb.origin)).toEqual(["main"]);
    expect(sb.github.calls()).toEqual(["GET /repos/acme/widgets"]);
  });

  it("a PR that cannot be opened after the push: submit finishes it, with one PR and one milestone", async () => {
    const sb = await open({ agents: { "code-author": fakeAgent("write-file.mjs") }, milestone: "Sprint 3" });
    sb.github.failNext({ method: "POST", path: "/repos/acme/widgets/pulls", status: 422, times: 1, body: { message: "Validation Failed", errors: [{ code: "custom", message: "base is invalid" }] } });
    expect((await sb.pw(spawnArgs("F-6", "pr fails", "--wait"))).code).toBe(1);
    const failed = await workerByTask(sb, "F-6");
    expect(failed.state).toBe("UNKNOWN");
    expect(failed.error).toContain("pushed feature/f-6, but opening the pull request failed");
    expect(failed.error).toContain(`pw worker submit ${failed.id}`);
    expect(originBranches(sb.origin)).toContain("feature/f-6");

    const submitted = await sb.pw(["worker", "submit", failed.id]);
    expect(submitted.code).toBe(0);
    expect(submitted.stdout).toContain("PR_OPEN");
    // and again: nothing new
    expect((await sb.pw(["worker", "submit", failed.id])).code).toBe(1);
    expect(sb.github.pulls(REPOSITORY)).toHaveLength(1);
    expect(sb.github.milestones(REPOSITORY)).toHaveLength(1);
    expect((await workerByTask(sb, "F-6")).state).toBe("PR_OPEN");
  });

  it("a retry after the PR was opened but not recorded adopts that PR", async () => {
    const sb = await open({ agents: { "code-author": fakeAgent("write-file.mjs") } });
    // the PR is created, but the labels call fails: the worker fails after GitHub has a PR
    sb.github.failNext({ method: "PATCH", path: /\/issues\/\d+$/, status: 422, times: 1 });
    expect((await sb.pw(spawnArgs("F-7", "half done", "--wait"))).code).toBe(1);
    const failed = await workerByTask(sb, "F-7");
    expect(failed.state).toBe("UNKNOWN");
    expect(sb.github.pulls(REPOSITORY)).toHaveLength(1);

    expect((await sb.pw(["worker", "retry", failed.id])).code).toBe(0);
    expect((await sb.pw(["loop", "--poll-interval", "0.2", "--max-iterations", "2"])).code).toBe(0);
    const done = await workerByTask(sb, "F-7");
    expect(done.state).toBe("PR_OPEN");
    expect(sb.github.pulls(REPOSITORY)).toHaveLength(1);
    expect(done.prNumber).toBe(sb.github.pulls(REPOSITORY)[0]!.number);
  });
});

describe("spawn-batch validates the whole file first", () => {
  it("lists every problem, exits 2 and creates nothing", async () => {
    const sb = await open({ agents: { "code-author": fakeAgent("write-file.mjs") } });
    const spec = writeSpec(
      sb,
      `tasks:
  - { id: OK-1, description: fine }
  - { id: OK-1, description: duplicate }
  - { id: "../escape", description: bad id }
  - { id: AG-1, description: unknown agent, agent: poet }
  - { id: DEP-1, description: unknown dep, depends_on: [GHOST] }
  - { id: CY-1, description: cycle, depends_on: [CY-2] }
  - { id: CY-2, description: cycle, depends_on: [CY-1] }
`,
    );
    const before = { branches: branches(sb.repo), root: tree(sb.root) };
    const result = await sb.pw(["worker", "spawn-batch", "--spec-file", spec]);
    expect(result.code).toBe(2);
    // a bad id no longer hides the rest: one run lists all five, each with its key path
    expect(result.stderr.split("\n").filter(Boolean)).toEqual([
      expect.stringMatching(/^pw: {3}tasks\[2\]\.id: task id "\.\.\/escape" is not allowed/),
      'pw:   tasks[1].id: "OK-1" repeats the id of tasks[0]',
      'pw:   tasks[3].agent: unknown agent "poet": use one of code-author, test-author, iac-engineer',
      'pw:   tasks[4].depends_on[0]: unknown task "GHOST" (not in this file and no worker of this repository has it)',
      "pw:   depends_on: cycle CY-1 -> CY-2 -> CY-1",
      `pw: ${spec}: 5 problems, nothing was created`,
    ]);
    expect(await workers(sb)).toEqual([]);
    expect({ branches: branches(sb.repo), root: tree(sb.root) }).toEqual(before);
  });

  it("refuses a spawn whose base does not exist, or whose task already has a worker", async () => {
    const sb = await open({ agents: { "code-author": fakeAgent("write-file.mjs") } });
    const noBase = await sb.pw(spawnArgs("B-1", "x", "--base-branch", "nope"));
    expect(noBase.code).toBe(1);
    expect(noBase.stderr).toContain('base branch "nope" does not exist');
    expect((await sb.pw(spawnArgs("B-2"))).code).toBe(0);
    const again = await sb.pw(spawnArgs("b-2"));
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/task b-2 already has worker worker-[a-z0-9]{6} \(NEEDS_INIT\)/);
    const badId = await sb.pw(spawnArgs("a/b"));
    expect(badId.code).toBe(2);
    expect((await workers(sb)).map((w) => w.taskId)).toEqual(["B-2"]);
  });

  it("refuses --depends-on a task that neither this spawn nor any worker of the repository has, as spawn-batch does", async () => {
    const sb = await open({ agents: { "code-author": fakeAgent("write-file.mjs") } });
    const before = { branches: branches(sb.repo), root: tree(sb.root) };
    const ghost = await sb.pw(spawnArgs("D-1", "x", "--depends-on", "GHOST"));
    expect(ghost.code).toBe(2);
    expect(ghost.stderr).toBe('pw: D-1 depends on unknown task "GHOST" (not spawned with it and no worker of this repository has it)\n');
    const itself = await sb.pw(spawnArgs("D-1", "x", "--depends-on", "d-1"));
    expect(itself.code).toBe(2);
    expect(itself.stderr).toBe("pw: task D-1 cannot depend on itself\n");
    expect(await workers(sb)).toEqual([]);
    expect({ branches: branches(sb.repo), root: tree(sb.root) }).toEqual(before);

    // a task an existing worker of the repository has is a fine dependency, in any case
    expect((await sb.pw(spawnArgs("BASE-1"))).code).toBe(0);
    const next = await sb.pw(spawnArgs("NEXT-1", "x", "--depends-on", "base-1"));
    expect(next.stderr).toBe("");
    expect(next.code).toBe(0);
    expect((await workerByTask(sb, "NEXT-1")).taskId).toBe("NEXT-1");
  });
});

describe("terminate, retry, cleanup", () => {
  it("terminate kills a running agent's process group and abandons the worker", async () => {
    const sb = await open({});
    const pids = join(sb.out, "pids.json");
    sb.configure({ agents: { "code-author": fakeAgent("hang.mjs", pids) } });
    const id = (await sb.pw(spawnArgs("K-1", "hang"))).stdout.split(/\s+/)[0]!;
    const { spawn } = await import("node:child_process");
    const { PW_BIN } = await import("../helpers/cli.js");
    const loop = spawn(process.execPath, [PW_BIN, "loop", "--poll-interval", "0.2"], {
      cwd: sb.repo,
      env: { ...process.env, ...sb.env },
      stdio: "ignore",
    });
    try {
      for (let i = 0; i < 100 && !existsSync(pids); i++) await new Promise((r) => setTimeout(r, 100));
      const { agent, child } = JSON.parse(readFileSync(pids, "utf8")) as { agent: number; child: number };
      const result = await sb.pw(["worker", "terminate", id]);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`${id}: ABANDONED (agent killed)`);
      expect(isProcessAlive(agent)).toBe(false);
      expect(isProcessAlive(child)).toBe(false);
      expect((await sb.pw(["state", "get", id])).stdout).toBe("ABANDONED\n");
      // terminating twice is refused
      expect((await sb.pw(["worker", "terminate", id])).code).toBe(1);
    } finally {
      loop.kill("SIGKILL");
    }
  });

  it("retry reruns a failed worker in its existing worktree", async () => {
    const sb = await open({ agents: { "code-author": fakeAgent("no-changes.mjs") } });
    expect((await sb.pw(spawnArgs("R-1", "retry me", "--wait"))).code).toBe(1);
    const failed = await workerByTask(sb, "R-1");
    // someone fixes things by hand in the worktree, then the agent succeeds on retry
    writeFileSync(join(failed.worktreePath!, "fix.txt"), "manual fix\n");
    expect((await sb.pw(["worker", "retry", failed.id])).stdout).toContain("NEEDS_INIT");
    expect((await sb.pw(["worker", "retry", failed.id])).code).toBe(1);
    expect((await sb.pw(["loop", "--poll-interval", "0.2", "--max-iterations", "2"])).code).toBe(0);
    expect((await workerByTask(sb, "R-1")).state).toBe("PR_OPEN");
    expect(git(sb.origin, "show", "feature/r-1:fix.txt")).toBe("manual fix\n");
  });

  it("cleanup removes the worktrees and branches of MERGED workers and says what it removed", async () => {
    const sb = await open({ agents: { "code-author": fakeAgent("write-file.mjs") } });
    expect((await sb.pw(spawnArgs("M-1", "merge me", "--wait"))).code).toBe(0);
    const worker = await workerByTask(sb, "M-1");
    expect((await sb.pw(["state", "set", worker.id, "MERGED"])).code).toBe(0);
    const result = await sb.pw(["worker", "cleanup"]);
    expect(result).toMatchObject({ code: 0, stdout: `removed ${worker.worktreePath} (${worker.id}, M-1)\n` });
    expect(existsSync(worker.worktreePath!)).toBe(false);
    expect(branches(sb.repo)).toEqual(["refs/heads/main"]);
    expect((await sb.pw(["worker", "cleanup"])).stdout).toBe("no worktrees of MERGED workers to remove\n");
  });
});
