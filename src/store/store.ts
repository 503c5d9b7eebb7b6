import type { FeedbackCause, FeedbackDetail, ReworkCause } from "../core/rework.js";
import type { PortRange } from "../core/ports.js";
import type { Spare, SpareState } from "../core/spare.js";
import type { WorkerState } from "../core/states.js";
import type { TransitionRecord, TransitionSource, Worker } from "../core/worker.js";

/**
 * Fields a caller may set when creating or updating a worker (never `state`: that moves by
 * transition; never `port`: that is allocated).
 */
export type WorkerFields = Partial<Omit<Worker, "id" | "state" | "port" | "createdAt" | "updatedAt">>;

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
  /** GitHub effects of the move, queued in the same atomic step (as `addFollowUps`). */
  followUps?: readonly NewFollowUp[];
}

/**
 * A GitHub effect to carry out after the delivery that caused it was answered: a reply, a
 * reaction, a status comment, a check run, a re-read of a PR. The follow-up queue runs the
 * effects of one lane (an issue or a PR) one at a time in the order they were added.
 */
export interface NewFollowUp {
  /**
   * Names the effect once: a key seen before (until pruned) adds nothing, unless that follow-up
   * gave up; it is then queued again.
   */
  key: string;
  /** What to do; the app knows each kind and validates its input. */
  kind: string;
  /** The issue or PR it belongs to, e.g. `acme/widgets#12` (lower case). */
  lane: string;
  /** What the effect needs, stored as JSON. */
  input: unknown;
  /** The GitHub App installation to act as (from the delivery); null when unknown. */
  installationId?: number | null;
  /** The delivery (or spawn) it belongs to, for its log lines. */
  correlationId?: string | null;
}

export interface FollowUp {
  seq: number;
  key: string;
  kind: string;
  lane: string;
  input: unknown;
  installationId: number | null;
  correlationId: string | null;
  /** Tries started, this one included. */
  attempts: number;
  createdAt: string;
}

/** What the follow-up queue holds: effects not finished yet, and when the oldest was added. */
export interface FollowUpBacklog {
  unfinished: number;
  oldestCreatedAt: string | null;
}

/** Feedback for a worker's next rework round: a review, failed checks, a person's request. */
export interface NewFeedback {
  workerId: string;
  /** Names this feedback once: a key seen before adds nothing (a redelivered review, a comment under another delivery id). */
  key: string;
  /**
   * What one round at most answers (a review, a check suite, a comment): feedback whose scope a
   * round has taken already adds nothing; feedback of a scope still waiting joins it.
   */
  scope: string;
  detail: FeedbackDetail;
  /** Recorded while automatic rounds are stopped (`needs-human`): it starts no round by itself and joins the next one a person starts. */
  held?: boolean;
}

export interface Feedback extends NewFeedback {
  held: boolean;
  seq: number;
  cause: FeedbackCause;
  /** ISO time it was recorded. */
  receivedAt: string;
  /** The round that took it; 0 when it was answered without one (a moved base rebased onto); null while it waits. */
  round: number | null;
}

export interface FeedbackFilter {
  workerId?: string;
  /** Only feedback no round has taken yet. */
  pending?: boolean;
  /** Only feedback of workers in one of these states. */
  workerStates?: readonly WorkerState[];
}

export interface StartedRound {
  worker: Worker;
  /** Its number: 1 for the first round on the PR. */
  round: number;
  cause: ReworkCause;
  automatic: boolean;
  /** The feedback it answers, oldest first. */
  feedback: Feedback[];
}

/** Who holds a block of ports: a worker, or a spare worktree that hands it on to its worker. */
export type PortHolder = { workerId: string } | { spareId: string };

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

/** A rework round a runner starts (see `startReworkRound`). */
export interface ReworkStart {
  /** The runner that runs it. */
  owner: string;
  /** How long its claim holds without renewal, from the store's now. */
  leaseMs: number;
  /** The round takes the waiting feedback up to this `seq` (what the runner saw and judged due). */
  upTo: number;
  source: TransitionSource;
  correlationId?: string | null;
}

/** A spare worktree as its filler records it: being made (`filling`) by `owner`, for `leaseMs` without renewal. */
export interface NewSpare {
  id: string;
  repoPath: string;
  path: string;
  baseBranch: string | null;
  baseCommit: string | null;
  owner: string;
  leaseMs: number;
}

/** What a spare's owner may change (with its state) in one step; `leaseMs` null lets go of the lease. */
export type SpareFields = Partial<Pick<Spare, "baseBranch" | "baseCommit" | "owner" | "note">> & { leaseMs?: number | null };

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
  /**
   * The runner claiming: a worker whose worktree another runner holds (`runnerId`) is not for it,
   * and the worker it claims records it as its runner.
   */
  runnerId?: string;
}

