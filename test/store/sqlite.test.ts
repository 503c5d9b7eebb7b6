import Database from "better-sqlite3";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  IllegalTransitionError,
  NotFoundError,
  StoreError,
  TransitionConflictError,
} from "../../src/core/errors.js";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/store/migrations.js";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";

const opened: SqliteWorkerStore[] = [];
function openStore(file = join(tempDir(), "state.db")): SqliteWorkerStore {
  const store = new SqliteWorkerStore(file);
  opened.push(store);
  return store;
}

afterEach(() => {
  for (const store of opened.splice(0)) store.close();
  removeTempDirs();
});

const cli = { source: "cli" as const, correlationId: "corr-1" };

describe("SqliteWorkerStore", () => {
  it("creates a worker in NEEDS_INIT and records where it came from", () => {
    const store = openStore();
    const created = store.createWorker({ id: "worker-aaaaaa", taskId: "TASK-1", branch: "feature/task-1" }, cli);
    expect(created).toMatchObject({ id: "worker-aaaaaa", taskId: "TASK-1", state: "NEEDS_INIT", branch: "feature/task-1" });
    expect(store.history("worker-aaaaaa")).toEqual([
      expect.objectContaining({ from: null, to: "NEEDS_INIT", source: "cli", correlationId: "corr-1" }),
    ]);
    expect(() => store.createWorker({ id: "worker-aaaaaa" }, cli)).toThrow(StoreError);
  });

  it("moves a worker by compare-and-swap and keeps the history in order", () => {
    const store = openStore();
    store.createWorker({ id: "worker-bbbbbb" }, cli);
    store.transition("worker-bbbbbb", "NEEDS_INIT", "WORKING", { source: "runner" });
    const moved = store.transition("worker-bbbbbb", "WORKING", "PR_OPEN", {
      source: "runner",
      detail: "opened #3",
      patch: { prNumber: 3, prUrl: "https://example.test/pr/3" },
    });
    expect(moved).toMatchObject({ state: "PR_OPEN", prNumber: 3, prUrl: "https://example.test/pr/3" });
    expect(store.history("worker-bbbbbb").map((t) => `${t.from}->${t.to}`)).toEqual([
      "null->NEEDS_INIT",
      "NEEDS_INIT->WORKING",
      "WORKING->PR_OPEN",
    ]);
  });

  it("refuses a stale move and names both states, changing nothing", () => {
    const store = openStore();
    store.createWorker({ id: "worker-cccccc", state: "PR_OPEN" }, cli);
    const before = store.getWorker("worker-cccccc");
    const error = (() => {
      try {
        store.transition("worker-cccccc", "WORKING", "UNKNOWN", cli);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(TransitionConflictError);
    expect((error as Error).message).toContain("WORKING");
    expect((error as Error).message).toContain("PR_OPEN");
    expect(store.getWorker("worker-cccccc")).toEqual(before);
    expect(store.history("worker-cccccc")).toHaveLength(1);
  });

  it("refuses an illegal move even when the stored state matches", () => {
    const store = openStore();
    store.createWorker({ id: "worker-dddddd", state: "MERGED" }, cli);
    expect(() => store.transition("worker-dddddd", "MERGED", "WORKING", cli)).toThrow(IllegalTransitionError);
    expect(() => store.transition("worker-dddddd", "MERGED", "WORKING", cli)).toThrow("MERGED -> WORKING");
    expect(store.getWorker("worker-dddddd")?.state).toBe("MERGED");
  });

  it("says so for an unknown worker", () => {
    const store = openStore();
    expect(() => store.transition("worker-zzzzzz", "WORKING", "PR_OPEN", cli)).toThrow(NotFoundError);
    expect(() => store.requireWorker("worker-zzzzzz")).toThrow("no worker worker-zzzzzz");
    expect(() => store.updateWorker("worker-zzzzzz", { error: "x" })).toThrow(NotFoundError);
    expect(store.removeWorker("worker-zzzzzz")).toBe(false);
  });

  it("lets the administrator set any state, creating the record, and records the override", () => {
    const store = openStore();
    store.setState("worker-eeeeee", "WORKING", { source: "admin", detail: "pw state set" });
    store.setState("worker-eeeeee", "MERGED", { source: "admin" });
    store.setState("worker-eeeeee", "WORKING", { source: "admin" });
    expect(store.getWorker("worker-eeeeee")?.state).toBe("WORKING");
    expect(store.history("worker-eeeeee").map((t) => [t.from, t.to, t.source])).toEqual([
      [null, "WORKING", "admin"],
      ["WORKING", "MERGED", "admin"],
      ["MERGED", "WORKING", "admin"],
    ]);
  });

  it("keeps the error in UNKNOWN and clears it on the way out", () => {
    const store = openStore();
    store.createWorker({ id: "worker-ffffff", state: "WORKING" }, cli);
    store.transition("worker-ffffff", "WORKING", "UNKNOWN", { source: "runner", patch: { error: "agent exited 3" } });
    expect(store.getWorker("worker-ffffff")?.error).toBe("agent exited 3");
    store.transition("worker-ffffff", "UNKNOWN", "NEEDS_INIT", { source: "cli" });
    expect(store.getWorker("worker-ffffff")?.error).toBeNull();
  });

  it("filters lists by state and repository", () => {
    const store = openStore();
    store.createWorker({ id: "worker-g00001", repo: "acme/web" }, cli);
    store.createWorker({ id: "worker-g00002", repo: "acme/api", state: "WORKING" }, cli);
    store.createWorker({ id: "worker-g00003", repo: "acme/web", state: "WORKING" }, cli);
    expect(store.listWorkers().map((w) => w.id)).toEqual(["worker-g00001", "worker-g00002", "worker-g00003"]);
    expect(store.listWorkers({ state: "WORKING" }).map((w) => w.id)).toEqual(["worker-g00002", "worker-g00003"]);
    expect(store.listWorkers({ state: "WORKING", repo: "acme/web" }).map((w) => w.id)).toEqual(["worker-g00003"]);
  });

  it("filters by several states, a recorded worktree and task ids in any case", () => {
    const store = openStore();
    store.createWorker({ id: "worker-f00001", taskId: "Dep-1", worktreePath: "/wt/a" }, cli);
    store.createWorker({ id: "worker-f00002", taskId: "dep-2", state: "WORKING" }, cli);
    store.createWorker({ id: "worker-f00003", taskId: "other", state: "MERGED", worktreePath: "/wt/c" }, cli);
    store.createWorker({ id: "worker-f00004", taskId: "gone", state: "MERGED" }, cli);
    const ids = (filter: Parameters<typeof store.listWorkers>[0]) => store.listWorkers(filter).map((w) => w.id);
    expect(ids({ states: ["NEEDS_INIT", "WORKING"] })).toEqual(["worker-f00001", "worker-f00002"]);
    expect(ids({ states: [] })).toEqual([]);
    expect(ids({ state: "MERGED", withWorktree: true })).toEqual(["worker-f00003"]);
    expect(ids({ taskIds: ["DEP-1", "Dep-2", "nope"] })).toEqual(["worker-f00001", "worker-f00002"]);
    expect(ids({ taskIds: [] })).toEqual([]);
  });

  it("removes a worker with its history", () => {
    const store = openStore();
    store.createWorker({ id: "worker-hhhhhh" }, cli);
    expect(store.removeWorker("worker-hhhhhh")).toBe(true);
    expect(store.getWorker("worker-hhhhhh")).toBeUndefined();
    expect(store.history("worker-hhhhhh")).toEqual([]);
  });

  it("appends delivery ids in one step and lists those received since a time, oldest first", () => {
    const store = openStore();
    const before = new Date(Date.now() - 1000).toISOString();
    expect(store.recordDeliveries([])).toBe(0);
    expect(store.recordDeliveries([{ id: "d-2", event: "pull_request" }, { id: "d-1", event: "pull_request" }])).toBe(2);
    expect(store.recordDeliveries([{ id: "d-3", event: "issue_comment" }])).toBe(1);
    expect(store.recentDeliveries(before)).toEqual(["d-2", "d-1", "d-3"]);
    expect(store.recentDeliveries(new Date(Date.now() + 1000).toISOString())).toEqual([]);
  });

  it("uses WAL and survives reopening", () => {
    const file = join(tempDir(), "state.db");
    const first = new SqliteWorkerStore(file);
    first.createWorker({ id: "worker-iiiiii", taskId: "T-1" }, cli);
    first.close();
    const second = openStore(file);
    expect(second.getWorker("worker-iiiiii")?.taskId).toBe("T-1");
    const db = new Database(file, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
  });
});

describe("opening a store file", () => {
  it("refuses a file that is not a database and leaves it untouched", () => {
    const dir = tempDir();
    const file = join(dir, "state.db");
    writeFileSync(file, "this is a text file, not SQLite\n".repeat(10));
    const bytes = readFileSync(file);
    expect(() => new SqliteWorkerStore(file)).toThrow(`store file ${file} is not a SQLite database`);
    expect(readFileSync(file).equals(bytes)).toBe(true);
    expect(readdirSync(dir)).toEqual(["state.db"]);
  });

  it("refuses a file written by a newer schema", () => {
    const file = join(tempDir(), "state.db");
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => new SqliteWorkerStore(file)).toThrow(`schema version ${SCHEMA_VERSION + 1}, newer than`);
  });

  it("migrates a file of the first schema forward and keeps its workers", () => {
    const file = join(tempDir(), "state.db");
    const db = new Database(file);
    db.exec(MIGRATIONS[0]!);
    db.pragma("user_version = 1");
    db.prepare(
      "INSERT INTO workers (id, task_id, state, created_at, updated_at) VALUES ('worker-old001', 'TASK-OLD', 'PR_OPEN', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
    ).run();
    db.prepare(
      "INSERT INTO transitions (worker_id, from_state, to_state, at, source) VALUES ('worker-old001', NULL, 'PR_OPEN', '2026-01-01T00:00:00.000Z', 'cli')",
    ).run();
    db.close();
    expect(existsSync(file)).toBe(true);

    const store = openStore(file);
    expect(store.schemaVersion).toBe(SCHEMA_VERSION);
    expect(store.getWorker("worker-old001")).toMatchObject({ taskId: "TASK-OLD", state: "PR_OPEN" });
    expect(store.history("worker-old001")).toHaveLength(1);
    expect(store.recordDeliveries([{ id: "after-migration", event: "ping" }])).toBe(1);
    expect(store.recentDeliveries("1970-01-01T00:00:00.000Z")).toEqual(["after-migration"]);
    store.transition("worker-old001", "PR_OPEN", "MERGED", cli);
    expect(store.getWorker("worker-old001")?.state).toBe("MERGED");
  });
});
