import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DeliveryLog } from "../../src/app/deliveries.js";
import { StoreUnavailableError } from "../../src/core/errors.js";
import { openSqliteStore } from "../../src/store/sqlite-async.js";
import type { WorkerStore } from "../../src/store/store.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";
import { until } from "../helpers/serve.js";

const stores: WorkerStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  removeTempDirs();
});

/** The ids the store holds. */
function stored(store: WorkerStore): Promise<string[]> {
  return store.recentDeliveries("1970-01-01T00:00:00.000Z");
}

async function open(file = join(tempDir(), "state.db")): Promise<WorkerStore> {
  const store = await openSqliteStore(file);
  stores.push(store);
  return store;
}

describe("the delivery log", () => {
  it("knows a new id at once, writes ids in batches, and knows them after a restart", async () => {
    const store = await open();
    const log = await DeliveryLog.open(store, { flushMs: 20 });
    expect(log.record("d-1", "pull_request.opened")).toBe(true);
    expect(log.record("d-1", "pull_request.opened")).toBe(false);
    expect(log.has("d-1")).toBe(true);
    expect(await stored(store)).toEqual([]);
    await new Promise((r) => setTimeout(r, 60));
    expect(await stored(store)).toEqual(["d-1"]);

    const afterRestart = await DeliveryLog.open(await open(store.location));
    expect(afterRestart.record("d-1", "pull_request.opened")).toBe(false);
    expect(afterRestart.record("d-2", "pull_request.closed")).toBe(true);
  });

  it("writes at once when many wait, and forgets a failed one wherever it is", async () => {
    const store = await open();
    const log = await DeliveryLog.open(store, { flushMs: 60_000, maxPending: 3 });
    for (const id of ["a", "b", "c"]) log.record(id, "x");
    await log.flush();
    expect(await stored(store)).toEqual(["a", "b", "c"]);
    log.record("d", "x");
    await log.forget("d");
    await log.forget("a");
    await log.forget("never-seen");
    await log.flush();
    expect(await stored(store)).toEqual(["b", "c"]);
    expect(log.has("a")).toBe(false);
    expect((await DeliveryLog.open(store)).has("a")).toBe(false);
    expect(log.record("a", "x")).toBe(true);
    expect(log.record("d", "x")).toBe(true);
  });

  it("forgets an id that is being written once the write is done", async () => {
    const store = await open();
    const log = await DeliveryLog.open(store, { flushMs: 60_000 });
    log.record("a", "x");
    const writing = log.flush();
    const forgotten = log.forget("a");
    await Promise.all([writing, forgotten]);
    expect(await stored(store)).toEqual([]);
  });

  it("at close, writes the ids still waiting (follow-up work is kept in the store, so no id is forgotten)", async () => {
    const store = await open();
    const log = await DeliveryLog.open(store, { flushMs: 60_000 });
    log.record("written", "x");
    await log.flush();
    log.record("waiting", "x");
    await log.close();
    expect(await stored(store)).toEqual(["written", "waiting"]);
  });

  it("keeps ids while the store is unavailable, says so once, and writes them when it answers again", async () => {
    const store = await open();
    let outage = true;
    // the real store behind a connection that is down for a while
    const flaky = new Proxy(store, {
      get: (target, key, receiver) =>
        key === "recordDeliveries" && outage ? () => Promise.reject(new StoreUnavailableError("database is unreachable")) : Reflect.get(target, key, receiver),
    });
    const lines: string[] = [];
    const logger = { warn: (_: unknown, message: string) => lines.push(message), info: (_: unknown, message: string) => lines.push(message) };
    const log = await DeliveryLog.open(flaky, { flushMs: 5, logger: logger as never });
    log.record("a", "x");
    await new Promise((r) => setTimeout(r, 100));
    log.record("b", "x");
    await new Promise((r) => setTimeout(r, 100));
    expect(await stored(store)).toEqual([]);
    outage = false;
    await log.close();
    expect(await stored(store)).toEqual(["a", "b"]);
    expect(lines).toEqual(["delivery ids: the store is unavailable; waiting for it, nothing is lost", "delivery ids: the store answers again"]);
  });

  it("on a shared store, each delivery is claimed there: of two logs (two replicas) taking one id, one handles it", async () => {
    const file = join(tempDir(), "state.db");
    const [a, b] = [await DeliveryLog.open(await open(file), { shared: true }), await DeliveryLog.open(await open(file), { shared: true })];
    const claims = await Promise.all([a.claim("d-1", "pull_request.closed"), b.claim("d-1", "pull_request.closed")]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect([await a.claim("d-1", "pull_request.closed"), await b.claim("d-1", "pull_request.closed")]).toEqual([false, false]);
    // the one that took it failed: forgotten in the store, a redelivery to the other replica is handled
    const taker = claims[0] ? a : b;
    const other = claims[0] ? b : a;
    await taker.forget("d-1");
    expect(await other.claim("d-1", "pull_request.closed")).toBe(true);
    expect(await stored(await open(file))).toEqual(["d-1"]);
    // a replica that never took it forgets it (a follow-up of it gave up there): a redelivery to the one that did is handled
    await taker.forget("d-1");
    expect(await other.claim("d-1", "pull_request.closed")).toBe(true);
  });

  it("holds a delivery while the store is unavailable, says so once, and runs it when the store answers", async () => {
    const store = await open();
    let outage = true;
    const flaky = new Proxy(store, {
      get: (target, key, receiver) =>
        key === "claimDelivery" && outage ? () => Promise.reject(new StoreUnavailableError("database is unreachable")) : Reflect.get(target, key, receiver),
    });
    const lines: string[] = [];
    const logger = { warn: (_: unknown, message: string) => lines.push(message), info: (_: unknown, message: string) => lines.push(message) };
    const log = await DeliveryLog.open(flaky, { shared: true, logger: logger as never });
    const ran: string[] = [];
    const failures: unknown[] = [];
    await expect(log.claim("d-1", "x")).rejects.toThrow(StoreUnavailableError);
    log.hold("d-1", async () => {
      if (await log.claim("d-1", "x")) ran.push("d-1");
    }, (error) => failures.push(error));
    await new Promise((r) => setTimeout(r, 600));
    expect([ran, log.heldCount]).toEqual([[], 1]);
    outage = false;
    await until(() => log.heldCount === 0);
    expect([ran, failures]).toEqual([["d-1"], []]);
    expect(await stored(store)).toEqual(["d-1"]);
    expect(lines).toEqual(["deliveries: the store is unavailable; waiting for it, nothing is lost", "deliveries: the store answers again"]);
  });

  it("tells a held delivery's failure when the log closes before the store answers", async () => {
    const store = await open();
    const down = new Proxy(store, {
      get: (target, key, receiver) => (key === "claimDelivery" ? () => Promise.reject(new StoreUnavailableError("database is unreachable")) : Reflect.get(target, key, receiver)),
    });
    const log = await DeliveryLog.open(down, { shared: true });
    const failures: unknown[] = [];
    log.hold("d-1", async () => void (await log.claim("d-1", "x")), (error) => failures.push(error));
    await log.close();
    expect(failures).toEqual([expect.any(StoreUnavailableError)]);
    expect(log.heldCount).toBe(0);
  });
});