/** A runner as it announces itself. */
export interface RunnerRegistration {
  /** Unique per runner. */
  id: string;
  host: string;
  /** The repositories it serves, owner/name. */
  repositories: readonly string[];
  /**
   * How it serves them (agents, rework settings...), for an app on another machine that has no
   * checkout to read them from. Opaque to the store: whoever reads it checks it.
   */
  settings?: Record<string, unknown>;
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
  /** Workers whose worktree it holds (their `runnerId`) that have not ended. */
  workers: number;
  /** What it registered as `settings` ({} when nothing). */
  settings: Record<string, unknown>;
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
export interface WorkerStore {
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
  /** Extends, to `leaseMs` from now, the claims `owner` holds on unfinished workers and on spares it fills or takes; returns how many. */
  renewLeases(owner: string, leaseMs: number): Promise<number>;

  // --- delivery ids

  /**
   * The delivery ids received at or after `since` (ISO time), oldest first. Delivery ids are a
   * log, not a set: the reader keeps the retention window's ids in memory and appends only new ones.
   */
  recentDeliveries(since: string): Promise<string[]>;
  /** Appends delivery ids in one step, in the order given; returns how many. */
  recordDeliveries(deliveries: ReadonlyArray<{ id: string; event: string }>): Promise<number>;
  /**
   * Records delivery `deliveryId` unless it was recorded at or after `since` (ISO time); false
   * when it was. Atomic across every client of the store: of several claiming one id at once
   * (replicas of the app behind one URL), exactly one gets true. A forgotten id may be claimed again.
   */
  claimDelivery(deliveryId: string, event: string, since: string): Promise<boolean>;
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
  /** Extends, to `leaseMs` from now, the claims `owner` holds on follow-ups it is running; returns how many. */
  renewFollowUps(owner: string, leaseMs: number): Promise<number>;
  followUpBacklog(): Promise<FollowUpBacklog>;
  /** Forgets follow-ups finished before `before` (ISO time), and with them their keys; returns how many. */
  pruneFollowUps(before: string): Promise<number>;

  // --- the rework loop

  /**
   * Records feedback for a worker's next rework round in one step; undefined (nothing added) when
   * its key was recorded before or a round has already taken feedback of its scope. A worker it
   * does not know is a NotFoundError.
   */
  addFeedback(feedback: NewFeedback): Promise<Feedback | undefined>;
  /** Feedback, oldest first. */
  listFeedback(filter: FeedbackFilter): Promise<Feedback[]>;
  /**
   * Marks waiting feedback of a worker answered without a round (`round` 0): a moved base the
   * runner rebased onto. Only the given seqs that still wait; returns how many.
   */
  settleFeedback(workerId: string, seqs: readonly number[]): Promise<number>;
  /**
   * Starts a rework round in one step: the worker moves PR_OPEN -> WORKING (compare-and-swap,
   * recorded with the round's feedback), claimed by `owner` for `leaseMs`, and takes the waiting
   * feedback up to `upTo`; its round count (and automatic count) goes up. Undefined when no
   * feedback waits; TransitionConflictError when the worker is not PR_OPEN. Of several starting
   * one at once, exactly one does.
   */
  startReworkRound(id: string, start: ReworkStart): Promise<StartedRound | undefined>;

  // --- ports

  /**
   * The block of ports `holder` holds, or a new one: the first block of `range` that overlaps
   * no block held by anyone (`prefer` first, when free). Atomic across every client of the
   * store: two callers never get blocks that overlap. Undefined when the range has no free
   * block. A worker's block is freed in the step that moves it to MERGED or ABANDONED, or
   * removes it; a spare's when its record goes.
   */
  allocatePort(holder: PortHolder, range: PortRange, prefer?: number): Promise<number | undefined>;
  /** Frees the block `holder` holds; false when it held none. */
  releasePort(holder: PortHolder): Promise<boolean>;

  // --- spare worktrees

  /** Records a spare worktree being made, in state `filling`; an id or path recorded already is a StoreError. */
  addSpare(spare: NewSpare): Promise<Spare>;
  getSpare(id: string): Promise<Spare | undefined>;
  /** The spares of one checkout (all when omitted), oldest first. */
  listSpares(repoPath?: string): Promise<Spare[]>;
  /**
   * Compare-and-swap: moves spare `id` from `from` to `to` with `patch`, only if it is in `from`
   * now (and held by `owner`, when given); undefined otherwise.
   */
  moveSpare(id: string, from: SpareState, to: SpareState, patch?: SpareFields, owner?: string): Promise<Spare | undefined>;
  /**
   * Takes the oldest `ready` spare of `repoPath` for `owner` (-> `taken`) for `leaseMs`;
   * exactly one of several racing callers gets each spare.
   */
  takeSpare(repoPath: string, owner: string, leaseMs: number): Promise<Spare | undefined>;
  /**
   * A taken spare became `workerId`'s worktree: its record goes and its block of ports becomes
   * the worker's (unless the worker holds one already). Returns the worker's port; undefined
   * when `owner` holds no such taken spare.
   */
  handOverSpare(id: string, owner: string, workerId: string): Promise<{ port: number | null } | undefined>;
  /** Forgets a spare (its port block with it); false when there was none. */
  removeSpare(id: string): Promise<boolean>;

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
