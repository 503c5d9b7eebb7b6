/**
 * The follow-up queue's start on a store of its own and on a shared one: claims an earlier
 * drainer left are let go on its own store (it is dead), kept on a shared one (they may be a live
 * replica's, under way).
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FollowUpQueue } from "../../src/app/follow-ups.js";
import { createLogger } from "../../src/log/logger.js";
import { openSqliteStore } from "../../src/store/sqlite-async.js";
import type { FollowUp, WorkerStore } from "../../src/store/store.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";
import { until } from "../helpers/serve.js";

const stores: WorkerStore[] = [];
const queues: FollowUpQueue[] = [];
afterEach(async () => {
  for (const queue of queues.splice(0)) await queue.stop(1000);
  for (const store of stores.splice(0)) await store.close();
  removeTempDirs();
});

const reaction = { kind: "react", lane: "acme/widgets#1", input: { repository: "acme/widgets", commentId: 7, content: "eyes" }, installationId: 1, correlationId: "d-1" };

/** A store with one follow-up that another drainer ("replica-b") has claimed and is carrying out. */
async function claimedElsewhere(): Promise<{ store: WorkerStore; claimed: FollowUp }> {
  const dir = tempDir("pw-queue-");
  const store = await openSqliteStore(join(dir, "state.db"));
  stores.push(store);
  await store.addFollowUps([{ key: "react:1", ...reaction }]);
  const [claimed] = await store.claimFollowUps("replica-b", 3600_000, 1);
  return { store, claimed: claimed! };
}

async function queueOn(store: WorkerStore, shared: boolean, performed: string[]): Promise<FollowUpQueue> {
  const logger = createLogger({ component: "app", destination: join(tempDir("pw-queue-log-"), "app.log"), loki: false });
  const queue = new FollowUpQueue({ store, logger, shared, pollMs: 20 });
  queues.push(queue);
  await queue.start(async (followUp) => void performed.push(followUp.key));
  return queue;
}

describe("the follow-up queue at start", () => {
  it("on a shared store leaves another drainer's claims alone: that replica finishes its follow-up", async () => {
    const { store, claimed } = await claimedElsewhere();
    const performed: string[] = [];
    const queue = await queueOn(store, true, performed);
    // started: the claim is still replica-b's, which records it done
    expect(await store.finishFollowUp(claimed.seq, "replica-b")).toBe(true);
    await queue.drain(10_000);
    expect(performed).toEqual([]);
  });

  it("on a store of its own lets go of the claims a dead drainer left, and carries them out", async () => {
    const { store, claimed } = await claimedElsewhere();
    const performed: string[] = [];
    const queue = await queueOn(store, false, performed);
    await queue.drain(10_000);
    expect(performed).toEqual(["react:1"]);
    expect(await store.finishFollowUp(claimed.seq, "replica-b")).toBe(false);
  });

  it("on a shared store renews the claims of what it runs, so no other replica takes them over while it runs", async () => {
    const dir = tempDir("pw-queue-");
    const store = await openSqliteStore(join(dir, "state.db"));
    stores.push(store);
    await store.addFollowUps([{ key: "react:1", ...reaction }]);
    const logger = createLogger({ component: "app", destination: join(dir, "app.log"), loki: false });
    // a short lease, renewed every third of it; one lane at a time, so its own polls claim nothing meanwhile
    const queue = new FollowUpQueue({ store, logger, shared: true, leaseMs: 1500, pollMs: 20, concurrency: 1 });
    queues.push(queue);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    await queue.start(async () => {
      started = true;
      await released;
    });
    await until(() => started);
    // twice the lease has passed while it runs: the claim is still this drainer's
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(await store.claimFollowUps("replica-b", 60_000, 10)).toEqual([]);
    release();
    await queue.drain(10_000);
  });
});
