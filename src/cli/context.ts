import { randomUUID } from "node:crypto";
import { accessSync, constants, mkdirSync } from "node:fs";
import { join } from "node:path";
import { databaseUrlSetting, resolvePaths, type Paths } from "../config.js";
import { InvalidInputError } from "../core/errors.js";
import type { GitHubAccess } from "../github/access.js";
import type { WorkerState } from "../core/states.js";
import { chooseLogFormat, readLogEnv, wantsColor, type LogFormat } from "../log/env.js";
import { createLogger, flushLogger, type Component, type Logger } from "../log/logger.js";
import type { PipelineDeps } from "../runner/pipeline.js";
import type { PreflightCache } from "../runner/preflight.js";
import { parseDatabaseUrl, type DatabaseUrl } from "../store/database-url.js";
import { lazyStore } from "../store/lazy.js";
import { SqliteWorkerStore } from "../store/sqlite.js";
import { SqliteAsyncWorkerStore } from "../store/sqlite-async.js";
import { ObservedWorkerStore } from "./observed-store.js";
import type { PassWait } from "../runner/runner.js";
import { runnerIdFromEnv } from "../runner/runner-id.js";
import type { WorkerStore } from "../store/store.js";

/** The PostgreSQL database the store is in, checked (a malformed URL is an InvalidInputError naming where it was set); undefined: SQLite. */
function databaseOf(paths: Paths): DatabaseUrl | undefined {
  const setting = databaseUrlSetting(paths, process.env);
  return setting && parseDatabaseUrl(setting.value, setting.what);
}

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
  private stdoutLines: { format: LogFormat; color: boolean } = { format: "json", color: false };
  /** The state this invocation last moved each worker to (`pw loop` reports the ones it failed). */
  readonly moved = new Map<string, WorkerState>();
  /** One per invocation: a spawn's checks stand for the runner that `--wait` starts. */
  private readonly preflights: PreflightCache = new Map();
  /** One GitHub client per repository for the whole invocation (an App's installation is looked up once). */
  private readonly github = lazyGitHubAccess();

  get paths(): Paths {
    this.cachedPaths ??= resolvePaths();
    return this.cachedPaths;
  }

  /**
   * The store itself, for a composition that observes it its own way (`pw serve`): PostgreSQL
   * when a database URL is set (`PW_DATABASE_URL`, else `database_url` in `$PW_HOME/config.yml`),
   * connected on first use; otherwise the SQLite file in `$PW_HOME`. Never one for the other.
   */
  get rawStore(): WorkerStore {
    if (!this.cachedRawStore) {
      const database = databaseOf(this.paths);
      if (database) {
        // pg loads only for a command that uses the database
        const open = async () => (await import("../store/postgres.js")).openPostgresStore(database);
        this.cachedRawStore = lazyStore(open, { backend: "postgres", location: database.redacted });
      } else {
        this.ensureDirectory(this.paths.home);
        this.cachedRawStore = new SqliteAsyncWorkerStore(new SqliteWorkerStore(this.paths.storeFile));
      }
    }
    return this.cachedRawStore;
  }

  /**
   * Reaches the store now, for a command that then waits out outages (`pw loop`, `pw serve`):
   * a database that cannot be reached at the start is an error (exit 1), not something to wait for.
   */
  async connectStore(): Promise<void> {
    await this.rawStore.ping();
  }

  /**
   * What a runner waits on between passes: with PostgreSQL, the store's notices (a worker queued,
   * merged or asked to stop wakes it at once; the poll interval is the fallback); with SQLite,
   * the poll interval. `close` stops listening.
   */
  async passWait(logger: Logger): Promise<{ wait?: PassWait; close(): Promise<void> }> {
    const database = databaseOf(this.paths);
    if (!database) return { close: async () => {} };
    const { WorkerNotices } = await import("../store/postgres-notify.js");
    try {
      const notices = await WorkerNotices.listen(database);
      return { wait: (pollMs, signal) => notices.wait(pollMs, signal), close: () => notices.close() };
    } catch (error) {
      // the poll interval still finds the work, only later
      logger.warn({ err_message: (error as Error).message }, "not listening for worker notices: the runner polls");
      return { close: async () => {} };
    }
  }

  /**
   * Checks what every command reads from the environment (PW_HOME, PW_WORKTREES_ROOT, LOG_LEVEL,
   * PW_PHASE, PW_LOG_FORMAT, LOKI_*, the database URL) before it does anything, so a bad value
   * stops even a command that would not have used it. Nothing is cached: `pw serve` reads `.env` later.
   */
  checkEnvironment(): void {
    databaseOf(resolvePaths(process.env));
    runnerIdFromEnv(process.env);
    readLogEnv(process.env);
  }

  /**
   * Makes `dir` (PW_HOME or a directory in it) when missing. PW_HOME must be a directory this
   * user can write: a file there, or no permission, is the variable's fault.
   */
  private ensureDirectory(dir: string): void {
    const { home } = this.paths;
    try {
      mkdirSync(dir, { recursive: true });
      accessSync(dir, constants.W_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new InvalidInputError(`PW_HOME ${home} cannot be used (${code}): set PW_HOME to a directory you can write`);
    }
  }

  /** The store, logging every state change it makes with this invocation's logger. */
  get store(): WorkerStore {
    this.cachedStore ??= new ObservedWorkerStore(this.rawStore, {
      loggerFor: () => this.moveLogger,
      correlationId: this.correlationId,
      onMove: (worker) => this.moved.set(worker.id, worker.state),
    });
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
    if (this.cachedLogger) return;
    this.ensureDirectory(this.paths.logsDir);
    this.setLogger(createLogger({ component: "cli", destination: join(this.paths.logsDir, "pw.log") }));
  }

  /**
   * How stdout log lines look (`loop`, `serve`): `--log-format`, else PW_LOG_FORMAT, else
   * readable on a terminal and JSON otherwise; colours per NO_COLOR / FORCE_COLOR. Call before
   * `useLogger`; a bad PW_LOG_FORMAT (or other log variable) is an InvalidInputError.
   */
  chooseLogFormat(flag: LogFormat | undefined): void {
    const fromEnv = readLogEnv(process.env).format;
    const isTerminal = Boolean(process.stdout.isTTY);
    this.stdoutLines = { format: chooseLogFormat(flag, fromEnv, isTerminal), color: wantsColor(process.env, isTerminal) };
  }

  /** What `chooseLogFormat` decided, for another stdout logger of the same process (`pw serve`'s app). */
  get logOutput(): { format: LogFormat; color: boolean } {
    return this.stdoutLines;
  }

  useLogger(component: Component): Logger {
    // one logger per process: a file logger made earlier is flushed and replaced
    if (this.cachedLogger) void flushLogger(this.cachedLogger);
    this.setLogger(createLogger({ component, destination: "stdout", ...this.stdoutLines }));
    return this.cachedLogger!;
  }

  private setLogger(base: Logger): void {
    this.cachedBaseLogger = base;
    this.cachedLogger = base.child({ correlation_id: this.correlationId });
  }

  /**
   * Checks the GitHub variables (App id and key, GHE_HOST, GHE_PROTOCOL, write spacing) before a
   * command that may reach GitHub does anything; a bad one is an InvalidInputError, and so is
   * having no credentials when `credentials` says the command needs them.
   */
  async checkGitHubEnvironment(options: { credentials: boolean }): Promise<void> {
    const { githubAuthFromEnv, NO_CREDENTIALS } = await import("../github/octokit.js");
    if (!githubAuthFromEnv(process.env) && options.credentials) throw new InvalidInputError(NO_CREDENTIALS);
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
    await this.cachedRawStore?.close();
    if (this.cachedLogger) await flushLogger(this.cachedLogger);
  }
}
