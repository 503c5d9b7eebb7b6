import type { Worker } from "./worker.js";

/** Why a NEEDS_INIT worker cannot start yet, or undefined when it can. */
export function waitingFor(worker: Worker, all: readonly Worker[]): string | undefined {
  for (const dep of worker.dependsOn) {
    const key = dep.toLowerCase();
    const candidates = all.filter(
      (w) => w.taskId?.toLowerCase() === key && w.id !== worker.id && (w.repoPath === worker.repoPath || w.repo === worker.repo),
    );
    const newest = candidates.sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
    if (!newest) return `${dep} (no worker)`;
    if (newest.state !== "MERGED") return `${dep} (${newest.state})`;
  }
  return undefined;
}
