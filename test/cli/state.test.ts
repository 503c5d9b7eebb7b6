import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pw } from "../helpers/cli.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";

let env: NodeJS.ProcessEnv;
beforeEach(() => {
  env = { PW_HOME: join(tempDir(), "home"), PW_WORKTREES_ROOT: join(tempDir(), "worktrees") };
});
afterEach(removeTempDirs);

const WORKER_FIELDS = [
  "id",
  "taskId",
  "state",
  "repo",
  "branch",
  "worktreePath",
  "prNumber",
  "prUrl",
  "agent",
  "error",
  "createdAt",
  "updatedAt",
];

describe("pw state", () => {
  it("sets, moves, reads and lists a worker as the README shows", async () => {
    const set = await pw(["state", "set", "worker-abc123", "WORKING"], { env });
    expect(set).toMatchObject({ code: 0, stdout: "worker-abc123: created in WORKING\n", stderr: "" });

    const moved = await pw(["state", "transition", "worker-abc123", "WORKING", "PR_OPEN"], { env });
    expect(moved).toMatchObject({ code: 0, stdout: "worker-abc123: WORKING -> PR_OPEN\n" });

    expect((await pw(["state", "get", "worker-abc123"], { env })).stdout).toBe("PR_OPEN\n");

    const list = await pw(["state", "list", "--json"], { env });
    const workers = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    expect(workers).toHaveLength(1);
    for (const field of WORKER_FIELDS) expect(workers[0]).toHaveProperty(field);
    expect(workers[0]).toMatchObject({ id: "worker-abc123", state: "PR_OPEN" });

    const history = JSON.parse((await pw(["state", "history", "worker-abc123", "--json"], { env })).stdout);
    expect(history.map((t: { from: string | null; to: string; source: string }) => [t.from, t.to, t.source])).toEqual([
      [null, "WORKING", "admin"],
      ["WORKING", "PR_OPEN", "cli"],
    ]);
  });

  it("filters the list by state", async () => {
    await pw(["state", "set", "worker-aaaaa1", "WORKING"], { env });
    await pw(["state", "set", "worker-aaaaa2", "MERGED"], { env });
    const merged = JSON.parse((await pw(["state", "list", "--state", "MERGED", "--json"], { env })).stdout);
    expect(merged.map((w: { id: string }) => w.id)).toEqual(["worker-aaaaa2"]);
    const text = await pw(["state", "list"], { env });
    expect(text.stdout).toMatch(/worker-aaaaa1\s+WORKING/);
    expect(text.stdout).toMatch(/worker-aaaaa2\s+MERGED/);
  });

  it("refuses a stale move with exit 1 naming both states", async () => {
    await pw(["state", "set", "worker-abc123", "PR_OPEN"], { env });
    const result = await pw(["state", "transition", "worker-abc123", "WORKING", "PR_OPEN"], { env });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain("WORKING");
    expect(result.stderr).toContain("it is PR_OPEN");
    expect((await pw(["state", "get", "worker-abc123"], { env })).stdout).toBe("PR_OPEN\n");
  });

  it("refuses an illegal move with exit 1 naming both states", async () => {
    await pw(["state", "set", "worker-abc123", "MERGED"], { env });
    const result = await pw(["state", "transition", "worker-abc123", "MERGED", "WORKING"], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("MERGED -> WORKING is not allowed");
  });

  it("removes a worker, and says so when there is none", async () => {
    await pw(["state", "set", "worker-abc123", "WORKING"], { env });
    expect(await pw(["state", "remove", "worker-abc123"], { env })).toMatchObject({ code: 0, stdout: "removed worker-abc123\n" });
    const again = await pw(["state", "remove", "worker-abc123"], { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("no worker worker-abc123");
  });

  it.each([
    [["state", "get", "worker-nope00"], 1, "no worker worker-nope00"],
    [["state", "history", "worker-nope00"], 1, "no worker worker-nope00"],
    [["state", "transition", "worker-nope00", "WORKING", "PR_OPEN"], 1, "no worker worker-nope00"],
    [["state", "set", "worker-abc123", "DONE"], 2, 'unknown state "DONE"'],
    [["state", "list", "--state", "done"], 2, 'unknown state "done"'],
    [["state", "transition", "worker-abc123", "WORKING", "SHIPPED"], 2, 'unknown state "SHIPPED"'],
    [["state", "set", "../etc/passwd", "WORKING"], 2, 'worker id "../etc/passwd" is not valid'],
    [["state", "get"], 2, "missing required argument"],
    [["state", "frobnicate"], 2, "unknown command"],
    [["state", "get", "worker-abc123", "--bogus"], 2, "unknown option"],
  ])("pw %j exits %i with one clear line", async (args, code, message) => {
    const result = await pw(args, { env });
    expect(result.code).toBe(code);
    expect(result.stderr).toContain(message);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    // a refused command creates no worker
    const list = JSON.parse((await pw(["state", "list", "--json"], { env })).stdout);
    expect(list).toEqual([]);
  });

  it("shows a stack trace only with --verbose", async () => {
    const quiet = await pw(["state", "get", "worker-nope00"], { env });
    expect(quiet.stderr).not.toContain("    at ");
    const verbose = await pw(["--verbose", "state", "get", "worker-nope00"], { env });
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toContain("    at ");
  });

  it("refuses a store file that is not a database, changing nothing", async () => {
    const home = join(tempDir(), "home");
    const { mkdirSync, writeFileSync, readFileSync } = await import("node:fs");
    mkdirSync(home);
    writeFileSync(join(home, "state.db"), "not a database\n");
    const result = await pw(["state", "set", "worker-abc123", "WORKING"], { env: { ...env, PW_HOME: home } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${join(home, "state.db")} is not a SQLite database`);
    expect(readFileSync(join(home, "state.db"), "utf8")).toBe("not a database\n");
    expect(readdirSync(home)).toEqual(["state.db"]);
  });
});
