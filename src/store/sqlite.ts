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
import { describeFeedback, FEEDBACK_CAUSES, isAutomaticRound, REWORK_CAUSES, roundCause, type FeedbackDetail, type ReworkCause } from "../core/rework.js";
import { firstFreeBlock, type PortBlock, type PortRange } from "../core/ports.js";
import { isSpareState, type Spare, type SpareState } from "../core/spare.js";
import { canTransition, isTerminal, isWorkerState, type WorkerState } from "../core/states.js";
import { WORKER_REQUESTS, type TransitionRecord, type TransitionSource, type Worker, type WorkerRequest } from "../core/worker.js";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";
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
 * The store's contract answered at once: each method of `WorkerStore` returning its value, not a
 * Promise. What the SQLite file does (in this process, synchronously); `SqliteAsyncWorkerStore`
 * presents it as a `WorkerStore`, and the fast read commands use it directly.
 */
export type AnsweredAtOnce<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never;
};

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
  request: { column: "request" },
  statusCommentId: { column: "status_comment_id" },
  statusCommentKey: { column: "status_comment_key" },
  reworkRounds: { column: "rework_rounds" },
  automaticReworkRounds: { column: "automatic_rework_rounds" },
  reworkCause: { column: "rework_cause" },
  runnerId: { column: "runner_id" },
  mergeFlow: { column: "merge_flow", json: true },
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

function toRequest(value: unknown): WorkerRequest | null {
  if (value !== null && !(WORKER_REQUESTS as readonly unknown[]).includes(value)) {
    throw new StoreError(`store holds an unknown request "${String(value)}": upgrade parallel-workers`);
  }
  return value as WorkerRequest | null;
}

function toCause(value: unknown): ReworkCause | null {
  if (value === null) return null;
  if (!(REWORK_CAUSES as readonly unknown[]).includes(value)) {
    throw new StoreError(`store holds an unknown rework cause "${String(value)}": upgrade parallel-workers`);
  }
  return value as ReworkCause;
}

interface FeedbackRow {
  seq: number;
  worker_id: string;
  key: string;
  scope: string;
  cause: string;
  detail: string;
  received_at: string;
  held: number;
  round: number | null;
}

function toFeedback(row: FeedbackRow): Feedback {
  const detail = JSON.parse(row.detail) as FeedbackDetail;
  // written by a newer release (a cause this one does not know): say so rather than guess; the
  // rest was checked against core/feedback.ts when it was recorded
  if (typeof detail !== "object" || detail === null || !(FEEDBACK_CAUSES as readonly unknown[]).includes(detail.cause) || detail.cause !== row.cause) {
    throw new StoreError(`store holds rework feedback ${row.seq} this release cannot read: upgrade parallel-workers`);
  }
  return {
    seq: row.seq,
    workerId: row.worker_id,
    key: row.key,
    scope: row.scope,
    cause: detail.cause,
    detail,
    receivedAt: row.received_at,
    held: row.held === 1,
    round: row.round,
  };
}

/** Workers with the first port of the block each holds (the `ports` table is the one record of ports). */
const WORKERS = "SELECT workers.*, (SELECT ports.port FROM ports WHERE ports.worker_id = workers.id) AS port FROM workers";

/** A JSON list column: NULL and the empty list (most rows) without parsing. */
function list(value: unknown): string[] {
  return value === null || value === undefined || value === "[]" ? [] : (JSON.parse(value as string) as string[]);
}

/** A JSON object column: NULL (most rows) as an empty record, without parsing. */
function record(value: unknown): Worker["mergeFlow"] {
  return value === null || value === undefined ? {} : (JSON.parse(value as string) as Worker["mergeFlow"]);
}

/**
 * Builds workers from rows whose columns sit at `slot(column)`: a position in an array row, a
 * name in an object row. One object literal of one shape per row: listing 10,000 workers is
 * mostly building them, and the garbage of building them field by field.
 */
