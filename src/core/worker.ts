import type { MergeFlowRecord } from "./merge-flow.js";
import type { ReworkCause } from "./rework.js";
import type { WorkerState } from "./states.js";

/** One worker: a task, its branch and worktree, its agent, and where it stands. */
export interface Worker {
  id: string;
  taskId: string | null;
  state: WorkerState;
  /** GitHub repository as owner/name, when known. */
  repo: string | null;
  project: string | null;
  /** The local checkout the worktree was made from. */
  repoPath: string | null;
  branch: string | null;
  baseBranch: string | null;
  worktreePath: string | null;
  description: string | null;
  agent: string | null;
  prNumber: number | null;
  prUrl: string | null;
  /** Why the worker is in UNKNOWN, when it is. */
  error: string | null;
  /** Labels for its PR, besides the configured defaults. */
  labels: string[];
  milestone: string | null;
  /** Task ids that must be MERGED before this worker starts. */
  dependsOn: string[];
  /** The issue the task came from (`/worker spawn`); its PR closes it. */
  issueNumber: number | null;
  /**
   * The runner (`pw runners`) whose machine holds the worker's worktree: only it starts, reworks
   * and cleans up the worker. Null until a runner makes the worktree (or for a worker any
   * runner may take, `pw worker retry --anywhere`).
   */
  runnerId: string | null;
  /** The process that claimed the worker, and until when its claim holds without renewal. */
  owner: string | null;
  leaseUntil: string | null;
  /** Process id of the running agent (leader of its process group). */
  pid: number | null;
  /** What someone asked the owning runner to do (`/worker terminate`); cleared when done. */
  request: WorkerRequest | null;
  /** The one comment on `issueNumber` that shows how the worker stands, edited as it moves. */
  statusCommentId: number | null;
  /** What that comment last showed (state, PR, error), so each change is written once. */
  statusCommentKey: string | null;
  /** Rework rounds started on its PR (`PR_OPEN -> WORKING -> PR_OPEN`), every cause. */
  reworkRounds: number;
  /** Of those, the automatic ones (reviews, failed checks): what `rework.max_rounds` caps. */
  automaticReworkRounds: number;
  /** What started the last round: `review`, `check`, `comment` (`/worker rework`) or `cli`. */
  reworkCause: ReworkCause | null;
  /** The first of the worker's own ports (PW_PORT), from when it gets a worktree until it ends. */
  port: number | null;
  /** The merge flow: whether it starts stacked, what its PR is stacked on, its last update to its base and merge action. */
  mergeFlow: MergeFlowRecord;
  createdAt: string;
  updatedAt: string;
}

/** Requests the app records for the runner that owns a worker. */
export const WORKER_REQUESTS = ["terminate"] as const;
export type WorkerRequest = (typeof WORKER_REQUESTS)[number];

/** The states a retry may queue a worker again from. */
export const RETRYABLE_STATES: readonly WorkerState[] = ["UNKNOWN", "ABANDONED"];

/** What a retry clears: the old claim, agent, error and request (the worktree and PR stay). */
export const RETRY_RESET = { owner: null, leaseUntil: null, pid: null, error: null, request: null } as const satisfies Partial<Worker>;

/** Who caused a transition; `admin` is `pw state set`. */
export const TRANSITION_SOURCES = ["cli", "admin", "runner", "webhook", "reconcile", "command"] as const;
export type TransitionSource = (typeof TRANSITION_SOURCES)[number];

export interface TransitionRecord {
  workerId: string;
  /** null when the record was created by this move. */
  from: WorkerState | null;
  to: WorkerState;
  at: string;
  source: TransitionSource;
  correlationId: string | null;
  detail: string | null;
}
