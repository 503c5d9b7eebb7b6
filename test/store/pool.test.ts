import Database from "better-sqlite3";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
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

const cli = { source: "cli" as const };
const range = { from: 4100, perWorker: 10 };

// how ports and spares behave is in conformance.ts (every store runs it); here, what only SQLite has
describe("ports", () => {
  it("never gives two processes racing for ports the same block", async () => {
    const file = join(tempDir(), "state.db");
    const store = openStore(file);
    const ids = Array.from({ length: 16 }, (_, i) => `worker-race${String(i).padStart(2, "0")}`);
    for (const id of ids) store.createWorker({ id }, cli);
    const sqlite = new URL("../../dist/store/sqlite.js", import.meta.url).href;
    const script = (id: string) =>
      `const { SqliteWorkerStore } = await import(${JSON.stringify(sqlite)});
       const store = new SqliteWorkerStore(${JSON.stringify(file)});
       process.stdout.write(String(store.allocatePort({ workerId: ${JSON.stringify(id)} }, { from: 4100, perWorker: 10 })));
       store.close();`;
    const run = promisify(execFile);
    const ports = await Promise.all(ids.map(async (id) => Number((await run(process.execPath, ["--input-type=module", "-e", script(id)])).stdout)));
    expect(new Set(ports).size).toBe(ids.length);
    expect([...ports].sort((a, b) => a - b)).toEqual(ids.map((_, i) => 4100 + 10 * i));
    expect(store.listWorkers().map((w) => w.port).sort()).toEqual([...ports].sort());
  });
});

describe("schema step 7", () => {
  it("opens a step-6 file: its workers hold no port until they get one", () => {
    const file = join(tempDir(), "state.db");
    const db = new Database(file);
    for (const step of MIGRATIONS.slice(0, 6)) db.exec(step);
    db.pragma("user_version = 6");
    db.prepare(
      `INSERT INTO workers (id, task_id, state, created_at, updated_at)
       VALUES ('worker-old006', 'old-6', 'WORKING', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`,
    ).run();
    db.close();
    const store = openStore(file);
    expect(store.schemaVersion).toBe(SCHEMA_VERSION);
    expect(store.getWorker("worker-old006")?.port).toBeNull();
    expect(store.allocatePort({ workerId: "worker-old006" }, range)).toBe(4100);
    expect(store.listSpares()).toEqual([]);
  });
});
