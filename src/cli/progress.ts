import { formatDuration } from "../core/duration.js";
import type { Worker } from "../core/worker.js";

/** One line about a worker: id, task, state, time in this run, and its PR or error. */
export function progressLine(worker: Worker, startedAt: number, waiting?: string): string {
  const elapsed = formatDuration(Date.now() - startedAt);
  const tail =
    worker.state === "PR_OPEN" || worker.state === "MERGED"
      ? (worker.prUrl ?? "")
      : worker.state === "UNKNOWN"
        ? (worker.error?.split("\n")[0] ?? "")
        : waiting
          ? `waiting for ${waiting}`
          : "";
  return [worker.id, worker.taskId ?? "-", worker.state.padEnd(10), elapsed.padStart(6), tail].join("  ").trimEnd();
}

/**
 * Shows workers as they move: on a terminal, one live line each, redrawn in place; elsewhere
 * (a pipe, CI), a plain line whenever a worker's line changes.
 */
export class ProgressView {
  private readonly last = new Map<string, string>();
  private drawn = 0;
  private readonly startedAt = Date.now();

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {}

  private get live(): boolean {
    return Boolean(this.out.isTTY);
  }

  update(workers: Worker[], waiting: (worker: Worker) => string | undefined): void {
    const lines = workers.map((w) => progressLine(w, this.startedAt, waiting(w)));
    if (this.live) {
      if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}F`);
      for (const line of lines) this.out.write(`\x1b[2K${line}\n`);
      this.drawn = lines.length;
      return;
    }
    workers.forEach((worker, i) => {
      // elapsed time changes every second: compare without it
      const key = `${worker.state}|${worker.prUrl}|${worker.error}|${waiting(worker)}`;
      if (this.last.get(worker.id) === key) return;
      this.last.set(worker.id, key);
      this.out.write(`${lines[i]}\n`);
    });
  }
}
