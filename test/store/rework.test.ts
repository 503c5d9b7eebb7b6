/**
 * The store's part of the rework loop: feedback recorded once per key, a scope answered by one
 * round at most, and a round started as one compare-and-swap that takes the waiting feedback.
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { NotFoundError, StoreError, TransitionConflictError } from "../../src/core/errors.js";
import { checkFeedback, requestFeedback, reviewFeedback } from "../../src/core/rework.js";
import { MIGRATIONS } from "../../src/store/migrations.js";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import type { NewFeedback } from "../../src/store/store.js";
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

const ID = "worker-aaaaaa";
const claim = { owner: "host:1:abc", leaseUntil: "2099-01-01T00:00:00.000Z", source: "runner" as const, correlationId: "c-1" };

function review(id: number, author = "alice"): NewFeedback {
  return {
    workerId: ID,
    key: `review:acme/widgets:${id}`,
    scope: `review:${id}`,
    detail: reviewFeedback({ reviewId: id, author, body: `fix it (${id})`, url: null, comments: [] }),
  };
}

function check(runId: number, suiteId: number): NewFeedback {
  return {
    workerId: ID,
    key: `check-run:acme/widgets:${runId}`,
    scope: `check-suite:${suiteId}`,
    detail: checkFeedback({ suiteId, headSha: "a".repeat(40), runs: [{ name: `ci-${runId}`, conclusion: "failure", title: null, summary: null, annotations: [], annotationsTotal: 0 }] }),
  };
}

function prOpen(store: SqliteWorkerStore): void {
  store.createWorker({ id: ID, taskId: "T-1", repo: "acme/widgets", prNumber: 7, state: "PR_OPEN" }, { source: "cli" });
}

describe("rework feedback", () => {
  it("records feedback once per key and lists what waits, oldest first", () => {
    const store = openStore();
    prOpen(store);
    const first = store.addFeedback(review(1));
    expect(first).toMatchObject({ workerId: ID, cause: "review", round: null, detail: { author: "alice", body: "fix it (1)" } });
    expect(store.addFeedback(review(1))).toBeUndefined();
    store.addFeedback(review(2, "bob"));
    expect(store.listFeedback({ workerId: ID, pending: true }).map((f) => f.detail.cause === "review" && f.detail.reviewId)).toEqual([1, 2]);
    expect(store.listFeedback({ pending: true, workerStates: ["PR_OPEN"] })).toHaveLength(2);
    expect(store.listFeedback({ pending: true, workerStates: ["MERGED"] })).toEqual([]);
  });

  it("keeps whether feedback was held for a person's round", () => {
    const store = openStore();
    prOpen(store);
    expect(store.addFeedback({ ...review(1), held: true })!.held).toBe(true);
    expect(store.addFeedback(review(2))!.held).toBe(false);
    expect(store.listFeedback({ workerId: ID }).map((f) => f.held)).toEqual([true, false]);
  });

  it("refuses feedback for a worker it does not know", () => {
    const store = openStore();
    expect(() => store.addFeedback(review(1))).toThrow(NotFoundError);
  });

  it("starts a round as one step: PR_OPEN -> WORKING, claimed, counted, taking the feedback up to the seq seen", () => {
    const store = openStore();
    prOpen(store);
    const a = store.addFeedback(review(1))!;
    store.addFeedback(check(10, 100));
    const b = store.addFeedback(review(2, "bob"))!;
    const late = store.addFeedback(check(11, 101))!;
    expect(late.seq).toBeGreaterThan(b.seq);

    const started = store.startReworkRound(ID, { ...claim, upTo: b.seq })!;
    expect(started).toMatchObject({ round: 1, cause: "review", automatic: true });
    expect(started.feedback.map((f) => f.seq)).toEqual([a.seq, a.seq + 1, b.seq]);
    expect(started.worker).toMatchObject({ state: "WORKING", owner: claim.owner, leaseUntil: claim.leaseUntil, reworkRounds: 1, automaticReworkRounds: 1, reworkCause: "review", prNumber: 7 });
    expect(store.history(ID).at(-1)).toMatchObject({
      from: "PR_OPEN",
      to: "WORKING",
      source: "runner",
      correlationId: "c-1",
      detail: "rework round 1: review by @alice; failed check ci-10; review by @bob",
    });
    // what came after the runner looked waits for the next round
    expect(store.listFeedback({ workerId: ID, pending: true }).map((f) => f.seq)).toEqual([late.seq]);
    expect(() => store.startReworkRound(ID, { ...claim, upTo: late.seq })).toThrow(TransitionConflictError);
  });

  it("answers a scope once: feedback of a review or check suite a round took adds nothing; one still waiting joins it", () => {
    const store = openStore();
    prOpen(store);
    store.addFeedback(check(10, 100));
    // another failed run of the same suite before the round: joins it
    const joined = store.addFeedback(check(11, 100))!;
    const started = store.startReworkRound(ID, { ...claim, upTo: joined.seq })!;
    expect(started.feedback).toHaveLength(2);
    store.transition(ID, "WORKING", "PR_OPEN", { source: "runner" });
    // a run of that suite reported after its round: nothing
    expect(store.addFeedback(check(12, 100))).toBeUndefined();
    expect(store.addFeedback(check(13, 101))).toBeDefined();
  });

  it("a person's request makes the round a manual one: it is not counted against max_rounds", () => {
    const store = openStore();
    prOpen(store);
    store.addFeedback(review(1));
    const asked = store.addFeedback({ workerId: ID, key: "comment:1", scope: "comment:1", detail: requestFeedback("comment", "also rename it", { id: 5, author: "carol" }) })!;
    const started = store.startReworkRound(ID, { ...claim, upTo: asked.seq })!;
    expect(started).toMatchObject({ round: 1, cause: "comment", automatic: false });
    expect(started.worker).toMatchObject({ reworkRounds: 1, automaticReworkRounds: 0, reworkCause: "comment" });
  });

  it("starts nothing when no feedback waits, and changes nothing", () => {
    const store = openStore();
    prOpen(store);
    expect(store.startReworkRound(ID, { ...claim, upTo: 1000 })).toBeUndefined();
    expect(store.requireWorker(ID)).toMatchObject({ state: "PR_OPEN", owner: null, reworkRounds: 0 });
    expect(store.history(ID)).toHaveLength(1);
  });

  it("forgets a worker's feedback with the worker", () => {
    const store = openStore();
    prOpen(store);
    store.addFeedback(review(1));
    store.removeWorker(ID);
    expect(store.listFeedback({})).toEqual([]);
    // the key is free again for a worker made anew
    prOpen(store);
    expect(store.addFeedback(review(1))).toBeDefined();
  });

  it("refuses feedback a newer release wrote, naming the fix", () => {
    const file = join(tempDir(), "state.db");
    const store = openStore(file);
    prOpen(store);
    const db = new Database(file);
    db.prepare("INSERT INTO rework_feedback (worker_id, key, scope, cause, detail, received_at) VALUES (?, 'k', 's', 'pager', '{\"cause\":\"pager\"}', 'now')").run(ID);
    db.close();
    expect(() => store.listFeedback({ workerId: ID })).toThrow(StoreError);
    expect(() => store.listFeedback({ workerId: ID })).toThrow("upgrade parallel-workers");
  });
});

describe("schema step 8: rework", () => {
  it("gives the workers of an older file no rounds and no cause", () => {
    const file = join(tempDir(), "state.db");
    const db = new Database(file);
    for (const step of MIGRATIONS.slice(0, 6)) db.exec(step);
    db.pragma("user_version = 6");
    db.prepare(
      `INSERT INTO workers (id, task_id, state, repo, pr_number, created_at, updated_at)
       VALUES ('worker-old006', 'T-6', 'PR_OPEN', 'acme/widgets', 6, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`,
    ).run();
    db.close();
    const store = openStore(file);
    expect(store.requireWorker("worker-old006")).toMatchObject({ reworkRounds: 0, automaticReworkRounds: 0, reworkCause: null });
    expect(store.listFeedback({})).toEqual([]);
  });
});
