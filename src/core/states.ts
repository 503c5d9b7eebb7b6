/** The life of a worker. `UNKNOWN` is the error state; `MERGED` and `ABANDONED` end a worker. */
export const WORKER_STATES = ["UNKNOWN", "NEEDS_INIT", "WORKING", "PR_OPEN", "MERGED", "ABANDONED"] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

/**
 * The one table of legal moves. `pw state set` (the administrator's override) is the only way
 * around it, and it is recorded as such.
 */
export const TRANSITIONS: Readonly<Record<WorkerState, readonly WorkerState[]>> = {
  // queued: the runner starts it, or setup fails, or someone terminates it first
  NEEDS_INIT: ["WORKING", "UNKNOWN", "ABANDONED"],
  // the agent runs (a first run, or a rework round that ends back in PR_OPEN); a merge seen
  // before the "opened" event, or made while a round runs, still lands in MERGED
  WORKING: ["PR_OPEN", "UNKNOWN", "ABANDONED", "MERGED"],
  // a PR waits for review; feedback (a review, a failed check, `/worker rework`) starts a rework round
  PR_OPEN: ["MERGED", "ABANDONED", "UNKNOWN", "WORKING"],
  // the end
  MERGED: [],
  // closed unmerged or terminated: a reopened PR or a retry brings it back
  ABANDONED: ["PR_OPEN", "NEEDS_INIT", "MERGED"],
  // an error: retry, a (re)opened PR, a merge found by reconcile, or giving up
  UNKNOWN: ["NEEDS_INIT", "PR_OPEN", "MERGED", "ABANDONED"],
};

export function isWorkerState(value: string): value is WorkerState {
  return (WORKER_STATES as readonly string[]).includes(value);
}

export function canTransition(from: WorkerState, to: WorkerState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isTerminal(state: WorkerState): boolean {
  return state === "MERGED" || state === "ABANDONED";
}
