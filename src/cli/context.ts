import { randomUUID } from "node:crypto";
import { resolvePaths, type Paths } from "../config.js";
import { SqliteWorkerStore } from "../store/sqlite.js";
import type { WorkerStore } from "../store/store.js";

/** What one CLI invocation shares: its correlation id, its paths, and the store, opened on first use. */
export class CliContext {
  readonly correlationId = randomUUID();
  private cachedPaths: Paths | undefined;
  private cachedStore: WorkerStore | undefined;

  get paths(): Paths {
    this.cachedPaths ??= resolvePaths();
    return this.cachedPaths;
  }

  get store(): WorkerStore {
    this.cachedStore ??= new SqliteWorkerStore(this.paths.storeFile);
    return this.cachedStore;
  }

  close(): void {
    this.cachedStore?.close();
  }
}
