import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { resolvePaths, type Paths } from "../config.js";
import type { GitHubAccess } from "../github/access.js";
import { createLogger, flushLogger, type Component, type Logger } from "../log/logger.js";
import type { PipelineDeps } from "../runner/pipeline.js";
import type { PreflightCache } from "../runner/preflight.js";
import { SqliteWorkerStore } from "../store/sqlite.js";
import { ObservedWorkerStore } from "./observed-store.js";
import type { WorkerStore } from "../store/store.js";

function lazyGitHubAccess(): GitHubAccess {
  let access: Promise<GitHubAccess> | undefined;
  return async (repository) => {
    access ??= import("../github/access.js").then((m) => m.githubAccessFromEnv(process.env));
    return (await access)(repository);
  };
}

/** What one CLI invocation shares: its correlation id, its paths, its logger and the store, made on first use. */
export class CliContext {
  readonly correlationId = randomUUID();
  /** Set by a command that succeeded as a program but reports a failure in its result (`--wait`). */
  exitCode = 0;
  private cachedPaths: Paths | undefined;
  private cachedRawStore: WorkerStore | undefined;
  private cachedStore: WorkerStore | undefined;
  private cachedLogger: Logger | undefined;
  private cachedBaseLogger: Logger | undefined;
  /** One per invocation: a spawn's checks stand for the runner that `--wait` starts. */
  private readonly preflights: PreflightCache = new Map();
  /** One GitHub client per repository for the whole invocation (an App's installation is looked up once). */
  private readonly github = lazyGitHubAccess();

  get paths(): Paths {
    this.cachedPaths ??= resolvePaths();
    return this.cachedPaths;
  }

  /** The SQLite store itself, for a composition that observes it its own way (`pw serve`). */
  get rawStore(): WorkerStore {
    this.cachedRawStore ??= new SqliteWorkerStore(this.paths.storeFile);
    return this.cachedRawStore;
  }

  /** The store, logging every state change it makes with this invocation's logger. */
  get store(): WorkerStore {
    this.cachedStore ??= new ObservedWorkerStore(this.rawStore, { loggerFor: () => this.moveLogger, correlationId: this.correlationId });
    return this.cachedStore;
  }

  /**
   * Short commands log to `$PW_HOME/logs/pw.log` (what they print is for the person);
   * long-running ones (`loop`, `serve`) call `useLogger` to log to stdout instead. Its lines
   * carry this invocation's correlation id.
   */
  get logger(): Logger {
    this.ensureLogger();
    return this.cachedLogger!;
  }

  /**
   * The same logger without the invocation's correlation id, for the store's lines: a move
   * carries the correlation id of the spawn or delivery it belongs to (one key per line).
   */
  get moveLogger(): Logger {
    this.ensureLogger();
    return this.cachedBaseLogger!;
  }

  private ensureLogger(): void {
    if (!this.cachedLogger) this.setLogger(createLogger({ component: "cli", destination: join(this.paths.logsDir, "pw.log") }));
  }

  useLogger(component: Component, destination = "stdout"): Logger {
    // one logger per process: a file logger made earlier is flushed and replaced
    if (this.cachedLogger) void flushLogger(this.cachedLogger);
    this.setLogger(createLogger({ component, destination }));
    return this.cachedLogger!;
  }

  private setLogger(base: Logger): void {
    this.cachedBaseLogger = base;
    this.cachedLogger = base.child({ correlation_id: this.correlationId });
  }

  /** What the runner pipeline needs, from this invocation's environment. */
  pipelineDeps(): PipelineDeps {
    return {
      store: this.store,
      paths: this.paths,
      logger: this.logger,
      env: process.env,
      // Octokit loads only when a command first talks to GitHub
      github: this.github,
      preflights: this.preflights,
      correlationId: this.correlationId,
    };
  }

  /** Closes the store and flushes the logger (bounded, even when Loki is down). */
  async close(): Promise<void> {
    this.cachedRawStore?.close();
    if (this.cachedLogger) await flushLogger(this.cachedLogger);
  }
}
