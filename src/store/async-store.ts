import type { WorkerState } from "../core/states.js";
import type { TransitionRecord, Worker } from "../core/worker.js";
import type { FollowUp, FollowUpBacklog, NewFollowUp, NewWorker, TransitionMeta, WorkerFields, WorkerFilter } from "./store.js";

export type { FollowUp, FollowUpBacklog, NewFollowUp, NewWorker, TransitionMeta, WorkerFields, WorkerFilter } from "./store.js";

/** Which queued workers a runner serves, for `claimNextWorker`. Mirrors how a runner matches a worker to a checkout. */
export interface NextWorkerQuery {
  /** Local checkouts this runner serves: a worker whose `repoPath` is one of them. */
  checkouts?: readonly string[];
  /**
   * Repositories (owner/name) this runner serves: a worker that has no checkout yet (queued from
   * a comment, or for any machine) and whose `repo` is one of them.
   */
  repositories?: readonly string[];
  /** Only workers of this project, or of none. */
  project?: string;
  /** Owners known to be dead, whose claims may be taken over before their lease ends. */
  takeOverFrom?: readonly string[];
}

/** A runner as it announces itself. */
export interface RunnerRegistration {
  /** Unique per runner. */
  id: string;
  host: string;
  /** The repositories it serves, owner/name. */
  repositories: readonly string[];
}

/** A runner as the store knows it. */
export interface RunnerRecord {
  id: string;
  host: string;
  repositories: string[];
  /** When it registered (last started), by the store's clock. */
  startedAt: string;
  /** Its last heartbeat, by the store's clock. */
  heartbeatAt: string;
  /** How long ago that was, by the store's clock (never the reader's). */
  heartbeatAgeMs: number;
  /** No heartbeat within the limit the list was asked with. */
  stale: boolean;
  /** Workers it holds (their `owner`) that have not ended. */
  workers: number;
}

/**
 * The store as the whole code base will use it: the only shared truth between the CLI, the
 * runners and the app, embedded (SQLite) or shared by many machines (PostgreSQL). Every method
 * is atomic and returns a Promise; a failed call leaves the store as it was. A call that could
 * not reach the database rejects with a `StoreUnavailableError` (retryable); any other failure is
 * a `StoreError`, `NotFoundError`, `TransitionConflictError` or `IllegalTransitionError`.
 *
 * Time is the store's: `createdAt`, `updatedAt`, transition times, leases and heartbeats are
 * read from the database's clock, so machines whose clocks disagree still agree on who holds
 * what. Callers give lease lengths and delays, never instants. Times read back are ISO 8601 in
 * UTC with milliseconds; the times callers pass (`since`, `before`, `updatedSince`) are compared
 * with them as instants.
 */
export interface AsyncWorkerStore {
  /** `sqlite` or `postgres`. */
  readonly backend: "sqlite" | "postgres";
  /** Where the store lives, for messages: the file, or the database URL without its password. */
  readonly location: string;

  // --- workers and their moves

  /** Creates a worker (NEEDS_INIT unless told otherwise) and records its first transition. */
  createWorker(worker: NewWorker, meta: TransitionMeta): Promise<Worker>;
  getWorker(id: string): Promise<Worker | undefined>;
  /** Like getWorker, but a missing worker is a NotFoundError. */
  requireWorker(id: string): Promise<Worker>;
  /** Oldest first (by creation, then id). */
  listWorkers(filter?: WorkerFilter): Promise<Worker[]>;
  /**
   * Compare-and-swap: moves `id` from `from` to `to` only if it is in `from` now and the table
   * allows the move. Rejects with TransitionConflictError or IllegalTransitionError otherwise
   * (NotFoundError when there is no such worker).
   */
  transition(id: string, from: WorkerState, to: WorkerState, meta: TransitionMeta): Promise<Worker>;
  /** The administrator's override: any state, creating the record when missing; recorded as such. */
  setState(id: string, to: WorkerState, meta: TransitionMeta): Promise<Worker>;
  updateWorker(id: string, patch: WorkerFields): Promise<Worker>;
  /** Deletes the worker and its history; false when there was none. */
  removeWorker(id: string): Promise<boolean>;
  /** Its transitions, oldest first. */
  history(id: string): Promise<TransitionRecord[]>;

