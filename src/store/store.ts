import type { WorkerState } from "../core/states.js";
import type { TransitionRecord, TransitionSource, Worker } from "../core/worker.js";

/** Fields a caller may set when creating or updating a worker (never `state`: that moves by transition). */
export type WorkerFields = Partial<Omit<Worker, "id" | "state" | "createdAt" | "updatedAt">>;

export interface NewWorker extends WorkerFields {
  id: string;
  state?: WorkerState;
}

/** Who moved a worker and why; lands in the transition history. */
export interface TransitionMeta {
  source: TransitionSource;
  correlationId?: string | null;
  detail?: string | null;
  /** Fields written in the same atomic step as the state change. */
  patch?: WorkerFields;
}

export interface WorkerFilter {
  state?: WorkerState;
  /** Only workers in one of these states. */
  states?: readonly WorkerState[];
  /** Only workers that still have a worktree recorded. */
  withWorktree?: boolean;
  /** Only workers of these task ids (any case). */
  taskIds?: readonly string[];
  repo?: string;
  /** Only the workers of this issue (with `repo`, one repository's). */
  issueNumber?: number;
  /** Only workers that came from an issue. */
  withIssue?: boolean;
  /** Only the workers on this branch (with `repo`, an indexed lookup). */
  branch?: string;
  /** Only workers changed at or after this ISO time. */
  updatedSince?: string;
}

/**
 * The only shared truth between the CLI, the runner and the app. Every method is atomic; a
 * failed call leaves the store as it was.
 */
export interface WorkerStore {
  /** Creates a worker (NEEDS_INIT unless told otherwise) and records its first transition. */
  createWorker(worker: NewWorker, meta: TransitionMeta): Worker;
  getWorker(id: string): Worker | undefined;
  /** Like getWorker, but a missing worker is a NotFoundError. */
  requireWorker(id: string): Worker;
  listWorkers(filter?: WorkerFilter): Worker[];
  /**
   * Compare-and-swap: moves `id` from `from` to `to` only if it is in `from` now and the table
   * allows the move. Throws TransitionConflictError or IllegalTransitionError otherwise.
   */
  transition(id: string, from: WorkerState, to: WorkerState, meta: TransitionMeta): Worker;
  /**
   * Claims a NEEDS_INIT worker for runner `owner` until `leaseUntil`, unless another runner holds
   * an unexpired claim (or `takeOverFrom` names the holder, known to be dead). Exactly one of
   * several racing runners gets true.
   */
  claimWorker(id: string, owner: string, leaseUntil: string, takeOverFrom?: string): boolean;
  /** Extends the claims `owner` holds on unfinished workers; returns how many. */
  renewLeases(owner: string, leaseUntil: string): number;
  /** The administrator's override: any state, creating the record when missing. */
  setState(id: string, to: WorkerState, meta: TransitionMeta): Worker;
  updateWorker(id: string, patch: WorkerFields): Worker;
  /** Deletes the worker and its history; false when there was none. */
  removeWorker(id: string): boolean;
  history(id: string): TransitionRecord[];
  /**
   * The delivery ids received at or after `since` (ISO time), oldest first. Delivery ids are a
   * log, not a set: `pw serve`'s DeliveryLog keeps the ids of the retention window in memory,
   * tells redeliveries apart there, and appends only new ids here.
   */
  recentDeliveries(since: string): string[];
  /** Appends delivery ids in one step; returns how many. */
  recordDeliveries(deliveries: ReadonlyArray<{ id: string; event: string }>): number;
  /**
   * Forgets a delivery received at or after `since` (ISO time) whose handling failed, so that
   * GitHub's redelivery of it is handled after a restart too; false when none was recorded.
   */
  forgetDelivery(deliveryId: string, since: string): boolean;
  /** Forgets deliveries received before `before` (ISO time), which GitHub can no longer redeliver; returns how many. */
  pruneDeliveries(before: string): number;
  /** Throws a StoreError when the store cannot answer a query (for health checks). */
  ping(): void;
  close(): void;
}
