import type { WorkerState } from "../core/states.js";
import type { TransitionRecord, Worker } from "../core/worker.js";
import type { Metrics } from "../log/metrics.js";
import type { NewWorker, TransitionMeta, WorkerFields, WorkerFilter, WorkerStore } from "../store/store.js";

/**
 * A store that counts every state change it makes (`pw_transitions_total`): a worker created,
 * a transition, an override. `pw serve` hands it to the app and the runner alike, so every
 * move of the process is counted once, whoever made it.
 */
export class MeteredWorkerStore implements WorkerStore {
  constructor(
    private readonly store: WorkerStore,
    private readonly metrics: Pick<Metrics, "transition">,
  ) {}

  createWorker(worker: NewWorker, meta: TransitionMeta): Worker {
    const created = this.store.createWorker(worker, meta);
    this.metrics.transition(null, created.state, meta.source);
    return created;
  }

  transition(id: string, from: WorkerState, to: WorkerState, meta: TransitionMeta): Worker {
    const moved = this.store.transition(id, from, to, meta);
    this.metrics.transition(from, to, meta.source);
    return moved;
  }

  setState(id: string, to: WorkerState, meta: TransitionMeta): Worker {
    const before = this.store.getWorker(id)?.state ?? null;
    const set = this.store.setState(id, to, meta);
    this.metrics.transition(before, to, meta.source);
    return set;
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

  recordDelivery(deliveryId: string, event: string): boolean {
    return this.store.recordDelivery(deliveryId, event);
  }

  hasDelivery(deliveryId: string): boolean {
    return this.store.hasDelivery(deliveryId);
  }

  recentDeliveries(since: string): string[] {
    return this.store.recentDeliveries(since);
  }

  recordDeliveries(deliveries: ReadonlyArray<{ id: string; event: string }>): number {
    return this.store.recordDeliveries(deliveries);
  }

  forgetDelivery(deliveryId: string): boolean {
    return this.store.forgetDelivery(deliveryId);
  }

  pruneDeliveries(before: string): number {
    return this.store.pruneDeliveries(before);
  }

  ping(): void {
    this.store.ping();
  }

  close(): void {
    this.store.close();
  }
}
