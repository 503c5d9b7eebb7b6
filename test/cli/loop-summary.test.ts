import { describe, expect, it } from "vitest";
import type { WorkerState } from "../../src/core/states.js";
import type { Worker } from "../../src/core/worker.js";
import { summarizeRun, summaryLines } from "../../src/cli/loop-summary.js";
import { workerRecord } from "../helpers/workers.js";

const repoPath = "/src/web";

function worker(id: string, taskId: string, state: WorkerState, more: Partial<Worker> = {}): Worker {
  return workerRecord({ id, taskId, state, repoPath, ...more });
}

const merged = worker("worker-aaaaa1", "T-1", "MERGED");
const open = worker("worker-aaaaa2", "T-2", "PR_OPEN");
const failedNow = worker("worker-aaaaa3", "T-3", "UNKNOWN", { error: "agent exited with code 2\nlast lines:\noops" });
const failedBefore = worker("worker-aaaaa4", "T-4", "UNKNOWN", { error: "push failed" });
const waitsOnFailed = worker("worker-aaaaa5", "T-5", "NEEDS_INIT", { dependsOn: ["T-3"] });
const waitsOnNobody = worker("worker-aaaaa6", "T-6", "NEEDS_INIT", { dependsOn: ["T-9"] });
const readyToStart = worker("worker-aaaaa7", "T-7", "NEEDS_INIT", { dependsOn: ["T-1"] });
const everyone = [merged, open, failedNow, failedBefore, waitsOnFailed, waitsOnNobody, readyToStart];

describe("summarizeRun", () => {
  it.each<[string, Worker[], Map<string, WorkerState>, Partial<Record<WorkerState, number>>, string[], string[]]>([
    ["no workers", [], new Map(), {}, [], []],
    [
      "counts every state, waits only on unmerged dependencies, fails only what this run failed",
      everyone,
      new Map<string, WorkerState>([
        [failedNow.id, "UNKNOWN"],
        [open.id, "PR_OPEN"],
      ]),
      { NEEDS_INIT: 3, PR_OPEN: 1, MERGED: 1, UNKNOWN: 2 },
      ["worker-aaaaa5 T-3 (UNKNOWN)", "worker-aaaaa6 T-9 (no worker)"],
      ["worker-aaaaa3"],
    ],
    [
      "a worker this run failed that someone retried since is not failed",
      [worker("worker-aaaaa3", "T-3", "NEEDS_INIT")],
      new Map<string, WorkerState>([["worker-aaaaa3", "UNKNOWN"]]),
      { NEEDS_INIT: 1 },
      [],
      [],
    ],
  ])("%s", (_name, workers, moved, counts, waiting, failed) => {
    const summary = summarizeRun({ workers, all: workers, moved });
    expect(summary.counts).toEqual(counts);
    expect(summary.waiting.map((w) => `${w.worker.id} ${w.on}`)).toEqual(waiting);
    expect(summary.failed.map((w) => w.id)).toEqual(failed);
  });

  it("finds dependencies among all workers, not only the runner's", () => {
    const other = worker("worker-bbbbb1", "T-1", "WORKING", { project: "other" });
    const mine = worker("worker-bbbbb2", "T-2", "NEEDS_INIT", { dependsOn: ["T-1"] });
    const summary = summarizeRun({ workers: [mine], all: [other, mine], moved: new Map() });
    expect(summary.waiting.map((w) => w.on)).toEqual(["T-1 (WORKING)"]);
  });
});

describe("summaryLines", () => {
  it("says the counts, who waits on what, and for each failure its first error line and what to run", () => {
    const summary = summarizeRun({ workers: everyone, all: everyone, moved: new Map([[failedNow.id, "UNKNOWN" as const]]) });
    expect(summaryLines(summary)).toEqual([
      "runner summary: 7 workers: 3 NEEDS_INIT, 1 PR_OPEN, 1 MERGED, 2 UNKNOWN",
      "waiting:",
      "  worker-aaaaa5  T-5  waits for T-3 (UNKNOWN) to be merged",
      "  worker-aaaaa6  T-6  waits for T-9 (no worker) to be merged",
      "failed in this run:",
      "  worker-aaaaa3  T-3  agent exited with code 2",
      "    `pw worker logs worker-aaaaa3` shows why; `pw worker retry worker-aaaaa3` runs it again",
    ]);
  });

  it("is one line when there is nothing to say", () => {
    expect(summaryLines(summarizeRun({ workers: [], all: [], moved: new Map() }))).toEqual(["runner summary: no workers"]);
    expect(summaryLines(summarizeRun({ workers: [open], all: [open], moved: new Map() }))).toEqual(["runner summary: 1 worker: 1 PR_OPEN"]);
  });
});