function workerReader(slot: (column: string) => number | string): (row: Record<number | string, unknown>) => Worker {
  const [id, state, taskId, repo, project, repoPath, branch, baseBranch, worktreePath, description, agent, prNumber, prUrl, error] = [
    "id",
    "state",
    "task_id",
    "repo",
    "project",
    "repo_path",
    "branch",
    "base_branch",
    "worktree_path",
    "description",
    "agent",
    "pr_number",
    "pr_url",
    "error",
  ].map(slot) as Array<number | string>;
  const [reworkRounds, automaticReworkRounds, reworkCause, runnerId, mergeFlow] = ["rework_rounds", "automatic_rework_rounds", "rework_cause", "runner_id", "merge_flow"].map(slot) as Array<number | string>;
  const [labels, milestone, dependsOn, issueNumber, owner, leaseUntil, pid, request, statusCommentId, statusCommentKey, port, createdAt, updatedAt] = [
    "labels",
    "milestone",
    "depends_on",
    "issue_number",
    "owner",
    "lease_until",
    "pid",
    "request",
    "status_comment_id",
    "status_comment_key",
    "port",
    "created_at",
    "updated_at",
  ].map(slot) as Array<number | string>;
  const text = (value: unknown) => (value ?? null) as string | null;
  const number = (value: unknown) => (value ?? null) as number | null;
  return (row) => ({
    id: row[id!] as string,
    state: toState(row[state!] as string),
    taskId: text(row[taskId!]),
    repo: text(row[repo!]),
    project: text(row[project!]),
    repoPath: text(row[repoPath!]),
    branch: text(row[branch!]),
    baseBranch: text(row[baseBranch!]),
    worktreePath: text(row[worktreePath!]),
    description: text(row[description!]),
    agent: text(row[agent!]),
    prNumber: number(row[prNumber!]),
    prUrl: text(row[prUrl!]),
    error: text(row[error!]),
    labels: list(row[labels!]),
    milestone: text(row[milestone!]),
    dependsOn: list(row[dependsOn!]),
    issueNumber: number(row[issueNumber!]),
    owner: text(row[owner!]),
    leaseUntil: text(row[leaseUntil!]),
    pid: number(row[pid!]),
    request: toRequest(row[request!] ?? null),
    statusCommentId: number(row[statusCommentId!]),
    statusCommentKey: text(row[statusCommentKey!]),
    reworkRounds: (row[reworkRounds!] ?? 0) as number,
    automaticReworkRounds: (row[automaticReworkRounds!] ?? 0) as number,
    reworkCause: toCause(row[reworkCause!] ?? null),
    runnerId: text(row[runnerId!]),
    port: number(row[port!]),
    mergeFlow: record(row[mergeFlow!]),
    createdAt: row[createdAt!] as string,
    updatedAt: row[updatedAt!] as string,
  });
}

const toWorker = workerReader((column) => column) as (row: WorkerRow) => Worker;

/** Reads many rows as arrays (several times faster than one object per row), columns found once per statement. */
function arrayReader(statement: Database.Statement): (row: unknown[]) => Worker {
  const position = new Map(statement.columns().map((column, i) => [column.name, i]));
  const read = workerReader((column) => {
    const i = position.get(column);
    if (i === undefined) throw new StoreError(`store has no column ${column}`);
    return i;
  });
  return read as unknown as (row: unknown[]) => Worker;
}

/** The value bound for a field: JSON fields as text, missing values as NULL. */
function toColumnValue(name: FieldName, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  return isJson(name) ? JSON.stringify(value) : value;
}

interface FollowUpRow {
  seq: number;
  key: string;
  kind: string;
  lane: string;
  input: string;
  installation_id: number | null;
  correlation_id: string | null;
  attempts: number;
  created_at: string;
}

function toFollowUp(row: FollowUpRow): FollowUp {
  return {
    seq: row.seq,
    key: row.key,
    kind: row.kind,
    lane: row.lane,
    input: JSON.parse(row.input) as unknown,
    installationId: row.installation_id,
    correlationId: row.correlation_id,
    attempts: row.attempts,
    createdAt: row.created_at,
  };
}

interface SpareRow {
  id: string;
  repo_path: string;
  path: string;
  state: string;
  base_branch: string | null;
  base_commit: string | null;
  port: number | null;
  owner: string | null;
  lease_until: string | null;
  note: string | null;
  created_at: string;
  updated_at: string;
}

/** Spares with the first port of the block each holds. */
const SPARES = "SELECT spares.*, (SELECT ports.port FROM ports WHERE ports.spare_id = spares.id) AS port FROM spares";

