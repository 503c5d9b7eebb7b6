import Database from "better-sqlite3";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import module from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import { pw, PW_BIN, type CliResult } from "../helpers/cli.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";

const MODULE_LOG = fileURLToPath(new URL("../helpers/module-log.mjs", import.meta.url));

let env: NodeJS.ProcessEnv;
beforeEach(() => {
  env = { PW_HOME: join(tempDir(), "home"), PW_WORKTREES_ROOT: join(tempDir(), "worktrees") };
  for (const name of ["LOG_LEVEL", "PW_PHASE", "PW_LOG_FORMAT", "LOKI_URL", "LOKI_USERNAME", "LOKI_PASSWORD", "LOKI_TENANT"]) env[name] = "";
});
afterEach(removeTempDirs);

/** A store with workers of several kinds: one holding a port, one failed, one with history, made long ago. */
function seed(): void {
  const store = new SqliteWorkerStore(join(env.PW_HOME!, "state.db"));
  store.createWorker({ id: "worker-aaaaa1", taskId: "T-1", repo: "acme/web", agent: "code-author", labels: ["x"], dependsOn: ["T-0"] }, { source: "cli" });
  store.allocatePort({ workerId: "worker-aaaaa1" }, { from: 4100, perWorker: 10 });
  store.createWorker({ id: "worker-aaaaa2", taskId: "T-2", state: "WORKING", description: "fix it" }, { source: "cli" });
  store.transition("worker-aaaaa2", "WORKING", "UNKNOWN", { source: "runner", patch: { error: "agent failed\nits last lines" } });
  store.createWorker({ id: "worker-aaaaa3", taskId: "T-3", state: "PR_OPEN", prNumber: 7, prUrl: "https://github.com/acme/web/pull/7" }, { source: "cli" });
  store.close();
  // ages in hours, so the AGE column reads alike in two runs a moment apart
  const db = new Database(join(env.PW_HOME!, "state.db"));
  db.prepare("UPDATE workers SET created_at = '2020-01-01T00:00:00.000Z'").run();
  db.close();
}

/** Runs the built CLI with every module it loads written down; returns its result and those modules. */
function pwLogged(args: string[]): Promise<CliResult & { modules: string[] }> {
  const log = join(tempDir("pw-modules-"), "modules.txt");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", MODULE_LOG, PW_BIN, ...args], {
      env: { ...process.env, ...env, PW_TEST_MODULE_LOG: log },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const modules = existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : [];
      resolve({ code: code ?? -1, stdout, stderr, modules });
    });
  });
}

/** Modules a short command must never load. */
const HEAVY = [/\/node_modules\/probot\//, /\/node_modules\/@octokit\//, /\/dist\/gates\//, /\/dist\/web\//, /\/dist\/app\//];
/** What the fast path does without, too: the command-line parser, the validators, the logger, git. */
const NOT_ON_THE_FAST_PATH = [/\/node_modules\/commander\//, /\/node_modules\/zod\//, /\/node_modules\/pino\//, /\/node_modules\/simple-git\//, /\/node_modules\/execa\//];

const hooks = typeof (module as { registerHooks?: unknown }).registerHooks === "function";

describe("a CLI that starts fast", () => {
  it.skipIf(!hooks).each([
    { args: ["state", "get", "worker-aaaaa1"] },
    { args: ["state", "get", "worker-aaaaa1", "--json"] },
    { args: ["state", "list"] },
    { args: ["state", "list", "--state", "UNKNOWN", "--json"] },
    { args: ["worker", "list"] },
    { args: ["worker", "list", "--state=PR_OPEN"] },
    { args: ["worker", "get", "worker-aaaaa2"] },
  ])("pw $args loads the store and nothing heavy", async ({ args }) => {
    seed();
    const result = await pwLogged(args);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.modules.some((url) => url.includes("/node_modules/better-sqlite3/"))).toBe(true);
    for (const pattern of [...HEAVY, ...NOT_ON_THE_FAST_PATH]) expect(result.modules.filter((url) => pattern.test(url))).toEqual([]);
  });

  it.skipIf(!hooks).each([
    [["state", "history", "worker-aaaaa2"], 0],
    [["worktree", "list"], 0],
    [["state", "get", "worker-nosuch"], 1],
    [["state", "get", "--verbose", "worker-aaaaa1"], 0],
  ] as const)("the whole program for pw %j (exit %i) loads no Probot, Octokit, gates or web page either", async (args, code) => {
    seed();
    const result = await pwLogged([...args]);
    expect(result.code).toBe(code);
    expect(result.modules.some((url) => url.includes("/node_modules/commander/"))).toBe(true);
    for (const pattern of HEAVY) expect(result.modules.filter((url) => pattern.test(url))).toEqual([]);
  });

  it.each([
    { args: ["state", "get", "worker-aaaaa1"] },
    { args: ["state", "get", "worker-aaaaa2", "--json"] },
    { args: ["state", "list"] },
    { args: ["state", "list", "--json"] },
    { args: ["state", "list", "--state", "PR_OPEN"] },
    { args: ["worker", "list"] },
    { args: ["worker", "list", "--json", "--state", "UNKNOWN"] },
    { args: ["worker", "get", "worker-aaaaa1"] },
    { args: ["worker", "get", "worker-aaaaa2", "--json"] },
  ])("pw $args prints exactly what the whole program prints", async ({ args: argv }) => {
    seed();
    const fast = await pw(argv, { env });
    // a log variable to check makes pw build the whole program for any command
    const whole = await pw(argv, { env: { ...env, LOG_LEVEL: "info" } });
    expect(fast.stderr).toBe("");
    expect(fast).toEqual(whole);
  });

  it.each([
    [["state", "get", "worker-nosuch"], 1, "pw: no worker worker-nosuch: see `pw worker list`\n"],
    [["state", "get", "worker-BAD"], 2, 'pw: worker id "worker-BAD" is not valid: expected "worker-" and 6 lowercase letters or digits, like worker-a1b2c3\n'],
    [["state", "list", "--state", "DONE"], 2, "pw: unknown state \"DONE\": use one of UNKNOWN, NEEDS_INIT, WORKING, PR_OPEN, MERGED, ABANDONED\n"],
    [["worker", "list", "--jsn"], 2, "pw: error: unknown option '--jsn'\n(Did you mean --json?)\n"],
    [["state", "get", "worker-aaaaa1"], 2, "pw: environment variable LOG_LEVEL \"loud\" is not a log level: use one of fatal, error, warn, info, debug, trace, silent\n"],
  ] as const)("what the fast path does not answer, the whole program does: pw %j", async (args, code, stderr) => {
    seed();
    // an environment variable with a bad value: the fast path leaves it to the whole program
    const extra: Record<string, string> = stderr.includes("LOG_LEVEL") ? { LOG_LEVEL: "loud" } : {};
    const result = await pw([...args], { env: { ...env, ...extra } });
    expect(result).toMatchObject({ code, stdout: "", stderr });
  });
});
