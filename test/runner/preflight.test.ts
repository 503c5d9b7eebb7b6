import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort, PW_BIN } from "../helpers/cli.js";
import { branches, git, makeRepo, removeTempDirs, tree } from "../helpers/git.js";
import { fakeAgent, originBranches, REPOSITORY, runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";

let sandbox: RunnerSandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
  removeTempDirs();
});

async function open(config: Record<string, unknown> = { agents: { "code-author": fakeAgent("write-file.mjs") } }, repo = {}): Promise<RunnerSandbox> {
  sandbox = await runnerSandbox(config, repo);
  return sandbox;
}

interface WorkerJson {
  id: string;
  taskId: string;
  state: string;
  baseBranch: string | null;
  owner: string | null;
  error: string | null;
  worktreePath: string | null;
}

async function workers(sb: RunnerSandbox): Promise<WorkerJson[]> {
  return JSON.parse((await sb.pw(["worker", "list", "--json"])).stdout) as WorkerJson[];
}

function spawnArgs(taskId: string, ...extra: string[]): string[] {
  return ["worker", "spawn", "--task-id", taskId, "--description", `Do ${taskId}`, ...extra];
}

/** What a refused spawn must leave as it was: workers, local branches, worktrees, origin. */
function disk(sb: RunnerSandbox) {
  return { branches: branches(sb.repo), worktrees: tree(sb.root), origin: originBranches(sb.origin) };
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("a spawn whose work could not be delivered is refused before anything is made", () => {
  it.each([
    {
      case: "no GitHub credentials",
      exitCode: 2,
      arrange: () => ({ GITHUB_TOKEN: "" }),
      says: /^pw: no GitHub credentials: set GITHUB_TOKEN to a token that can push to acme\/widgets and open pull requests there, or APP_ID with PRIVATE_KEY or PRIVATE_KEY_PATH/,
    },
    {
      case: "a token GitHub rejects (401)",
      exitCode: 2,
      arrange: (sb: RunnerSandbox) => {
        sb.github.rejectToken("test-token");
        return {};
      },
      says: /^pw: GitHub at 127\.0\.0\.1:\d+ rejected GITHUB_TOKEN \(401 Bad credentials\): it is wrong, expired or revoked; set GITHUB_TOKEN to a valid token$/m,
    },
    {
      case: "a token that may not read the repository (403)",
      exitCode: 2,
      arrange: (sb: RunnerSandbox) => {
        sb.github.failNext({ method: "GET", path: "/repos/acme/widgets", status: 403, times: 2, body: { message: "Resource not accessible by personal access token" } });
        return {};
      },
      says: /^pw: GITHUB_TOKEN may not read acme\/widgets \(403 Resource not accessible by personal access token\): give the token access to it/m,
    },
    {
      case: "a repository GitHub does not know (404)",
      exitCode: 2,
      arrange: (sb: RunnerSandbox) => {
        sb.configure({ github: { repository: "acme/gadgets" }, agents: { "code-author": fakeAgent("write-file.mjs") } });
        return {};
      },
      says: /^pw: acme\/gadgets was not found on GitHub at 127\.0\.0\.1:\d+, or GITHUB_TOKEN cannot see it: check github\.repository and the origin URL/m,
    },
    {
      case: "an App not installed on the repository",
      exitCode: 2,
      arrange: (sb: RunnerSandbox) => {
        sb.github.failNext({ method: "GET", path: "/repos/acme/widgets/installation", status: 404, times: 2 });
        const key = join(sb.out, "app.pem");
        writeFileSync(key, APP_KEY);
        return { GITHUB_TOKEN: "", APP_ID: "123456", PRIVATE_KEY_PATH: key };
      },
      says: /^pw: the GitHub App 123456 is not installed on acme\/widgets \(or it does not exist on 127\.0\.0\.1:\d+\): install the App on acme\/widgets/m,
    },
    {
      case: "an unreachable GitHub (a closed port)",
      exitCode: 1,
      arrange: async () => ({ GHE_HOST: `127.0.0.1:${await freePort()}` }),
      says: /^pw: GitHub at 127\.0\.0\.1:(\d+) is unreachable: connect ECONNREFUSED 127\.0\.0\.1:\1$/m,
    },
    {
      case: "no origin",
      exitCode: 2,
      arrange: (sb: RunnerSandbox) => {
        git(sb.repo, "remote", "remove", "origin");
        return {};
      },
      says: /^pw: \/\S+ has no remote named origin, where workers push: add it with `git remote add origin http:\/\/127\.0\.0\.1:\d+\/acme\/widgets\.git`$/m,
    },
    {
      case: "an origin that is no repository",
      exitCode: 2,
      arrange: (sb: RunnerSandbox) => {
        git(sb.repo, "remote", "set-url", "origin", join(sb.out, "no-such-origin.git"));
        return {};
      },
      says: /^pw: origin \(\S+no-such-origin\.git\) is not a repository git can reach: .*does not appear to be a git repository; fix it with `git remote set-url origin <url>`$/m,
    },
    {
      case: "an unreachable origin (a closed port)",
      exitCode: 1,
      arrange: async (sb: RunnerSandbox) => {
        git(sb.repo, "remote", "set-url", "origin", `http://127.0.0.1:${await freePort()}/acme/widgets.git`);
        return {};
      },
      says: /^pw: origin at 127\.0\.0\.1:\d+ is unreachable: .*(Failed to connect|Couldn't connect)/m,
    },
    {
      case: "an archived repository",
      exitCode: 2,
      repo: { archived: true },
      arrange: () => ({}),
      says: /^pw: acme\/widgets is archived on GitHub at 127\.0\.0\.1:\d+: nothing can be pushed to it/m,
    },
  ])("$case: exit $exitCode, one line saying what to fix", async ({ arrange, exitCode, says, repo }) => {
    const sb = await open(undefined, repo);
    const env = await arrange(sb);
    const before = disk(sb);
    for (const args of [spawnArgs("T-1"), spawnArgs("T-2", "--wait")]) {
      const result = await sb.pw(args, env);
      expect(result.stderr).toMatch(says);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
      expect(result.code).toBe(exitCode);
      expect(result.stdout).toBe("");
    }
    expect(await workers(sb)).toEqual([]);
    expect(disk(sb)).toEqual(before);
    expect(sb.github.requestsTo("POST", /./)).toEqual([]);
  });

  it("lists every problem at once: no credentials and no origin", async () => {
    const sb = await open();
    git(sb.repo, "remote", "remove", "origin");
    const before = disk(sb);
    const result = await sb.pw(spawnArgs("T-1"), { GITHUB_TOKEN: "" });
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^pw: {3}no GitHub credentials: set GITHUB_TOKEN/);
    expect(lines[1]).toMatch(/^pw: {3}\S+ has no remote named origin/);
    expect(lines[2]).toBe("pw: 2 problems, nothing was created");
    expect(await workers(sb)).toEqual([]);
    expect(disk(sb)).toEqual(before);
    expect(sb.github.requests).toEqual([]);
  });

  it("spawn-batch too: a rejected token creates none of the file's workers", async () => {
    const sb = await open();
    sb.github.rejectToken("test-token");
    const spec = join(sb.out, "tasks.yml");
    writeFileSync(spec, "tasks:\n  - { id: A-1, description: first }\n  - { id: A-2, description: second }\n");
    const before = disk(sb);
    const result = await sb.pw(["worker", "spawn-batch", "--spec-file", spec]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/rejected GITHUB_TOKEN \(401 Bad credentials\)/);
    expect(await workers(sb)).toEqual([]);
    expect(disk(sb)).toEqual(before);
  });
});

describe("the default base branch is the repository's, not main", () => {
  it("a repository whose default branch is master: the worker starts from master and its PR targets master", async () => {
    const sb = await open(undefined, { defaultBranch: "master" });
    expect(branches(sb.repo)).toEqual(["refs/heads/master"]);
    const result = await sb.pw(spawnArgs("M-1", "--wait"));
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const [worker] = await workers(sb);
    expect(worker).toMatchObject({ state: "PR_OPEN", baseBranch: "master" });
    const [pr] = sb.github.pulls(REPOSITORY);
    expect(pr!.base.ref).toBe("master");
    expect(pr!.head.ref).toBe("feature/m-1");
    // the branch grew from master's head
    expect(git(sb.origin, "rev-parse", "feature/m-1~1").trim()).toBe(git(sb.origin, "rev-parse", "master").trim());
  });

  it("the same from a spec file without base_branch", async () => {
    const sb = await open(undefined, { defaultBranch: "master" });
    const spec = join(sb.out, "tasks.yml");
    writeFileSync(spec, "tasks:\n  - { id: S-1, description: from the spec }\n");
    expect((await sb.pw(["worker", "spawn-batch", "--spec-file", spec])).code).toBe(0);
    expect((await workers(sb))[0]?.baseBranch).toBe("master");
  });

  it("when origin's HEAD names no branch, GitHub's default_branch decides", async () => {
    const sb = await open(undefined, { defaultBranch: "master" });
    // an origin whose HEAD points at a branch it does not have answers ls-remote without a HEAD
    git(sb.origin, "symbolic-ref", "HEAD", "refs/heads/unborn");
    expect((await sb.pw(spawnArgs("G-1"))).code).toBe(0);
    expect((await workers(sb))[0]?.baseBranch).toBe("master");
  });

  it("an explicit --base-branch still wins", async () => {
    const sb = await open(undefined, { defaultBranch: "master" });
    git(sb.repo, "branch", "release", "master");
    expect((await sb.pw(spawnArgs("E-1", "--base-branch", "release"))).code).toBe(0);
    expect((await workers(sb))[0]?.baseBranch).toBe("release");
  });
});

describe("workers already queued wait for a repository that passes its checks", () => {
  it("pw loop leaves them queued, says why once, checks again, and starts them once fixed", async () => {
    const sb = await open();
    const spawned = await sb.pw(spawnArgs("Q-1"));
    expect(spawned.code).toBe(0);
    sb.github.rejectToken("test-token");
    const loop = spawn(process.execPath, [PW_BIN, "loop", "--poll-interval", "0.2"], {
      cwd: sb.repo,
      env: { ...process.env, ...sb.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    loop.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => loop.once("exit", () => resolve()));
    try {
      const held = () => output.split("\n").filter((line) => line.includes("stay queued"));
      await until(() => held().length > 0);
      // checked again later (not every poll), still refused, still said once
      await until(() => sb.github.requestsTo("GET", "/repos/acme/widgets").length >= 2);
      const [worker] = await workers(sb);
      expect(worker).toMatchObject({ state: "NEEDS_INIT", owner: null });
      expect(held()).toHaveLength(1);
      const line = JSON.parse(held()[0]!) as { level: number; repository: string; queued: number; reason: string };
      expect(line).toMatchObject({ level: 40, repository: REPOSITORY, queued: 1 });
      expect(line.reason).toMatch(/rejected GITHUB_TOKEN \(401 Bad credentials\)/);
      expect(originBranches(sb.origin)).toEqual(["main"]);

      sb.github.acceptToken("test-token");
      await until(async () => (await workers(sb))[0]?.state === "PR_OPEN");
      expect(output.split("\n").filter((l) => l.includes("passes its checks again"))).toHaveLength(1);
    } finally {
      loop.kill("SIGTERM");
      await exited;
    }
  });

  it("one repository held back does not hold up another's workers", async () => {
    const sb = await open();
    const other = makeRepo();
    writeFileSync(
      join(other.dir, ".parallel-workers.yml"),
      `github: { repository: acme/other }\nagents: { code-author: { command: ${JSON.stringify(fakeAgent("write-file.mjs").command)} } }\n`,
    );
    git(other.dir, "add", ".parallel-workers.yml");
    git(other.dir, "commit", "--quiet", "-m", "configure");
    sb.github.addRepo("acme/other");
    expect((await sb.pw(spawnArgs("W-1"))).code).toBe(0);
    expect((await sb.pw([...spawnArgs("O-1"), "--repo", other.dir])).code).toBe(0);
    // acme/widgets now answers 404 to every check
    sb.github.failNext({ method: "GET", path: "/repos/acme/widgets", status: 404, times: 1000 });
    const loop = await sb.pw(["loop", "--repo", sb.repo, "--repo", other.dir, "--poll-interval", "0.2", "--max-iterations", "3"]);
    expect(loop.code).toBe(0);
    const states = Object.fromEntries((await workers(sb)).map((w) => [w.taskId, w.state]));
    expect(states).toEqual({ "W-1": "NEEDS_INIT", "O-1": "PR_OPEN" });
    expect(sb.github.pulls("acme/other")).toHaveLength(1);
    expect(loop.stdout).toContain("workers of acme/widgets stay queued until this is fixed: acme/widgets was not found");
  });

  it("pw loop --until-idle stops when the only queued workers are held back", async () => {
    const sb = await open();
    expect((await sb.pw(spawnArgs("I-1"))).code).toBe(0);
    sb.github.rejectToken("test-token");
    const loop = await sb.pw(["loop", "--poll-interval", "0.2", "--until-idle"]);
    expect(loop.code).toBe(0);
    expect((await workers(sb))[0]?.state).toBe("NEEDS_INIT");
  });

  it("a runner says at start, with nothing queued, that a repository cannot take work", async () => {
    const sb = await open();
    const loop = await sb.pw(["loop", "--poll-interval", "0.2", "--max-iterations", "1"], { GITHUB_TOKEN: "" });
    expect(loop.code).toBe(0);
    const held = loop.stdout.split("\n").filter((line) => line.includes("stay queued"));
    expect(held).toHaveLength(1);
    // pino's level 40 is warn
    expect(JSON.parse(held[0]!)).toMatchObject({ level: 40, repository: REPOSITORY, queued: 0 });
    expect(held[0]).toContain("no GitHub credentials: set GITHUB_TOKEN");
  });
});

describe("submit and retry check before they change anything", () => {
  it("submit with a rejected token leaves the worker queued and pushes nothing; once fixed it opens the PR", async () => {
    const sb = await open();
    const id = (await sb.pw(spawnArgs("H-1"))).stdout.split(/\s+/)[0]!;
    const [worker] = await workers(sb);
    writeFileSync(join(worker!.worktreePath!, "by-hand.txt"), "done by hand\n");
    sb.github.rejectToken("test-token");
    const refused = await sb.pw(["worker", "submit", id]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/rejected GITHUB_TOKEN \(401 Bad credentials\)/);
    expect((await workers(sb))[0]?.state).toBe("NEEDS_INIT");
    expect(originBranches(sb.origin)).toEqual(["main"]);

    sb.github.acceptToken("test-token");
    const submitted = await sb.pw(["worker", "submit", id]);
    expect(submitted.code).toBe(0);
    expect((await workers(sb))[0]?.state).toBe("PR_OPEN");
  });

  it("retry of a failed worker with GitHub unreachable leaves it UNKNOWN", async () => {
    const sb = await open({ agents: { "code-author": fakeAgent("fail.mjs", "3") } });
    expect((await sb.pw(spawnArgs("R-1", "--wait"))).code).toBe(1);
    const [failed] = await workers(sb);
    expect(failed?.state).toBe("UNKNOWN");
    const refused = await sb.pw(["worker", "retry", failed!.id], { GHE_HOST: `127.0.0.1:${await freePort()}` });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^pw: GitHub at 127\.0\.0\.1:\d+ is unreachable: connect ECONNREFUSED/);
    expect((await workers(sb))[0]).toMatchObject({ state: "UNKNOWN", error: failed!.error });
  });
});

/** A throwaway RSA key for App authentication against the stand-in. */
const APP_KEY = (await import("node:crypto"))
  .generateKeyPairSync("rsa", { modulusLength: 2048 })
  .privateKey.export({ type: "pkcs1", format: "pem" })
  .toString();
