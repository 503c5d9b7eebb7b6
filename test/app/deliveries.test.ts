import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DeliveryLog } from "../../src/app/deliveries.js";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";

const stores: SqliteWorkerStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  removeTempDirs();
});

/** The ids the store holds. */
function stored(store: SqliteWorkerStore): string[] {
  return store.recentDeliveries("1970-01-01T00:00:00.000Z");
}

function open(file = join(tempDir(), "state.db")): SqliteWorkerStore {
  const store = new SqliteWorkerStore(file);
  stores.push(store);
  return store;
}

describe("the delivery log", () => {
  it("knows a new id at once, writes ids in batches, and knows them after a restart", async () => {
    const store = open();
    const log = new DeliveryLog(store, { flushMs: 20 });
    expect(log.record("d-1", "pull_request.opened")).toBe(true);
    expect(log.record("d-1", "pull_request.opened")).toBe(false);
    expect(log.has("d-1")).toBe(true);
    expect(stored(store)).toEqual([]);
    await new Promise((r) => setTimeout(r, 60));
    expect(stored(store)).toEqual(["d-1"]);

    const afterRestart = new DeliveryLog(open(store.file));
    expect(afterRestart.record("d-1", "pull_request.opened")).toBe(false);
    expect(afterRestart.record("d-2", "pull_request.closed")).toBe(true);
  });

  it("writes at once when many wait, and forgets a failed one wherever it is", () => {
    const store = open();
    const log = new DeliveryLog(store, { flushMs: 60_000, maxPending: 3 });
    for (const id of ["a", "b", "c"]) log.record(id, "x");
    expect(stored(store)).toEqual(["a", "b", "c"]);
    log.record("d", "x");
    log.forget("d");
    log.forget("a");
    log.forget("never-seen");
    log.flush();
    expect(stored(store)).toEqual(["b", "c"]);
    expect(log.has("a")).toBe(false);
    expect(new DeliveryLog(store).has("a")).toBe(false);
    expect(log.record("a", "x")).toBe(true);
    expect(log.record("d", "x")).toBe(true);
  });

  it("at close, writes the ids still waiting (follow-up work is kept in the store, so no id is forgotten)", () => {
    const store = open();
    const log = new DeliveryLog(store, { flushMs: 60_000 });
    log.record("written", "x");
    log.flush();
    log.record("waiting", "x");
    log.close();
    expect(stored(store)).toEqual(["written", "waiting"]);
  });
});
