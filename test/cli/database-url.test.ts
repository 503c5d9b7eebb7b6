/**
 * Choosing the store, through the built CLI as real child processes: PW_DATABASE_URL (or
 * `database_url` in $PW_HOME/config.yml; the variable wins) selects PostgreSQL for every command,
 * without it the SQLite file is used. A malformed URL is one line naming it without its password,
 * exit 2, nothing touched; a database that cannot be reached is one line with the reason, exit 1;
 * never a silent fallback to SQLite. The commands against a real PostgreSQL are in
 * postgres-cli.test.ts (the `postgres` project).
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { freePort, pw } from "../helpers/cli.js";
import { makeRepo, removeTempDirs, tempDir } from "../helpers/git.js";

const SECRET = "s3cret-pa55";
let home: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  home = join(tempDir("pw-dburl-"), "home");
  env = { PW_HOME: home, PW_WORKTREES_ROOT: join(tempDir("pw-dburl-wt-"), "worktrees"), PW_DATABASE_URL: undefined };
});
afterEach(removeTempDirs);

function writeUserConfig(text: string): void {
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, "config.yml"), text);
}

/** What is in PW_HOME besides the config.yml a test wrote. */
function homeContents(): string[] {
  return existsSync(home) ? readdirSync(home).filter((name) => name !== "config.yml") : [];
}

describe("a malformed database URL: one line naming it, password hidden, exit 2, nothing touched", () => {
  it.each([
    { url: `mysql://pw:${SECRET}@db.example:3306/pw`, says: /^pw: PW_DATABASE_URL: "mysql:\/\/pw:\*\*\*@db\.example:3306\/pw" has the unsupported scheme "mysql"/ },
    { url: `postgres://pw:${SECRET}@/pw`, says: /^pw: PW_DATABASE_URL: "postgres:\/\/pw:\*\*\*@\/pw" / },
    { url: `postgres://pw:${SECRET}@db.example:99999/pw`, says: /^pw: PW_DATABASE_URL: "postgres:\/\/pw:\*\*\*@db\.example:99999\/pw" is not a valid URL/ },
    { url: "", says: /^pw: PW_DATABASE_URL: is empty: set it to postgres:\/\/.*or unset it to use the SQLite file/ },
  ])("$url", async ({ url, says }) => {
    // the short read commands too: the fast path steps aside and the program refuses
    for (const args of [["worker", "list"], ["state", "list", "--json"], ["state", "set", "worker-abc123", "WORKING"], ["loop", "--max-iterations", "1"]]) {
      const result = await pw(args, { env: { ...env, PW_DATABASE_URL: url } });
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stdout, args.join(" ")).toBe("");
      expect(result.stderr.trimEnd().split("\n"), args.join(" ")).toHaveLength(1);
      expect(result.stderr, args.join(" ")).toMatch(says);
      expect(result.stderr, args.join(" ")).not.toContain(SECRET);
    }
    expect(homeContents()).toEqual([]);
  });

  it("in config.yml: named with its file", async () => {
    writeUserConfig(`# this machine's store\ndatabase_url: "redis://pw:${SECRET}@cache:6379"\n`);
    const result = await pw(["worker", "list"], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`pw: database_url in ${join(home, "config.yml")}: "redis://pw:***@cache:6379" has the unsupported scheme "redis": use postgres://USER:PASSWORD@HOST:PORT/DATABASE\n`);
    expect(homeContents()).toEqual([]);
  });

  it("a bad PW_DATABASE_URL wins over a good database_url in config.yml", async () => {
    writeUserConfig("database_url: postgres://pw@db.example/pw\n");
    const result = await pw(["state", "list"], { env: { ...env, PW_DATABASE_URL: "sqlite:///tmp/x.db" } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^pw: PW_DATABASE_URL: "sqlite:\/\/\/tmp\/x\.db" has the unsupported scheme "sqlite"/);
  });
});

describe("a database that cannot be reached: one line with the URL (no password) and why, exit 1, no SQLite instead", () => {
  it("from PW_DATABASE_URL, for a read, a move, the runner and the app", async () => {
    // nothing listens there: connection refused
    const port = await freePort();
    const url = `postgres://pw:${SECRET}@127.0.0.1:${port}/pw`;
    const { dir: repo } = makeRepo();
    // serve gets what it needs to start, so that the database is what stops it
    const serveEnv = { GITHUB_TOKEN: "test-token", WEBHOOK_SECRET: "test-secret", PORT: "0" };
    for (const args of [["worker", "list"], ["state", "set", "worker-abc123", "WORKING"], ["loop", "--max-iterations", "1"], ["serve"]]) {
      const result = await pw(args, { cwd: repo, env: { ...env, ...serveEnv, PW_DATABASE_URL: url } });
      expect(result.code, args.join(" ")).toBe(1);
      expect(result.stderr, args.join(" ")).toBe(
        `pw: database postgres://pw:***@127.0.0.1:${port}/pw is unreachable (connect ECONNREFUSED 127.0.0.1:${port}): check that PostgreSQL is running there and answers\n`,
      );
    }
    expect(existsSync(join(home, "state.db"))).toBe(false);
  });

  it("from config.yml, even with a SQLite file in PW_HOME that has workers", async () => {
    expect((await pw(["state", "set", "worker-abc123", "WORKING"], { env })).code).toBe(0);
    const port = await freePort();
    writeUserConfig(`database_url: postgres://pw:${SECRET}@127.0.0.1:${port}/pw\n`);
    for (const args of [["worker", "list"], ["state", "get", "worker-abc123"]]) {
      const result = await pw(args, { env });
      expect(result.code, args.join(" ")).toBe(1);
      expect(result.stdout, args.join(" ")).toBe("");
      expect(result.stderr, args.join(" ")).toMatch(new RegExp(`^pw: database postgres://pw:\\*\\*\\*@127\\.0\\.0\\.1:${port}/pw is unreachable \\(connect ECONNREFUSED`));
    }
  });
});

describe("without a database URL", () => {
  it("the SQLite file in PW_HOME, as before; a config.yml without database_url changes nothing", async () => {
    writeUserConfig("max_workers: 2\n");
    expect((await pw(["state", "set", "worker-abc123", "WORKING"], { env })).code).toBe(0);
    expect(existsSync(join(home, "state.db"))).toBe(true);
    expect((await pw(["worker", "list", "--json"], { env })).stdout).toContain('"worker-abc123"');
  });
});
