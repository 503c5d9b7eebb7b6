import { PwError, TransitionConflictError } from "../core/errors.js";
import { isTerminal, type WorkerState } from "../core/states.js";
import { RETRY_RESET, RETRYABLE_STATES, type Worker } from "../core/worker.js";
import { requeueStackedChildren } from "./merge-flow.js";
import type { TransitionMeta, WorkerStore } from "./store.js";

/**
 * The moves the app, the runner and the CLI make on workers, in one place: the compare-and-swap
 * loop they share, and the moves with a meaning of their own (queue again, abandon, fail), so
 * each is made the same way (the same fields reset, the same races lost quietly) by everyone.
 */

/** How many times a move reads the worker and tries its compare-and-swap before it gives up. */
export const MOVE_ATTEMPTS = 4;

/** What a move decides on the worker as it is now: a compare-and-swap to try, or no move (with what to answer). */
export type MoveStep<R> = { to: WorkerState; meta: TransitionMeta } | { stop: R };

export type MoveOutcome<R> =
  /** The compare-and-swap took: `worker` as moved, `from` the worker it was decided on. */
  | { kind: "moved"; worker: Worker; from: Worker }
  /** `decide` chose not to move; `current` is the worker it looked at (undefined: there is none). */
  | { kind: "stopped"; result: R; current: Worker | undefined }
  /** Every try lost a race: others keep moving it. */
  | { kind: "kept-moving" };

export interface MoveOptions {
  /** The worker as the caller just read it, trusted for the first try (the move is a compare-and-swap either way). */
  first?: Worker;
  /** Tries before giving up (default MOVE_ATTEMPTS). */
  attempts?: number;
}

/**
 * The compare-and-swap loop: reads the worker, lets `decide` choose a move from the state it is in
 * now, and tries it; when another process moved the worker first (TransitionConflictError) it reads
 * again and decides again, up to `attempts` times. Any other failure is thrown.
 */
export async function moveWorker<R = undefined>(
  store: WorkerStore,
  id: string,
  decide: (current: Worker | undefined, attempt: number) => MoveStep<R> | Promise<MoveStep<R>>,
  options: MoveOptions = {},
): Promise<MoveOutcome<R>> {
  const attempts = options.attempts ?? MOVE_ATTEMPTS;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const current = attempt === 0 && options.first ? options.first : await store.getWorker(id);
    const step = await decide(current, attempt);
    if ("stop" in step) return { kind: "stopped", result: step.stop, current };
    // decide returns a move only for a worker it saw
    const from = current!;
    try {
      return { kind: "moved", worker: await store.transition(id, from.state, step.to, step.meta), from };
    } catch (error) {
      if (!(error instanceof TransitionConflictError)) throw error;
    }
  }
  return { kind: "kept-moving" };
}

/** What a move's caller says about it: who, under which delivery or invocation, and why. */
export type MoveMeta = Omit<TransitionMeta, "patch">;

/** The fields an abandoned worker lets go of: no agent runs for it, no request waits. */
export const ABANDON_RESET = { pid: null, request: null } as const;

/** The move to ABANDONED from the worker's state now, or undefined when it has ended already. */
export function abandonStep(current: Worker, meta: MoveMeta): MoveStep<never> | undefined {
  if (isTerminal(current.state)) return undefined;
  return { to: "ABANDONED", meta: { ...meta, patch: ABANDON_RESET } };
}

/**
 * Abandons a worker from whatever state it is in, reading again after a lost race. Undefined when
 * there is no such worker, it ended meanwhile (merged, abandoned), or it kept moving; otherwise
 * the worker moved and the worker as it was just before (its agent, its owner).
 */
export async function abandon(store: WorkerStore, id: string, meta: MoveMeta): Promise<{ worker: Worker; before: Worker } | undefined> {
  const outcome = await moveWorker(store, id, (current) => (current && abandonStep(current, meta)) ?? { stop: undefined });
  return outcome.kind === "moved" ? { worker: outcome.worker, before: outcome.from } : undefined;
}

/** Whether a worker in `state` may be queued again (UNKNOWN, ABANDONED). */
export function canQueueAgain(state: WorkerState): boolean {
  return RETRYABLE_STATES.includes(state);
}

/**
 * Queues a failed or abandoned worker again (-> NEEDS_INIT), free of its old claim, agent, error
 * and request, in one compare-and-swap from the state it was read in: a worker moved meanwhile is
 * a TransitionConflictError for the caller to report (a retry is a person's decision on what they saw).
 */
export async function queueAgain(store: WorkerStore, worker: Worker, meta: MoveMeta): Promise<Worker> {
  if (!canQueueAgain(worker.state)) {
    throw new PwError(`worker ${worker.id} is ${worker.state}: only ${RETRYABLE_STATES.join(" or ")} workers can be queued again`);
  }
  const queued = await store.transition(worker.id, worker.state, "NEEDS_INIT", { ...meta, patch: RETRY_RESET });
  // the PRs stacked on it that its close ended wait for its new PR
  await requeueStackedChildren(store, queued, { source: meta.source, correlationId: meta.correlationId ?? null });
  return queued;
}

/**
 * Fails a worker (-> UNKNOWN) with `message` as its error (its first line the move's detail),
 * unless it moved meanwhile or cannot fail from where it is (terminated, merged: their word
 * stands). A worker already UNKNOWN gets the newer message. `current` is the worker as just read.
 * Returns the worker as it is after (undefined when it is gone).
 */
export async function markFailed(store: WorkerStore, current: Worker, message: string, meta: MoveMeta): Promise<Worker | undefined> {
  const id = current.id;
  const patch = { error: message, pid: null };
  if (current.state === "UNKNOWN") return store.updateWorker(id, patch);
  try {
    return await store.transition(id, current.state, "UNKNOWN", { detail: message.split("\n")[0], ...meta, patch });
  } catch (error) {
    if (!(error instanceof PwError)) throw error;
    return store.getWorker(id);
  }
}
