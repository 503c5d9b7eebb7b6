/**
 * The built CLI on PostgreSQL (the `postgres` project: a real server, a database for this file):
 * with PW_DATABASE_URL, or `database_url` in $PW_HOME/config.yml, every command reads and moves
 * workers there (the short read commands too, which step aside from their SQLite fast path), a
 * spawned worker is run by `pw loop` to its PR, and no SQLite file is made. The runner waits out a
 * database that goes away mid-run and says so. Malformed and unreachable URLs are in
 * database-url.test.ts.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { CuttableRelay } from "../helpers/relay.js";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PW_BIN } from "../helpers/cli.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";
import { queryDatabase, testDatabase } from "../helpers/postgres.js";
import { fakeAgent, runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";
import { until } from "../helpers/serve.js";

const database = testDatabase();

let sandbox: RunnerSandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
  removeTempDirs();
});

interface WorkerJson {
  id: string;
  taskId: string | null;
  state: string;
  prNumber: number | null;
}

describe.skipIf(!database)("the CLI on PostgreSQL", () => {
  it("every command reads and moves workers in the database named by PW_DATABASE_URL; no SQLite file is made", async () => {
    const sb = (sandbox = await runnerSandbox({ agents: { "code-author": fakeAgent("write-file.mjs") } }));
    const url = { PW_DATABASE_URL: database!.url };
    const spawned = await sb.pw(["worker", "spawn", "--task-id", "PG-1", "--description", "write a file"], url);
    expect(spawned.code, spawned.stderr).toBe(0);
    const id = spawned.stdout.split(/\s+/)[0]!;

    const loop = await sb.pw(["loop", "--poll-interval", "0.1", "--until-idle"], url);
    expect(loop.code, loop.stderr).toBe(0);
    const listed = JSON.parse((await sb.pw(["worker", "list", "--json"], url)).stdout) as WorkerJson[];
    expect(listed.find((w) => w.id === id)).toMatchObject({ taskId: "PG-1", state: "PR_OPEN", prNumber: expect.any(Number) });
    expect((await sb.pw(["state", "get", id], url)).stdout).toBe("PR_OPEN\n");
    expect((await sb.pw(["worker", "get", id], url)).stdout).toContain("PR_OPEN");
    const history = JSON.parse((await sb.pw(["state", "history", id, "--json"], url)).stdout) as Array<{ to: string }>;
    expect(history.map((t) => t.to)).toEqual(["NEEDS_INIT", "WORKING", "PR_OPEN"]);

    // what the database holds, read behind the CLI's back
    const rows = await queryDatabase<{ id: string; state: string }>(database!.url, "SELECT id, state FROM workers WHERE id = $1", [id]);
    expect(rows).toEqual([{ id, state: "PR_OPEN" }]);
    expect(existsSync(join(sb.home, "state.db"))).toBe(false);
    // without the URL it is the (empty) SQLite file: the two are never mixed
    expect(JSON.parse((await sb.pw(["worker", "list", "--json"])).stdout)).toEqual([]);
  });

  it("database_url in $PW_HOME/config.yml does the same; PW_DATABASE_URL wins over it", async () => {
    const sb = (sandbox = await runnerSandbox());
    writeFileSync(join(sb.home, "config.yml"), `database_url: ${database!.url}\n`);
    const set = await sb.pw(["state", "set", "worker-pgcfg1", "UNKNOWN"]);
    expect(set.code, set.stderr).toBe(0);
    expect((await sb.pw(["state", "get", "worker-pgcfg1"])).stdout).toBe("UNKNOWN\n");
    expect(await queryDatabase(database!.url, "SELECT state FROM workers WHERE id = 'worker-pgcfg1'")).toEqual([{ state: "UNKNOWN" }]);
    expect(existsSync(join(sb.home, "state.db"))).toBe(false);
    const elsewhere = await sb.pw(["state", "get", "worker-pgcfg1"], { PW_DATABASE_URL: "postgres://pw@127.0.0.1:1/none" });
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toMatch(/^pw: database postgres:\/\/pw@127\.0\.0\.1:1\/none is unreachable/);
  });

  it("pw loop waits out the database going away while an agent runs, says so once, and records the PR when it is back", async () => {
    const server = new URL(database!.url);
    const relay = new CuttableRelay({ host: server.hostname, port: Number(server.port || 5432) });
    await relay.open();
    const viaRelay = new URL(database!.url);
    viaRelay.host = `127.0.0.1:${relay.port}`;
    const record = join(tempDir("pw-pg-outage-"), "agent.log");
    const sb = (sandbox = await runnerSandbox({ agents: { "code-author": fakeAgent("write-file.mjs", "1500", record) } }));
    const env = { ...process.env, ...sb.env, PW_DATABASE_URL: viaRelay.toString(), PW_LOG_FORMAT: "json" };
    const spawned = await sb.pw(["worker", "spawn", "--task-id", "PG-OUT", "--description", "outlive an outage"], { PW_DATABASE_URL: viaRelay.toString() });
    expect(spawned.code, spawned.stderr).toBe(0);
    const id = spawned.stdout.split(/\s+/)[0]!;

    const loop = spawn(process.execPath, [PW_BIN, "loop", "--poll-interval", "0.1", "--until-idle"], { cwd: sb.repo, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    loop.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => loop.on("close", resolve));
    try {
      // the agent runs: the database goes away until its work is done and the runner has tried to record it
      await until(() => existsSync(record) && readFileSync(record, "utf8").includes("start"), 20_000, "the agent to start");
      await relay.cut();
      await until(() => stdout.includes("the store is unavailable"), 20_000, "the runner to say the store is unavailable");
      await until(() => readFileSync(record, "utf8").includes("end"), 20_000, "the agent to finish");
      await new Promise((resolve) => setTimeout(resolve, 500));
      await relay.open();
      expect(await exited).toBe(0);
    } finally {
      loop.kill("SIGKILL");
      await relay.cut();
    }
    const lines = stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line) as { msg: string; level: number });
    expect(lines.filter((l) => l.msg.includes("the store is unavailable"))).toEqual([
      expect.objectContaining({ level: 40, msg: "runner: the store is unavailable; waiting for it, nothing is lost" }),
    ]);
    expect(lines.some((l) => l.msg === "runner: the store answers again")).toBe(true);
    const rows = await queryDatabase<{ state: string }>(database!.url, "SELECT state FROM workers WHERE id = $1", [id]);
    expect(rows).toEqual([{ state: "PR_OPEN" }]);
  });
});
