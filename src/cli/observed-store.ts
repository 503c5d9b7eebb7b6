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
  NextWorkerQuery,
  PortHolder,
  ReworkStart,
  RunnerRecord,
  RunnerRegistration,
  SpareFields,
  StartedRound,
  TransitionMeta,
  WorkerFields,
  WorkerFilter,
  WorkerStore,
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

  get backend(): WorkerStore["backend"] {
    return this.store.backend;
  }

  get location(): string {
    return this.store.location;
  }

  private observe(worker: Worker, from: WorkerState | null, meta: TransitionMeta): void {
    this.observers.metrics?.transition(from, worker.state, meta.source);
    logTransition(
      this.observers.loggerFor(meta.source),
      { from, to: worker.state, source: meta.source, detail: meta.detail ?? null },
      { workerId: worker.id, taskId: worker.taskId, correlationId: meta.correlationId ?? this.observers.correlationId ?? null },
    );
    this.observers.onMove?.(worker, from);
  }

  async createWorker(worker: NewWorker, meta: TransitionMeta): Promise<Worker> {
    const created = await this.store.createWorker(worker, meta);
    this.observe(created, null, meta);
    return created;
  }

  async transition(id: string, from: WorkerState, to: WorkerState, meta: TransitionMeta): Promise<Worker> {
    const moved = await this.store.transition(id, from, to, meta);
    this.observe(moved, from, meta);
    return moved;
  }

  async setState(id: string, to: WorkerState, meta: TransitionMeta): Promise<Worker> {
    const before = (await this.store.getWorker(id))?.state ?? null;
    const set = await this.store.setState(id, to, meta);
    this.observe(set, before, meta);
    return set;
  }

  async startReworkRound(id: string, start: ReworkStart): Promise<StartedRound | undefined> {
    const started = await this.store.startReworkRound(id, start);
    if (started) {
      const detail = (await this.store.history(id)).at(-1)?.detail ?? null;
      this.observe(started.worker, "PR_OPEN", { source: start.source, correlationId: start.correlationId ?? null, detail });
      this.observers.metrics?.reworkRound(started.cause);
    }
    return started;
  }

  addFeedback(feedback: NewFeedback): Promise<Feedback | undefined> {
    // what is stored is what a later release reads back: checked whole before it is written
    return this.store.addFeedback({ ...feedback, detail: parseWith(feedbackDetailSchema, feedback.detail, "rework feedback") });
  }

  listFeedback(filter: FeedbackFilter): Promise<Feedback[]> {
    return this.store.listFeedback(filter);
  }

  settleFeedback(workerId: string, seqs: readonly number[]): Promise<number> {
    return this.store.settleFeedback(workerId, seqs);
  }

  getWorker(id: string): Promise<Worker | undefined> {
    return this.store.getWorker(id);
  }

  requireWorker(id: string): Promise<Worker> {
    return this.store.requireWorker(id);
  }

  listWorkers(filter?: WorkerFilter): Promise<Worker[]> {
    return this.store.listWorkers(filter);
  }

  claimWorker(id: string, owner: string, leaseMs: number, takeOverFrom?: string): Promise<boolean> {
    return this.store.claimWorker(id, owner, leaseMs, takeOverFrom);
  }

  claimNextWorker(owner: string, leaseMs: number, query: NextWorkerQuery): Promise<Worker | undefined> {
    return this.store.claimNextWorker(owner, leaseMs, query);
  }

  renewLeases(owner: string, leaseMs: number): Promise<number> {
    return this.store.renewLeases(owner, leaseMs);
  }

  updateWorker(id: string, patch: WorkerFields): Promise<Worker> {
    return this.store.updateWorker(id, patch);
  }

  removeWorker(id: string): Promise<boolean> {
    return this.store.removeWorker(id);
  }

  history(id: string): Promise<TransitionRecord[]> {
    return this.store.history(id);
  }

  recentDeliveries(since: string): Promise<string[]> {
    return this.store.recentDeliveries(since);
  }

  recordDeliveries(deliveries: ReadonlyArray<{ id: string; event: string }>): Promise<number> {
    return this.store.recordDeliveries(deliveries);
  }

  claimDelivery(deliveryId: string, event: string, since: string): Promise<boolean> {
    return this.store.claimDelivery(deliveryId, event, since);
  }

  forgetDelivery(deliveryId: string, since: string): Promise<boolean> {
    return this.store.forgetDelivery(deliveryId, since);
  }

  pruneDeliveries(before: string): Promise<number> {
    return this.store.pruneDeliveries(before);
  }

  addFollowUps(followUps: readonly NewFollowUp[]): Promise<string[]> {
    return this.store.addFollowUps(followUps);
  }

  claimFollowUps(owner: string, leaseMs: number, limit: number): Promise<FollowUp[]> {
    return this.store.claimFollowUps(owner, leaseMs, limit);
  }

  finishFollowUp(seq: number, owner: string, then?: readonly NewFollowUp[]): Promise<boolean> {
    return this.store.finishFollowUp(seq, owner, then);
  }

  retryFollowUp(seq: number, owner: string, error: string, retryInMs: number | null): Promise<boolean> {
    return this.store.retryFollowUp(seq, owner, error, retryInMs);
  }

  renewFollowUps(owner: string, leaseMs: number): Promise<number> {
    return this.store.renewFollowUps(owner, leaseMs);
  }

  releaseFollowUps(owner: string | null): Promise<number> {
    return this.store.releaseFollowUps(owner);
  }

  followUpBacklog(): Promise<FollowUpBacklog> {
    return this.store.followUpBacklog();
  }

  pruneFollowUps(before: string): Promise<number> {
    return this.store.pruneFollowUps(before);
  }

  allocatePort(holder: PortHolder, range: PortRange, prefer?: number): Promise<number | undefined> {
    return this.store.allocatePort(holder, range, prefer);
  }

  releasePort(holder: PortHolder): Promise<boolean> {
    return this.store.releasePort(holder);
  }

  addSpare(spare: NewSpare): Promise<Spare> {
    return this.store.addSpare(spare);
  }

  getSpare(id: string): Promise<Spare | undefined> {
    return this.store.getSpare(id);
  }

  listSpares(repoPath?: string): Promise<Spare[]> {
    return this.store.listSpares(repoPath);
  }

  moveSpare(id: string, from: SpareState, to: SpareState, patch?: SpareFields, owner?: string): Promise<Spare | undefined> {
    return this.store.moveSpare(id, from, to, patch, owner);
  }

  takeSpare(repoPath: string, owner: string, leaseMs: number): Promise<Spare | undefined> {
    return this.store.takeSpare(repoPath, owner, leaseMs);
  }

  handOverSpare(id: string, owner: string, workerId: string): Promise<{ port: number | null } | undefined> {
    return this.store.handOverSpare(id, owner, workerId);
  }

  removeSpare(id: string): Promise<boolean> {
    return this.store.removeSpare(id);
  }

  registerRunner(runner: RunnerRegistration): Promise<RunnerRecord> {
    return this.store.registerRunner(runner);
  }

  heartbeatRunner(id: string): Promise<boolean> {
    return this.store.heartbeatRunner(id);
  }

  listRunners(staleAfterMs: number): Promise<RunnerRecord[]> {
    return this.store.listRunners(staleAfterMs);
  }

  forgetRunner(id: string): Promise<boolean> {
    return this.store.forgetRunner(id);
  }

  ping(): Promise<void> {
    return this.store.ping();
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
