/**
 * A delivery whose handler finds the store unavailable (after its id was taken) is answered and
 * held: the handler runs again once the store answers, and the move it makes lands once.
 */
import { describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/core/errors.js";
import type { WorkerStore } from "../../src/store/store.js";
import { loadPayload, retarget } from "../helpers/webhooks.js";
import { until } from "../helpers/serve.js";
import { harnessPerTest, REPO } from "./harness.js";

const open = harnessPerTest();

/** `store` behind a connection that is down while `down()` says so (pings and closing aside). */
function flaky(store: WorkerStore, down: () => boolean): WorkerStore {
  return new Proxy(store, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== "function" || key === "close") return value;
      return (...args: unknown[]) =>
        down() ? Promise.reject(new StoreUnavailableError("database is unreachable")) : (value as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
}

describe("held deliveries", () => {
  it("a delivery whose handler meets an outage is answered, held, and handled once the store is back: one move, one status comment", async () => {
    const app = await open({ drainAfterReceive: false });
    const issue = app.github.addIssue(REPO, { title: "Add the widget", body: null });
    await app.addWorker({ id: "worker-held01", state: "PR_OPEN", issueNumber: issue.number });
    const pr = app.github.addPullRequest(REPO, { head: "feature/task-1" });
    app.github.mergePullRequest(REPO, pr.number);
    let outage = true;
    const store = app.deps.store;
    app.deps.store = flaky(store, () => outage);

    await app.receive("pull_request.closed", retarget(loadPayload("pull_request.closed.merged"), { repo: REPO, number: pr.number, headRef: "feature/task-1" }), "held-1");
    expect(app.deps.deliveries.heldCount).toBe(1);
    expect((await store.requireWorker("worker-held01")).state).toBe("PR_OPEN");

    outage = false;
    await until(() => app.deps.deliveries.heldCount === 0, 10_000, "the held delivery handled");
    await app.deps.followUps.drain();
    expect((await store.history("worker-held01")).filter((t) => t.to === "MERGED")).toEqual([
      expect.objectContaining({ from: "PR_OPEN", source: "webhook", correlationId: "held-1" }),
    ]);
    expect(app.github.comments(REPO, issue.number).filter((c) => c.body.includes("<!-- parallel-workers:status"))).toHaveLength(1);
    // a redelivery of it now is one seen before
    await app.receive("pull_request.closed", retarget(loadPayload("pull_request.closed.merged"), { repo: REPO, number: pr.number, headRef: "feature/task-1" }), "held-1");
    expect(app.logLines().filter((l) => l.msg === "delivery seen before: ignored")).toHaveLength(1);
    expect(app.logLines().filter((l) => l.msg === "held delivery handled")).toHaveLength(1);
  });
});
