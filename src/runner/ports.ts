import type { RepoConfig } from "../config.js";
import { PwError } from "../core/errors.js";
import type { Worker } from "../core/worker.js";
import type { PortHolder, WorkerStore } from "../store/store.js";

/** The range of `config` has no free block left. */
export class NoFreePortError extends PwError {}

/**
 * The first port of the block `holder` holds, allocated when it holds none (`prefer` first);
 * the block is the holder's until it ends.
 */
export async function portFor(store: WorkerStore, config: RepoConfig, holder: PortHolder, prefer?: number): Promise<number> {
  const port = await store.allocatePort(holder, config.ports, prefer);
  if (port === undefined) {
    const { from, perWorker } = config.ports;
    throw new NoFreePortError(
      `no free block of ${perWorker} port${perWorker === 1 ? "" : "s"} from ${from}: every block up to 65535 is held; ` +
        "let workers end, or set ports.from lower in .parallel-workers.yml",
    );
  }
  return port;
}

/**
 * A worker's port: the one it holds (from a spare, or an earlier run), else a new block,
 * `prefer` first (the port its worktree's setup ran with, for a worker queued again).
 */
export async function workerPort(store: WorkerStore, config: RepoConfig, worker: Worker, prefer?: number): Promise<number> {
  return worker.port ?? portFor(store, config, { workerId: worker.id }, prefer);
}
