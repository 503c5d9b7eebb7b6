import Database from "better-sqlite3";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/store/migrations.js";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import type { NewFollowUp } from "../../src/store/store.js";
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

function effect(key: string, lane = "acme/widgets#1", extra: Partial<NewFollowUp> = {}): NewFollowUp {
  return { key, kind: "react", lane, input: { commentId: 7, content: "eyes" }, installationId: 1, correlationId: "d-1", ...extra };
}

describe("the follow-up queue", () => {
  // how the queue behaves is in conformance.ts (sqlite-conformance.test.ts runs it on SQLite)
  it("is added to a schema-5 file by step 6", () => {
    const file = join(tempDir(), "state.db");
    const db = new Database(file);
    for (const step of MIGRATIONS.slice(0, 5)) db.exec(step);
    db.pragma("user_version = 5");
    db.close();
    const store = openStore(file);
    expect(store.schemaVersion).toBe(SCHEMA_VERSION);
    expect(store.addFollowUps([effect("a1")])).toEqual(["a1"]);
  });
});
