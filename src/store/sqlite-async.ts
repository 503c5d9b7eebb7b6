import { PwError, StoreError } from "../core/errors.js";
import type { PortRange } from "../core/ports.js";
import type { Spare, SpareState } from "../core/spare.js";
import type { WorkerState } from "../core/states.js";
import type { TransitionRecord, Worker } from "../core/worker.js";
import { SqliteWorkerStore } from "./sqlite.js";
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
} from "./store.js";

/**
 * The SQLite store through the asynchronous port: the same file, the same transactions, each
 * answer wrapped in a Promise. Anything the file throws that is not already one of ours (a call
 * after `close`, say) becomes a StoreError naming the file.
 */
export class SqliteAsyncWorkerStore implements WorkerStore {
  readonly backend = "sqlite" as const;

  constructor(readonly sqlite: SqliteWorkerStore) {}

  get location(): string {
    return this.sqlite.file;
  }

  private async call<T>(step: () => T): Promise<T> {
    try {
      return step();
    } catch (error) {
      if (error instanceof PwError) throw error;
      throw new StoreError(`store ${this.sqlite.file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  createWorker(worker: NewWorker, meta: TransitionMeta): Promise<Worker> {
    return this.call(() => this.sqlite.createWorker(worker, meta));
  }

  getWorker(id: string): Promise<Worker | undefined> {
    return this.call(() => this.sqlite.getWorker(id));
  }

  requireWorker(id: string): Promise<Worker> {
    return this.call(() => this.sqlite.requireWorker(id));
  }

  listWorkers(filter?: WorkerFilter): Promise<Worker[]> {
    return this.call(() => this.sqlite.listWorkers(filter));
  }

  transition(id: string, from: WorkerState, to: WorkerState, meta: TransitionMeta): Promise<Worker> {
    return this.call(() => this.sqlite.transition(id, from, to, meta));
  }

  setState(id: string, to: WorkerState, meta: TransitionMeta): Promise<Worker> {
    return this.call(() => this.sqlite.setState(id, to, meta));
  }

  updateWorker(id: string, patch: WorkerFields): Promise<Worker> {
    return this.call(() => this.sqlite.updateWorker(id, patch));
  }

  removeWorker(id: string): Promise<boolean> {
    return this.call(() => this.sqlite.removeWorker(id));
  }

  history(id: string): Promise<TransitionRecord[]> {
    return this.call(() => this.sqlite.history(id));
  }

  claimWorker(id: string, owner: string, leaseMs: number, takeOverFrom?: string): Promise<boolean> {
    return this.call(() => this.sqlite.claimWorker(id, owner, leaseMs, takeOverFrom));
  }

  claimNextWorker(owner: string, leaseMs: number, query: NextWorkerQuery): Promise<Worker | undefined> {
    return this.call(() => this.sqlite.claimNextWorker(owner, leaseMs, query));
  }

  renewLeases(owner: string, leaseMs: number): Promise<number> {
    return this.call(() => this.sqlite.renewLeases(owner, leaseMs));
  }

  recentDeliveries(since: string): Promise<string[]> {
    return this.call(() => this.sqlite.recentDeliveries(since));
  }

  recordDeliveries(deliveries: ReadonlyArray<{ id: string; event: string }>): Promise<number> {
    return this.call(() => this.sqlite.recordDeliveries(deliveries));
  }

  claimDelivery(deliveryId: string, event: string, since: string): Promise<boolean> {
    return this.call(() => this.sqlite.claimDelivery(deliveryId, event, since));
  }

  forgetDelivery(deliveryId: string, since: string): Promise<boolean> {
    return this.call(() => this.sqlite.forgetDelivery(deliveryId, since));
  }

  pruneDeliveries(before: string): Promise<number> {
    return this.call(() => this.sqlite.pruneDeliveries(before));
  }

  addFollowUps(followUps: readonly NewFollowUp[]): Promise<string[]> {
    return this.call(() => this.sqlite.addFollowUps(followUps));
  }

  claimFollowUps(owner: string, leaseMs: number, limit: number): Promise<FollowUp[]> {
    return this.call(() => this.sqlite.claimFollowUps(owner, leaseMs, limit));
  }

  finishFollowUp(seq: number, owner: string, then?: readonly NewFollowUp[]): Promise<boolean> {
    return this.call(() => this.sqlite.finishFollowUp(seq, owner, then));
  }

  retryFollowUp(seq: number, owner: string, error: string, retryInMs: number | null): Promise<boolean> {
    return this.call(() => this.sqlite.retryFollowUp(seq, owner, error, retryInMs));
  }

  renewFollowUps(owner: string, leaseMs: number): Promise<number> {
    return this.call(() => this.sqlite.renewFollowUps(owner, leaseMs));
  }

  releaseFollowUps(owner: string | null): Promise<number> {
    return this.call(() => this.sqlite.releaseFollowUps(owner));
  }

  followUpBacklog(): Promise<FollowUpBacklog> {
    return this.call(() => this.sqlite.followUpBacklog());
  }

  pruneFollowUps(before: string): Promise<number> {
    return this.call(() => this.sqlite.pruneFollowUps(before));
  }

  addFeedback(feedback: NewFeedback): Promise<Feedback | undefined> {
    return this.call(() => this.sqlite.addFeedback(feedback));
  }

  listFeedback(filter: FeedbackFilter): Promise<Feedback[]> {
    return this.call(() => this.sqlite.listFeedback(filter));
  }

  settleFeedback(workerId: string, seqs: readonly number[]): Promise<number> {
    return this.call(() => this.sqlite.settleFeedback(workerId, seqs));
  }

  startReworkRound(id: string, start: ReworkStart): Promise<StartedRound | undefined> {
    return this.call(() => this.sqlite.startReworkRound(id, start));
  }

  allocatePort(holder: PortHolder, range: PortRange, prefer?: number): Promise<number | undefined> {
    return this.call(() => this.sqlite.allocatePort(holder, range, prefer));
  }

  releasePort(holder: PortHolder): Promise<boolean> {
    return this.call(() => this.sqlite.releasePort(holder));
  }

  addSpare(spare: NewSpare): Promise<Spare> {
    return this.call(() => this.sqlite.addSpare(spare));
  }

  getSpare(id: string): Promise<Spare | undefined> {
    return this.call(() => this.sqlite.getSpare(id));
  }

  listSpares(repoPath?: string): Promise<Spare[]> {
    return this.call(() => this.sqlite.listSpares(repoPath));
  }

  moveSpare(id: string, from: SpareState, to: SpareState, patch?: SpareFields, owner?: string): Promise<Spare | undefined> {
    return this.call(() => this.sqlite.moveSpare(id, from, to, patch, owner));
  }

  takeSpare(repoPath: string, owner: string, leaseMs: number): Promise<Spare | undefined> {
    return this.call(() => this.sqlite.takeSpare(repoPath, owner, leaseMs));
  }

  handOverSpare(id: string, owner: string, workerId: string): Promise<{ port: number | null } | undefined> {
    return this.call(() => this.sqlite.handOverSpare(id, owner, workerId));
  }

  removeSpare(id: string): Promise<boolean> {
    return this.call(() => this.sqlite.removeSpare(id));
  }

  registerRunner(runner: RunnerRegistration): Promise<RunnerRecord> {
    return this.call(() => this.sqlite.registerRunner(runner));
  }

  heartbeatRunner(id: string): Promise<boolean> {
    return this.call(() => this.sqlite.heartbeatRunner(id));
  }

  listRunners(staleAfterMs: number): Promise<RunnerRecord[]> {
    return this.call(() => this.sqlite.listRunners(staleAfterMs));
  }

  forgetRunner(id: string): Promise<boolean> {
    return this.call(() => this.sqlite.forgetRunner(id));
  }

  ping(): Promise<void> {
    return this.call(() => this.sqlite.ping());
  }

  close(): Promise<void> {
    return this.call(() => this.sqlite.close());
  }
}

/** Opens (creating and migrating when needed) the SQLite store at `file`, through the asynchronous port. */
export async function openSqliteStore(file: string): Promise<SqliteAsyncWorkerStore> {
  return new SqliteAsyncWorkerStore(new SqliteWorkerStore(file));
}
