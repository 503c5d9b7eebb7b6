import Database from "better-sqlite3";
import { closeSync, mkdirSync, openSync, readSync, statSync } from "node:fs";
import { dirname } from "node:path";
import {
  IllegalTransitionError,
  NotFoundError,
  PwError,
  StoreError,
  TransitionConflictError,
} from "../core/errors.js";
import { canTransition, isWorkerState, type WorkerState } from "../core/states.js";
import type { TransitionRecord, TransitionSource, Worker } from "../core/worker.js";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";
import type { NewWorker, TransitionMeta, WorkerFields, WorkerFilter, WorkerStore } from "./store.js";

const SQLITE_HEADER = "SQLite format 3\0";
const BUSY_TIMEOUT_MS = 10_000;

/** Worker fields, the columns that hold them, and whether the value is stored as JSON text. */
const COLUMNS = {
  taskId: { column: "task_id" },
  repo: { column: "repo" },
  project: { column: "project" },
  repoPath: { column: "repo_path" },
  branch: { column: "branch" },
  baseBranch: { column: "base_branch" },
  worktreePath: { column: "worktree_path" },
  description: { column: "description" },
  agent: { column: "agent" },
  prNumber: { column: "pr_number" },
  prUrl: { column: "pr_url" },
  error: { column: "error" },
  labels: { column: "labels", json: true },
  milestone: { column: "milestone" },
  dependsOn: { column: "depends_on", json: true },
  issueNumber: { column: "issue_number" },
  owner: { column: "owner" },
  leaseUntil: { column: "lease_until" },
  pid: { column: "pid" },
} as const satisfies Record<keyof WorkerFields, { column: string; json?: true }>;

type FieldName = keyof typeof COLUMNS;
const FIELD_NAMES = Object.keys(COLUMNS) as FieldName[];

function isJson(name: FieldName): boolean {
  return "json" in COLUMNS[name];
}

type WorkerRow = Record<string, unknown> & { id: string; state: string; created_at: string; updated_at: string };

interface TransitionRow {
  worker_id: string;
  from_state: string | null;
  to_state: string;
  at: string;
  source: string;
  correlation_id: string | null;
  detail: string | null;
}

function toState(value: string): WorkerState {
  // A state this release does not know was written by a newer one: say so rather than guess.
  if (!isWorkerState(value)) throw new StoreError(`store holds an unknown state "${value}": upgrade parallel-workers`);
  return value;
}

function toWorker(row: WorkerRow): Worker {
  const worker: Record<string, unknown> = { id: row.id, state: toState(row.state) };
  for (const name of FIELD_NAMES) {
    const value = row[COLUMNS[name].column] ?? null;
    worker[name] = isJson(name) ? (value === null ? [] : JSON.parse(value as string)) : value;
  }
  worker.createdAt = row.created_at;
  worker.updatedAt = row.updated_at;
  return worker as unknown as Worker;
}

/** The value bound for a field: JSON fields as text, missing values as NULL. */
function toColumnValue(name: FieldName, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  return isJson(name) ? JSON.stringify(value) : value;
}

function now(): string {
  return new Date().toISOString();
}

/** Refuses, before SQLite touches it, a file that is not a SQLite database. */
function assertSqliteFile(file: string): void {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return; // a new store
  }
  if (size === 0) return;
  const header = Buffer.alloc(SQLITE_HEADER.length);
  const fd = openSync(file, "r");
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (header.toString("latin1") !== SQLITE_HEADER) {
    throw new StoreError(`store file ${file} is not a SQLite database: move it aside or point PW_HOME elsewhere`);
  }
}

function wrapSqliteError(file: string, error: unknown): never {
  if (error instanceof PwError) throw error;
  const message = error instanceof Error ? error.message : String(error);
  throw new StoreError(`store ${file}: ${message}`, { cause: error });
}

export class SqliteWorkerStore implements WorkerStore {
  private readonly db: Database.Database;

