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
const later = "2099-01-01T00:00:00.000Z";

function spare(store: SqliteWorkerStore, id: string, owner = "host:1:filler") {
  return store.addSpare({ id, repoPath: "/repo", path: `/pool/${id}`, baseBranch: "main", baseCommit: "c0ffee", owner, leaseUntil: later });
}

describe("ports", () => {
  it("gives each worker a block of its own, the same one when asked again, and frees it when the worker ends", () => {
    const store = openStore();
    for (const id of ["worker-aaaaaa", "worker-bbbbbb", "worker-cccccc"]) store.createWorker({ id }, cli);
    expect(store.allocatePort({ workerId: "worker-aaaaaa" }, range)).toBe(4100);
    expect(store.allocatePort({ workerId: "worker-bbbbbb" }, range)).toBe(4110);
    expect(store.allocatePort({ workerId: "worker-aaaaaa" }, range)).toBe(4100);
    expect(store.getWorker("worker-bbbbbb")?.port).toBe(4110);
    expect(store.listWorkers().map((w) => w.port)).toEqual([4100, 4110, null]);

    // a failure keeps the port (a retry runs in the same worktree); an end frees it
    store.transition("worker-aaaaaa", "NEEDS_INIT", "UNKNOWN", { source: "runner" });
    expect(store.getWorker("worker-aaaaaa")?.port).toBe(4100);
    store.transition("worker-aaaaaa", "UNKNOWN", "ABANDONED", { source: "cli" });
    expect(store.getWorker("worker-aaaaaa")?.port).toBeNull();
    expect(store.allocatePort({ workerId: "worker-cccccc" }, range)).toBe(4100);
    store.setState("worker-bbbbbb", "MERGED", { source: "admin" });
    expect(store.getWorker("worker-bbbbbb")?.port).toBeNull();
    expect(store.removeWorker("worker-cccccc")).toBe(true);
    store.createWorker({ id: "worker-dddddd" }, cli);
    expect(store.allocatePort({ workerId: "worker-dddddd" }, range, 4150)).toBe(4150);
  });

  it("says when the range is full, and a released block is free again", () => {
    const store = openStore();
    const tiny = { from: 65_526, perWorker: 10 };
    for (const id of ["worker-aaaaaa", "worker-bbbbbb"]) store.createWorker({ id }, cli);
    expect(store.allocatePort({ workerId: "worker-aaaaaa" }, tiny)).toBe(65_526);
    expect(store.allocatePort({ workerId: "worker-bbbbbb" }, tiny)).toBeUndefined();
    expect(store.releasePort({ workerId: "worker-aaaaaa" })).toBe(true);
    expect(store.releasePort({ workerId: "worker-aaaaaa" })).toBe(false);
    expect(store.allocatePort({ workerId: "worker-bbbbbb" }, tiny)).toBe(65_526);
  });

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

describe("spares", () => {
  it("are recorded while made, handed to one taker once ready, and hand their port on to the worker", () => {
    const store = openStore();
    const made = spare(store, "spare-aaaaaa");
    expect(made).toMatchObject({ state: "filling", port: null, owner: "host:1:filler", repoPath: "/repo" });
    expect(() => spare(store, "spare-aaaaaa")).toThrow(/recorded already/);
    expect(store.allocatePort({ spareId: "spare-aaaaaa" }, range)).toBe(4100);
    expect(store.takeSpare("/repo", "host:2:spawn", later)).toBeUndefined(); // not ready yet

    // only its owner makes it ready
    expect(store.moveSpare("spare-aaaaaa", "filling", "ready", { owner: null, leaseUntil: null }, "host:9:other")).toBeUndefined();
    expect(store.moveSpare("spare-aaaaaa", "filling", "ready", { owner: null, leaseUntil: null }, "host:1:filler")).toMatchObject({
      state: "ready",
      owner: null,
      port: 4100,
    });
    const taken = store.takeSpare("/repo", "host:2:spawn", later);
    expect(taken).toMatchObject({ id: "spare-aaaaaa", state: "taken", owner: "host:2:spawn" });
    expect(store.takeSpare("/repo", "host:3:spawn", later)).toBeUndefined();

    store.createWorker({ id: "worker-aaaaaa" }, cli);
    expect(store.handOverSpare("spare-aaaaaa", "host:3:spawn", "worker-aaaaaa")).toBeUndefined();
    expect(store.handOverSpare("spare-aaaaaa", "host:2:spawn", "worker-aaaaaa")).toEqual({ port: 4100 });
    expect(store.getSpare("spare-aaaaaa")).toBeUndefined();
    expect(store.getWorker("worker-aaaaaa")?.port).toBe(4100);
  });

  it("a worker that holds a port keeps it, and the spare's is freed", () => {
    const store = openStore();
    store.createWorker({ id: "worker-aaaaaa" }, cli);
    store.allocatePort({ workerId: "worker-aaaaaa" }, range);
    spare(store, "spare-aaaaaa");
    store.allocatePort({ spareId: "spare-aaaaaa" }, range);
    store.moveSpare("spare-aaaaaa", "filling", "ready");
    store.takeSpare("/repo", "me", later);
    expect(store.handOverSpare("spare-aaaaaa", "me", "worker-aaaaaa")).toEqual({ port: 4100 });
    store.createWorker({ id: "worker-bbbbbb" }, cli);
    expect(store.allocatePort({ workerId: "worker-bbbbbb" }, range)).toBe(4110);
  });

  it("are taken oldest first, one repository's at a time, and a removed spare frees its port", () => {
    const store = openStore();
    spare(store, "spare-aaaaaa");
    spare(store, "spare-bbbbbb");
    store.addSpare({ id: "spare-cccccc", repoPath: "/other", path: "/pool/c", baseBranch: null, baseCommit: null, owner: "o", leaseUntil: later });
    for (const id of ["spare-aaaaaa", "spare-bbbbbb", "spare-cccccc"]) store.moveSpare(id, "filling", "ready");
    expect(store.listSpares("/repo").map((s) => s.id)).toEqual(["spare-aaaaaa", "spare-bbbbbb"]);
    expect(store.listSpares().map((s) => s.id)).toHaveLength(3);
    expect(store.takeSpare("/repo", "me", later)?.id).toBe("spare-aaaaaa");
    expect(store.takeSpare("/repo", "me", later)?.id).toBe("spare-bbbbbb");
    expect(store.takeSpare("/repo", "me", later)).toBeUndefined();
    store.allocatePort({ spareId: "spare-cccccc" }, range);
    expect(store.removeSpare("spare-cccccc")).toBe(true);
    expect(store.removeSpare("spare-cccccc")).toBe(false);
    store.createWorker({ id: "worker-aaaaaa" }, cli);
    expect(store.allocatePort({ workerId: "worker-aaaaaa" }, range)).toBe(4100);
  });

  it("the leases of spares being filled or taken are renewed with their owner's workers", () => {
    const store = openStore();
    spare(store, "spare-aaaaaa", "runner-1");
    spare(store, "spare-bbbbbb", "runner-2");
    expect(store.renewLeases("runner-1", "2100-01-01T00:00:00.000Z")).toBe(1);
    expect(store.getSpare("spare-aaaaaa")?.leaseUntil).toBe("2100-01-01T00:00:00.000Z");
    expect(store.getSpare("spare-bbbbbb")?.leaseUntil).toBe(later);
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
