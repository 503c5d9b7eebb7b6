import Database from "better-sqlite3";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { StoreError } from "../../src/core/errors.js";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/store/migrations.js";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";

const opened: SqliteWorkerStore[] = [];
afterEach(() => {
  for (const store of opened.splice(0)) store.close();
  removeTempDirs();
});

function open(file: string): SqliteWorkerStore {
  const store = new SqliteWorkerStore(file);
  opened.push(store);
  return store;
}

/** A file exactly as release 3 of the schema left it, with one queued worker. */
function schemaThreeFile(): string {
  const file = join(tempDir(), "state.db");
  const db = new Database(file);
  for (const step of MIGRATIONS.slice(0, 3)) db.exec(step);
  db.pragma("user_version = 3");
  db.prepare(
    `INSERT INTO workers (id, task_id, state, repo, issue_number, owner, created_at, updated_at)
     VALUES ('worker-old003', 'issue-3', 'WORKING', 'acme/widgets', 3, 'host:1:abc', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`,
  ).run();
  db.close();
  return file;
}

describe("schema step 7: runners and the queue runners claim from", () => {
  it("adds runners to a schema-6 file, whose queued workers are claimed as new ones", () => {
    const file = join(tempDir(), "state.db");
    const db = new Database(file);
    for (const step of MIGRATIONS.slice(0, 6)) db.exec(step);
    db.pragma("user_version = 6");
    db.prepare(
      `INSERT INTO workers (id, task_id, state, repo, created_at, updated_at)
       VALUES ('worker-old006', 'T-6', 'NEEDS_INIT', 'acme/widgets', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`,
    ).run();
    db.close();
    const store = open(file);
    expect(store.schemaVersion).toBe(SCHEMA_VERSION);
    expect(store.registerRunner({ id: "runner-a", host: "a", repositories: ["acme/widgets"] })).toMatchObject({ id: "runner-a", workers: 0 });
    expect(store.claimNextWorker("runner-a:1:x", 60_000, { repositories: ["acme/widgets"], runnerId: "runner-a" })).toMatchObject({
      id: "worker-old006",
      owner: "runner-a:1:x",
      runnerId: "runner-a",
      leaseUntil: expect.any(String),
    });
    expect(store.listRunners(60_000)).toEqual([expect.objectContaining({ id: "runner-a", workers: 1, stale: false })]);
  });
});

describe("schema step 5: the delivery log", () => {
  it("carries the delivery ids of a schema-4 file over, oldest first, and appends after them", () => {
    const file = join(tempDir(), "state.db");
    const db = new Database(file);
    for (const step of MIGRATIONS.slice(0, 4)) db.exec(step);
    db.pragma("user_version = 4");
    const insert = db.prepare("INSERT INTO deliveries (id, event, received_at) VALUES (?, ?, ?)");
    insert.run("late", "pull_request.closed", "2026-11-02T00:00:00.000Z");
    insert.run("early", "pull_request.opened", "2026-11-01T00:00:00.000Z");
    db.close();
    const store = open(file);
    expect(store.schemaVersion).toBe(SCHEMA_VERSION);
    expect(store.recentDeliveries("2026-01-01T00:00:00.000Z")).toEqual(["early", "late"]);
    expect(store.recentDeliveries("2026-11-01T12:00:00.000Z")).toEqual(["late"]);
    store.recordDeliveries([{ id: "new", event: "pull_request.opened" }]);
    expect(store.recentDeliveries("2026-01-01T00:00:00.000Z")).toEqual(["early", "late", "new"]);
    // forgetting looks only at deliveries received since the time given
    expect(store.forgetDelivery("early", "2026-11-01T12:00:00.000Z")).toBe(false);
    expect(store.forgetDelivery("early", "2026-10-31T00:00:00.000Z")).toBe(true);
    expect(store.recentDeliveries("2026-01-01T00:00:00.000Z")).toEqual(["late", "new"]);
  });
});

describe("schema step 4: requests and status comments", () => {
  it("migrates a schema-3 file forward, keeping its workers, with the new fields empty", () => {
    const store = open(schemaThreeFile());
    expect(store.schemaVersion).toBe(SCHEMA_VERSION);
    expect(store.getWorker("worker-old003")).toMatchObject({
      state: "WORKING",
      issueNumber: 3,
      owner: "host:1:abc",
      request: null,
      statusCommentId: null,
      statusCommentKey: null,
    });
    const updated = store.updateWorker("worker-old003", { request: "terminate", statusCommentId: 42, statusCommentKey: "WORKING||" });
    expect(updated).toMatchObject({ request: "terminate", statusCommentId: 42, statusCommentKey: "WORKING||" });
    expect(store.transition("worker-old003", "WORKING", "ABANDONED", { source: "runner", patch: { request: null } }).request).toBeNull();
  });

  it("clears a request when the worker is queued again or ends, whoever moves it", () => {
    const store = open(schemaThreeFile());
    store.updateWorker("worker-old003", { request: "terminate" });
    store.transition("worker-old003", "WORKING", "UNKNOWN", { source: "runner" });
    expect(store.requireWorker("worker-old003").request).toBe("terminate");
    store.transition("worker-old003", "UNKNOWN", "NEEDS_INIT", { source: "cli" });
    expect(store.requireWorker("worker-old003").request).toBeNull();
    store.updateWorker("worker-old003", { request: "terminate" });
    store.setState("worker-old003", "MERGED", { source: "admin" });
    expect(store.requireWorker("worker-old003").request).toBeNull();
  });

  it("finds the workers of an issue, and those that came from any issue", () => {
    const store = open(schemaThreeFile());
    store.createWorker({ id: "worker-new001", repo: "acme/widgets", taskId: "T-1" }, { source: "cli" });
    store.createWorker({ id: "worker-new002", repo: "acme/widgets", taskId: "issue-9", issueNumber: 9 }, { source: "command" });
    expect(store.listWorkers({ repo: "acme/widgets", issueNumber: 9 }).map((w) => w.id)).toEqual(["worker-new002"]);
    expect(store.listWorkers({ withIssue: true }).map((w) => w.id).sort()).toEqual(["worker-new002", "worker-old003"]);
  });

  it("refuses a request this release does not know rather than guessing", () => {
    const file = schemaThreeFile();
    open(file).close();
    const db = new Database(file);
    db.prepare("UPDATE workers SET request = 'explode' WHERE id = 'worker-old003'").run();
    db.close();
    const store = open(file);
    expect(() => store.getWorker("worker-old003")).toThrow(StoreError);
    expect(() => store.getWorker("worker-old003")).toThrow('unknown request "explode"');
  });

  it("forgets a failed delivery so a redelivery is handled, prunes old ones, and answers a health check", () => {
    const store = open(schemaThreeFile());
    const epoch = "1970-01-01T00:00:00.000Z";
    expect(store.recordDeliveries([{ id: "d-1", event: "pull_request.closed" }])).toBe(1);
    expect(store.forgetDelivery("d-1", epoch)).toBe(true);
    expect(store.forgetDelivery("d-1", epoch)).toBe(false);
    expect(store.recentDeliveries(epoch)).toEqual([]);
    store.recordDeliveries([{ id: "d-1", event: "pull_request.closed" }]);
    expect(store.pruneDeliveries("2000-01-01T00:00:00.000Z")).toBe(0);
    expect(store.pruneDeliveries(new Date(Date.now() + 1000).toISOString())).toBe(1);
    expect(store.recentDeliveries(epoch)).toEqual([]);
    expect(() => store.ping()).not.toThrow();
    store.close();
    expect(() => store.ping()).toThrow(StoreError);
  });
});