  constructor(readonly file: string) {
    assertSqliteFile(file);
    mkdirSync(dirname(file), { recursive: true });
    try {
      this.db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = NORMAL");
      this.db.pragma("foreign_keys = ON");
      this.migrate();
    } catch (error) {
      wrapSqliteError(file, error);
    }
  }

  /** Applies the schema steps this file has not taken yet, all in one transaction. */
  private migrate(): void {
    const apply = this.db.transaction(() => {
      const version = this.db.pragma("user_version", { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new StoreError(
          `store ${this.file} has schema version ${version}, newer than this release's ${SCHEMA_VERSION}: upgrade parallel-workers`,
        );
      }
      for (let step = version; step < SCHEMA_VERSION; step++) this.db.exec(MIGRATIONS[step]!);
      if (version !== SCHEMA_VERSION) this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    });
    apply.immediate();
  }

  get schemaVersion(): number {
    return this.db.pragma("user_version", { simple: true }) as number;
  }

  private row(id: string): WorkerRow | undefined {
    return this.db.prepare("SELECT * FROM workers WHERE id = ?").get(id) as WorkerRow | undefined;
  }

  private recordTransition(
    workerId: string,
    from: WorkerState | null,
    to: WorkerState,
    at: string,
    meta: TransitionMeta,
  ): void {
    this.db
      .prepare(
        `INSERT INTO transitions (worker_id, from_state, to_state, at, source, correlation_id, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(workerId, from, to, at, meta.source, meta.correlationId ?? null, meta.detail ?? null);
  }

  /** Writes `patch` and the state in one UPDATE; leaving UNKNOWN clears a stale error. */
  private writeWorker(id: string, state: WorkerState, previous: WorkerState, patch: WorkerFields, at: string): void {
    const fields: Partial<Record<FieldName, unknown>> = { ...patch };
    if (previous === "UNKNOWN" && state !== "UNKNOWN" && !("error" in patch)) fields.error = null;
    const names = FIELD_NAMES.filter((name) => name in fields);
    const assignments = ["state = @state", "updated_at = @updated_at", ...names.map((n) => `${COLUMNS[n].column} = @${n}`)];
    const params: Record<string, unknown> = { id, state, updated_at: at };
    for (const name of names) params[name] = toColumnValue(name, fields[name]);
    this.db.prepare(`UPDATE workers SET ${assignments.join(", ")} WHERE id = @id`).run(params);
  }

  private insertWorker(worker: NewWorker, state: WorkerState, at: string): void {
    const names = FIELD_NAMES.filter((name) => name in worker);
    const columns = ["id", "state", "created_at", "updated_at", ...names.map((n) => COLUMNS[n].column)];
    const values = ["@id", "@state", "@at", "@at", ...names.map((n) => `@${n}`)];
    const params: Record<string, unknown> = { id: worker.id, state, at };
    for (const name of names) params[name] = toColumnValue(name, worker[name]);
    this.db.prepare(`INSERT INTO workers (${columns.join(", ")}) VALUES (${values.join(", ")})`).run(params);
  }

  private atomically<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (error) {
      wrapSqliteError(this.file, error);
    }
  }

  createWorker(worker: NewWorker, meta: TransitionMeta): Worker {
    return this.atomically(() => {
      if (this.row(worker.id)) throw new StoreError(`worker ${worker.id} already exists`);
      const state = worker.state ?? "NEEDS_INIT";
      const at = now();
      this.insertWorker(worker, state, at);
      this.recordTransition(worker.id, null, state, at, meta);
      return toWorker(this.row(worker.id)!);
    });
  }

  getWorker(id: string): Worker | undefined {
    const row = this.row(id);
    return row && toWorker(row);
  }

  requireWorker(id: string): Worker {
    const worker = this.getWorker(id);
    if (!worker) throw new NotFoundError(`no worker ${id}: see \`pw state list\``);
    return worker;
  }

  listWorkers(filter: WorkerFilter = {}): Worker[] {
    const clauses: string[] = [];
    const params: Record<string, string> = {};
    if (filter.state) {
      clauses.push("state = @state");
      params.state = filter.state;
    }
    if (filter.repo) {
      clauses.push("repo = @repo");
      params.repo = filter.repo;
    }
    const where = clauses.length ? `WHERE ${clauses.join(" AND ")}` : "";
    const rows = this.db.prepare(`SELECT * FROM workers ${where} ORDER BY created_at, id`).all(params) as WorkerRow[];
    return rows.map(toWorker);
  }

  transition(id: string, from: WorkerState, to: WorkerState, meta: TransitionMeta): Worker {
    return this.atomically(() => {
      const row = this.row(id);
      if (!row) throw new NotFoundError(`no worker ${id}: see \`pw state list\``);
      if (!canTransition(from, to)) throw new IllegalTransitionError(id, from, to);
      const current = toState(row.state);
      if (current !== from) throw new TransitionConflictError(id, from, current, to);
      const at = now();
      this.writeWorker(id, to, current, meta.patch ?? {}, at);
      this.recordTransition(id, from, to, at, meta);
      return toWorker(this.row(id)!);
    });
  }

  claimWorker(id: string, owner: string, leaseUntil: string, takeOverFrom?: string): boolean {
    return this.atomically(
      () =>
        this.db
          .prepare(
            `UPDATE workers SET owner = @owner, lease_until = @leaseUntil, updated_at = @now
             WHERE id = @id AND state = 'NEEDS_INIT'
               AND (owner IS NULL OR owner = @owner OR owner = @takeOverFrom
                    OR lease_until IS NULL OR lease_until < @now)`,
          )
          .run({ id, owner, leaseUntil, now: now(), takeOverFrom: takeOverFrom ?? null }).changes === 1,
    );
  }

  renewLeases(owner: string, leaseUntil: string): number {
    return this.atomically(
      () =>
        this.db
          .prepare(
            `UPDATE workers SET lease_until = @leaseUntil
             WHERE owner = @owner AND state IN ('NEEDS_INIT', 'WORKING')`,
          )
          .run({ owner, leaseUntil }).changes,
    );
  }

  setState(id: string, to: WorkerState, meta: TransitionMeta): Worker {
    return this.atomically(() => {
      const row = this.row(id);
      const at = now();
      if (row) {
        const current = toState(row.state);
        this.writeWorker(id, to, current, meta.patch ?? {}, at);
        this.recordTransition(id, current, to, at, meta);
      } else {
        this.insertWorker({ id, ...meta.patch }, to, at);
        this.recordTransition(id, null, to, at, meta);
      }
      return toWorker(this.row(id)!);
    });
  }

  updateWorker(id: string, patch: WorkerFields): Worker {
    return this.atomically(() => {
      const row = this.row(id);
      if (!row) throw new NotFoundError(`no worker ${id}: see \`pw state list\``);
      const state = toState(row.state);
      this.writeWorker(id, state, state, patch, now());
      return toWorker(this.row(id)!);
    });
  }

  removeWorker(id: string): boolean {
    return this.atomically(() => this.db.prepare("DELETE FROM workers WHERE id = ?").run(id).changes === 1);
  }

  history(id: string): TransitionRecord[] {
    const rows = this.db
      .prepare("SELECT * FROM transitions WHERE worker_id = ? ORDER BY seq")
      .all(id) as TransitionRow[];
    return rows.map((row) => ({
      workerId: row.worker_id,
      from: row.from_state === null ? null : toState(row.from_state),
      to: toState(row.to_state),
      at: row.at,
      source: row.source as TransitionSource,
      correlationId: row.correlation_id,
      detail: row.detail,
    }));
  }

  recordDelivery(deliveryId: string, event: string): boolean {
    return this.atomically(
      () =>
        this.db
          .prepare("INSERT OR IGNORE INTO deliveries (id, event, received_at) VALUES (?, ?, ?)")
          .run(deliveryId, event, now()).changes === 1,
    );
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
