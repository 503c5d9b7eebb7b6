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

/** A rework round a runner starts (see `startReworkRound`). */
export interface ReworkStart {
  /** The runner that runs it, and until when its claim holds without renewal. */
  owner: string;
  leaseUntil: string;
  /** The round takes the waiting feedback up to this `seq` (what the runner saw and judged due). */
  upTo: number;
  source: TransitionSource;
  correlationId?: string | null;
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
/** A spare worktree as its filler records it: being made (`filling`) by `owner`. */
export interface NewSpare {
  id: string;
  repoPath: string;
  path: string;
  baseBranch: string | null;
  baseCommit: string | null;
  owner: string;
  leaseUntil: string;
}

/** What a spare's owner may change (with its state) in one step. */
export type SpareFields = Partial<Pick<Spare, "baseBranch" | "baseCommit" | "owner" | "leaseUntil" | "note">>;

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
  /** Extends the claims `owner` holds on unfinished workers and on spares it fills or takes; returns how many. */
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
  /** Queues follow-ups whose key is new (or gave up), in one step; returns the keys added, in order. */
  addFollowUps(followUps: readonly NewFollowUp[]): string[];
  /**
   * Claims for `owner`, until `leaseUntil`, up to `limit` follow-ups that are due: the oldest
   * unfinished one of each lane, when no unexpired claim holds that lane. Each claim counts a try.
   */
  claimFollowUps(owner: string, leaseUntil: string, limit: number): FollowUp[];
  /** Marks a claimed follow-up done and queues `then` in the same step; false when `owner` holds no claim on it. */
  finishFollowUp(seq: number, owner: string, then?: readonly NewFollowUp[]): boolean;
  /**
   * A claimed follow-up that failed: due again at `retryAt` (ISO time), or given up when
   * `retryAt` is null; false when `owner` holds no claim on it.
   */
  retryFollowUp(seq: number, owner: string, error: string, retryAt: string | null): boolean;
  /** Lets go of the claims of `owner` (every owner's when null), so their follow-ups are due again; returns how many. */
  releaseFollowUps(owner: string | null): number;
  followUpBacklog(): FollowUpBacklog;
  /** Forgets follow-ups finished before `before` (ISO time), and with them their keys; returns how many. */
  pruneFollowUps(before: string): number;
  /**
   * Records feedback for a worker's next rework round in one step; undefined (nothing added) when
   * its key was recorded before or a round has already taken feedback of its scope.
   */
  addFeedback(feedback: NewFeedback): Feedback | undefined;
  /** Feedback, oldest first. */
  listFeedback(filter: FeedbackFilter): Feedback[];
  /**
   * Marks waiting feedback of a worker answered without a round (`round` 0): a moved base the
   * runner rebased onto. Only the given seqs that still wait; returns how many.
   */
  settleFeedback(workerId: string, seqs: readonly number[]): number;
  /**
   * Starts a rework round in one step: the worker moves PR_OPEN -> WORKING (compare-and-swap,
   * recorded with the round's cause), claimed by `owner`, and takes the waiting feedback up to
   * `upTo`; its round count (and automatic count) goes up. Undefined when no feedback waits;
   * TransitionConflictError when the worker is not PR_OPEN.
   */
  startReworkRound(id: string, start: ReworkStart): StartedRound | undefined;
  /**
   * The block of ports `holder` holds, or a new one: the first block of `range` that overlaps
   * no block held by anyone (`prefer` first, when free). Atomic: two callers never get blocks
   * that overlap. Undefined when the range has no free block. A worker's block is freed in the
   * step that moves it to MERGED or ABANDONED, or removes it; a spare's when its record goes.
   */
  allocatePort(holder: PortHolder, range: PortRange, prefer?: number): number | undefined;
  /** Frees the block `holder` holds; false when it held none. */
  releasePort(holder: PortHolder): boolean;
  /** Records a spare worktree being made, in state `filling`; a path recorded already is a StoreError. */
  addSpare(spare: NewSpare): Spare;
  getSpare(id: string): Spare | undefined;
  /** The spares of one checkout (all when omitted), oldest first. */
  listSpares(repoPath?: string): Spare[];
  /**
   * Compare-and-swap: moves spare `id` from `from` to `to` with `patch`, only if it is in `from`
   * now (and held by `owner`, when given); undefined otherwise.
   */
  moveSpare(id: string, from: SpareState, to: SpareState, patch?: SpareFields, owner?: string): Spare | undefined;
  /**
   * Takes the oldest `ready` spare of `repoPath` for `owner` (-> `taken`) until `leaseUntil`;
   * exactly one of several racing callers gets each spare.
   */
  takeSpare(repoPath: string, owner: string, leaseUntil: string): Spare | undefined;
  /**
   * A taken spare became `workerId`'s worktree: its record goes and its block of ports becomes
   * the worker's (unless the worker holds one already). Returns the worker's port; undefined
   * when `owner` holds no such taken spare.
   */
  handOverSpare(id: string, owner: string, workerId: string): { port: number | null } | undefined;
  /** Forgets a spare (its port block with it); false when there was none. */
  removeSpare(id: string): boolean;
  /** Throws a StoreError when the store cannot answer a query (for health checks). */
  ping(): void;
  close(): void;
}
