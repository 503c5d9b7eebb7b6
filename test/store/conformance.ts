/**
 * The store's contract, as one suite that every backend runs unchanged: `describeStore(name,
 * backend)` from a test file of each backend (sqlite-conformance.test.ts, postgres-conformance.test.ts).
 * Whatever one backend does here, the other must do too; backend-specific behaviour (file
 * headers, migrations of old files, URLs) is tested beside each backend.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { IllegalTransitionError, NotFoundError, StoreError, TransitionConflictError } from "../../src/core/errors.js";
import type { AsyncWorkerStore, NewFollowUp, WorkerFilter } from "../../src/store/async-store.js";

/** A place a backend keeps one store (a file, a schema); `open` gives a client of it, as many as asked. */
export interface StorePlace {
  open(): Promise<AsyncWorkerStore>;
  /** Removes the place once its clients are closed. */
  remove(): Promise<void>;
}

export interface StoreBackend {
  /** A new, empty place. */
  place(): Promise<StorePlace>;
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const cli = { source: "cli" as const, correlationId: "corr-1" };
const MINUTE = 60_000;

function effect(key: string, lane = "acme/widgets#1", extra: Partial<NewFollowUp> = {}): NewFollowUp {
  return { key, kind: "react", lane, input: { commentId: 7, content: "eyes" }, installationId: 1, correlationId: "d-1", ...extra };
}

/** The rejection of `promise`, to look at. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

/** Registers the shared suite for one backend; `backend` null skips it (its setup said why). */
export function describeStore(name: string, backend: StoreBackend | null): void {
  describe.skipIf(!backend)(`the ${name} store`, () => {
    let place: StorePlace;
    const opened: AsyncWorkerStore[] = [];
    /** Another client of this test's store (a second process, or machine, in real life). */
    async function client(): Promise<AsyncWorkerStore> {
      const store = await place.open();
      opened.push(store);
      return store;
    }
    let store: AsyncWorkerStore;

    beforeEach(async () => {
      place = await backend!.place();
      store = await client();
    });

    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
      await place.remove();
    });

    describe("workers and their moves", () => {
      it("creates a worker in NEEDS_INIT and records where it came from", async () => {
        const created = await store.createWorker({ id: "worker-aaaaaa", taskId: "TASK-1", branch: "feature/task-1" }, cli);
        expect(created).toMatchObject({ id: "worker-aaaaaa", taskId: "TASK-1", state: "NEEDS_INIT", branch: "feature/task-1" });
        expect(created.createdAt).toMatch(ISO);
        expect(created.updatedAt).toBe(created.createdAt);
        expect(await store.history("worker-aaaaaa")).toEqual([
          { workerId: "worker-aaaaaa", from: null, to: "NEEDS_INIT", at: created.createdAt, source: "cli", correlationId: "corr-1", detail: null },
        ]);
        const duplicate = await rejection(store.createWorker({ id: "worker-aaaaaa" }, cli));
        expect(duplicate).toBeInstanceOf(StoreError);
        expect(duplicate.message).toBe("worker worker-aaaaaa already exists");
        expect(await store.history("worker-aaaaaa")).toHaveLength(1);
      });

      it("keeps every field as written, with empty lists and nulls for what was not given", async () => {
        const bare = await store.createWorker({ id: "worker-bare01" }, cli);
        expect(bare).toMatchObject({
          taskId: null, repo: null, project: null, repoPath: null, branch: null, baseBranch: null, worktreePath: null,
          description: null, agent: null, prNumber: null, prUrl: null, error: null, labels: [], milestone: null,
          dependsOn: [], issueNumber: null, owner: null, leaseUntil: null, pid: null, request: null,
          statusCommentId: null, statusCommentKey: null,
        });
        const full = {
          taskId: "Task-2", repo: "acme/widgets", project: "widgets", repoPath: "/src/widgets", branch: "feature/task-2",
          baseBranch: "main", worktreePath: "/wt/widgets/task-2", description: "Fix the “quotes” ✓ and 'ticks'", agent: "code-author",
          prNumber: 12, prUrl: "https://github.example/acme/widgets/pull/12", error: null, labels: ["type:task", "area:ui"],
          milestone: "v1", dependsOn: ["Task-1"], issueNumber: 9, owner: "host:1:abc", leaseUntil: "2030-01-02T03:04:05.678Z",
          pid: 4242, request: "terminate" as const, statusCommentId: 2_500_000_123, statusCommentKey: "WORKING|12|",
        };
        const created = await store.createWorker({ id: "worker-full01", ...full }, cli);
        expect(created).toMatchObject(full);
        expect(await store.getWorker("worker-full01")).toEqual(created);
        const updated = await store.updateWorker("worker-full01", { labels: [], dependsOn: ["a", "b"], error: "boom", statusCommentId: null, leaseUntil: null });
        expect(updated).toMatchObject({ labels: [], dependsOn: ["a", "b"], error: "boom", statusCommentId: null, leaseUntil: null, prNumber: 12 });
        expect(updated.state).toBe("NEEDS_INIT");
        expect(await store.history("worker-full01")).toHaveLength(1);
      });

      it("moves a worker by compare-and-swap and keeps the history in order", async () => {
        await store.createWorker({ id: "worker-bbbbbb" }, cli);
        await store.transition("worker-bbbbbb", "NEEDS_INIT", "WORKING", { source: "runner" });
        const moved = await store.transition("worker-bbbbbb", "WORKING", "PR_OPEN", {
          source: "runner",
          detail: "opened #3",
          correlationId: "d-9",
          patch: { prNumber: 3, prUrl: "https://example.test/pr/3" },
        });
        expect(moved).toMatchObject({ state: "PR_OPEN", prNumber: 3, prUrl: "https://example.test/pr/3" });
        const history = await store.history("worker-bbbbbb");
        expect(history.map((t) => `${t.from}->${t.to}`)).toEqual(["null->NEEDS_INIT", "NEEDS_INIT->WORKING", "WORKING->PR_OPEN"]);
        expect(history[2]).toMatchObject({ source: "runner", detail: "opened #3", correlationId: "d-9", at: moved.updatedAt });
      });

      it("refuses a stale move and names both states, changing nothing", async () => {
        await store.createWorker({ id: "worker-cccccc", state: "PR_OPEN" }, cli);
        const before = await store.getWorker("worker-cccccc");
        const error = await rejection(store.transition("worker-cccccc", "WORKING", "UNKNOWN", { ...cli, patch: { error: "x" }, followUps: [effect("k")] }));
        expect(error).toBeInstanceOf(TransitionConflictError);
        expect(error).toMatchObject({ workerId: "worker-cccccc", expected: "WORKING", actual: "PR_OPEN", to: "UNKNOWN" });
        expect(error.message).toBe("conflict on worker-cccccc: cannot move WORKING -> UNKNOWN, it is PR_OPEN now");
        expect(await store.getWorker("worker-cccccc")).toEqual(before);
        expect(await store.history("worker-cccccc")).toHaveLength(1);
        expect((await store.followUpBacklog()).unfinished).toBe(0);
      });

      it("refuses an illegal move even when the stored state matches", async () => {
        await store.createWorker({ id: "worker-dddddd", state: "MERGED" }, cli);
        const error = await rejection(store.transition("worker-dddddd", "MERGED", "WORKING", cli));
        expect(error).toBeInstanceOf(IllegalTransitionError);
        expect(error.message).toBe("illegal transition for worker-dddddd: MERGED -> WORKING is not allowed");
        expect((await store.getWorker("worker-dddddd"))?.state).toBe("MERGED");
      });

      it("says so for an unknown worker", async () => {
        expect(await rejection(store.transition("worker-zzzzzz", "WORKING", "PR_OPEN", cli))).toBeInstanceOf(NotFoundError);
        // a missing worker is said before an illegal move
        expect(await rejection(store.transition("worker-zzzzzz", "MERGED", "WORKING", cli))).toBeInstanceOf(NotFoundError);
        const missing = await rejection(store.requireWorker("worker-zzzzzz"));
        expect(missing).toBeInstanceOf(NotFoundError);
        expect(missing.message).toBe("no worker worker-zzzzzz: see `pw worker list`");
        expect(await rejection(store.updateWorker("worker-zzzzzz", { error: "x" }))).toBeInstanceOf(NotFoundError);
        expect(await store.getWorker("worker-zzzzzz")).toBeUndefined();
        expect(await store.removeWorker("worker-zzzzzz")).toBe(false);
        expect(await store.history("worker-zzzzzz")).toEqual([]);
      });

      it("lets the administrator set any state, creating the record, and records the override", async () => {
        await store.setState("worker-eeeeee", "WORKING", { source: "admin", detail: "pw state set", patch: { taskId: "T-5" } });
        await store.setState("worker-eeeeee", "MERGED", { source: "admin" });
        const last = await store.setState("worker-eeeeee", "WORKING", { source: "admin" });
        expect(last).toMatchObject({ state: "WORKING", taskId: "T-5" });
        expect((await store.history("worker-eeeeee")).map((t) => [t.from, t.to, t.source, t.detail])).toEqual([
          [null, "WORKING", "admin", "pw state set"],
          ["WORKING", "MERGED", "admin", null],
          ["MERGED", "WORKING", "admin", null],
        ]);
      });

      it("keeps the error in UNKNOWN and clears it on the way out", async () => {
        await store.createWorker({ id: "worker-ffffff", state: "WORKING" }, cli);
        await store.transition("worker-ffffff", "WORKING", "UNKNOWN", { source: "runner", patch: { error: "agent exited 3" } });
        expect((await store.getWorker("worker-ffffff"))?.error).toBe("agent exited 3");
        await store.transition("worker-ffffff", "UNKNOWN", "NEEDS_INIT", { source: "cli" });
        expect((await store.getWorker("worker-ffffff"))?.error).toBeNull();
      });

      it("clears a request when the worker is queued again or ends, whoever moves it", async () => {
        await store.createWorker({ id: "worker-req001", state: "WORKING" }, cli);
        await store.updateWorker("worker-req001", { request: "terminate" });
        await store.transition("worker-req001", "WORKING", "UNKNOWN", { source: "runner" });
        expect((await store.requireWorker("worker-req001")).request).toBe("terminate");
        await store.transition("worker-req001", "UNKNOWN", "NEEDS_INIT", { source: "cli" });
        expect((await store.requireWorker("worker-req001")).request).toBeNull();
        await store.updateWorker("worker-req001", { request: "terminate" });
        await store.setState("worker-req001", "MERGED", { source: "admin" });
        expect((await store.requireWorker("worker-req001")).request).toBeNull();
        await store.createWorker({ id: "worker-req002", state: "WORKING", request: "terminate" }, cli);
        expect((await store.transition("worker-req002", "WORKING", "ABANDONED", { source: "runner", patch: { request: "terminate" } })).request).toBe("terminate");
      });

      it("removes a worker with its history", async () => {
        await store.createWorker({ id: "worker-hhhhhh" }, cli);
        expect(await store.removeWorker("worker-hhhhhh")).toBe(true);
        expect(await store.getWorker("worker-hhhhhh")).toBeUndefined();
        expect(await store.history("worker-hhhhhh")).toEqual([]);
        // the id may be used again
        expect((await store.createWorker({ id: "worker-hhhhhh" }, cli)).state).toBe("NEEDS_INIT");
      });

      it("lets exactly one of many clients win the same compare-and-swap", async () => {
        await store.createWorker({ id: "worker-race01", state: "WORKING" }, cli);
        const clients = await Promise.all(Array.from({ length: 6 }, () => client()));
        const results = await Promise.allSettled(
          clients.map((c, i) => c.transition("worker-race01", "WORKING", i % 2 ? "PR_OPEN" : "UNKNOWN", { source: "runner", correlationId: `c-${i}` })),
        );
        const won = results.filter((r) => r.status === "fulfilled");
        expect(won).toHaveLength(1);
        for (const lost of results.filter((r) => r.status === "rejected")) {
          expect((lost as PromiseRejectedResult).reason).toBeInstanceOf(TransitionConflictError);
        }
        expect(await store.history("worker-race01")).toHaveLength(2);
      });
    });

    describe("lists", () => {
      it("filters by state and repository, oldest first", async () => {
        await store.createWorker({ id: "worker-g00001", repo: "acme/web" }, cli);
        await store.createWorker({ id: "worker-g00002", repo: "acme/api", state: "WORKING" }, cli);
        await store.createWorker({ id: "worker-g00003", repo: "acme/web", state: "WORKING" }, cli);
        const ids = async (filter?: WorkerFilter) => (await store.listWorkers(filter)).map((w) => w.id);
        expect(await ids()).toEqual(["worker-g00001", "worker-g00002", "worker-g00003"]);
        expect(await ids({ state: "WORKING" })).toEqual(["worker-g00002", "worker-g00003"]);
        expect(await ids({ state: "WORKING", repo: "acme/web" })).toEqual(["worker-g00003"]);
      });

      it("filters by several states, a recorded worktree and task ids in any case", async () => {
        await store.createWorker({ id: "worker-f00001", taskId: "Dep-1", worktreePath: "/wt/a" }, cli);
        await store.createWorker({ id: "worker-f00002", taskId: "dep-2", state: "WORKING" }, cli);
        await store.createWorker({ id: "worker-f00003", taskId: "other", state: "MERGED", worktreePath: "/wt/c" }, cli);
        await store.createWorker({ id: "worker-f00004", taskId: "gone", state: "MERGED" }, cli);
        const ids = async (filter: WorkerFilter) => (await store.listWorkers(filter)).map((w) => w.id);
        expect(await ids({ states: ["NEEDS_INIT", "WORKING"] })).toEqual(["worker-f00001", "worker-f00002"]);
        expect(await ids({ states: [] })).toEqual([]);
        expect(await ids({ state: "MERGED", withWorktree: true })).toEqual(["worker-f00003"]);
        expect(await ids({ taskIds: ["DEP-1", "Dep-2", "nope"] })).toEqual(["worker-f00001", "worker-f00002"]);
        expect(await ids({ taskIds: [] })).toEqual([]);
      });

      it("finds the workers of an issue, of a branch, and those changed since a time", async () => {
        await store.createWorker({ id: "worker-i00001", repo: "acme/widgets", taskId: "T-1", branch: "feature/t-1" }, cli);
        await store.createWorker({ id: "worker-i00002", repo: "acme/widgets", taskId: "issue-9", issueNumber: 9, branch: "feature/issue-9" }, cli);
        await store.createWorker({ id: "worker-i00003", repo: "acme/other", taskId: "issue-9", issueNumber: 9, branch: "feature/issue-9" }, cli);
        const ids = async (filter: WorkerFilter) => (await store.listWorkers(filter)).map((w) => w.id);
        expect(await ids({ repo: "acme/widgets", issueNumber: 9 })).toEqual(["worker-i00002"]);
        expect(await ids({ withIssue: true })).toEqual(["worker-i00002", "worker-i00003"]);
        expect(await ids({ repo: "acme/widgets", branch: "feature/issue-9" })).toEqual(["worker-i00002"]);
        expect(await ids({ branch: "feature/issue-9" })).toEqual(["worker-i00002", "worker-i00003"]);
        const changed = await store.updateWorker("worker-i00001", { description: "changed" });
        expect(await ids({ updatedSince: changed.updatedAt })).toContain("worker-i00001");
        expect(await ids({ updatedSince: new Date(Date.parse(changed.updatedAt) + 1).toISOString() })).not.toContain("worker-i00001");
        expect(await ids({ updatedSince: "2000-01-01T00:00:00.000Z" })).toHaveLength(3);
      });
    });

    describe("claims and leases", () => {
      it("lets one runner claim a queued worker; the holder renews it, a known-dead holder's claim is taken over", async () => {
        await store.createWorker({ id: "worker-c00001" }, cli);
        await store.createWorker({ id: "worker-c00002", state: "WORKING" }, cli);
        expect(await store.claimWorker("worker-c00001", "runner-a", MINUTE)).toBe(true);
        expect(await store.claimWorker("worker-c00001", "runner-b", MINUTE)).toBe(false);
        expect(await store.claimWorker("worker-c00001", "runner-a", MINUTE)).toBe(true);
        expect(await store.claimWorker("worker-c00001", "runner-b", MINUTE, "runner-x")).toBe(false);
        expect(await store.claimWorker("worker-c00001", "runner-b", MINUTE, "runner-a")).toBe(true);
        expect((await store.requireWorker("worker-c00001")).owner).toBe("runner-b");
        // only a queued worker is claimed
        expect(await store.claimWorker("worker-c00002", "runner-a", MINUTE)).toBe(false);
        expect(await store.claimWorker("worker-nope00", "runner-a", MINUTE)).toBe(false);
      });

      it("gives a worker that many runners claim at once to exactly one of them", async () => {
        await store.createWorker({ id: "worker-c00009" }, cli);
        const clients = await Promise.all(Array.from({ length: 6 }, () => client()));
        const claimed = await Promise.all(clients.map((c, i) => c.claimWorker("worker-c00009", `runner-${i}`, MINUTE)));
        expect(claimed.filter(Boolean)).toHaveLength(1);
        expect((await store.requireWorker("worker-c00009")).owner).toBe(`runner-${claimed.indexOf(true)}`);
      });

      it("measures a lease from the store's clock and lets another runner take an expired one", async () => {
        await store.createWorker({ id: "worker-c00003" }, cli);
        expect(await store.claimWorker("worker-c00003", "runner-a", MINUTE)).toBe(true);
        const claimed = await store.requireWorker("worker-c00003");
        const length = Date.parse(claimed.leaseUntil!) - Date.parse(claimed.updatedAt);
        expect(length).toBeGreaterThanOrEqual(MINUTE - 1000);
        expect(length).toBeLessThanOrEqual(MINUTE + 1000);
        expect(claimed.leaseUntil).toMatch(ISO);
        // a lease that ended before now
        expect(await store.claimWorker("worker-c00003", "runner-a", -1000)).toBe(true);
        expect(await store.claimWorker("worker-c00003", "runner-b", MINUTE)).toBe(true);
        expect((await store.requireWorker("worker-c00003")).owner).toBe("runner-b");
      });

      it("renews the leases a runner holds on unfinished workers only", async () => {
        await store.createWorker({ id: "worker-r00001" }, cli);
        await store.createWorker({ id: "worker-r00002" }, cli);
        await store.createWorker({ id: "worker-r00003" }, cli);
        for (const id of ["worker-r00001", "worker-r00002", "worker-r00003"]) await store.claimWorker(id, "runner-a", -1000);
        await store.transition("worker-r00002", "NEEDS_INIT", "WORKING", { source: "runner" });
        await store.transition("worker-r00003", "NEEDS_INIT", "ABANDONED", { source: "runner" });
        await store.createWorker({ id: "worker-r00004" }, cli);
        await store.claimWorker("worker-r00004", "runner-b", -1000);
        expect(await store.renewLeases("runner-a", MINUTE)).toBe(2);
        const now = Date.now();
        const lease = async (id: string) => Date.parse((await store.requireWorker(id)).leaseUntil!);
        expect(await lease("worker-r00001")).toBeGreaterThan(now);
        expect(await lease("worker-r00002")).toBeGreaterThan(now);
        expect(await lease("worker-r00003")).toBeLessThan(now);
        expect(await lease("worker-r00004")).toBeLessThan(now);
        expect(await store.renewLeases("runner-nobody", MINUTE)).toBe(0);
      });

      it("claims the oldest queued worker a runner serves, one at a time, and none it already holds", async () => {
        await store.createWorker({ id: "worker-n00001", repo: "acme/web", repoPath: "/src/web" }, cli);
        await store.createWorker({ id: "worker-n00002", repo: "acme/api" }, cli);
        await store.createWorker({ id: "worker-n00003", repo: "acme/web" }, cli);
        await store.createWorker({ id: "worker-n00004", repo: "acme/web", state: "WORKING" }, cli);
        const query = { checkouts: ["/src/web"], repositories: ["acme/web"] };
        const first = await store.claimNextWorker("runner-a", MINUTE, query);
        expect(first).toMatchObject({ id: "worker-n00001", owner: "runner-a", state: "NEEDS_INIT" });
        expect(Date.parse(first!.leaseUntil!)).toBeGreaterThan(Date.parse(first!.updatedAt));
        expect((await store.claimNextWorker("runner-a", MINUTE, query))?.id).toBe("worker-n00003");
        expect(await store.claimNextWorker("runner-a", MINUTE, query)).toBeUndefined();
        expect(await store.claimNextWorker("runner-b", MINUTE, query)).toBeUndefined();
        expect(await store.claimNextWorker("runner-b", MINUTE, {})).toBeUndefined();
        expect((await store.claimNextWorker("runner-b", MINUTE, { repositories: ["acme/api"] }))?.id).toBe("worker-n00002");
      });

      it("matches a worker with a checkout by its checkout only, and keeps to the project asked for", async () => {
        await store.createWorker({ id: "worker-m00001", repo: "acme/web", repoPath: "/elsewhere/web" }, cli);
        await store.createWorker({ id: "worker-m00002", repo: "acme/web", project: "other" }, cli);
        await store.createWorker({ id: "worker-m00003", repo: "acme/web", project: "web" }, cli);
        await store.createWorker({ id: "worker-m00004", repo: "acme/web" }, cli);
        const query = { repositories: ["acme/web"], checkouts: ["/src/web"], project: "web" };
        expect((await store.claimNextWorker("runner-a", MINUTE, query))?.id).toBe("worker-m00003");
        expect((await store.claimNextWorker("runner-a", MINUTE, query))?.id).toBe("worker-m00004");
        expect(await store.claimNextWorker("runner-a", MINUTE, query)).toBeUndefined();
        expect((await store.claimNextWorker("runner-b", MINUTE, { checkouts: ["/elsewhere/web"] }))?.id).toBe("worker-m00001");
      });

      it("takes over a claim that expired or whose holder is known dead, never a live one", async () => {
        await store.createWorker({ id: "worker-t00001", repo: "acme/web" }, cli);
        await store.createWorker({ id: "worker-t00002", repo: "acme/web" }, cli);
        await store.createWorker({ id: "worker-t00003", repo: "acme/web" }, cli);
        await store.claimWorker("worker-t00001", "runner-dead", MINUTE);
        await store.claimWorker("worker-t00002", "runner-gone", -1000);
        await store.claimWorker("worker-t00003", "runner-live", MINUTE);
        const query = { repositories: ["acme/web"], takeOverFrom: ["runner-dead"] };
        expect((await store.claimNextWorker("runner-a", MINUTE, query))?.id).toBe("worker-t00001");
        expect((await store.claimNextWorker("runner-a", MINUTE, query))?.id).toBe("worker-t00002");
        expect(await store.claimNextWorker("runner-a", MINUTE, query)).toBeUndefined();
      });

      it("starts a worker only when the newest worker of each task it depends on is MERGED", async () => {
        const web = { repo: "acme/web", repoPath: "/src/web" };
        await store.createWorker({ id: "worker-d00001", ...web, taskId: "Base", state: "MERGED" }, cli);
        await store.createWorker({ id: "worker-d00002", ...web, taskId: "needs-base", dependsOn: ["base"] }, cli);
        await store.createWorker({ id: "worker-d00003", ...web, taskId: "needs-two", dependsOn: ["BASE", "second"] }, cli);
        await store.createWorker({ id: "worker-d00004", ...web, taskId: "needs-nothing-yet", dependsOn: ["missing"] }, cli);
        await store.createWorker({ id: "worker-d00005", repo: "acme/api", repoPath: "/src/api", taskId: "second", state: "MERGED" }, cli);
        const query = { checkouts: ["/src/web"] };
        expect((await store.claimNextWorker("runner-a", MINUTE, query))?.id).toBe("worker-d00002");
        // "second" is merged only in another repository
        expect(await store.claimNextWorker("runner-a", MINUTE, query)).toBeUndefined();
        // the same repository by name counts, whatever its checkout
        await store.createWorker({ id: "worker-d00006", repo: "acme/web", repoPath: "/other/web", taskId: "second", state: "WORKING" }, cli);
        expect(await store.claimNextWorker("runner-a", MINUTE, query)).toBeUndefined();
        await store.transition("worker-d00006", "WORKING", "MERGED", { source: "webhook" });
        expect((await store.claimNextWorker("runner-a", MINUTE, query))?.id).toBe("worker-d00003");
        // a newer worker of a merged task that is not merged holds its dependants back again
        await store.createWorker({ id: "worker-d00007", ...web, taskId: "base", dependsOn: [] }, cli);
        await store.createWorker({ id: "worker-d00008", ...web, taskId: "late", dependsOn: ["base"] }, cli);
        expect((await store.claimNextWorker("runner-a", MINUTE, query))?.id).toBe("worker-d00007");
        expect(await store.claimNextWorker("runner-a", MINUTE, query)).toBeUndefined();
      });

      it("gives each of many clients claiming at once a different worker, every queued worker once", async () => {
        const queued = 40;
        for (let i = 0; i < queued; i++) await store.createWorker({ id: `worker-q${String(i).padStart(5, "0")}`, repo: "acme/web" }, cli);
        const clients = await Promise.all(Array.from({ length: 5 }, () => client()));
        const claimedBy = new Map<string, string[]>();
        await Promise.all(
          clients.map(async (c, i) => {
            const owner = `runner-${i}`;
            for (;;) {
              const worker = await c.claimNextWorker(owner, MINUTE, { repositories: ["acme/web"] });
              if (!worker) return;
              expect(worker.owner).toBe(owner);
              claimedBy.set(worker.id, [...(claimedBy.get(worker.id) ?? []), owner]);
            }
          }),
        );
        expect(claimedBy.size).toBe(queued);
        expect([...claimedBy.values()].filter((owners) => owners.length !== 1)).toEqual([]);
        for (const worker of await store.listWorkers()) expect(claimedBy.get(worker.id)).toEqual([worker.owner]);
      });
    });

    describe("delivery ids", () => {
      it("appends delivery ids in one step and lists those received since a time, oldest first", async () => {
        const before = new Date(Date.now() - MINUTE).toISOString();
        expect(await store.recordDeliveries([])).toBe(0);
        expect(await store.recordDeliveries([{ id: "d-2", event: "pull_request" }, { id: "d-1", event: "pull_request" }])).toBe(2);
        expect(await store.recordDeliveries([{ id: "d-3", event: "issue_comment" }])).toBe(1);
        expect(await store.recentDeliveries(before)).toEqual(["d-2", "d-1", "d-3"]);
        expect(await store.recentDeliveries(new Date(Date.now() + MINUTE).toISOString())).toEqual([]);
      });

      it("forgets a failed delivery so a redelivery is handled, and prunes old ones", async () => {
        const epoch = "1970-01-01T00:00:00.000Z";
        expect(await store.recordDeliveries([{ id: "d-1", event: "pull_request.closed" }])).toBe(1);
        expect(await store.forgetDelivery("d-1", new Date(Date.now() + MINUTE).toISOString())).toBe(false);
        expect(await store.forgetDelivery("d-1", epoch)).toBe(true);
        expect(await store.forgetDelivery("d-1", epoch)).toBe(false);
        expect(await store.recentDeliveries(epoch)).toEqual([]);
        await store.recordDeliveries([{ id: "d-1", event: "pull_request.closed" }]);
        expect(await store.pruneDeliveries("2000-01-01T00:00:00.000Z")).toBe(0);
        expect(await store.pruneDeliveries(new Date(Date.now() + MINUTE).toISOString())).toBe(1);
        expect(await store.recentDeliveries(epoch)).toEqual([]);
      });
    });

    describe("the follow-up queue", () => {
      it("adds an effect once per key, even after it is done", async () => {
        expect(await store.addFollowUps([effect("a"), effect("a"), effect("b")])).toEqual(["a", "b"]);
        const [first] = await store.claimFollowUps("me", MINUTE, 10);
        expect(first).toMatchObject({ key: "a", kind: "react", lane: "acme/widgets#1", input: { commentId: 7, content: "eyes" }, installationId: 1, correlationId: "d-1", attempts: 1 });
        expect(first!.createdAt).toMatch(ISO);
        expect(await store.finishFollowUp(first!.seq, "me")).toBe(true);
        expect(await store.addFollowUps([effect("a")])).toEqual([]);
        expect(await store.followUpBacklog()).toMatchObject({ unfinished: 1 });
      });

      it("keeps an effect's input as written, and unknown installation and correlation as null", async () => {
        const input = { body: "a “reply” ✓\nline two", numbers: [1, 2.5, -3], nested: { z: 1, a: [null, true] }, big: 2_500_000_123 };
        await store.addFollowUps([{ key: "x", kind: "reply", lane: "acme/widgets#2", input }]);
        const [claimed] = await store.claimFollowUps("me", MINUTE, 10);
        expect(claimed).toMatchObject({ input, installationId: null, correlationId: null });
      });

      it("runs one effect of a lane at a time, in the order they were added; other lanes run beside it", async () => {
        await store.addFollowUps([effect("a1", "l#1"), effect("b1", "l#2"), effect("a2", "l#1"), effect("c1", "l#3")]);
        const claimed = await store.claimFollowUps("me", MINUTE, 10);
        expect(claimed.map((f) => f.key)).toEqual(["a1", "b1", "c1"]);
        expect(await store.claimFollowUps("me", MINUTE, 10)).toEqual([]);
        await store.finishFollowUp(claimed[0]!.seq, "me", [effect("a3", "l#1")]);
        expect((await store.claimFollowUps("me", MINUTE, 10)).map((f) => f.key)).toEqual(["a2"]);
        expect(await store.claimFollowUps("me", MINUTE, 10)).toEqual([]);
      });

      it("keeps a lane waiting while its head waits for a retry, and gives up when told", async () => {
        await store.addFollowUps([effect("a1"), effect("a2")]);
        const [head] = await store.claimFollowUps("me", MINUTE, 10);
        expect(await store.retryFollowUp(head!.seq, "me", "HTTP 502", MINUTE)).toBe(true);
        expect(await store.claimFollowUps("me", MINUTE, 10)).toEqual([]);
        expect((await store.followUpBacklog()).unfinished).toBe(2);

        await store.addFollowUps([effect("b1", "l#2")]);
        const [other] = await store.claimFollowUps("me", MINUTE, 10);
        expect(await store.retryFollowUp(other!.seq, "me", "HTTP 502", -1000)).toBe(true);
        const [again] = await store.claimFollowUps("me", MINUTE, 10);
        expect(again).toMatchObject({ key: "b1", attempts: 2 });
        expect(await store.retryFollowUp(again!.seq, "someone-else", "HTTP 404", null)).toBe(false);
        expect(await store.retryFollowUp(again!.seq, "me", "HTTP 404", null)).toBe(true);
        expect((await store.followUpBacklog()).unfinished).toBe(2);
        // one that gave up is queued again when asked for again (a redelivery), at the end of its lane
        await store.addFollowUps([effect("b2", "l#2")]);
        expect(await store.addFollowUps([effect("b1", "l#2")])).toEqual(["b1"]);
        expect(await store.claimFollowUps("me", MINUTE, 10)).toEqual([expect.objectContaining({ key: "b2", attempts: 1 })]);
      });

      it("lets only the claim's owner finish it; released or expired claims are taken again, counting the try", async () => {
        await store.addFollowUps([effect("a1"), effect("b1", "l#2")]);
        const [a, b] = await store.claimFollowUps("old", MINUTE, 10);
        expect(await store.finishFollowUp(a!.seq, "someone-else")).toBe(false);
        expect(await store.releaseFollowUps("nobody")).toBe(0);
        expect(await store.releaseFollowUps(null)).toBe(2);
        const again = await store.claimFollowUps("new", -1, 1);
        expect(again).toEqual([expect.objectContaining({ key: "a1", attempts: 2 })]);
        expect(await store.finishFollowUp(a!.seq, "old")).toBe(false);
        // the new claim is already past its lease: another owner may take it over
        expect((await store.claimFollowUps("newer", MINUTE, 10)).map((f) => [f.key, f.attempts])).toEqual([["a1", 3], ["b1", 2]]);
        expect(await store.finishFollowUp(b!.seq, "newer")).toBe(true);
        expect(await store.releaseFollowUps("newer")).toBe(1);
      });

      it("queues a move's effects in the same step as the move", async () => {
        await store.createWorker({ id: "worker-aaaaa1" }, { source: "cli", followUps: [effect("status:1")] });
        await store.transition("worker-aaaaa1", "NEEDS_INIT", "ABANDONED", { source: "command", followUps: [effect("status:2"), effect("status:1")] });
        await store.setState("worker-aaaaa1", "UNKNOWN", { source: "admin", followUps: [effect("status:3", "l#9")] });
        expect((await store.claimFollowUps("me", MINUTE, 10)).map((f) => f.key)).toEqual(["status:1", "status:3"]);
        expect((await store.followUpBacklog()).unfinished).toBe(3);
      });

      it("reports the backlog and prunes finished effects (their keys may be added again)", async () => {
        expect(await store.followUpBacklog()).toEqual({ unfinished: 0, oldestCreatedAt: null });
        const before = new Date(Date.now() - MINUTE).toISOString();
        await store.addFollowUps([effect("a1"), effect("b1", "l#2")]);
        const backlog = await store.followUpBacklog();
        expect(backlog.unfinished).toBe(2);
        expect(backlog.oldestCreatedAt).toMatch(ISO);
        expect(backlog.oldestCreatedAt! >= before).toBe(true);
        const [a] = await store.claimFollowUps("me", MINUTE, 1);
        await store.finishFollowUp(a!.seq, "me");
        expect(await store.pruneFollowUps(before)).toBe(0);
        expect(await store.pruneFollowUps(new Date(Date.now() + MINUTE).toISOString())).toBe(1);
        expect(await store.addFollowUps([effect("a1")])).toEqual(["a1"]);
      });

      it("never gives one follow-up, nor two of one lane, to two clients claiming at once", async () => {
        const lanes = 6;
        const perLane = 5;
        const effects = Array.from({ length: lanes * perLane }, (_, i) => effect(`k${i}`, `l#${i % lanes}`));
        await store.addFollowUps(effects);
        const clients = await Promise.all(Array.from({ length: 4 }, () => client()));
        const order = new Map<string, string[]>();
        const finished: string[] = [];
        /** Lanes a drainer holds now; a lane leaves before its finish is sent, so no later claim can race it. */
        const running = new Set<string>();
        const overlaps: string[] = [];
        await Promise.all(
          clients.map(async (c, i) => {
            const owner = `drainer-${i}`;
            let idle = 0;
            while (finished.length < effects.length && idle < 200) {
              const claimed = await c.claimFollowUps(owner, MINUTE, 3);
              idle = claimed.length ? 0 : idle + 1;
              for (const f of claimed) {
                if (running.has(f.lane)) overlaps.push(f.key);
                running.add(f.lane);
                order.set(f.lane, [...(order.get(f.lane) ?? []), f.key]);
              }
              for (const f of claimed) {
                running.delete(f.lane);
                expect(await c.finishFollowUp(f.seq, owner)).toBe(true);
                finished.push(f.key);
              }
            }
          }),
        );
        expect(overlaps).toEqual([]);
        expect(finished.sort()).toEqual(effects.map((e) => e.key).sort());
        for (let lane = 0; lane < lanes; lane++) {
          expect(order.get(`l#${lane}`)).toEqual(effects.filter((e) => e.lane === `l#${lane}`).map((e) => e.key));
        }
      });
    });

    describe("runners", () => {
      it("registers runners, beats, and tells the stale by the store's clock", async () => {
        const registered = await store.registerRunner({ id: "host-a:1", host: "host-a", repositories: ["acme/web", "acme/api"] });
        expect(registered).toMatchObject({ id: "host-a:1", host: "host-a", repositories: ["acme/web", "acme/api"], stale: false, workers: 0 });
        expect(registered.startedAt).toMatch(ISO);
        expect(registered.heartbeatAt).toBe(registered.startedAt);
        await store.registerRunner({ id: "host-b:1", host: "host-b", repositories: [] });
        expect(await store.heartbeatRunner("host-a:1")).toBe(true);
        expect(await store.heartbeatRunner("host-c:1")).toBe(false);
        const fresh = await store.listRunners(MINUTE);
        expect(fresh.map((r) => [r.id, r.stale])).toEqual([["host-a:1", false], ["host-b:1", false]]);
        for (const runner of fresh) {
          expect(runner.heartbeatAgeMs).toBeGreaterThanOrEqual(0);
          expect(runner.heartbeatAgeMs).toBeLessThan(MINUTE);
          expect(runner.heartbeatAt >= runner.startedAt).toBe(true);
        }
        // a limit every heartbeat is older than
        expect((await store.listRunners(-1)).map((r) => r.stale)).toEqual([true, true]);
      });

      it("counts the unfinished workers each runner holds, and forgets a runner that stopped", async () => {
        await store.registerRunner({ id: "runner-a", host: "a", repositories: ["acme/web"] });
        for (const id of ["worker-w00001", "worker-w00002", "worker-w00003"]) {
          await store.createWorker({ id, repo: "acme/web" }, cli);
          await store.claimWorker(id, "runner-a", MINUTE);
        }
        await store.transition("worker-w00002", "NEEDS_INIT", "WORKING", { source: "runner" });
        await store.transition("worker-w00003", "NEEDS_INIT", "ABANDONED", { source: "runner" });
        expect((await store.listRunners(MINUTE))[0]).toMatchObject({ id: "runner-a", workers: 2 });
        // registering again (a restart) starts it over, with its workers still counted
        const again = await store.registerRunner({ id: "runner-a", host: "a2", repositories: [] });
        expect(again).toMatchObject({ host: "a2", repositories: [], workers: 2 });
        expect(await store.forgetRunner("runner-a")).toBe(true);
        expect(await store.forgetRunner("runner-a")).toBe(false);
        expect(await store.listRunners(MINUTE)).toEqual([]);
      });
    });

    describe("health", () => {
      it("answers a health check while open, and rejects calls after close with a StoreError", async () => {
        await expect(store.ping()).resolves.toBeUndefined();
        expect(store.location).not.toBe("");
        await store.close();
        await store.close();
        expect(await rejection(store.ping())).toBeInstanceOf(StoreError);
        expect(await rejection(store.getWorker("worker-aaaaaa"))).toBeInstanceOf(StoreError);
        expect(await rejection(store.createWorker({ id: "worker-aaaaaa" }, cli))).toBeInstanceOf(StoreError);
      });
    });
  });
}
