import { feedbackDetailSchema } from "../core/feedback.js";
import type { PortRange } from "../core/ports.js";
import { parseWith } from "../core/validate.js";
import type { Spare, SpareState } from "../core/spare.js";
import type { WorkerState } from "../core/states.js";
import type { TransitionRecord, TransitionSource, Worker } from "../core/worker.js";
import { logTransition, type Logger } from "../log/logger.js";
import type { Metrics } from "../log/metrics.js";
import type {
  Feedback,
  FeedbackFilter,
  FollowUp,
  FollowUpBacklog,
  NewFeedback,
  NewFollowUp,
  NewSpare,
  NewWorker,
  PortHolder,
  SpareFields,
  TransitionMeta,
  WorkerFields,
  WorkerFilter,
  WorkerStore,
  ReworkStart,
  StartedRound,
} from "../store/store.js";

export interface Observers {
  /**
   * The logger for a move made by `source` (the app's for webhooks and commands, the
   * runner's...), without a `correlation_id` binding: each line carries its move's own.
   */
  loggerFor(source: TransitionSource): Logger;
  /** The correlation id of a move that has none (this invocation's). */
  correlationId?: string;
  /** Counts moves in `pw_transitions_total` and rework rounds in `pw_rework_rounds_total` (pw serve). */
  metrics?: Pick<Metrics, "transition" | "reworkRound">;
  /** Told of each move after it is logged (`pw loop` remembers which workers it failed). */
  onMove?: (worker: Worker, from: WorkerState | null) => void;
}

/**
 * A store that logs and counts every state change it makes, whoever makes it: a worker created,
 * a transition, an override, each one line with `worker_id`, `task_id`, `correlation_id`,
 * `state`, `from_state` and `source`. Every command, `pw loop` and `pw serve` hand it to the
 * code below them, so one worker's story can be followed across processes in the logs.
 */
export class ObservedWorkerStore implements WorkerStore {
  constructor(
    private readonly store: WorkerStore,
    private readonly observers: Observers,
  ) {}

  private observe(worker: Worker, from: WorkerState | null, meta: TransitionMeta): void {
    this.observers.metrics?.transition(from, worker.state, meta.source);
    logTransition(
      this.observers.loggerFor(meta.source),
      { from, to: worker.state, source: meta.source, detail: meta.detail ?? null },
      { workerId: worker.id, taskId: worker.taskId, correlationId: meta.correlationId ?? this.observers.correlationId ?? null },
    );
    this.observers.onMove?.(worker, from);
  }

  createWorker(worker: NewWorker, meta: TransitionMeta): Worker {
    const created = this.store.createWorker(worker, meta);
    this.observe(created, null, meta);
    return created;
  }

  transition(id: string, from: WorkerState, to: WorkerState, meta: TransitionMeta): Worker {
    const moved = this.store.transition(id, from, to, meta);
    this.observe(moved, from, meta);
    return moved;
  }

  setState(id: string, to: WorkerState, meta: TransitionMeta): Worker {
    const before = this.store.getWorker(id)?.state ?? null;
    const set = this.store.setState(id, to, meta);
    this.observe(set, before, meta);
    return set;
  }

  startReworkRound(id: string, start: ReworkStart): StartedRound | undefined {
    const started = this.store.startReworkRound(id, start);
    if (started) {
      const meta = { source: start.source, correlationId: start.correlationId ?? null, detail: this.store.history(id).at(-1)?.detail ?? null };
      this.observe(started.worker, "PR_OPEN", meta);
      this.observers.metrics?.reworkRound(started.cause);
    }
    return started;
  }

  addFeedback(feedback: NewFeedback): Feedback | undefined {
    // what is stored is what a later release reads back: checked whole before it is written
    return this.store.addFeedback({ ...feedback, detail: parseWith(feedbackDetailSchema, feedback.detail, "rework feedback") });
  }

  listFeedback(filter: FeedbackFilter): Feedback[] {
    return this.store.listFeedback(filter);
  }

  settleFeedback(workerId: string, seqs: readonly number[]): number {
    return this.store.settleFeedback(workerId, seqs);
  }

  getWorker(id: string): Worker | undefined {
    return this.store.getWorker(id);
  }

  requireWorker(id: string): Worker {
    return this.store.requireWorker(id);
  }

  listWorkers(filter?: WorkerFilter): Worker[] {
    return this.store.listWorkers(filter);
  }

  claimWorker(id: string, owner: string, leaseUntil: string, takeOverFrom?: string): boolean {
    return this.store.claimWorker(id, owner, leaseUntil, takeOverFrom);
  }

  renewLeases(owner: string, leaseUntil: string): number {
    return this.store.renewLeases(owner, leaseUntil);
  }

  updateWorker(id: string, patch: WorkerFields): Worker {
    return this.store.updateWorker(id, patch);
  }

  removeWorker(id: string): boolean {
    return this.store.removeWorker(id);
  }

  history(id: string): TransitionRecord[] {
    return this.store.history(id);
  }

  recentDeliveries(since: string): string[] {
    return this.store.recentDeliveries(since);
  }

  recordDeliveries(deliveries: ReadonlyArray<{ id: string; event: string }>): number {
    return this.store.recordDeliveries(deliveries);
  }

  forgetDelivery(deliveryId: string, since: string): boolean {
    return this.store.forgetDelivery(deliveryId, since);
  }

  pruneDeliveries(before: string): number {
    return this.store.pruneDeliveries(before);
  }

  addFollowUps(followUps: readonly NewFollowUp[]): string[] {
    return this.store.addFollowUps(followUps);
  }

  claimFollowUps(owner: string, leaseUntil: string, limit: number): FollowUp[] {
    return this.store.claimFollowUps(owner, leaseUntil, limit);
  }

  finishFollowUp(seq: number, owner: string, then?: readonly NewFollowUp[]): boolean {
    return this.store.finishFollowUp(seq, owner, then);
  }

  retryFollowUp(seq: number, owner: string, error: string, retryAt: string | null): boolean {
    return this.store.retryFollowUp(seq, owner, error, retryAt);
  }

  releaseFollowUps(owner: string | null): number {
    return this.store.releaseFollowUps(owner);
  }

  followUpBacklog(): FollowUpBacklog {
    return this.store.followUpBacklog();
  }

  pruneFollowUps(before: string): number {
    return this.store.pruneFollowUps(before);
  }

  allocatePort(holder: PortHolder, range: PortRange, prefer?: number): number | undefined {
    return this.store.allocatePort(holder, range, prefer);
  }

  releasePort(holder: PortHolder): boolean {
    return this.store.releasePort(holder);
  }

  addSpare(spare: NewSpare): Spare {
    return this.store.addSpare(spare);
  }

  getSpare(id: string): Spare | undefined {
    return this.store.getSpare(id);
  }

  listSpares(repoPath?: string): Spare[] {
    return this.store.listSpares(repoPath);
  }

  moveSpare(id: string, from: SpareState, to: SpareState, patch?: SpareFields, owner?: string): Spare | undefined {
    return this.store.moveSpare(id, from, to, patch, owner);
  }

  takeSpare(repoPath: string, owner: string, leaseUntil: string): Spare | undefined {
    return this.store.takeSpare(repoPath, owner, leaseUntil);
  }

  handOverSpare(id: string, owner: string, workerId: string): { port: number | null } | undefined {
    return this.store.handOverSpare(id, owner, workerId);
  }

  removeSpare(id: string): boolean {
    return this.store.removeSpare(id);
  }

  ping(): void {
    this.store.ping();
  }

  close(): void {
    this.store.close();
  }
}
