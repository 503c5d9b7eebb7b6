/**
 * The store's contract, as one suite that every backend runs unchanged: `describeStore(name,
 * backend)` from a test file of each backend (sqlite-conformance.test.ts, postgres-conformance.test.ts).
 * Whatever one backend does here, the other must do too; backend-specific behaviour (file
 * headers, migrations of old files, URLs) is tested beside each backend.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { IllegalTransitionError, NotFoundError, StoreError, TransitionConflictError } from "../../src/core/errors.js";
import { checkFeedback, requestFeedback, reviewFeedback } from "../../src/core/rework.js";
import type { NewFeedback, NewFollowUp, WorkerFilter, WorkerStore } from "../../src/store/store.js";

/** A place a backend keeps one store (a file, a schema); `open` gives a client of it, as many as asked. */
export interface StorePlace {
  open(): Promise<WorkerStore>;
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

const RANGE = { from: 4100, perWorker: 10 };
const FEEDBACK_WORKER = "worker-rwk001";

function review(id: number, author = "alice"): NewFeedback {
  return {
    workerId: FEEDBACK_WORKER,
    key: `review:acme/widgets:${id}`,
    scope: `review:${id}`,
    detail: reviewFeedback({ reviewId: id, author, body: `fix it (${id})`, url: null, comments: [] }),
  };
}

function failedCheck(runId: number, suiteId: number): NewFeedback {
  return {
    workerId: FEEDBACK_WORKER,
    key: `check-run:acme/widgets:${runId}`,
    scope: `check-suite:${suiteId}`,
    detail: checkFeedback({
      suiteId,
      headSha: "a".repeat(40),
      runs: [{ name: `ci-${runId}`, conclusion: "failure", title: null, summary: null, annotations: [], annotationsTotal: 0 }],
    }),
  };
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
    const opened: WorkerStore[] = [];
    /** Another client of this test's store (a second process, or machine, in real life). */
    async function client(): Promise<WorkerStore> {
      const store = await place.open();
      opened.push(store);
      return store;
    }
    let store: WorkerStore;

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

      it("never claims a worker whose worktree another runner holds, and records the runner that claims one", async () => {
        await store.createWorker({ id: "worker-h00001", repo: "acme/web", runnerId: "runner-b" }, cli);
        await store.createWorker({ id: "worker-h00002", repo: "acme/web" }, cli);
        await store.createWorker({ id: "worker-h00003", repo: "acme/web", runnerId: "runner-a" }, cli);
        const query = { repositories: ["acme/web"], runnerId: "runner-a" };
        expect(await store.claimNextWorker("a:1:x", MINUTE, query)).toMatchObject({ id: "worker-h00002", owner: "a:1:x", runnerId: "runner-a" });
        expect(await store.claimNextWorker("a:1:x", MINUTE, query)).toMatchObject({ id: "worker-h00003", runnerId: "runner-a" });
        expect(await store.claimNextWorker("a:1:x", MINUTE, query)).toBeUndefined();
        // queued again for any runner (pw worker retry --anywhere)
        await store.updateWorker("worker-h00001", { runnerId: null });
        expect(await store.claimNextWorker("a:1:x", MINUTE, query)).toMatchObject({ id: "worker-h00001", runnerId: "runner-a" });
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

      it("claims a delivery once: again within the window is false, a forgotten or older one is claimed again", async () => {
        const epoch = "1970-01-01T00:00:00.000Z";
        expect(await store.claimDelivery("d-1", "pull_request.closed", epoch)).toBe(true);
        expect(await store.claimDelivery("d-1", "pull_request.closed", epoch)).toBe(false);
        expect(await store.recentDeliveries(epoch)).toEqual(["d-1"]);
        // recorded before the window asked about: claimed again
        expect(await store.claimDelivery("d-1", "pull_request.closed", new Date(Date.now() + MINUTE).toISOString())).toBe(true);
        expect(await store.forgetDelivery("d-1", epoch)).toBe(true);
        expect(await store.recentDeliveries(epoch)).toEqual([]);
        expect(await store.claimDelivery("d-1", "pull_request.closed", epoch)).toBe(true);
        // ids recorded in a batch count too
        await store.recordDeliveries([{ id: "d-2", event: "issue_comment.created" }]);
        expect(await store.claimDelivery("d-2", "issue_comment.created", epoch)).toBe(false);
      });

      it("gives each delivery id to exactly one of many clients claiming it at once", async () => {
        const epoch = "1970-01-01T00:00:00.000Z";
        const clients = await Promise.all(Array.from({ length: 4 }, () => client()));
        const ids = Array.from({ length: 10 }, (_, i) => `race-${i}`);
        const won = await Promise.all(ids.map((id) => Promise.all(clients.map((c) => c.claimDelivery(id, "pull_request.opened", epoch)))));
        expect(won.map((claims) => claims.filter(Boolean).length)).toEqual(ids.map(() => 1));
        expect((await store.recentDeliveries(epoch)).sort()).toEqual([...ids].sort());
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

      it("renews the claims an owner holds, so a live drainer keeps them past its first lease", async () => {
        await store.addFollowUps([effect("a1"), effect("b1", "l#2"), effect("c1", "l#3")]);
        // claimed already past their lease: another owner could take them, unless renewed
        const mine = await store.claimFollowUps("live", -1, 2);
        expect(mine).toHaveLength(2);
        expect(await store.finishFollowUp(mine[1]!.seq, "live")).toBe(true);
        expect(await store.renewFollowUps("live", MINUTE)).toBe(1);
        expect(await store.renewFollowUps("nobody", MINUTE)).toBe(0);
        // the renewed one stays the live owner's; the unclaimed one goes to the other
        expect((await store.claimFollowUps("other", MINUTE, 10)).map((f) => f.key)).toEqual(["c1"]);
        expect(await store.finishFollowUp(mine[0]!.seq, "live")).toBe(true);
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

    describe("the rework loop", () => {
      const round = { owner: "host:1:abc", leaseMs: MINUTE, source: "runner" as const, correlationId: "c-1" };
      const prOpen = () => store.createWorker({ id: FEEDBACK_WORKER, taskId: "T-1", repo: "acme/widgets", prNumber: 7, state: "PR_OPEN" }, cli);

      it("records feedback once per key and lists what waits, oldest first", async () => {
        await prOpen();
        const first = await store.addFeedback(review(1));
        expect(first).toMatchObject({ workerId: FEEDBACK_WORKER, cause: "review", round: null, held: false, detail: { author: "alice", body: "fix it (1)" } });
        expect(first!.receivedAt).toMatch(ISO);
        expect(await store.addFeedback(review(1))).toBeUndefined();
        await store.addFeedback(review(2, "bob"));
        const pending = await store.listFeedback({ workerId: FEEDBACK_WORKER, pending: true });
        expect(pending.map((f) => f.detail.cause === "review" && f.detail.reviewId)).toEqual([1, 2]);
        expect(pending[1]!.seq).toBeGreaterThan(pending[0]!.seq);
        expect(await store.listFeedback({ pending: true, workerStates: ["PR_OPEN"] })).toHaveLength(2);
        expect(await store.listFeedback({ pending: true, workerStates: ["MERGED"] })).toEqual([]);
        expect(await store.listFeedback({ workerId: "worker-other1" })).toEqual([]);
      });

      it("keeps whether feedback was held for a person's round, and refuses a worker it does not know", async () => {
        await prOpen();
        expect((await store.addFeedback({ ...review(1), held: true }))!.held).toBe(true);
        expect((await store.addFeedback(review(2)))!.held).toBe(false);
        expect((await store.listFeedback({ workerId: FEEDBACK_WORKER })).map((f) => f.held)).toEqual([true, false]);
        expect(await rejection(store.addFeedback({ ...review(3), workerId: "worker-nope00" }))).toBeInstanceOf(NotFoundError);
      });

      it("starts a round as one step: PR_OPEN -> WORKING, claimed, counted, taking the feedback up to the seq seen", async () => {
        await prOpen();
        const a = (await store.addFeedback(review(1)))!;
        const check = (await store.addFeedback(failedCheck(10, 100)))!;
        const b = (await store.addFeedback(review(2, "bob")))!;
        const late = (await store.addFeedback(failedCheck(11, 101)))!;

        const started = (await store.startReworkRound(FEEDBACK_WORKER, { ...round, upTo: b.seq }))!;
        expect(started).toMatchObject({ round: 1, cause: "review", automatic: true });
        expect(started.feedback.map((f) => [f.seq, f.round])).toEqual([[a.seq, 1], [check.seq, 1], [b.seq, 1]]);
        expect(started.worker).toMatchObject({ state: "WORKING", owner: round.owner, pid: null, reworkRounds: 1, automaticReworkRounds: 1, reworkCause: "review", prNumber: 7 });
        // the claim's lease is measured from the store's clock
        const lease = Date.parse(started.worker.leaseUntil!) - Date.parse(started.worker.updatedAt);
        expect(lease).toBeGreaterThanOrEqual(MINUTE - 1000);
        expect(lease).toBeLessThanOrEqual(MINUTE + 1000);
        expect(await store.getWorker(FEEDBACK_WORKER)).toEqual(started.worker);
        expect((await store.history(FEEDBACK_WORKER)).at(-1)).toMatchObject({
          from: "PR_OPEN",
          to: "WORKING",
          source: "runner",
          correlationId: "c-1",
          detail: "rework round 1: review by @alice; failed check ci-10; review by @bob",
          at: started.worker.updatedAt,
        });
        // what came after the runner looked waits for the next round
        expect((await store.listFeedback({ workerId: FEEDBACK_WORKER, pending: true })).map((f) => f.seq)).toEqual([late.seq]);
        expect(await rejection(store.startReworkRound(FEEDBACK_WORKER, { ...round, upTo: late.seq }))).toBeInstanceOf(TransitionConflictError);
        expect(await rejection(store.startReworkRound("worker-nope00", { ...round, upTo: late.seq }))).toBeInstanceOf(NotFoundError);
      });

      it("settles a moved base without a round (round 0): only the seqs given that still wait, of that worker; a worker's merge-flow record round-trips", async () => {
        await prOpen();
        const base = (key: string) => ({
          workerId: FEEDBACK_WORKER,
          key,
          scope: key,
          detail: { cause: "base" as const, base: "main", baseSha: "a".repeat(40), upstream: null, retarget: false, omitted: [] },
        });
        const moved = (await store.addFeedback(base("update:1")))!;
        const other = (await store.addFeedback(base("update:2")))!;
        const asked = (await store.addFeedback(review(1)))!;
        expect(moved.cause).toBe("base");
        expect(await store.settleFeedback("worker-other1", [moved.seq])).toBe(0);
        expect(await store.settleFeedback(FEEDBACK_WORKER, [moved.seq])).toBe(1);
        expect(await store.settleFeedback(FEEDBACK_WORKER, [moved.seq])).toBe(0);
        expect(await store.settleFeedback(FEEDBACK_WORKER, [])).toBe(0);
        expect((await store.listFeedback({ workerId: FEEDBACK_WORKER })).map((f) => [f.seq, f.round])).toEqual([
          [moved.seq, 0],
          [other.seq, null],
          [asked.seq, null],
        ]);
        const record = { stack: true, update: { how: "rebase" as const, base: "main", baseSha: "a".repeat(40), outcome: "updated" as const, detail: null, at: "2026-01-01T00:00:00.000Z" } };
        expect((await store.updateWorker(FEEDBACK_WORKER, { mergeFlow: record })).mergeFlow).toEqual(record);
        expect((await store.getWorker(FEEDBACK_WORKER))!.mergeFlow).toEqual(record);
      });

      it("answers a scope once: feedback of a suite a round took adds nothing; one still waiting joins it", async () => {
        await prOpen();
        await store.addFeedback(failedCheck(10, 100));
        // another failed run of the same suite before the round: joins it
        const joined = (await store.addFeedback(failedCheck(11, 100)))!;
        expect((await store.startReworkRound(FEEDBACK_WORKER, { ...round, upTo: joined.seq }))!.feedback).toHaveLength(2);
        await store.transition(FEEDBACK_WORKER, "WORKING", "PR_OPEN", { source: "runner" });
        // a run of that suite reported after its round: nothing
        expect(await store.addFeedback(failedCheck(12, 100))).toBeUndefined();
        expect(await store.addFeedback(failedCheck(13, 101))).toBeDefined();
      });

      it("counts a round a person asked for apart from the automatic ones", async () => {
        await prOpen();
        await store.addFeedback(review(1));
        const asked = (await store.addFeedback({
          workerId: FEEDBACK_WORKER,
          key: "comment:1",
          scope: "comment:1",
          detail: requestFeedback("comment", "also rename it", { id: 5, author: "carol" }),
        }))!;
        const started = (await store.startReworkRound(FEEDBACK_WORKER, { ...round, upTo: asked.seq }))!;
        expect(started).toMatchObject({ round: 1, cause: "comment", automatic: false });
        expect(started.worker).toMatchObject({ reworkRounds: 1, automaticReworkRounds: 0, reworkCause: "comment" });
      });

      it("starts nothing when no feedback waits, and changes nothing", async () => {
        await prOpen();
        expect(await store.startReworkRound(FEEDBACK_WORKER, { ...round, upTo: 1000 })).toBeUndefined();
        expect(await store.requireWorker(FEEDBACK_WORKER)).toMatchObject({ state: "PR_OPEN", owner: null, reworkRounds: 0 });
        expect(await store.history(FEEDBACK_WORKER)).toHaveLength(1);
      });

      it("forgets a worker's feedback with the worker", async () => {
        await prOpen();
        await store.addFeedback(review(1));
        await store.removeWorker(FEEDBACK_WORKER);
        expect(await store.listFeedback({})).toEqual([]);
        // the key is free again for a worker made anew
        await prOpen();
        expect(await store.addFeedback(review(1))).toBeDefined();
      });

      it("lets exactly one of many clients start a round at once", async () => {
        await prOpen();
        const last = (await store.addFeedback(review(1)))!;
        const clients = await Promise.all(Array.from({ length: 6 }, () => client()));
        const results = await Promise.allSettled(clients.map((c, i) => c.startReworkRound(FEEDBACK_WORKER, { ...round, owner: `runner-${i}`, upTo: last.seq })));
        const started = results.filter((r) => r.status === "fulfilled" && r.value !== undefined);
        expect(started).toHaveLength(1);
        for (const lost of results.filter((r) => r.status === "rejected")) {
          expect((lost as PromiseRejectedResult).reason).toBeInstanceOf(TransitionConflictError);
        }
        const worker = await store.requireWorker(FEEDBACK_WORKER);
        expect(worker).toMatchObject({ state: "WORKING", reworkRounds: 1 });
        expect((await store.history(FEEDBACK_WORKER)).filter((t) => t.to === "WORKING")).toHaveLength(1);
      });
    });

    describe("ports", () => {
      it("gives each worker a block of its own, the same one when asked again, and frees it when the worker ends", async () => {
        for (const id of ["worker-p00001", "worker-p00002", "worker-p00003"]) await store.createWorker({ id }, cli);
        expect(await store.allocatePort({ workerId: "worker-p00001" }, RANGE)).toBe(4100);
        expect(await store.allocatePort({ workerId: "worker-p00002" }, RANGE)).toBe(4110);
        expect(await store.allocatePort({ workerId: "worker-p00001" }, RANGE)).toBe(4100);
        expect((await store.getWorker("worker-p00002"))?.port).toBe(4110);
        expect((await store.listWorkers()).map((w) => w.port)).toEqual([4100, 4110, null]);

        // a failure keeps the port (a retry runs in the same worktree); an end frees it
        expect((await store.transition("worker-p00001", "NEEDS_INIT", "UNKNOWN", { source: "runner" })).port).toBe(4100);
        expect((await store.getWorker("worker-p00001"))?.port).toBe(4100);
        expect((await store.transition("worker-p00001", "UNKNOWN", "ABANDONED", { source: "cli" })).port).toBeNull();
        expect((await store.getWorker("worker-p00001"))?.port).toBeNull();
        expect(await store.allocatePort({ workerId: "worker-p00003" }, RANGE)).toBe(4100);
        expect((await store.setState("worker-p00002", "MERGED", { source: "admin" })).port).toBeNull();
        expect((await store.getWorker("worker-p00002"))?.port).toBeNull();
        expect((await store.updateWorker("worker-p00003", { description: "x" })).port).toBe(4100);
        expect(await store.removeWorker("worker-p00003")).toBe(true);
        await store.createWorker({ id: "worker-p00004" }, cli);
        expect(await store.allocatePort({ workerId: "worker-p00004" }, RANGE, 4150)).toBe(4150);
        // a preferred port that is not one of the range's blocks is not taken
        await store.createWorker({ id: "worker-p00005" }, cli);
        expect(await store.allocatePort({ workerId: "worker-p00005" }, RANGE, 4155)).toBe(4100);
      });

      it("says when the range is full, and a released block is free again", async () => {
        const tiny = { from: 65_526, perWorker: 10 };
        for (const id of ["worker-p00001", "worker-p00002"]) await store.createWorker({ id }, cli);
        expect(await store.allocatePort({ workerId: "worker-p00001" }, tiny)).toBe(65_526);
        expect(await store.allocatePort({ workerId: "worker-p00002" }, tiny)).toBeUndefined();
        expect(await store.releasePort({ workerId: "worker-p00001" })).toBe(true);
        expect(await store.releasePort({ workerId: "worker-p00001" })).toBe(false);
        expect(await store.allocatePort({ workerId: "worker-p00002" }, tiny)).toBe(65_526);
        // a block of another range that overlaps a held one is not free, even when preferred
        expect(await store.allocatePort({ workerId: "worker-p00001" }, { from: 65_518, perWorker: 4 }, 65_526)).toBe(65_518);
      });

      it("never gives two of many clients allocating at once blocks that overlap", async () => {
        const ids = Array.from({ length: 16 }, (_, i) => `worker-race${String(i).padStart(2, "0")}`);
        for (const id of ids) await store.createWorker({ id }, cli);
        const clients = await Promise.all(Array.from({ length: 4 }, () => client()));
        const ports = await Promise.all(ids.map((id, i) => clients[i % clients.length]!.allocatePort({ workerId: id }, RANGE)));
        expect([...ports].sort((a, b) => a! - b!)).toEqual(ids.map((_, i) => 4100 + 10 * i));
        expect((await store.listWorkers()).map((w) => w.port).sort()).toEqual([...ports].sort());
      });
    });

    describe("spare worktrees", () => {
      const addSpare = (id: string, owner = "host:1:filler", repoPath = "/repo", c: WorkerStore = store) =>
        c.addSpare({ id, repoPath, path: `/pool/${id}`, baseBranch: "main", baseCommit: "c0ffee", owner, leaseMs: MINUTE });

      it("are recorded while made, handed to one taker once ready, and hand their port on to the worker", async () => {
        const made = await addSpare("spare-aaaaaa");
        expect(made).toMatchObject({ id: "spare-aaaaaa", state: "filling", port: null, owner: "host:1:filler", repoPath: "/repo", path: "/pool/spare-aaaaaa", baseBranch: "main", baseCommit: "c0ffee", note: null });
        expect(made.createdAt).toMatch(ISO);
        const lease = Date.parse(made.leaseUntil!) - Date.parse(made.createdAt);
        expect(lease).toBeGreaterThanOrEqual(MINUTE - 1000);
        expect(lease).toBeLessThanOrEqual(MINUTE + 1000);
        expect((await rejection(addSpare("spare-aaaaaa"))).message).toMatch(/recorded already/);
        const samePath = { id: "spare-other1", repoPath: "/repo", path: made.path, baseBranch: null, baseCommit: null, owner: "o", leaseMs: MINUTE };
        expect((await rejection(store.addSpare(samePath))).message).toMatch(/recorded already/);
        expect(await store.allocatePort({ spareId: "spare-aaaaaa" }, RANGE)).toBe(4100);
        expect(await store.takeSpare("/repo", "host:2:spawn", MINUTE)).toBeUndefined(); // not ready yet

        // only its owner makes it ready
        expect(await store.moveSpare("spare-aaaaaa", "filling", "ready", { owner: null, leaseMs: null }, "host:9:other")).toBeUndefined();
        expect(await store.moveSpare("spare-aaaaaa", "filling", "ready", { owner: null, leaseMs: null }, "host:1:filler")).toMatchObject({
          state: "ready",
          owner: null,
          leaseUntil: null,
          port: 4100,
        });
        const taken = await store.takeSpare("/repo", "host:2:spawn", MINUTE);
        expect(taken).toMatchObject({ id: "spare-aaaaaa", state: "taken", owner: "host:2:spawn", port: 4100 });
        expect(Date.parse(taken!.leaseUntil!)).toBeGreaterThan(Date.parse(taken!.updatedAt));
        expect(await store.takeSpare("/repo", "host:3:spawn", MINUTE)).toBeUndefined();

        await store.createWorker({ id: "worker-aaaaaa" }, cli);
        expect(await store.handOverSpare("spare-aaaaaa", "host:3:spawn", "worker-aaaaaa")).toBeUndefined();
        expect(await rejection(store.handOverSpare("spare-aaaaaa", "host:2:spawn", "worker-nope00"))).toBeInstanceOf(NotFoundError);
        expect(await store.handOverSpare("spare-aaaaaa", "host:2:spawn", "worker-aaaaaa")).toEqual({ port: 4100 });
        expect(await store.getSpare("spare-aaaaaa")).toBeUndefined();
        expect((await store.getWorker("worker-aaaaaa"))?.port).toBe(4100);
      });

      it("a worker that holds a port keeps it, and the spare's is freed", async () => {
        await store.createWorker({ id: "worker-aaaaaa" }, cli);
        await store.allocatePort({ workerId: "worker-aaaaaa" }, RANGE);
        await addSpare("spare-aaaaaa");
        await store.allocatePort({ spareId: "spare-aaaaaa" }, RANGE);
        await store.moveSpare("spare-aaaaaa", "filling", "ready");
        await store.takeSpare("/repo", "me", MINUTE);
        expect(await store.handOverSpare("spare-aaaaaa", "me", "worker-aaaaaa")).toEqual({ port: 4100 });
        await store.createWorker({ id: "worker-bbbbbb" }, cli);
        expect(await store.allocatePort({ workerId: "worker-bbbbbb" }, RANGE)).toBe(4110);
      });

      it("are taken oldest first, one checkout's at a time, and a removed spare frees its port", async () => {
        await addSpare("spare-aaaaaa");
        await addSpare("spare-bbbbbb");
        await addSpare("spare-cccccc", "o", "/other");
        for (const id of ["spare-aaaaaa", "spare-bbbbbb", "spare-cccccc"]) await store.moveSpare(id, "filling", "ready");
        expect((await store.listSpares("/repo")).map((s) => s.id)).toEqual(["spare-aaaaaa", "spare-bbbbbb"]);
        expect((await store.listSpares()).map((s) => s.id)).toEqual(["spare-aaaaaa", "spare-bbbbbb", "spare-cccccc"]);
        expect((await store.takeSpare("/repo", "me", MINUTE))?.id).toBe("spare-aaaaaa");
        expect((await store.takeSpare("/repo", "me", MINUTE))?.id).toBe("spare-bbbbbb");
        expect(await store.takeSpare("/repo", "me", MINUTE)).toBeUndefined();
        await store.allocatePort({ spareId: "spare-cccccc" }, RANGE);
        expect(await store.removeSpare("spare-cccccc")).toBe(true);
        expect(await store.removeSpare("spare-cccccc")).toBe(false);
        await store.createWorker({ id: "worker-aaaaaa" }, cli);
        expect(await store.allocatePort({ workerId: "worker-aaaaaa" }, RANGE)).toBe(4100);
      });

      it("keeps a note and lets go of a lease, by compare-and-swap", async () => {
        await addSpare("spare-aaaaaa");
        await store.moveSpare("spare-aaaaaa", "filling", "ready", { owner: null, leaseMs: null });
        expect(await store.moveSpare("spare-aaaaaa", "filling", "dirty", { note: "x" })).toBeUndefined();
        await store.takeSpare("/repo", "me", MINUTE);
        const dirty = await store.moveSpare("spare-aaaaaa", "taken", "dirty", { note: "changed since it was made (a.txt)", owner: null, leaseMs: null }, "me");
        expect(dirty).toMatchObject({ state: "dirty", note: "changed since it was made (a.txt)", owner: null, leaseUntil: null });
        expect(await store.getSpare("spare-aaaaaa")).toEqual(dirty);
      });

      it("renews the leases of spares being filled or taken with their owner's workers", async () => {
        await store.addSpare({ id: "spare-aaaaaa", repoPath: "/repo", path: "/pool/a", baseBranch: null, baseCommit: null, owner: "runner-1", leaseMs: -1000 });
        await store.addSpare({ id: "spare-bbbbbb", repoPath: "/repo", path: "/pool/b", baseBranch: null, baseCommit: null, owner: "runner-2", leaseMs: -1000 });
        await store.createWorker({ id: "worker-aaaaaa" }, cli);
        await store.claimWorker("worker-aaaaaa", "runner-1", -1000);
        const now = Date.now();
        expect(await store.renewLeases("runner-1", MINUTE)).toBe(2);
        expect(Date.parse((await store.getSpare("spare-aaaaaa"))!.leaseUntil!)).toBeGreaterThan(now);
        expect(Date.parse((await store.getSpare("spare-bbbbbb"))!.leaseUntil!)).toBeLessThan(now);
      });

      it("gives each ready spare to exactly one of many clients taking at once", async () => {
        for (const id of ["spare-aaaaaa", "spare-bbbbbb", "spare-cccccc"]) {
          await addSpare(id);
          await store.moveSpare(id, "filling", "ready");
        }
        const clients = await Promise.all(Array.from({ length: 6 }, () => client()));
        const taken = await Promise.all(clients.map((c, i) => c.takeSpare("/repo", `taker-${i}`, MINUTE)));
        const ids = taken.flatMap((s) => (s ? [s.id] : []));
        expect(ids.sort()).toEqual(["spare-aaaaaa", "spare-bbbbbb", "spare-cccccc"]);
        for (const spare of await store.listSpares()) {
          expect(spare.state).toBe("taken");
          expect(taken.find((s) => s?.id === spare.id)?.owner).toBe(spare.owner);
        }
      });
    });

    describe("runners", () => {
      it("registers runners, beats, and tells the stale by the store's clock", async () => {
        const registered = await store.registerRunner({ id: "host-a:1", host: "host-a", repositories: ["acme/web", "acme/api"] });
        expect(registered).toMatchObject({ id: "host-a:1", host: "host-a", repositories: ["acme/web", "acme/api"], stale: false, workers: 0 });
        expect(registered.startedAt).toMatch(ISO);
        expect(registered.heartbeatAt).toBe(registered.startedAt);
        expect(registered.settings).toEqual({});
        const settings = { "acme/web": { agents: ["code-author"], rework: { max_rounds: 3 } } };
        expect((await store.registerRunner({ id: "host-b:1", host: "host-b", repositories: [], settings })).settings).toEqual(settings);
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
        for (const id of ["worker-w00001", "worker-w00002", "worker-w00003"]) await store.createWorker({ id, repo: "acme/web" }, cli);
        // the claims go to a process of runner-a; the workers are held by runner-a
        for (let i = 0; i < 3; i++) await store.claimNextWorker("host-a:1:x", MINUTE, { repositories: ["acme/web"], runnerId: "runner-a" });
        await store.createWorker({ id: "worker-w00004", repo: "acme/web", runnerId: "runner-b" }, cli);
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
