/**
 * The merge flow's writes that the app, the runner and the CLI share: what the flow did for a
 * worker (its record, shown to people), and queueing again the stacked children a parent's
 * close ended when the parent is retried.
 */
import { TransitionConflictError } from "../core/errors.js";
import { childrenToRequeue, type MergeFlowRecord } from "../core/merge-flow.js";
import { RETRY_RESET, type TransitionSource, type Worker } from "../core/worker.js";
import type { NewFollowUp, WorkerStore } from "./store.js";

/**
 * Writes part of a worker's merge-flow record (the rest kept). Read, then written: two writers
 * at once may lose one's part, which only costs a line of what people see (nothing decides on it).
 */
export async function recordMergeFlow(store: Pick<WorkerStore, "getWorker" | "updateWorker">, id: string, part: Partial<MergeFlowRecord>): Promise<Worker | undefined> {
  const worker = await store.getWorker(id);
  if (!worker) return undefined;
  return store.updateWorker(id, { mergeFlow: { ...worker.mergeFlow, ...part } });
}

/**
 * A parent was queued again (`pw worker retry`, `/worker retry`): the children stacked on it
 * that its close ended (ABANDONED) are queued again too, and wait for its new PR. Returns them.
 */
export async function requeueStackedChildren(
  store: Pick<WorkerStore, "listWorkers" | "transition">,
  parent: Worker,
  meta: { source: TransitionSource; correlationId?: string | null; followUps?: (child: Worker) => NewFollowUp[] },
): Promise<Worker[]> {
  const related = parent.repo ? await store.listWorkers({ repo: parent.repo }) : (await store.listWorkers()).filter((w) => w.repoPath === parent.repoPath);
  const queued: Worker[] = [];
  for (const child of childrenToRequeue(parent, related)) {
    try {
      queued.push(
        await store.transition(child.id, "ABANDONED", "NEEDS_INIT", {
          source: meta.source,
          correlationId: meta.correlationId ?? null,
          detail: `its parent ${parent.taskId ?? parent.id} (worker ${parent.id}) was queued again: it waits for its pull request`,
          patch: RETRY_RESET,
          followUps: meta.followUps?.(child) ?? [],
        }),
      );
    } catch (error) {
      // moved meanwhile (retried by hand, reopened): its own word stands
      if (!(error instanceof TransitionConflictError)) throw error;
    }
  }
  return queued;
}
