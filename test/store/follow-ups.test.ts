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

const later = (ms: number) => new Date(Date.now() + ms).toISOString();
const LEASE = later(60_000);

function effect(key: string, lane = "acme/widgets#1", extra: Partial<NewFollowUp> = {}): NewFollowUp {
  return { key, kind: "react", lane, input: { commentId: 7, content: "eyes" }, installationId: 1, correlationId: "d-1", ...extra };
}

describe("the follow-up queue", () => {
  it("adds an effect once per key, even after it is done", () => {
    const store = openStore();
    expect(store.addFollowUps([effect("a"), effect("a"), effect("b")])).toEqual(["a", "b"]);
    const [first] = store.claimFollowUps("me", LEASE, 10);
    expect(first).toMatchObject({ key: "a", kind: "react", lane: "acme/widgets#1", input: { commentId: 7, content: "eyes" }, installationId: 1, correlationId: "d-1", attempts: 1 });
    expect(store.finishFollowUp(first!.seq, "me")).toBe(true);
    expect(store.addFollowUps([effect("a")])).toEqual([]);
    expect(store.followUpBacklog()).toMatchObject({ unfinished: 1 });
  });

  it("runs one effect of a lane at a time, in the order they were added; other lanes run beside it", () => {
    const store = openStore();
    store.addFollowUps([effect("a1", "l#1"), effect("b1", "l#2"), effect("a2", "l#1"), effect("c1", "l#3")]);
    const claimed = store.claimFollowUps("me", LEASE, 10);
    expect(claimed.map((f) => f.key)).toEqual(["a1", "b1", "c1"]);
    expect(store.claimFollowUps("me", LEASE, 10)).toEqual([]);
    store.finishFollowUp(claimed[0]!.seq, "me", [effect("a3", "l#1")]);
    expect(store.claimFollowUps("me", LEASE, 10).map((f) => f.key)).toEqual(["a2"]);
    expect(store.claimFollowUps("me", LEASE, 10)).toEqual([]);
  });

  it("keeps a lane waiting while its head waits for a retry, and gives up when told", () => {
    const store = openStore();
    store.addFollowUps([effect("a1"), effect("a2")]);
    const [head] = store.claimFollowUps("me", LEASE, 10);
    expect(store.retryFollowUp(head!.seq, "me", "HTTP 502", later(60_000))).toBe(true);
    expect(store.claimFollowUps("me", LEASE, 10)).toEqual([]);
    expect(store.followUpBacklog().unfinished).toBe(2);

    store.addFollowUps([effect("b1", "l#2")]);
    const [other] = store.claimFollowUps("me", LEASE, 10);
    expect(store.retryFollowUp(other!.seq, "me", "HTTP 502", new Date(0).toISOString())).toBe(true);
    const [again] = store.claimFollowUps("me", LEASE, 10);
    expect(again).toMatchObject({ key: "b1", attempts: 2 });
    expect(store.retryFollowUp(again!.seq, "me", "HTTP 404", null)).toBe(true);
    expect(store.followUpBacklog().unfinished).toBe(2);
    // one that gave up is queued again when asked for again (a redelivery), at the end of its lane
    store.addFollowUps([effect("b2", "l#2")]);
    expect(store.addFollowUps([effect("b1", "l#2")])).toEqual(["b1"]);
    expect(store.claimFollowUps("me", LEASE, 10)).toEqual([expect.objectContaining({ key: "b2", attempts: 1 })]);
  });

  it("lets only the claim's owner finish it; released or expired claims are taken again, counting the try", () => {
    const store = openStore();
    store.addFollowUps([effect("a1"), effect("b1", "l#2")]);
    const [a, b] = store.claimFollowUps("old", LEASE, 10);
    expect(store.finishFollowUp(a!.seq, "someone-else")).toBe(false);
    expect(store.releaseFollowUps("nobody")).toBe(0);
    expect(store.releaseFollowUps(null)).toBe(2);
    const again = store.claimFollowUps("new", new Date(Date.now() - 1).toISOString(), 1);
    expect(again).toEqual([expect.objectContaining({ key: "a1", attempts: 2 })]);
    expect(store.finishFollowUp(a!.seq, "old")).toBe(false);
    // the new claim is already past its lease: another owner may take it over
    expect(store.claimFollowUps("newer", LEASE, 10).map((f) => [f.key, f.attempts])).toEqual([["a1", 3], ["b1", 2]]);
    expect(store.finishFollowUp(b!.seq, "newer")).toBe(true);
  });

  it("queues a move's effects in the same step as the move", () => {
    const store = openStore();
    store.createWorker({ id: "worker-aaaaa1" }, { source: "cli", followUps: [effect("status:1")] });
    store.transition("worker-aaaaa1", "NEEDS_INIT", "ABANDONED", { source: "command", followUps: [effect("status:2"), effect("status:1")] });
    expect(store.claimFollowUps("me", LEASE, 10).map((f) => f.key)).toEqual(["status:1"]);
    expect(store.followUpBacklog().unfinished).toBe(2);
  });

  it("reports the backlog and prunes finished effects (their keys may be added again)", () => {
    const store = openStore();
    expect(store.followUpBacklog()).toEqual({ unfinished: 0, oldestCreatedAt: null });
    const before = new Date().toISOString();
    store.addFollowUps([effect("a1"), effect("b1", "l#2")]);
    const backlog = store.followUpBacklog();
    expect(backlog.unfinished).toBe(2);
    expect(backlog.oldestCreatedAt! >= before).toBe(true);
    const [a] = store.claimFollowUps("me", LEASE, 1);
    store.finishFollowUp(a!.seq, "me");
    expect(store.pruneFollowUps(before)).toBe(0);
    expect(store.pruneFollowUps(later(1000))).toBe(1);
    expect(store.addFollowUps([effect("a1")])).toEqual(["a1"]);
  });

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