  // --- claims and leases

  /**
   * Claims the NEEDS_INIT worker `id` for runner `owner` for `leaseMs`, unless another runner
   * holds an unexpired claim (or `takeOverFrom` names the holder, known to be dead). Exactly one
   * of several racing runners gets true; `owner` claiming again renews its claim.
   */
  claimWorker(id: string, owner: string, leaseMs: number, takeOverFrom?: string): Promise<boolean>;
  /**
   * Claims for `owner`, for `leaseMs`, the oldest queued (NEEDS_INIT) worker that `query`
   * serves, whose claim is free (none, expired, or held by one of `takeOverFrom`) and whose
   * dependencies are MERGED (as `waitingFor` judges them), in one atomic step: of several
   * runners asking at once, each gets a different worker. Never one `owner` already holds.
   * Undefined when there is none. The worker stays NEEDS_INIT (with `owner` and `leaseUntil`
   * set) until the runner moves it on.
   */
  claimNextWorker(owner: string, leaseMs: number, query: NextWorkerQuery): Promise<Worker | undefined>;
  /** Extends, to `leaseMs` from now, the claims `owner` holds on unfinished workers; returns how many. */
  renewLeases(owner: string, leaseMs: number): Promise<number>;

  // --- delivery ids

  /**
   * The delivery ids received at or after `since` (ISO time), oldest first. Delivery ids are a
   * log, not a set: the reader keeps the retention window's ids in memory and appends only new ones.
   */
  recentDeliveries(since: string): Promise<string[]>;
  /** Appends delivery ids in one step, in the order given; returns how many. */
  recordDeliveries(deliveries: ReadonlyArray<{ id: string; event: string }>): Promise<number>;
  /** Forgets a delivery received at or after `since` whose handling failed; false when none was recorded. */
  forgetDelivery(deliveryId: string, since: string): Promise<boolean>;
  /** Forgets deliveries received before `before` (ISO time); returns how many. */
  pruneDeliveries(before: string): Promise<number>;

  // --- the follow-up queue

  /** Queues follow-ups whose key is new (or gave up), in one step; returns the keys added, in order. */
  addFollowUps(followUps: readonly NewFollowUp[]): Promise<string[]>;
  /**
   * Claims for `owner`, for `leaseMs`, up to `limit` follow-ups that are due: the oldest
   * unfinished one of each lane, when no live claim holds that lane. Each claim counts a try.
   * Several owners claiming at once never get the same follow-up, nor two of one lane.
   */
  claimFollowUps(owner: string, leaseMs: number, limit: number): Promise<FollowUp[]>;
  /** Marks a claimed follow-up done and queues `then` in the same step; false when `owner` holds no claim on it. */
  finishFollowUp(seq: number, owner: string, then?: readonly NewFollowUp[]): Promise<boolean>;
  /**
   * A claimed follow-up that failed: due again `retryInMs` from now, or given up when null;
   * false when `owner` holds no claim on it.
   */
  retryFollowUp(seq: number, owner: string, error: string, retryInMs: number | null): Promise<boolean>;
  /** Lets go of the claims of `owner` (every owner's when null); returns how many. */
  releaseFollowUps(owner: string | null): Promise<number>;
  followUpBacklog(): Promise<FollowUpBacklog>;
  /** Forgets follow-ups finished before `before` (ISO time), and with them their keys; returns how many. */
  pruneFollowUps(before: string): Promise<number>;

  // --- runners

  /** Records a runner as started now (again, when its id is known), with a heartbeat now. */
  registerRunner(runner: RunnerRegistration): Promise<RunnerRecord>;
  /** Records a heartbeat of runner `id` now; false when the store does not know it (register it again). */
  heartbeatRunner(id: string): Promise<boolean>;
  /** Every runner, by id; `stale` when its last heartbeat is older than `staleAfterMs`. */
  listRunners(staleAfterMs: number): Promise<RunnerRecord[]>;
  /** Forgets a runner that stopped; false when it was not known. */
  forgetRunner(id: string): Promise<boolean>;

  // --- health

  /** Rejects with a StoreError when the store cannot answer a query (for health checks). */
  ping(): Promise<void>;
  /** Lets go of the file or the connections; calls after it reject. */
  close(): Promise<void>;
}