function toSpare(row: SpareRow): Spare {
  if (!isSpareState(row.state)) throw new StoreError(`store holds an unknown spare state "${row.state}": upgrade parallel-workers`);
  return {
    id: row.id,
    repoPath: row.repo_path,
    path: row.path,
    state: row.state,
    baseBranch: row.base_branch,
    baseCommit: row.base_commit,
    port: row.port,
    owner: row.owner,
    leaseUntil: row.lease_until,
    note: row.note,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const SPARE_COLUMNS = { baseBranch: "base_branch", baseCommit: "base_commit", owner: "owner", note: "note" } as const satisfies Record<
  Exclude<keyof SpareFields, "leaseMs">,
  string
>;

function holderColumn(holder: PortHolder): { column: "worker_id" | "spare_id"; id: string } {
  return "workerId" in holder ? { column: "worker_id", id: holder.workerId } : { column: "spare_id", id: holder.spareId };
}

function now(): string {
  return new Date().toISOString();
}

/** The instant `ms` after `from` (ISO). The file lives on this machine, so its clock is the store's. */
function later(ms: number, from: string = now()): string {
  return new Date(Date.parse(from) + ms).toISOString();
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

/** Prepared statements kept per SQL text; the UPDATE/INSERT variants are few, but bounded anyway. */
const STATEMENT_CACHE_SIZE = 256;

export class SqliteWorkerStore implements AnsweredAtOnce<Omit<WorkerStore, "backend" | "location">> {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  /** The listing statements (one per combination of filters), in array mode, with their readers. */
  private readonly lists = new Map<string, { statement: Database.Statement; read: (row: unknown[]) => Worker }>();
  /** One transaction function for every atomic step (better-sqlite3 passes the step through). */
  private transactional: Database.Transaction<(fn: () => unknown) => unknown> | undefined;

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
    return this.statement(`${WORKERS} WHERE id = ?`).get(id) as WorkerRow | undefined;
  }

  private recordTransition(
    workerId: string,
    from: WorkerState | null,
    to: WorkerState,
    at: string,
    meta: TransitionMeta,
  ): void {
    this
      .statement(
        `INSERT INTO transitions (worker_id, from_state, to_state, at, source, correlation_id, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(workerId, from, to, at, meta.source, meta.correlationId ?? null, meta.detail ?? null);
  }

  /**
   * Writes `patch` and the state in one UPDATE. Leaving UNKNOWN clears a stale error; a request
   * (`/worker terminate`) is about the run under way, so queueing again or ending clears it.
   */
  private writeWorker(id: string, state: WorkerState, previous: WorkerState, patch: WorkerFields, at: string): void {
    const fields: Partial<Record<FieldName, unknown>> = { ...patch };
    if (previous === "UNKNOWN" && state !== "UNKNOWN" && !("error" in patch)) fields.error = null;
    if (state !== previous && (state === "NEEDS_INIT" || isTerminal(state)) && !("request" in patch)) fields.request = null;
    // a worker that ended needs no ports: its block is free for the next one
    if (state !== previous && isTerminal(state)) this.statement("DELETE FROM ports WHERE worker_id = ?").run(id);
    const names = FIELD_NAMES.filter((name) => name in fields);
    const assignments = ["state = @state", "updated_at = @updated_at", ...names.map((n) => `${COLUMNS[n].column} = @${n}`)];
    const params: Record<string, unknown> = { id, state, updated_at: at };
    for (const name of names) params[name] = toColumnValue(name, fields[name]);
    this.statement(`UPDATE workers SET ${assignments.join(", ")} WHERE id = @id`).run(params);
  }

  private insertWorker(worker: NewWorker, state: WorkerState, at: string): void {
    const names = FIELD_NAMES.filter((name) => name in worker);
    const columns = ["id", "state", "created_at", "updated_at", ...names.map((n) => COLUMNS[n].column)];
    const values = ["@id", "@state", "@at", "@at", ...names.map((n) => `@${n}`)];
    const params: Record<string, unknown> = { id: worker.id, state, at };
    for (const name of names) params[name] = toColumnValue(name, worker[name]);
    this.statement(`INSERT INTO workers (${columns.join(", ")}) VALUES (${values.join(", ")})`).run(params);
  }

  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      if (this.statements.size >= STATEMENT_CACHE_SIZE) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private atomically<T>(fn: () => T): T {
    try {
      this.transactional ??= this.db.transaction((step: () => unknown) => step());
      return this.transactional.immediate(fn) as T;
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
      this.insertFollowUps(meta.followUps, at);
      return toWorker(this.row(worker.id)!);
    });
  }

  getWorker(id: string): Worker | undefined {
    const row = this.row(id);
    return row && toWorker(row);
  }

  requireWorker(id: string): Worker {
    const worker = this.getWorker(id);
    if (!worker) throw new NotFoundError(`no worker ${id}: see \`pw worker list\``);
    return worker;
  }

  listWorkers(filter: WorkerFilter = {}): Worker[] {
    const clauses: string[] = [];
    const params: Record<string, string | number> = {};
    if (filter.state) {
      clauses.push("state = @state");
      params.state = filter.state;
    }
    if (filter.states) {
      // the states are known names (typed), so they may be spelled into the statement
      const states = filter.states.filter(isWorkerState);
      clauses.push(states.length ? `state IN (${states.map((s) => `'${s}'`).join(", ")})` : "0");
    }
    if (filter.withWorktree) clauses.push("worktree_path IS NOT NULL");
    if (filter.taskIds) {
      const names = filter.taskIds.map((_, i) => `@task${i}`);
      filter.taskIds.forEach((id, i) => (params[`task${i}`] = id.toLowerCase()));
      clauses.push(names.length ? `lower(task_id) IN (${names.join(", ")})` : "0");
    }
    if (filter.repo) {
      clauses.push("repo = @repo");
      params.repo = filter.repo;
    }
    if (filter.issueNumber !== undefined) {
      clauses.push("issue_number = @issueNumber");
      params.issueNumber = filter.issueNumber;
    }
    if (filter.withIssue) clauses.push("issue_number IS NOT NULL");
    if (filter.branch !== undefined) {
      clauses.push("branch = @branch");
      params.branch = filter.branch;
    }
    if (filter.updatedSince !== undefined) {
      clauses.push("updated_at >= @updatedSince");
      params.updatedSince = filter.updatedSince;
    }
    const where = clauses.length ? `WHERE ${clauses.join(" AND ")}` : "";
    const sql = `${WORKERS} ${where} ORDER BY created_at, id`;
    let list = this.lists.get(sql);
    if (!list) {
      const statement = this.db.prepare(sql).raw(true);
      list = { statement, read: arrayReader(statement) };
      this.lists.set(sql, list);
    }
    return (list.statement.all(params) as unknown[][]).map(list.read);
  }

  transition(id: string, from: WorkerState, to: WorkerState, meta: TransitionMeta): Worker {
    return this.atomically(() => {
      const row = this.row(id);
      if (!row) throw new NotFoundError(`no worker ${id}: see \`pw worker list\``);
      if (!canTransition(from, to)) throw new IllegalTransitionError(id, from, to);
      const current = toState(row.state);
      if (current !== from) throw new TransitionConflictError(id, from, current, to);
      const at = now();
      this.writeWorker(id, to, current, meta.patch ?? {}, at);
      this.recordTransition(id, from, to, at, meta);
      this.insertFollowUps(meta.followUps, at);
      return toWorker(this.row(id)!);
    });
  }

  claimWorker(id: string, owner: string, leaseMs: number, takeOverFrom?: string): boolean {
    return this.atomically(() => {
      const at = now();
      return (
        this
          .statement(
            `UPDATE workers SET owner = @owner, lease_until = @leaseUntil, updated_at = @now
             WHERE id = @id AND state = 'NEEDS_INIT'
               AND (owner IS NULL OR owner = @owner OR owner = @takeOverFrom
                    OR lease_until IS NULL OR lease_until < @now)`,
          )
          .run({ id, owner, leaseUntil: later(leaseMs, at), now: at, takeOverFrom: takeOverFrom ?? null }).changes === 1
      );
    });
  }

  /**
   * Claims for `owner` for `leaseMs` the oldest queued worker `query` serves whose claim is free
   * and whose dependencies are MERGED, in one immediate transaction (see
   * `WorkerStore.claimNextWorker`); undefined when there is none.
   */
  claimNextWorker(owner: string, leaseMs: number, query: NextWorkerQuery): Worker | undefined {
    return this.atomically(() => {
      const at = now();
      const leaseUntil = later(leaseMs, at);
      const row = this
        .statement(
          `SELECT w.id FROM workers w INDEXED BY workers_queued
           WHERE w.state = 'NEEDS_INIT'
             AND (w.repo_path IN (SELECT value FROM json_each(@checkouts))
                  OR (w.repo_path IS NULL AND w.repo IN (SELECT value FROM json_each(@repositories))))
             AND (@project IS NULL OR w.project IS NULL OR w.project = @project)
             AND (w.runner_id IS NULL OR w.runner_id = @runnerId)
             AND (w.owner IS NULL OR w.lease_until IS NULL OR w.lease_until < @at
                  OR w.owner IN (SELECT value FROM json_each(@takeOverFrom)))
             AND NOT EXISTS (
               SELECT 1 FROM json_each(coalesce(w.depends_on, '[]')) AS dep
               WHERE (SELECT m.state FROM workers m
                      WHERE lower(m.task_id) = lower(dep.value) AND m.id <> w.id
                        AND (m.repo_path IS w.repo_path OR m.repo IS w.repo)
                      ORDER BY m.created_at DESC, m.id LIMIT 1) IS NOT 'MERGED')
           ORDER BY w.created_at, w.id LIMIT 1`,
        )
        .get({
          at,
          checkouts: JSON.stringify(query.checkouts ?? []),
          repositories: JSON.stringify(query.repositories ?? []),
          project: query.project ?? null,
          takeOverFrom: JSON.stringify(query.takeOverFrom ?? []),
          runnerId: query.runnerId ?? null,
        }) as { id: string } | undefined;
      if (!row) return undefined;
      this
        .statement("UPDATE workers SET owner = @owner, lease_until = @leaseUntil, runner_id = coalesce(@runnerId, runner_id), updated_at = @at WHERE id = @id")
        .run({ id: row.id, owner, leaseUntil, at, runnerId: query.runnerId ?? null });
      return toWorker(this.row(row.id)!);
    });
  }

  renewLeases(owner: string, leaseMs: number): number {
    const leaseUntil = later(leaseMs);
    return this.atomically(
      () =>
        this
          .statement(
            `UPDATE workers SET lease_until = @leaseUntil
             WHERE owner = @owner AND state IN ('NEEDS_INIT', 'WORKING')`,
          )
          .run({ owner, leaseUntil }).changes +
        this
          .statement(`UPDATE spares SET lease_until = @leaseUntil WHERE owner = @owner AND state IN ('filling', 'taken')`)
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
      this.insertFollowUps(meta.followUps, at);
      return toWorker(this.row(id)!);
    });
  }

  updateWorker(id: string, patch: WorkerFields): Worker {
    return this.atomically(() => {
      const row = this.row(id);
      if (!row) throw new NotFoundError(`no worker ${id}: see \`pw worker list\``);
      const state = toState(row.state);
      this.writeWorker(id, state, state, patch, now());
      return toWorker(this.row(id)!);
    });
  }

  removeWorker(id: string): boolean {
    return this.atomically(() => this.statement("DELETE FROM workers WHERE id = ?").run(id).changes === 1);
  }

  history(id: string): TransitionRecord[] {
    const rows = this
      .statement("SELECT * FROM transitions WHERE worker_id = ? ORDER BY seq")
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

  recentDeliveries(since: string): string[] {
    try {
      const rows = this.statement("SELECT id FROM delivery_log WHERE received_at >= ? ORDER BY seq").raw(true).all(since) as Array<[string]>;
      return rows.map((row) => row[0]);
    } catch (error) {
      wrapSqliteError(this.file, error);
    }
  }

  recordDeliveries(deliveries: ReadonlyArray<{ id: string; event: string }>): number {
    if (deliveries.length === 0) return 0;
    return this.atomically(() => {
      const insert = this.statement("INSERT INTO delivery_log (id, event, received_at) VALUES (?, ?, ?)");
      const at = now();
      for (const delivery of deliveries) insert.run(delivery.id, delivery.event, at);
      return deliveries.length;
    });
  }

  claimDelivery(deliveryId: string, event: string, since: string): boolean {
    // the write lock of the transaction orders claims from every process of the file
    return this.atomically(() => {
      if (this.statement("SELECT 1 FROM delivery_log WHERE received_at >= ? AND id = ?").get(since, deliveryId)) return false;
      this.statement("INSERT INTO delivery_log (id, event, received_at) VALUES (?, ?, ?)").run(deliveryId, event, now());
      return true;
    });
  }

  forgetDelivery(deliveryId: string, since: string): boolean {
    return this.atomically(
      () => this.statement("DELETE FROM delivery_log WHERE received_at >= ? AND id = ?").run(since, deliveryId).changes > 0,
    );
  }

  pruneDeliveries(before: string): number {
    return this.atomically(() => this.statement("DELETE FROM delivery_log WHERE received_at < ?").run(before).changes);
  }

  /** Inserts the follow-ups whose key is new (inside a transaction); returns their keys. */
  private insertFollowUps(followUps: readonly NewFollowUp[] | undefined, at: string): string[] {
    if (!followUps?.length) return [];
    // one that gave up is queued again, at the end of its lane
    const forgetFailed = this.statement("DELETE FROM follow_ups WHERE key = ? AND state = 'failed'");
    const insert = this.statement(
      `INSERT INTO follow_ups (key, kind, lane, input, installation_id, correlation_id, state, next_attempt_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (key) DO NOTHING`,
    );
    const added: string[] = [];
    for (const f of followUps) {
      forgetFailed.run(f.key);
      if (insert.run(f.key, f.kind, f.lane, JSON.stringify(f.input ?? null), f.installationId ?? null, f.correlationId ?? null, at, at).changes > 0) {
        added.push(f.key);
      }
    }
    return added;
  }

  addFollowUps(followUps: readonly NewFollowUp[]): string[] {
    if (followUps.length === 0) return [];
    return this.atomically(() => this.insertFollowUps(followUps, now()));
  }

  claimFollowUps(owner: string, leaseMs: number, limit: number): FollowUp[] {
    return this.atomically(() => {
      const at = now();
      const leaseUntil = later(leaseMs, at);
      // the head of each lane (its oldest unfinished follow-up), when due and not held by a live
      // claim; read in queue order, so a claim looks at the queue's first lanes, not all of it
      const rows = this
        .statement(
          `SELECT f.seq, f.key, f.kind, f.lane, f.input, f.installation_id, f.correlation_id, f.attempts, f.created_at
           FROM follow_ups f INDEXED BY follow_ups_unfinished
           WHERE f.state IN ('pending', 'running')
             AND ((f.state = 'pending' AND f.next_attempt_at <= @at) OR (f.state = 'running' AND f.lease_until < @at))
             AND NOT EXISTS (SELECT 1 FROM follow_ups g INDEXED BY follow_ups_lane
                             WHERE g.lane = f.lane AND g.state IN ('pending', 'running') AND g.seq < f.seq)
           ORDER BY f.seq LIMIT @limit`,
        )
        .all({ at, limit }) as FollowUpRow[];
      const claim = this.statement(
        "UPDATE follow_ups SET state = 'running', owner = ?, lease_until = ?, attempts = attempts + 1 WHERE seq = ?",
      );
      for (const row of rows) {
        claim.run(owner, leaseUntil, row.seq);
        row.attempts += 1;
      }
      return rows.map(toFollowUp);
    });
  }

  finishFollowUp(seq: number, owner: string, then?: readonly NewFollowUp[]): boolean {
    return this.atomically(() => {
      const at = now();
      const done = this
        .statement(
          `UPDATE follow_ups SET state = 'done', owner = NULL, lease_until = NULL, last_error = NULL, finished_at = ?
           WHERE seq = ? AND owner = ? AND state = 'running'`,
        )
        .run(at, seq, owner).changes === 1;
      if (done) this.insertFollowUps(then, at);
      return done;
    });
  }

  retryFollowUp(seq: number, owner: string, error: string, retryInMs: number | null): boolean {
    return this.atomically(() => {
      const at = now();
      const retryAt = retryInMs === null ? null : later(retryInMs, at);
      const statement =
        retryAt === null
          ? this.statement(
              `UPDATE follow_ups SET state = 'failed', owner = NULL, lease_until = NULL, last_error = @error, finished_at = @at
               WHERE seq = @seq AND owner = @owner AND state = 'running'`,
            )
          : this.statement(
              `UPDATE follow_ups SET state = 'pending', owner = NULL, lease_until = NULL, last_error = @error, next_attempt_at = @retryAt
               WHERE seq = @seq AND owner = @owner AND state = 'running'`,
            );
      return statement.run({ seq, owner, error, at, ...(retryAt === null ? {} : { retryAt }) }).changes === 1;
    });
  }

  renewFollowUps(owner: string, leaseMs: number): number {
    const leaseUntil = later(leaseMs);
    return this.atomically(
      () => this.statement("UPDATE follow_ups SET lease_until = @leaseUntil WHERE owner = @owner AND state = 'running'").run({ owner, leaseUntil }).changes,
    );
  }

  releaseFollowUps(owner: string | null): number {
    return this.atomically(
      () =>
        this
          .statement(
            `UPDATE follow_ups SET state = 'pending', owner = NULL, lease_until = NULL
             WHERE state = 'running' AND (@owner IS NULL OR owner = @owner)`,
          )
          .run({ owner }).changes,
    );
  }

  followUpBacklog(): FollowUpBacklog {
    try {
      const row = this
        .statement("SELECT count(*) AS unfinished, min(created_at) AS oldest FROM follow_ups WHERE state IN ('pending', 'running')")
        .get() as { unfinished: number; oldest: string | null };
      return { unfinished: row.unfinished, oldestCreatedAt: row.oldest };
    } catch (error) {
      wrapSqliteError(this.file, error);
    }
  }

  pruneFollowUps(before: string): number {
    return this.atomically(
      () => this.statement("DELETE FROM follow_ups WHERE finished_at IS NOT NULL AND finished_at < ?").run(before).changes,
    );
  }

  registerRunner(runner: RunnerRegistration): RunnerRecord {
    return this.atomically(() => {
      const at = now();
      this
        .statement(
          `INSERT INTO runners (id, host, repositories, settings, started_at, heartbeat_at) VALUES (@id, @host, @repositories, @settings, @at, @at)
           ON CONFLICT (id) DO UPDATE SET host = excluded.host, repositories = excluded.repositories, settings = excluded.settings,
             started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,
        )
        .run({ id: runner.id, host: runner.host, repositories: JSON.stringify(runner.repositories), settings: JSON.stringify(runner.settings ?? {}), at });
      return this.runners(Infinity, runner.id)[0]!;
    });
  }

  heartbeatRunner(id: string): boolean {
    return this.atomically(() => this.statement("UPDATE runners SET heartbeat_at = ? WHERE id = ?").run(now(), id).changes === 1);
  }

  listRunners(staleAfterMs: number): RunnerRecord[] {
    try {
      return this.runners(staleAfterMs);
    } catch (error) {
      wrapSqliteError(this.file, error);
    }
  }

  forgetRunner(id: string): boolean {
    return this.atomically(() => this.statement("DELETE FROM runners WHERE id = ?").run(id).changes === 1);
  }

  /** The runners (one, when `id` is given) with the unfinished workers each holds. */
  private runners(staleAfterMs: number, id?: string): RunnerRecord[] {
    const rows = this
      .statement(
        `SELECT r.id, r.host, r.repositories, r.settings, r.started_at, r.heartbeat_at,
                (SELECT count(*) FROM workers w WHERE w.runner_id = r.id AND w.state NOT IN ('MERGED', 'ABANDONED')) AS workers
         FROM runners r WHERE @id IS NULL OR r.id = @id ORDER BY r.id`,
      )
      .all({ id: id ?? null }) as Array<{ id: string; host: string; repositories: string; settings: string | null; started_at: string; heartbeat_at: string; workers: number }>;
    const at = Date.now();
    return rows.map((row) => {
      const heartbeatAgeMs = Math.max(0, at - Date.parse(row.heartbeat_at));
      return {
        id: row.id,
        host: row.host,
        repositories: JSON.parse(row.repositories) as string[],
        startedAt: row.started_at,
        heartbeatAt: row.heartbeat_at,
        heartbeatAgeMs,
        stale: heartbeatAgeMs > staleAfterMs,
        workers: row.workers,
        settings: row.settings ? (JSON.parse(row.settings) as Record<string, unknown>) : {},
      };
    });
  }

  addFeedback(feedback: NewFeedback): Feedback | undefined {
    return this.atomically(() => {
      if (!this.row(feedback.workerId)) throw new NotFoundError(`no worker ${feedback.workerId}: see \`pw worker list\``);
      if (this.statement("SELECT 1 FROM rework_feedback WHERE key = ?").get(feedback.key)) return undefined;
      const answered = this
        .statement("SELECT 1 FROM rework_feedback WHERE worker_id = ? AND scope = ? AND round IS NOT NULL")
        .get(feedback.workerId, feedback.scope);
      if (answered) return undefined;
      const row = this
        .statement(
          `INSERT INTO rework_feedback (worker_id, key, scope, cause, detail, received_at, held) VALUES (?, ?, ?, ?, ?, ?, ?)
           RETURNING *`,
        )
        .get(feedback.workerId, feedback.key, feedback.scope, feedback.detail.cause, JSON.stringify(feedback.detail), now(), feedback.held ? 1 : 0) as FeedbackRow;
      return toFeedback(row);
    });
  }

  listFeedback(filter: FeedbackFilter): Feedback[] {
    const clauses: string[] = [];
    const params: Record<string, string> = {};
    if (filter.workerId !== undefined) {
      clauses.push("f.worker_id = @workerId");
      params.workerId = filter.workerId;
    }
    if (filter.pending) clauses.push("f.round IS NULL");
    if (filter.workerStates) {
      // known names (typed), so they may be spelled into the statement
      const states = filter.workerStates.filter(isWorkerState);
      clauses.push(states.length ? `w.state IN (${states.map((s) => `'${s}'`).join(", ")})` : "0");
    }
    const join = filter.workerStates ? "JOIN workers w ON w.id = f.worker_id" : "";
    const where = clauses.length ? `WHERE ${clauses.join(" AND ")}` : "";
    try {
      const rows = this.statement(`SELECT f.* FROM rework_feedback f ${join} ${where} ORDER BY f.seq`).all(params) as FeedbackRow[];
      return rows.map(toFeedback);
    } catch (error) {
      wrapSqliteError(this.file, error);
    }
  }

  settleFeedback(workerId: string, seqs: readonly number[]): number {
    if (seqs.length === 0) return 0;
    return this.atomically(
      () =>
        this
          .statement("UPDATE rework_feedback SET round = 0 WHERE worker_id = ? AND round IS NULL AND seq IN (SELECT value FROM json_each(?))")
          .run(workerId, JSON.stringify(seqs)).changes,
    );
  }

  startReworkRound(id: string, start: ReworkStart): StartedRound | undefined {
    return this.atomically(() => {
      const row = this.row(id);
      if (!row) throw new NotFoundError(`no worker ${id}: see \`pw worker list\``);
      const current = toState(row.state);
      if (current !== "PR_OPEN") throw new TransitionConflictError(id, "PR_OPEN", current, "WORKING");
      const taken = (
        this
          .statement("SELECT * FROM rework_feedback WHERE worker_id = ? AND round IS NULL AND seq <= ? ORDER BY seq")
          .all(id, start.upTo) as FeedbackRow[]
      ).map(toFeedback);
      if (taken.length === 0) return undefined;
      const round = (row.rework_rounds as number) + 1;
      const automatic = isAutomaticRound(taken);
      const cause = roundCause(taken);
      this.statement("UPDATE rework_feedback SET round = ? WHERE worker_id = ? AND round IS NULL AND seq <= ?").run(round, id, start.upTo);
      const at = now();
      this.writeWorker(
        id,
        "WORKING",
        current,
        {
          owner: start.owner,
          leaseUntil: later(start.leaseMs, at),
          pid: null,
          reworkRounds: round,
          automaticReworkRounds: (row.automatic_rework_rounds as number) + (automatic ? 1 : 0),
          reworkCause: cause,
        },
        at,
      );
      const detail = `rework round ${round}: ${describeFeedback(taken.map((f) => f.detail))}`;
      this.recordTransition(id, current, "WORKING", at, { source: start.source, correlationId: start.correlationId ?? null, detail });
      return { worker: toWorker(this.row(id)!), round, cause, automatic, feedback: taken.map((f) => ({ ...f, round })) };
    });
  }

  allocatePort(holder: PortHolder, range: PortRange, prefer?: number): number | undefined {
    const { column, id } = holderColumn(holder);
    return this.atomically(() => {
      const own = this.statement(`SELECT port FROM ports WHERE ${column} = ?`).get(id) as { port: number } | undefined;
      if (own) return own.port;
      const held = this.statement("SELECT port, span FROM ports").all() as PortBlock[];
      const port = firstFreeBlock(held, range, prefer);
      if (port === undefined) return undefined;
      this.statement(`INSERT INTO ports (port, span, ${column}, since) VALUES (?, ?, ?, ?)`).run(port, range.perWorker, id, now());
      return port;
    });
  }

  releasePort(holder: PortHolder): boolean {
    const { column, id } = holderColumn(holder);
    return this.atomically(() => this.statement(`DELETE FROM ports WHERE ${column} = ?`).run(id).changes > 0);
  }

  private spareRow(id: string): SpareRow | undefined {
    return this.statement(`${SPARES} WHERE id = ?`).get(id) as SpareRow | undefined;
  }

  addSpare(spare: NewSpare): Spare {
    return this.atomically(() => {
      if (this.statement("SELECT 1 FROM spares WHERE id = ? OR path = ?").get(spare.id, spare.path)) {
        throw new StoreError(`spare ${spare.id} (${spare.path}) is recorded already`);
      }
      const at = now();
      this
        .statement(
          `INSERT INTO spares (id, repo_path, path, state, base_branch, base_commit, owner, lease_until, created_at, updated_at)
           VALUES (?, ?, ?, 'filling', ?, ?, ?, ?, ?, ?)`,
        )
        .run(spare.id, spare.repoPath, spare.path, spare.baseBranch, spare.baseCommit, spare.owner, later(spare.leaseMs, at), at, at);
      return toSpare(this.spareRow(spare.id)!);
    });
  }

  getSpare(id: string): Spare | undefined {
    const row = this.spareRow(id);
    return row && toSpare(row);
  }

  listSpares(repoPath?: string): Spare[] {
    const rows = (
      repoPath === undefined
        ? this.statement(`${SPARES} ORDER BY created_at, id`).all()
        : this.statement(`${SPARES} WHERE repo_path = ? ORDER BY created_at, id`).all(repoPath)
    ) as SpareRow[];
    return rows.map(toSpare);
  }

  moveSpare(id: string, from: SpareState, to: SpareState, patch: SpareFields = {}, owner?: string): Spare | undefined {
    return this.atomically(() => {
      const names = (Object.keys(patch) as Array<keyof SpareFields>).filter((name): name is keyof typeof SPARE_COLUMNS => name in SPARE_COLUMNS);
      const assignments = ["state = @to", "updated_at = @at", ...names.map((name) => `${SPARE_COLUMNS[name]} = @${name}`)];
      const at = now();
      const params: Record<string, unknown> = { id, from, to, at, heldBy: owner ?? null };
      for (const name of names) params[name] = patch[name] ?? null;
      if (patch.leaseMs !== undefined) {
        assignments.push("lease_until = @leaseUntil");
        params.leaseUntil = patch.leaseMs === null ? null : later(patch.leaseMs, at);
      }
      const changed = this
        .statement(`UPDATE spares SET ${assignments.join(", ")} WHERE id = @id AND state = @from AND (@heldBy IS NULL OR owner = @heldBy)`)
        .run(params).changes;
      return changed === 1 ? toSpare(this.spareRow(id)!) : undefined;
    });
  }

  takeSpare(repoPath: string, owner: string, leaseMs: number): Spare | undefined {
    return this.atomically(() => {
      const row = this
        .statement("SELECT id FROM spares WHERE repo_path = ? AND state = 'ready' ORDER BY created_at, id LIMIT 1")
        .get(repoPath) as { id: string } | undefined;
      if (!row) return undefined;
      const at = now();
      this
        .statement("UPDATE spares SET state = 'taken', owner = ?, lease_until = ?, updated_at = ? WHERE id = ?")
        .run(owner, later(leaseMs, at), at, row.id);
      return toSpare(this.spareRow(row.id)!);
    });
  }

  handOverSpare(id: string, owner: string, workerId: string): { port: number | null } | undefined {
    return this.atomically(() => {
      const spare = this.statement("SELECT 1 FROM spares WHERE id = ? AND state = 'taken' AND owner = ?").get(id, owner);
      if (!spare) return undefined;
      if (!this.row(workerId)) throw new NotFoundError(`no worker ${workerId}: see \`pw worker list\``);
      if (!this.statement("SELECT 1 FROM ports WHERE worker_id = ?").get(workerId)) {
        this.statement("UPDATE ports SET worker_id = ?, spare_id = NULL WHERE spare_id = ?").run(workerId, id);
      }
      this.statement("DELETE FROM spares WHERE id = ?").run(id);
      const port = this.statement("SELECT port FROM ports WHERE worker_id = ?").get(workerId) as { port: number } | undefined;
      return { port: port?.port ?? null };
    });
  }

  removeSpare(id: string): boolean {
    return this.atomically(() => this.statement("DELETE FROM spares WHERE id = ?").run(id).changes === 1);
  }

  ping(): void {
    try {
      this.statement("SELECT count(*) FROM workers WHERE id = ''").get();
    } catch (error) {
      wrapSqliteError(this.file, error);
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
