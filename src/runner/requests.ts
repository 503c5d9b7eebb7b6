import { hostname } from "node:os";
import { TransitionConflictError } from "../core/errors.js";
import { isTerminal } from "../core/states.js";
import type { Worker } from "../core/worker.js";
import type { PipelineDeps } from "./pipeline.js";
import { isProcessAlive, killGroup } from "./process.js";
import { appendWorkerLog, workerLogPath } from "./worklog.js";

/**
 * Carries out what the app recorded for the runner (`/worker terminate`): the worker goes to
 * ABANDONED first, so its pipeline sees the move and stops rather than reporting a failure,
 * then its agent's whole process group is killed. Its worktree is kept. Workers another live
 * runner holds are left to that runner, the only one that can reach their agent.
 */
export function carryOutRequests(deps: PipelineDeps, workers: readonly Worker[], heldByAnother: (worker: Worker) => boolean): number {
  let done = 0;
  for (const seen of workers) {
    if (seen.request !== "terminate" || heldByAnother(seen)) continue;
    let current: Worker | undefined = seen;
    let moved: Worker | undefined;
    for (let attempt = 0; attempt < 4 && current && !isTerminal(current.state); attempt++) {
      try {
        moved = deps.store.transition(current.id, current.state, "ABANDONED", {
          source: "runner",
          correlationId: deps.correlationId ?? null,
          detail: "terminated on request (/worker terminate)",
          patch: { pid: null, request: null },
        });
        break;
      } catch (error) {
        if (!(error instanceof TransitionConflictError)) throw error;
        current = deps.store.getWorker(seen.id);
      }
    }
    done++;
    if (!moved) {
      // it ended meanwhile (merged, abandoned): nothing is left to stop
      if (current && isTerminal(current.state)) deps.store.updateWorker(current.id, { request: null });
      continue;
    }
    const pid = current?.pid ?? null;
    const here = !current?.owner || current.owner.split(":")[0] === hostname();
    const killed = pid !== null && here && isProcessAlive(pid);
    if (killed) {
      void killGroup(pid).catch((error: Error) =>
        deps.logger.warn({ worker_id: seen.id, pid, err_message: error.message }, "agent not killed"),
      );
    }
    appendWorkerLog(workerLogPath(deps.paths.logsDir, seen.id), `terminated on request${killed ? " (agent killed)" : ""}`);
    deps.logger.info({ worker_id: seen.id, task_id: seen.taskId, state: "ABANDONED", killed }, "worker terminated on request");
  }
  return done;
}
