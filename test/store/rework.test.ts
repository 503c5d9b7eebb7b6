/**
 * What only the SQLite store has of the rework loop: a feedback row a newer release wrote, and
 * the schema step that brought it. How feedback and rounds behave is in conformance.ts.
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { StoreError } from "../../src/core/errors.js";
import { MIGRATIONS } from "../../src/store/migrations.js";
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

const ID = "worker-aaaaaa";
function prOpen(store: SqliteWorkerStore): void {
  store.createWorker({ id: ID, taskId: "T-1", repo: "acme/widgets", prNumber: 7, state: "PR_OPEN" }, { source: "cli" });
}

describe("rework feedback", () => {
  it("refuses feedback a newer release wrote, naming the fix", () => {
    const file = join(tempDir(), "state.db");
    const store = openStore(file);
    prOpen(store);
    const db = new Database(file);
    db.prepare("INSERT INTO rework_feedback (worker_id, key, scope, cause, detail, received_at) VALUES (?, 'k', 's', 'pager', '{\"cause\":\"pager\"}', 'now')").run(ID);
    db.close();
    expect(() => store.listFeedback({ workerId: ID })).toThrow(StoreError);
    expect(() => store.listFeedback({ workerId: ID })).toThrow("upgrade parallel-workers");
  });
});

describe("schema step 8: rework", () => {
  it("gives the workers of an older file no rounds and no cause", () => {
    const file = join(tempDir(), "state.db");
    const db = new Database(file);
    for (const step of MIGRATIONS.slice(0, 6)) db.exec(step);
    db.pragma("user_version = 6");
    db.prepare(
      `INSERT INTO workers (id, task_id, state, repo, pr_number, created_at, updated_at)
       VALUES ('worker-old006', 'T-6', 'PR_OPEN', 'acme/widgets', 6, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`,
    ).run();
    db.close();
    const store = openStore(file);
    expect(store.requireWorker("worker-old006")).toMatchObject({ reworkRounds: 0, automaticReworkRounds: 0, reworkCause: null });
    expect(store.listFeedback({})).toEqual([]);
  });
});
