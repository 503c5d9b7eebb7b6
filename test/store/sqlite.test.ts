import Database from "better-sqlite3";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
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
  // what every store does is in conformance.ts (sqlite-conformance.test.ts runs it on SQLite)
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
