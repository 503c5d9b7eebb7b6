import { hostname } from "node:os";
import { isTerminal } from "../core/states.js";
import type { TransitionSource, Worker } from "../core/worker.js";
import { abandon } from "../store/moves.js";
import type { PipelineDeps } from "./pipeline.js";
import { isProcessAlive, killGroup } from "./process.js";
import { appendWorkerLog, workerLogPath } from "./worklog.js";

/** Whether a recorded agent process runs on this machine (where its group can be signalled). */
export function agentRunsHere(worker: Worker): boolean {
  const host = worker.owner?.split(":")[0];
  return worker.pid !== null && (host === undefined || host === hostname()) && isProcessAlive(worker.pid);
}

/**
 * Moves a worker to ABANDONED, re-reading after a lost race. The move comes before any kill, so
 * the worker's pipeline sees it and stops rather than reporting its killed agent as a failure.
 * Returns the moved worker and the agent it was running here (for the caller to kill), or
 * undefined when the worker ended meanwhile.
 */
export async function abandonWorker(
  deps: PipelineDeps,
  id: string,
  meta: { source: TransitionSource; detail: string },
): Promise<{ worker: Worker; agentPid: number | null } | undefined> {
  const abandoned = await abandon(deps.store, id, { ...meta, correlationId: deps.correlationId ?? null });
  return abandoned && { worker: abandoned.worker, agentPid: agentRunsHere(abandoned.before) ? abandoned.before.pid : null };
}

/**
 * Carries out what the app recorded for the runner (`/worker terminate`): the worker goes to
 * ABANDONED, then its agent's whole process group is killed. Its worktree is kept. Workers another
 * live runner holds are left to that runner, the only one that can reach their agent.
 */
export async function carryOutRequests(deps: PipelineDeps, workers: readonly Worker[], heldByAnother: (worker: Worker) => boolean): Promise<number> {
  let done = 0;
  for (const seen of workers) {
    if (seen.request !== "terminate" || heldByAnother(seen)) continue;
    done++;
    const abandoned = await abandonWorker(deps, seen.id, { source: "runner", detail: "terminated on request (/worker terminate)" });
    if (!abandoned) {
      // it ended meanwhile (merged, abandoned): nothing is left to stop
      const current = await deps.store.getWorker(seen.id);
      if (current && isTerminal(current.state)) await deps.store.updateWorker(current.id, { request: null });
      continue;
    }
    const pid = abandoned.agentPid;
    if (pid !== null) {
      void killGroup(pid).catch((error: Error) =>
        deps.logger.warn({ worker_id: seen.id, pid, err_message: error.message }, "agent not killed"),
      );
    }
    appendWorkerLog(workerLogPath(deps.paths.logsDir, seen.id), `terminated on request${pid !== null ? " (agent killed)" : ""}`);
  }
  return done;
}
