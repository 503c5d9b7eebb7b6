/**
 * What `pw loop` says when it stops: how many of its workers are in each state, which queued
 * ones wait on a dependency, and which this run failed, with the commands to see why and to
 * run them again.
 */
import { waitingFor } from "../core/dependencies.js";
import type { WorkerState } from "../core/states.js";
import type { Worker } from "../core/worker.js";
import type { LogFormat } from "../log/env.js";
import type { Logger } from "../log/logger.js";
import { print, printError } from "./output.js";
import { failureHint } from "./views.js";

/** The order a worker goes through, failures last: the order counts are shown in. */
const SHOWN_ORDER: readonly WorkerState[] = ["NEEDS_INIT", "WORKING", "PR_OPEN", "MERGED", "ABANDONED", "UNKNOWN"];

export interface RunSummary {
  /** How many of the runner's workers are in each state; states without any are left out. */
  counts: Partial<Record<WorkerState, number>>;
  /** Queued workers that cannot start until a task they depend on is merged. */
  waiting: Array<{ worker: Worker; on: string }>;
  /** Workers this run moved to UNKNOWN that are still there; older failures are not counted. */
  failed: Worker[];
}

function firstLine(text: string | null): string {
  return text?.split("\n")[0] ?? "(no error recorded)";
}

export interface RunFacts {
  /** The runner's workers (its repositories and project). */
  workers: readonly Worker[];
  /** Every worker of the store, where dependencies are looked up. */
  all: readonly Worker[];
  /** The state this process last moved each worker to. */
  moved: ReadonlyMap<string, WorkerState>;
}

export function summarizeRun({ workers, all, moved }: RunFacts): RunSummary {
  const counts: Partial<Record<WorkerState, number>> = {};
  for (const state of SHOWN_ORDER) {
    const count = workers.filter((w) => w.state === state).length;
    if (count > 0) counts[state] = count;
  }
  const waiting: RunSummary["waiting"] = [];
  for (const worker of workers) {
    if (worker.state !== "NEEDS_INIT") continue;
    const on = waitingFor(worker, all);
    if (on) waiting.push({ worker, on });
  }
  const failed = workers.filter((w) => w.state === "UNKNOWN" && moved.get(w.id) === "UNKNOWN");
  return { counts, waiting, failed };
}

/** The summary as lines for a person. */
export function summaryLines(summary: RunSummary): string[] {
  const counts = Object.entries(summary.counts).map(([state, count]) => `${count} ${state}`);
  const total = Object.values(summary.counts).reduce((sum, count) => sum + count, 0);
  const lines = [total === 0 ? "runner summary: no workers" : `runner summary: ${total} worker${total === 1 ? "" : "s"}: ${counts.join(", ")}`];
  if (summary.waiting.length > 0) {
    lines.push("waiting:");
    for (const { worker, on } of summary.waiting) lines.push(`  ${worker.id}  ${worker.taskId ?? "-"}  waits for ${on} to be merged`);
  }
  if (summary.failed.length > 0) {
    lines.push("failed in this run:");
    for (const worker of summary.failed) {
      lines.push(`  ${worker.id}  ${worker.taskId ?? "-"}  ${firstLine(worker.error)}`, `    ${failureHint(worker.id)}`);
    }
  }
  return lines;
}

/**
 * Prints the summary in the run's log format: readable lines, or one JSON log line (an error
 * line when a worker failed). A failure also gets one line on stderr, whatever the format.
 */
export function reportRun(summary: RunSummary, output: { format: LogFormat; logger: Logger }): void {
  if (output.format === "pretty") {
    for (const line of summaryLines(summary)) print(line);
  } else {
    const fields = {
      workers: summary.counts,
      waiting: summary.waiting.map(({ worker, on }) => ({ worker_id: worker.id, task_id: worker.taskId, waits_for: on })),
      failed: summary.failed.map((w) => ({ worker_id: w.id, task_id: w.taskId, error: firstLine(w.error) })),
    };
    if (summary.failed.length > 0) output.logger.error(fields, "runner summary");
    else output.logger.info(fields, "runner summary");
  }
  if (summary.failed.length > 0) {
    const ids = summary.failed.map((w) => w.id);
    const what = ids.length === 1 ? `worker ${ids[0]} failed` : `${ids.length} workers failed (${ids.join(", ")})`;
    printError(`${what} in this run: ${failureHint(ids.length === 1 ? ids[0]! : "ID")}`);
  }
}
