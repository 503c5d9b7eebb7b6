/**
 * The worker moves of src/store/moves.ts (the compare-and-swap loop, abandon, queue again, fail),
 * as one table-driven suite any backend runs: `describeMoves(name, backend)` from
 * moves.test.ts (SQLite) and postgres-conformance.test.ts (PostgreSQL). Races are made for real:
 * a second client of the same store moves the worker between a move's read and its swap.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { IllegalTransitionError, PwError, TransitionConflictError } from "../../src/core/errors.js";
import type { WorkerState } from "../../src/core/states.js";
import type { Worker } from "../../src/core/worker.js";
import { abandon, markFailed, moveWorker, queueAgain } from "../../src/store/moves.js";
import type { NewWorker, WorkerStore } from "../../src/store/store.js";
import type { StoreBackend, StorePlace } from "./conformance.js";

const ID = "worker-move01";
const cli = { source: "cli" as const, correlationId: "corr-moves" };
/** What a worker holds while it runs, that the moves let go of. */
const HELD = { owner: "host:1:abc", leaseUntil: "2030-01-01T00:00:00.000Z", pid: 4242, error: "an old failure", request: "terminate" } as const;

export function describeMoves(name: string, backend: StoreBackend | null): void {
  describe.skipIf(!backend)(`worker moves on the ${name} store`, () => {
    let place: StorePlace;
    let store: WorkerStore;
    /** Another client of the same store: another process, or machine, that moves workers too. */
    let other: WorkerStore;

    beforeEach(async () => {
      place = await backend!.place();
      store = await place.open();
      other = await place.open();
    });

    afterEach(async () => {
      await store.close();
      await other.close();
      await place.remove();
    });

    /** A worker in `state`, holding an agent, a claim, an error and a request. */
    function workerIn(state: WorkerState, fields: Partial<NewWorker> = {}): Promise<Worker> {
      return store.createWorker({ id: ID, taskId: "TASK-1", state, ...HELD, ...fields }, cli);
    }

    describe("abandon", () => {
      it.each<{ from: WorkerState; moved: boolean }>([
        { from: "NEEDS_INIT", moved: true },
        { from: "WORKING", moved: true },
        { from: "PR_OPEN", moved: true },
        { from: "UNKNOWN", moved: true },
        { from: "MERGED", moved: false },
        { from: "ABANDONED", moved: false },
      ])("from $from: moved $moved", async ({ from, moved }) => {
        await workerIn(from);
        const result = await abandon(store, ID, { ...cli, detail: "terminated" });
        const after = await store.requireWorker(ID);
        if (moved) {
          expect(result?.before).toMatchObject({ state: from, pid: HELD.pid });
          expect(result?.worker).toEqual(after);
          expect(after).toMatchObject({ state: "ABANDONED", pid: null, request: null });
          expect((await store.history(ID)).at(-1)).toMatchObject({ from, to: "ABANDONED", source: "cli", correlationId: "corr-moves", detail: "terminated" });
        } else {
          expect(result).toBeUndefined();
          expect(after.state).toBe(from);
          expect(await store.history(ID)).toHaveLength(1);
        }
      });

      it("of a worker that does not exist: undefined, nothing created", async () => {
        expect(await abandon(store, ID, { ...cli, detail: "terminated" })).toBeUndefined();
        expect(await store.getWorker(ID)).toBeUndefined();
      });

      it("by two clients at once: one moves it, the other finds it ended", async () => {
        await workerIn("WORKING");
        const results = await Promise.all([abandon(store, ID, { ...cli, detail: "first" }), abandon(other, ID, { ...cli, detail: "second" })]);
        expect(results.filter(Boolean)).toHaveLength(1);
        expect((await store.history(ID)).filter((t) => t.to === "ABANDONED")).toHaveLength(1);
      });
    });

    describe("queue again", () => {
      it.each<{ from: WorkerState; queued: boolean }>([
        { from: "UNKNOWN", queued: true },
        { from: "ABANDONED", queued: true },
        { from: "NEEDS_INIT", queued: false },
        { from: "WORKING", queued: false },
        { from: "PR_OPEN", queued: false },
        { from: "MERGED", queued: false },
      ])("from $from: queued $queued", async ({ from, queued }) => {
        const read = await workerIn(from);
        if (queued) {
          const worker = await queueAgain(store, read, { ...cli, detail: "retry" });
          // free of its old claim, agent, error and request
          expect(worker).toMatchObject({ state: "NEEDS_INIT", owner: null, leaseUntil: null, pid: null, error: null, request: null });
          expect((await store.history(ID)).at(-1)).toMatchObject({ from, to: "NEEDS_INIT", detail: "retry" });
        } else {
          await expect(queueAgain(store, read, { ...cli, detail: "retry" })).rejects.toThrow(new RegExp(`^worker ${ID} is ${from}: only`));
          expect(await store.requireWorker(ID)).toMatchObject({ state: from, pid: HELD.pid });
        }
      });

      it("from a state read before another client moved it: a conflict naming where it is, nothing changed", async () => {
        const read = await workerIn("UNKNOWN");
        await other.transition(ID, "UNKNOWN", "PR_OPEN", { source: "webhook" });
        const error = await queueAgain(store, read, cli).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TransitionConflictError);
        expect((error as TransitionConflictError).actual).toBe("PR_OPEN");
        expect((await store.requireWorker(ID)).state).toBe("PR_OPEN");
      });
    });

    describe("fail", () => {
      const message = "agent exited with code 1\nlast lines of its log";
      it.each<{ from: WorkerState; after: WorkerState; error: string }>([
        { from: "NEEDS_INIT", after: "UNKNOWN", error: message },
        { from: "WORKING", after: "UNKNOWN", error: message },
        { from: "PR_OPEN", after: "UNKNOWN", error: message },
        // already failed: the newer message, no second move
        { from: "UNKNOWN", after: "UNKNOWN", error: message },
        // ended: their word stands
        { from: "MERGED", after: "MERGED", error: HELD.error },
        { from: "ABANDONED", after: "ABANDONED", error: HELD.error },
      ])("from $from: $after", async ({ from, after, error }) => {
        const read = await workerIn(from);
        const result = await markFailed(store, read, message, { source: "runner" });
        expect(result).toMatchObject({ state: after, error });
        expect(await store.requireWorker(ID)).toMatchObject({ state: after, error });
        const history = await store.history(ID);
        if (from === after) expect(history).toHaveLength(1);
        else expect(history.at(-1)).toMatchObject({ from, to: "UNKNOWN", source: "runner", detail: "agent exited with code 1" });
      });

      it("of a worker another client abandoned after it was read: stays ABANDONED", async () => {
        const read = await workerIn("WORKING");
        await other.transition(ID, "WORKING", "ABANDONED", { source: "command" });
        expect(await markFailed(store, read, message, { source: "runner" })).toMatchObject({ state: "ABANDONED", error: HELD.error });
      });
    });

    describe("the compare-and-swap loop", () => {
      it("reads again after a lost race and decides on what it finds", async () => {
        await workerIn("WORKING");
        const seen: WorkerState[] = [];
        const outcome = await moveWorker(store, ID, async (current, attempt) => {
          seen.push(current!.state);
          // another client moves it between this read and the swap, once
          if (attempt === 0) await other.transition(ID, "WORKING", "PR_OPEN", { source: "runner" });
          return { to: "MERGED", meta: { source: "webhook" } };
        });
        expect(seen).toEqual(["WORKING", "PR_OPEN"]);
        expect(outcome).toMatchObject({ kind: "moved", worker: { state: "MERGED" }, from: { state: "PR_OPEN" } });
      });

      it.each<{ attempts: number }>([{ attempts: 1 }, { attempts: 4 }])("gives up after $attempts lost races", async ({ attempts }) => {
        await workerIn("PR_OPEN");
        let tries = 0;
        const outcome = await moveWorker(
          store,
          ID,
          async (current) => {
            tries++;
            // another client always moves it first
            await other.transition(ID, current!.state, current!.state === "PR_OPEN" ? "WORKING" : "PR_OPEN", { source: "runner" });
            return { to: "MERGED", meta: { source: "webhook" } };
          },
          { attempts },
        );
        expect(outcome).toEqual({ kind: "kept-moving" });
        expect(tries).toBe(attempts);
        expect((await store.requireWorker(ID)).state).not.toBe("MERGED");
      });

      it("trusts the worker it is given for the first try, and stops when told, with the answer", async () => {
        const read = await workerIn("PR_OPEN");
        const outcome = await moveWorker(store, ID, (current) => ({ stop: current?.prNumber ?? "none" }), { first: { ...read, prNumber: 7 } });
        expect(outcome).toMatchObject({ kind: "stopped", result: 7, current: { state: "PR_OPEN" } });
      });

      it("passes on any failure but a lost race", async () => {
        await workerIn("MERGED");
        const error = await moveWorker(store, ID, () => ({ to: "WORKING", meta: { source: "cli" } })).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(IllegalTransitionError);
        expect(error).toBeInstanceOf(PwError);
      });
    });
  });
}
