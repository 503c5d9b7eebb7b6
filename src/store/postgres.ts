import { createHash } from "node:crypto";
import pg from "pg";
import {
  IllegalTransitionError,
  InvalidInputError,
  NotFoundError,
  PwError,
  StoreError,
  StoreUnavailableError,
  TransitionConflictError,
} from "../core/errors.js";
import { firstFreeBlock, type PortBlock, type PortRange } from "../core/ports.js";
import { describeFeedback, isAutomaticRound, FEEDBACK_CAUSES, REWORK_CAUSES, roundCause, type FeedbackDetail } from "../core/rework.js";
import { isSpareState, type Spare, type SpareState } from "../core/spare.js";
import { canTransition, isTerminal, isWorkerState, type WorkerState } from "../core/states.js";
import { WORKER_REQUESTS, type TransitionRecord, type TransitionSource, type Worker } from "../core/worker.js";
import { parseDatabaseUrl, type DatabaseUrl } from "./database-url.js";
import { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION } from "./postgres-migrations.js";
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
 * Worker fields and the columns that hold them: `json` ones are jsonb lists, `time` ones
 * timestamptz. Typed against `WorkerFields`, so a field added to `Worker` fails to compile here
 * until it has a column (and a migration step).
 */
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
  labels: { column: "labels", kind: "json" },
  milestone: { column: "milestone" },
  dependsOn: { column: "depends_on", kind: "json" },
  issueNumber: { column: "issue_number" },
  owner: { column: "owner" },
  leaseUntil: { column: "lease_until", kind: "time" },
  pid: { column: "pid" },
  request: { column: "request" },
  statusCommentId: { column: "status_comment_id" },
  statusCommentKey: { column: "status_comment_key" },
  reworkRounds: { column: "rework_rounds" },
  automaticReworkRounds: { column: "automatic_rework_rounds" },
  reworkCause: { column: "rework_cause" },
  runnerId: { column: "runner_id" },
  mergeFlow: { column: "merge_flow", kind: "json" },
} as const satisfies Record<keyof WorkerFields, { column: string; kind?: "json" | "time" }>;

type FieldName = keyof typeof COLUMNS;
const FIELD_NAMES = Object.keys(COLUMNS) as FieldName[];

function kindOf(name: FieldName): "json" | "time" | undefined {
  const column = COLUMNS[name];
  return "kind" in column ? column.kind : undefined;
}

/** The store's instant, to the millisecond (what a JavaScript Date holds, so a time read back is the time stored). */
const NOW = "date_trunc('milliseconds', now())";

/** `NOW` plus the milliseconds in parameter `$n`. */
function nowPlus(param: number): string {
  return `date_trunc('milliseconds', now() + $${param}::double precision * interval '1 millisecond')`;
}

type Row = Record<string, unknown>;

/** What a transaction runs statements on: prepared statements with parameters, or `exec` for a script of several (migrations). */
interface Queryable {
  query(sql: string, params?: unknown[]): Promise<pg.QueryResult<Row>>;
  exec(sql: string): Promise<void>;
}

/** Statement names by SQL text: each connection parses and plans a statement once, then only binds it. */
const statementNames = new Map<string, string>();

/** A named (prepared) statement for `sql`; the name is the text's hash, so one name never means two texts. */
function prepared(sql: string, values: unknown[]): pg.QueryConfig {
  let name = statementNames.get(sql);
  if (!name) {
    name = `pw_${createHash("sha1").update(sql).digest("hex").slice(0, 20)}`;
    if (statementNames.size < 1000) statementNames.set(sql, name);
  }
  return { name, text: sql, values };
}

function queryable(client: pg.PoolClient): Queryable {
  return {
    query: (sql, params = []) => client.query<Row>(prepared(sql, params)),
    exec: async (sql) => void (await client.query(sql)),
  };
}

function toState(value: unknown): WorkerState {
  // a state this release does not know was written by a newer one: say so rather than guess
  if (typeof value !== "string" || !isWorkerState(value)) {
    throw new StoreError(`store holds an unknown state "${String(value)}": upgrade parallel-workers`);
  }
  return value;
}

function toRequest(value: unknown): unknown {
  if (value !== null && !(WORKER_REQUESTS as readonly unknown[]).includes(value)) {
    throw new StoreError(`store holds an unknown request "${String(value)}": upgrade parallel-workers`);
  }
  return value;
}

function toCause(value: unknown): unknown {
  if (value !== null && !(REWORK_CAUSES as readonly unknown[]).includes(value)) {
    throw new StoreError(`store holds an unknown rework cause "${String(value)}": upgrade parallel-workers`);
  }
  return value;
}

/** A worker from a row that has its columns and `port` (the first port of the block it holds, or null). */
function toWorker(row: Row): Worker {
  const worker: Record<string, unknown> = { id: row.id, state: toState(row.state) };
  for (const name of FIELD_NAMES) {
    const value = row[COLUMNS[name].column] ?? null;
    worker[name] = kindOf(name) === "json" ? (value ?? (name === "mergeFlow" ? {} : [])) : value;
  }
  worker.request = toRequest(worker.request);
  worker.reworkCause = toCause(worker.reworkCause);
  worker.port = row.port ?? null;
  worker.createdAt = row.created_at;
  worker.updatedAt = row.updated_at;
  return worker as unknown as Worker;
}

/** The `port` column of a worker row `alias` (the `ports` table is the one record of ports). */
function portOf(alias: string): string {
  return `(SELECT p.port FROM ports p WHERE p.worker_id = ${alias}.id) AS port`;
}

/** Workers with their ports, as `w`. */
const WORKERS = `SELECT w.*, ${portOf("w")} FROM workers w`;

/** The rows a data-modifying statement returned (`RETURNING *` of workers), with their ports. */
function returningWorkers(statement: string): string {
  return `WITH changed AS (${statement}) SELECT changed.*, ${portOf("changed")} FROM changed`;
}

function toFeedback(row: Row): Feedback {
  const detail = row.detail as FeedbackDetail;
  // written by a newer release (a cause this one does not know): say so rather than guess; the
  // rest was checked against core/feedback.ts when it was recorded
  if (typeof detail !== "object" || detail === null || !(FEEDBACK_CAUSES as readonly unknown[]).includes(detail.cause) || detail.cause !== row.cause) {
    throw new StoreError(`store holds rework feedback ${String(row.seq)} this release cannot read: upgrade parallel-workers`);
  }
  return {
    seq: row.seq as number,
    workerId: row.worker_id as string,
    key: row.key as string,
    scope: row.scope as string,
    cause: detail.cause,
    detail,
    receivedAt: row.received_at as string,
    held: row.held as boolean,
    round: (row.round as number | null) ?? null,
  };
}

/** Spares with the first port of the block each holds, as `s`. */
const SPARES = "SELECT s.*, (SELECT p.port FROM ports p WHERE p.spare_id = s.id) AS port FROM spares s";

function toSpare(row: Row): Spare {
  const state = row.state as string;
  if (!isSpareState(state)) throw new StoreError(`store holds an unknown spare state "${state}": upgrade parallel-workers`);
  return {
    id: row.id as string,
    repoPath: row.repo_path as string,
    path: row.path as string,
    state,
    baseBranch: (row.base_branch as string | null) ?? null,
    baseCommit: (row.base_commit as string | null) ?? null,
    port: (row.port as number | null) ?? null,
    owner: (row.owner as string | null) ?? null,
    leaseUntil: (row.lease_until as string | null) ?? null,
    note: (row.note as string | null) ?? null,
    createdAt: row.created_at as string,
    updatedAt: row.updated_at as string,
  };
}

function holderColumn(holder: PortHolder): { column: "worker_id" | "spare_id"; id: string } {
  return "workerId" in holder ? { column: "worker_id", id: holder.workerId } : { column: "spare_id", id: holder.spareId };
}

/** The value bound for a field (missing values as NULL, lists as JSON text), and the SQL that reads it. */
function bind(name: FieldName, value: unknown, param: number): { sql: string; value: unknown } {
  const kind = kindOf(name);
  if (value === undefined || value === null) return { sql: `$${param}`, value: null };
  if (kind === "json") return { sql: `$${param}::jsonb`, value: JSON.stringify(value) };
  if (kind === "time") return { sql: `$${param}::timestamptz`, value };
  return { sql: `$${param}`, value };
}

function toFollowUp(row: Row): FollowUp {
  return {
    seq: row.seq as number,
    key: row.key as string,
    kind: row.kind as string,
    lane: row.lane as string,
    input: row.input,
    installationId: (row.installation_id as number | null) ?? null,
    correlationId: (row.correlation_id as string | null) ?? null,
    attempts: row.attempts as number,
    createdAt: row.created_at as string,
  };
}

function toRunner(row: Row, staleAfterMs: number): RunnerRecord {
  const heartbeatAgeMs = row.age_ms as number;
  return {
    id: row.id as string,
    host: row.host as string,
    repositories: row.repositories as string[],
    startedAt: row.started_at as string,
    heartbeatAt: row.heartbeat_at as string,
    heartbeatAgeMs,
    stale: heartbeatAgeMs > staleAfterMs,
    workers: Number(row.workers),
    settings: (row.settings ?? {}) as Record<string, unknown>,
  };
}

// ---------------------------------------------------------------------------------------------
// errors

/** Error codes of Node's sockets that mean the database could not be reached or went away. */
const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "EHOSTDOWN", "ENETUNREACH", "ENETDOWN", "EAI_AGAIN", "ENOTFOUND"]);
/** SQLSTATEs of a server that is going away, starting up, or full. */
const UNAVAILABLE_STATES = new Set(["57P01", "57P02", "57P03", "53300"]);
/** SQLSTATEs of a transaction that lost to another one and may simply run again. */
const RACE_STATES = new Set(["40001", "40P01"]);

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Error codes that say no connection could be made now (rather than that one was lost). */
const CONNECT_CODES = new Set(["ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "EHOSTDOWN", "ENETUNREACH", "ENETDOWN", "EAI_AGAIN", "ENOTFOUND", "57P03", "53300"]);

/** Whether `error` says no connection could be made (the database is down or unreachable). */
function isConnectFailure(error: unknown): boolean {
  return CONNECT_CODES.has(codeOf(error) ?? "") || /timeout exceeded when trying to connect/i.test(error instanceof Error ? error.message : "");
}

/** Whether `error` says the connection failed or was lost (pg's own messages included). */
function isConnectionFailure(error: unknown): boolean {
  const code = codeOf(error);
  if (code !== undefined && (SOCKET_CODES.has(code) || UNAVAILABLE_STATES.has(code) || code.startsWith("08"))) return true;
  const message = error instanceof Error ? error.message : "";
  return /connection terminated|timeout exceeded when trying to connect|not queryable|connection error|server closed the connection/i.test(message);
}

/** One line from an error, also from an AggregateError (several addresses tried), whose own message is empty. */
function describe(error: unknown): string {
  if (error instanceof AggregateError && !error.message) {
    return [...new Set(error.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))))].join("; ");
  }
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0] ?? message;
}

// ---------------------------------------------------------------------------------------------
// the store

export interface PostgresStoreOptions {
  /** Most connections the pool opens (default 10). */
  poolSize?: number;
  /**
   * The schema that holds the tables (made when missing); default: the first of the connection's
   * `search_path` (usually `public`). Letters, digits and `_`.
   */
  schema?: string;
  /** How long to wait for a connection before the database counts as unreachable (default 5 s). */
  connectTimeoutMs?: number;
}

const DEFAULT_POOL_SIZE = 10;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/** A transaction that lost a deadlock runs again, a few times. */
const RACE_ATTEMPTS = 4;

/** pg's readers for this store: bigint as a number (ids and counts fit), timestamptz as ISO text. */
function typeParsers(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));
  const parseTime = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ);
  types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, (value: string) => (parseTime(value) as Date).toISOString());
  return types;
}

/**
 * The store in PostgreSQL, for many machines: the same contract as the SQLite store, method by
 * method (the shared suite in test/store/conformance.ts holds both to it). Every write is one
 * statement, or one transaction when it is several; times come from the database clock
 * (`now()`); claims take rows with `FOR UPDATE SKIP LOCKED`, so racing runners never wait for
 * or take the same worker.
 */
export class PostgresWorkerStore implements WorkerStore {
  readonly backend = "postgres" as const;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly url: DatabaseUrl,
    private readonly poolSize: number,
  ) {}

  /** The URL without its password. */
  get location(): string {
    return this.url.redacted;
  }

  /**
   * Connects to the database at `url` and brings its schema up to date. A malformed URL or an
   * unsupported scheme is an InvalidInputError (exit 2); a database that cannot be reached a
   * StoreUnavailableError (exit 1); a schema from a newer release is refused untouched.
   */
  static async open(url: string | DatabaseUrl, options: PostgresStoreOptions = {}): Promise<PostgresWorkerStore> {
    const parsed = typeof url === "string" ? parseDatabaseUrl(url) : url;
    const schema = options.schema;
    if (schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
      throw new InvalidInputError(`schema "${schema}" is not allowed: use letters, digits and '_'`);
    }
    let connectionString = parsed.connectionString;
    let sessionOptions: string | undefined;
    if (schema) {
      // pg lets the URL's parameters win over its config: the URL's own `options` go first, then the schema
      const withoutOptions = new URL(connectionString);
      sessionOptions = [withoutOptions.searchParams.get("options"), `-c search_path=${schema}`].filter(Boolean).join(" ");
      withoutOptions.searchParams.delete("options");
      connectionString = withoutOptions.toString();
    }
    const poolSize = options.poolSize ?? DEFAULT_POOL_SIZE;
    let pool: pg.Pool;
    try {
      pool = new pg.Pool({
        connectionString,
        max: poolSize,
        connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        idleTimeoutMillis: 30_000,
        keepAlive: true,
        allowExitOnIdle: true,
        application_name: "parallel-workers",
        types: typeParsers(),
        ...(sessionOptions ? { options: sessionOptions } : {}),
      });
    } catch (error) {
      // pg reads files named in the URL (sslcert=...) while it parses it
      throw new InvalidInputError(`PW_DATABASE_URL "${parsed.redacted}": ${describe(error)}`);
    }
    // an idle connection that dies (a database restart) is dropped by the pool; without these
    // listeners its error would end the process
    pool.on("error", () => {});
    pool.on("connect", (client) => client.on("error", () => {}));
    const store = new PostgresWorkerStore(pool, parsed, poolSize);
    try {
      await store.migrate(schema);
    } catch (error) {
      await pool.end().catch(() => {});
      throw error;
    }
    return store;
  }

  /** The version the database's schema is at. */
  async schemaVersion(): Promise<number> {
    const rows = await this.read("SELECT version FROM schema_version");
    return (rows[0]?.version as number | undefined) ?? 0;
  }

  /** Applies the steps this database has not taken, in one transaction, one process at a time. */
  private async migrate(schema: string | undefined): Promise<void> {
    await this.atomically(async (tx) => {
      // one lock per schema, so that processes starting together migrate once
      await tx.query("SELECT pg_advisory_xact_lock(7731, hashtext(coalesce($1, current_schema(), '')))", [schema ?? null]);
      const table = await tx.query("SELECT to_regclass('schema_version') IS NOT NULL AS present");
      let version = 0;
      if (table.rows[0]?.present) {
        version = ((await tx.query("SELECT version FROM schema_version")).rows[0]?.version as number | undefined) ?? 0;
      }
      if (version > POSTGRES_SCHEMA_VERSION) {
        throw new StoreError(
          `database ${this.location} has schema version ${version}, newer than this release's ${POSTGRES_SCHEMA_VERSION}: upgrade parallel-workers`,
        );
      }
      if (version === POSTGRES_SCHEMA_VERSION) return;
      if (schema) await tx.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      if (!table.rows[0]?.present) {
        await tx.exec("CREATE TABLE schema_version (one boolean PRIMARY KEY DEFAULT true CHECK (one), version integer NOT NULL)");
      }
      for (let step = version; step < POSTGRES_SCHEMA_VERSION; step++) await tx.exec(POSTGRES_MIGRATIONS[step]!);
      await tx.query(
        "INSERT INTO schema_version (version) VALUES ($1) ON CONFLICT (one) DO UPDATE SET version = excluded.version",
        [POSTGRES_SCHEMA_VERSION],
      );
    });
  }

  // --- plumbing

  /** The error a caller sees: ours as it is, a lost connection as retryable, the rest as a StoreError naming the database. */
  private wrap(error: unknown): PwError {
    if (error instanceof PwError) return error;
    if (this.closed) return new StoreError(`store ${this.location} is closed`, { cause: error });
    if (isConnectionFailure(error)) {
      return new StoreUnavailableError(
        `database ${this.location} is unreachable (${describe(error)}): check that PostgreSQL is running there and answers`,
        { cause: error },
      );
    }
    const code = codeOf(error);
    const hint =
      code === "3D000" ? ": create it, or fix the database name in the URL"
      : code === "28P01" || code === "28000" ? ": check the user and password in the URL"
      : "";
    return new StoreError(`database ${this.location}: ${describe(error)}${hint}`, { cause: error });
  }

  /**
   * Whether a call that failed with `error` on try `attempt` may run again at once on another
   * connection: a connection that could not be made, once more; one the database dropped (a
   * restart drops every pooled one), until each pooled connection could have been replaced.
   */
  private mayRunAgain(error: unknown, attempt: number): boolean {
    if (this.closed || !isConnectionFailure(error)) return false;
    return attempt < (isConnectFailure(error) ? 2 : this.poolSize + 1);
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError(`store ${this.location} is closed`);
  }

  /**
   * One statement outside a transaction. A read is tried once more when the connection was
   * lost; a write is not (the connection may have lost the answer, not the change).
   */
  private async statement(sql: string, params: unknown[], retry: boolean): Promise<pg.QueryResult<Row>> {
    this.assertOpen();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.pool.query<Row>(prepared(sql, params));
      } catch (error) {
        if (retry && this.mayRunAgain(error, attempt)) continue;
        throw this.wrap(error);
      }
    }
  }

  private async read(sql: string, params: unknown[] = []): Promise<Row[]> {
    return (await this.statement(sql, params, true)).rows;
  }

  /** A write of one statement: the rows it returned. */
  private async writeReturning(sql: string, params: unknown[]): Promise<Row[]> {
    return (await this.statement(sql, params, false)).rows;
  }

  /** A write of one statement: how many rows it changed. */
  private async write(sql: string, params: unknown[]): Promise<number> {
    return (await this.statement(sql, params, false)).rowCount ?? 0;
  }

  /**
   * Runs `step` in one transaction. A transaction that failed before COMMIT never happened, so
   * one that lost its connection, or a deadlock, runs again; a failure while committing is
   * reported (the change may have happened).
   */
  private async atomically<T>(step: (tx: Queryable) => Promise<T>): Promise<T> {
    this.assertOpen();
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient | undefined;
      let committing = false;
      try {
        client = await this.pool.connect();
        await client.query("BEGIN");
        const result = await step(queryable(client));
        committing = true;
        await client.query("COMMIT");
        client.release();
        return result;
      } catch (error) {
        if (client) await this.discard(client, error);
        if (!committing && !this.closed) {
          if (this.mayRunAgain(error, attempt)) continue;
          if (RACE_STATES.has(codeOf(error) ?? "") && attempt < RACE_ATTEMPTS) {
            await new Promise((resolve) => setTimeout(resolve, 5 * attempt));
            continue;
          }
        }
        throw this.wrap(error);
      }
    }
  }

  /** Ends a failed transaction: rolled back on a live connection, the connection dropped otherwise. */
  private async discard(client: pg.PoolClient, error: unknown): Promise<void> {
    if (isConnectionFailure(error)) {
      client.release(true);
      return;
    }
    try {
      await client.query("ROLLBACK");
      client.release();
    } catch {
      client.release(true);
    }
  }

  private async lockState(tx: Queryable, id: string): Promise<WorkerState | undefined> {
    const { rows } = await tx.query("SELECT state FROM workers WHERE id = $1 FOR UPDATE", [id]);
    return rows[0] ? toState(rows[0].state) : undefined;
  }

  /**
   * One statement that moves a worker to `to`, writing `patch` (leaving UNKNOWN clears a stale
   * error; a request is about the run under way, so queueing again or ending clears it, as in
   * SQLite), only while it is in `expected` when given, and records the transition from
   * `previous`; it returns the moved row, or none.
   */
  private moveStatement(
    id: string,
    to: WorkerState,
    previous: WorkerState,
    meta: TransitionMeta,
    expected?: WorkerState,
    leaseMs?: number,
  ): { sql: string; params: unknown[] } {
    const patch = meta.patch ?? {};
    const fields: Partial<Record<FieldName, unknown>> = { ...patch };
    if (previous === "UNKNOWN" && to !== "UNKNOWN" && !("error" in patch)) fields.error = null;
    if (to !== previous && (to === "NEEDS_INIT" || isTerminal(to)) && !("request" in patch)) fields.request = null;
    const params: unknown[] = [id, to, previous, meta.source, meta.correlationId ?? null, meta.detail ?? null];
    const assignments = ["state = $2", `updated_at = ${NOW}`];
    for (const name of FIELD_NAMES.filter((n) => n in fields)) {
      const bound = bind(name, fields[name], params.length + 1);
      params.push(bound.value);
      assignments.push(`${COLUMNS[name].column} = ${bound.sql}`);
    }
    if (leaseMs !== undefined) assignments.push(`lease_until = ${nowPlus(params.push(leaseMs))}`);
    const guard = expected === undefined ? "" : ` AND state = $${params.push(expected)}`;
    // a worker that ended needs no ports: its block is freed by the same statement (which, naming
    // the table, waits for an allocation under way before it touches the worker)
    const ends = to !== previous && isTerminal(to);
    const sql = `WITH moved AS (UPDATE workers SET ${assignments.join(", ")} WHERE id = $1${guard} RETURNING *),
      logged AS (INSERT INTO transitions (worker_id, from_state, to_state, at, source, correlation_id, detail)
                 SELECT id, $3, state, updated_at, $4, $5, $6 FROM moved)${
                   ends ? ",\n      freed AS (DELETE FROM ports WHERE worker_id IN (SELECT id FROM moved))" : ""
                 }
      SELECT moved.*, ${ends ? "NULL::integer AS port" : portOf("moved")} FROM moved`;
    return { sql, params };
  }

  /** One statement that creates a worker unless one with its id exists, and records its first transition; it returns the new row, or none. */
  private createStatement(worker: NewWorker, state: WorkerState, meta: TransitionMeta): { sql: string; params: unknown[] } {
    const params: unknown[] = [worker.id, state, meta.source, meta.correlationId ?? null, meta.detail ?? null];
    const columns = ["id", "state", "created_at", "updated_at"];
    const values = ["$1", "$2", NOW, NOW];
    for (const name of FIELD_NAMES.filter((n) => n in worker)) {
      const bound = bind(name, worker[name], params.length + 1);
      params.push(bound.value);
      columns.push(COLUMNS[name].column);
      values.push(bound.sql);
    }
    const sql = `WITH created AS (INSERT INTO workers (${columns.join(", ")}) VALUES (${values.join(", ")}) ON CONFLICT (id) DO NOTHING RETURNING *),
      logged AS (INSERT INTO transitions (worker_id, from_state, to_state, at, source, correlation_id, detail)
                 SELECT id, NULL, state, created_at, $3, $4, $5 FROM created)
      SELECT created.*, NULL::integer AS port FROM created`;
    return { sql, params };
  }

  /**
   * Runs a statement that writes a worker: alone (one statement is atomic), or with the
   * follow-ups it queues in one transaction, queued only when the statement wrote a row.
   */
  private async writeWorker(statement: { sql: string; params: unknown[] }, followUps: readonly NewFollowUp[] | undefined): Promise<Row | undefined> {
    if (!followUps?.length) return (await this.writeReturning(statement.sql, statement.params))[0];
    return this.atomically(async (tx) => {
      const { rows } = await tx.query(statement.sql, statement.params);
      if (rows[0]) await this.insertFollowUps(tx, followUps);
      return rows[0];
    });
  }

  // --- workers

  async createWorker(worker: NewWorker, meta: TransitionMeta): Promise<Worker> {
    const created = await this.writeWorker(this.createStatement(worker, worker.state ?? "NEEDS_INIT", meta), meta.followUps);
    if (!created) throw new StoreError(`worker ${worker.id} already exists`);
    return toWorker(created);
  }

  async getWorker(id: string): Promise<Worker | undefined> {
    const rows = await this.read(`${WORKERS} WHERE w.id = $1`, [id]);
    return rows[0] && toWorker(rows[0]);
  }

  async requireWorker(id: string): Promise<Worker> {
    const worker = await this.getWorker(id);
    if (!worker) throw new NotFoundError(`no worker ${id}: see \`pw worker list\``);
    return worker;
  }

  async listWorkers(filter: WorkerFilter = {}): Promise<Worker[]> {
    const clauses: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown) => `$${params.push(value)}`;
    if (filter.state) clauses.push(`state = ${param(filter.state)}`);
    if (filter.states) clauses.push(`state = ANY(${param(filter.states.filter(isWorkerState))}::text[])`);
    if (filter.withWorktree) clauses.push("worktree_path IS NOT NULL");
    if (filter.taskIds) clauses.push(`lower(task_id) = ANY(${param(filter.taskIds.map((id) => id.toLowerCase()))}::text[])`);
    if (filter.repo) clauses.push(`repo = ${param(filter.repo)}`);
    if (filter.issueNumber !== undefined) clauses.push(`issue_number = ${param(filter.issueNumber)}`);
    if (filter.withIssue) clauses.push("issue_number IS NOT NULL");
    if (filter.branch !== undefined) clauses.push(`branch = ${param(filter.branch)}`);
    if (filter.updatedSince !== undefined) clauses.push(`updated_at >= ${param(filter.updatedSince)}::timestamptz`);
    const where = clauses.length ? `WHERE ${clauses.join(" AND ")}` : "";
    return (await this.read(`${WORKERS} ${where} ORDER BY w.created_at, w.id`, params)).map(toWorker);
  }

  async transition(id: string, from: WorkerState, to: WorkerState, meta: TransitionMeta): Promise<Worker> {
    if (!canTransition(from, to)) {
      // as in SQLite, a missing worker is said first
      await this.requireWorker(id);
      throw new IllegalTransitionError(id, from, to);
    }
    // one statement moves it only while it is in `from`; when it did not, a fresh read says why
    const move = this.moveStatement(id, to, from, meta, from);
    for (let attempt = 1; ; attempt++) {
      const moved = await this.writeWorker(move, meta.followUps);
      if (moved) return toWorker(moved);
      const current = (await this.read("SELECT state FROM workers WHERE id = $1", [id]))[0];
      if (!current) throw new NotFoundError(`no worker ${id}: see \`pw worker list\``);
      const state = toState(current.state);
      // in `from` again by now (moved away and back meanwhile): the swap may still be made
      if (state !== from || attempt >= 3) throw new TransitionConflictError(id, from, state, to);
    }
  }

  setState(id: string, to: WorkerState, meta: TransitionMeta): Promise<Worker> {
    return this.atomically(async (tx) => {
      let row: Row | undefined;
      // missing: created here, unless another writer creates it meanwhile; then it is set like any other
      while (!row) {
        const current = await this.lockState(tx, id);
        const statement = current === undefined ? this.createStatement({ id, ...meta.patch }, to, meta) : this.moveStatement(id, to, current, meta);
        row = (await tx.query(statement.sql, statement.params)).rows[0];
      }
      await this.insertFollowUps(tx, meta.followUps);
      return toWorker(row);
    });
  }

  async updateWorker(id: string, patch: WorkerFields): Promise<Worker> {
    // the state does not change, so the rules of a move do not apply: one statement is enough
    const params: unknown[] = [id];
    const assignments = [`updated_at = ${NOW}`];
    for (const name of FIELD_NAMES.filter((n) => n in patch)) {
      const bound = bind(name, patch[name], params.length + 1);
      params.push(bound.value);
      assignments.push(`${COLUMNS[name].column} = ${bound.sql}`);
    }
    const rows = await this.writeReturning(returningWorkers(`UPDATE workers SET ${assignments.join(", ")} WHERE id = $1 RETURNING *`), params);
    if (!rows[0]) throw new NotFoundError(`no worker ${id}: see \`pw worker list\``);
    return toWorker(rows[0]);
  }

  async removeWorker(id: string): Promise<boolean> {
    // its ports go first, in the same statement: naming the table waits for an allocation under way
    // before the worker's row is locked (the allocation's foreign key check waits for that row)
    const rows = await this.writeReturning(
      "WITH freed AS (DELETE FROM ports WHERE worker_id = $1), removed AS (DELETE FROM workers WHERE id = $1 RETURNING 1) SELECT count(*) AS removed FROM removed",
      [id],
    );
    return rows[0]?.removed === 1;
  }

  async history(id: string): Promise<TransitionRecord[]> {
    const rows = await this.read("SELECT * FROM transitions WHERE worker_id = $1 ORDER BY seq", [id]);
    return rows.map((row) => ({
      workerId: row.worker_id as string,
      from: row.from_state === null ? null : toState(row.from_state),
      to: toState(row.to_state),
      at: row.at as string,
      source: row.source as TransitionSource,
      correlationId: row.correlation_id as string | null,
      detail: row.detail as string | null,
    }));
  }

  // --- claims and leases

  async claimWorker(id: string, owner: string, leaseMs: number, takeOverFrom?: string): Promise<boolean> {
    const changed = await this.write(
      `UPDATE workers SET owner = $2, lease_until = ${nowPlus(3)}, updated_at = ${NOW}
       WHERE id = $1 AND state = 'NEEDS_INIT'
         AND (owner IS NULL OR owner = $2 OR owner = $4 OR lease_until IS NULL OR lease_until < ${NOW})`,
      [id, owner, leaseMs, takeOverFrom ?? null],
    );
    return changed === 1;
  }

  async claimNextWorker(owner: string, leaseMs: number, query: NextWorkerQuery): Promise<Worker | undefined> {
    // one statement: the oldest free queued worker is locked (rows other runners are locking are
    // skipped, not waited for) and claimed; a row another runner claimed meanwhile fails the
    // re-check of the lock and the next one is taken
    const rows = await this.writeReturning(
      `WITH next AS MATERIALIZED (
         SELECT w.id FROM workers w
         WHERE w.state = 'NEEDS_INIT'
           AND (w.repo_path = ANY($3::text[]) OR (w.repo_path IS NULL AND w.repo = ANY($4::text[])))
           AND ($5::text IS NULL OR w.project IS NULL OR w.project = $5::text)
           AND (w.runner_id IS NULL OR w.runner_id = $7::text)
           AND (w.owner IS NULL OR w.lease_until IS NULL OR w.lease_until < ${NOW} OR w.owner = ANY($6::text[]))
           AND NOT EXISTS (
             SELECT 1 FROM jsonb_array_elements_text(coalesce(w.depends_on, '[]'::jsonb)) AS dep(task_id)
             WHERE (SELECT m.state FROM workers m
                    WHERE lower(m.task_id) = lower(dep.task_id) AND m.id <> w.id
                      AND (m.repo_path IS NOT DISTINCT FROM w.repo_path OR m.repo IS NOT DISTINCT FROM w.repo)
                    ORDER BY m.created_at DESC, m.id LIMIT 1) IS DISTINCT FROM 'MERGED')
         ORDER BY w.created_at, w.id
         LIMIT 1
         FOR UPDATE OF w SKIP LOCKED
       ), claimed AS (
         UPDATE workers SET owner = $1, lease_until = ${nowPlus(2)}, runner_id = coalesce($7::text, workers.runner_id), updated_at = ${NOW}
         FROM next WHERE workers.id = next.id
         RETURNING workers.*
       )
       SELECT claimed.*, ${portOf("claimed")} FROM claimed`,
      [owner, leaseMs, query.checkouts ?? [], query.repositories ?? [], query.project ?? null, query.takeOverFrom ?? [], query.runnerId ?? null],
    );
    return rows[0] && toWorker(rows[0]);
  }

  async renewLeases(owner: string, leaseMs: number): Promise<number> {
    const rows = await this.writeReturning(
      `WITH workers_renewed AS (
         UPDATE workers SET lease_until = ${nowPlus(2)} WHERE owner = $1 AND state IN ('NEEDS_INIT', 'WORKING') RETURNING 1
       ), spares_renewed AS (
         UPDATE spares SET lease_until = ${nowPlus(2)} WHERE owner = $1 AND state IN ('filling', 'taken') RETURNING 1
       )
       SELECT (SELECT count(*) FROM workers_renewed) + (SELECT count(*) FROM spares_renewed) AS renewed`,
      [owner, leaseMs],
    );
    return rows[0]!.renewed as number;
  }

  // --- delivery ids

  async recentDeliveries(since: string): Promise<string[]> {
    const rows = await this.read("SELECT id FROM delivery_log WHERE received_at >= $1::timestamptz ORDER BY seq", [since]);
    return rows.map((row) => row.id as string);
  }

  async recordDeliveries(deliveries: ReadonlyArray<{ id: string; event: string }>): Promise<number> {
    if (deliveries.length === 0) return 0;
    return this.write(
      `INSERT INTO delivery_log (id, event, received_at)
       SELECT d.id, d.event, ${NOW} FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS d(id, event, position)
       ORDER BY d.position`,
      [deliveries.map((d) => d.id), deliveries.map((d) => d.event)],
    );
  }

  claimDelivery(deliveryId: string, event: string, since: string): Promise<boolean> {
    return this.atomically(async (tx) => {
      // ids are not unique (a forgotten one may come again): a lock per id, held to the commit,
      // orders the claims of one id, and each reads what the one before it committed
      await tx.query("SELECT pg_advisory_xact_lock(7732, hashtext($1))", [deliveryId]);
      const claimed = await tx.query(
        `INSERT INTO delivery_log (id, event, received_at)
         SELECT $1::text, $2::text, ${NOW}
         WHERE NOT EXISTS (SELECT 1 FROM delivery_log WHERE id = $1 AND received_at >= $3::timestamptz)
         RETURNING 1`,
        [deliveryId, event, since],
      );
      return claimed.rows.length > 0;
    });
  }

  async forgetDelivery(deliveryId: string, since: string): Promise<boolean> {
    return (await this.write("DELETE FROM delivery_log WHERE received_at >= $1::timestamptz AND id = $2", [since, deliveryId])) > 0;
  }

  pruneDeliveries(before: string): Promise<number> {
    return this.write("DELETE FROM delivery_log WHERE received_at < $1::timestamptz", [before]);
  }

  // --- the follow-up queue

  /** Inserts the follow-ups whose key is new, or that gave up (inside a transaction); returns their keys. */
  private async insertFollowUps(tx: Queryable, followUps: readonly NewFollowUp[] | undefined): Promise<string[]> {
    const added: string[] = [];
    for (const f of followUps ?? []) {
      // one that gave up is queued again, at the end of its lane
      await tx.query("DELETE FROM follow_ups WHERE key = $1 AND state = 'failed'", [f.key]);
      const { rows } = await tx.query(
        `INSERT INTO follow_ups (key, kind, lane, input, installation_id, correlation_id, state, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4::json, $5, $6, 'pending', ${NOW}, ${NOW}) ON CONFLICT (key) DO NOTHING RETURNING key`,
        [f.key, f.kind, f.lane, JSON.stringify(f.input ?? null), f.installationId ?? null, f.correlationId ?? null],
      );
      if (rows[0]) added.push(f.key);
    }
    return added;
  }

  async addFollowUps(followUps: readonly NewFollowUp[]): Promise<string[]> {
    if (followUps.length === 0) return [];
    return this.atomically((tx) => this.insertFollowUps(tx, followUps));
  }

  async claimFollowUps(owner: string, leaseMs: number, limit: number): Promise<FollowUp[]> {
    // the head of each lane (its oldest unfinished follow-up) when due, and no live claim holds
    // any follow-up of that lane: two transactions that added to one lane may commit out of
    // order, so the head alone does not say the lane is free
    const rows = await this.writeReturning(
      `WITH due AS MATERIALIZED (
         SELECT f.seq FROM follow_ups f
         WHERE f.state IN ('pending', 'running')
           AND ((f.state = 'pending' AND f.next_attempt_at <= ${NOW}) OR (f.state = 'running' AND f.lease_until < ${NOW}))
           AND NOT EXISTS (SELECT 1 FROM follow_ups g
                           WHERE g.lane = f.lane AND g.state IN ('pending', 'running') AND g.seq < f.seq)
           AND NOT EXISTS (SELECT 1 FROM follow_ups g
                           WHERE g.lane = f.lane AND g.state = 'running' AND g.lease_until >= ${NOW} AND g.seq <> f.seq)
         ORDER BY f.seq
         LIMIT $3
         FOR UPDATE OF f SKIP LOCKED
       )
       UPDATE follow_ups SET state = 'running', owner = $1, lease_until = ${nowPlus(2)}, attempts = attempts + 1
       FROM due WHERE follow_ups.seq = due.seq
       RETURNING follow_ups.*`,
      [owner, leaseMs, limit],
    );
    return rows.map(toFollowUp).sort((a, b) => a.seq - b.seq);
  }

  finishFollowUp(seq: number, owner: string, then?: readonly NewFollowUp[]): Promise<boolean> {
    return this.atomically(async (tx) => {
      const { rowCount } = await tx.query(
        `UPDATE follow_ups SET state = 'done', owner = NULL, lease_until = NULL, last_error = NULL, finished_at = ${NOW}
         WHERE seq = $1 AND owner = $2 AND state = 'running'`,
        [seq, owner],
      );
      if (rowCount !== 1) return false;
      await this.insertFollowUps(tx, then);
      return true;
    });
  }

  async retryFollowUp(seq: number, owner: string, error: string, retryInMs: number | null): Promise<boolean> {
    const changed =
      retryInMs === null
        ? await this.write(
            `UPDATE follow_ups SET state = 'failed', owner = NULL, lease_until = NULL, last_error = $3, finished_at = ${NOW}
             WHERE seq = $1 AND owner = $2 AND state = 'running'`,
            [seq, owner, error],
          )
        : await this.write(
            `UPDATE follow_ups SET state = 'pending', owner = NULL, lease_until = NULL, last_error = $3, next_attempt_at = ${nowPlus(4)}
             WHERE seq = $1 AND owner = $2 AND state = 'running'`,
            [seq, owner, error, retryInMs],
          );
    return changed === 1;
  }

  renewFollowUps(owner: string, leaseMs: number): Promise<number> {
    return this.write(`UPDATE follow_ups SET lease_until = ${nowPlus(2)} WHERE owner = $1 AND state = 'running'`, [owner, leaseMs]);
  }

  releaseFollowUps(owner: string | null): Promise<number> {
    return this.write(
      `UPDATE follow_ups SET state = 'pending', owner = NULL, lease_until = NULL
       WHERE state = 'running' AND ($1::text IS NULL OR owner = $1::text)`,
      [owner],
    );
  }

  async followUpBacklog(): Promise<FollowUpBacklog> {
    const rows = await this.read(
      "SELECT count(*) AS unfinished, min(created_at) AS oldest FROM follow_ups WHERE state IN ('pending', 'running')",
    );
    return { unfinished: rows[0]!.unfinished as number, oldestCreatedAt: (rows[0]!.oldest as string | null) ?? null };
  }

  pruneFollowUps(before: string): Promise<number> {
    return this.write("DELETE FROM follow_ups WHERE finished_at IS NOT NULL AND finished_at < $1::timestamptz", [before]);
  }

  // --- the rework loop

  addFeedback(feedback: NewFeedback): Promise<Feedback | undefined> {
    return this.atomically(async (tx) => {
      // a key share on the worker waits for a round starting on it (which locks it for update),
      // so a scope its round has just taken is seen here; other writers of the worker go on
      const worker = await tx.query("SELECT 1 FROM workers WHERE id = $1 FOR KEY SHARE", [feedback.workerId]);
      if (!worker.rows[0]) throw new NotFoundError(`no worker ${feedback.workerId}: see \`pw worker list\``);
      if ((await tx.query("SELECT 1 FROM rework_feedback WHERE key = $1", [feedback.key])).rows[0]) return undefined;
      const answered = await tx.query("SELECT 1 FROM rework_feedback WHERE worker_id = $1 AND scope = $2 AND round IS NOT NULL", [
        feedback.workerId,
        feedback.scope,
      ]);
      if (answered.rows[0]) return undefined;
      const { rows } = await tx.query(
        `INSERT INTO rework_feedback (worker_id, key, scope, cause, detail, received_at, held) VALUES ($1, $2, $3, $4, $5::json, ${NOW}, $6)
         ON CONFLICT (key) DO NOTHING RETURNING *`,
        [feedback.workerId, feedback.key, feedback.scope, feedback.detail.cause, JSON.stringify(feedback.detail), feedback.held ?? false],
      );
      return rows[0] && toFeedback(rows[0]);
    });
  }

  async listFeedback(filter: FeedbackFilter): Promise<Feedback[]> {
    const clauses: string[] = [];
    const params: unknown[] = [];
    if (filter.workerId !== undefined) clauses.push(`f.worker_id = $${params.push(filter.workerId)}`);
    if (filter.pending) clauses.push("f.round IS NULL");
    if (filter.workerStates) clauses.push(`w.state = ANY($${params.push(filter.workerStates.filter(isWorkerState))}::text[])`);
    const join = filter.workerStates ? "JOIN workers w ON w.id = f.worker_id" : "";
    const where = clauses.length ? `WHERE ${clauses.join(" AND ")}` : "";
    return (await this.read(`SELECT f.* FROM rework_feedback f ${join} ${where} ORDER BY f.seq`, params)).map(toFeedback);
  }

  async settleFeedback(workerId: string, seqs: readonly number[]): Promise<number> {
    if (seqs.length === 0) return 0;
    return this.write("UPDATE rework_feedback SET round = 0 WHERE worker_id = $1 AND round IS NULL AND seq = ANY($2::bigint[])", [workerId, [...seqs]]);
  }

  startReworkRound(id: string, start: ReworkStart): Promise<StartedRound | undefined> {
    return this.atomically(async (tx) => {
      // the worker's row is locked for the whole step: of several starting a round, one does it
      // and the others then find it WORKING
      const { rows } = await tx.query("SELECT state, rework_rounds, automatic_rework_rounds FROM workers WHERE id = $1 FOR UPDATE", [id]);
      const row = rows[0];
      if (!row) throw new NotFoundError(`no worker ${id}: see \`pw worker list\``);
      const current = toState(row.state);
      if (current !== "PR_OPEN") throw new TransitionConflictError(id, "PR_OPEN", current, "WORKING");
      const taken = (
        await tx.query("SELECT * FROM rework_feedback WHERE worker_id = $1 AND round IS NULL AND seq <= $2 ORDER BY seq", [id, start.upTo])
      ).rows.map(toFeedback);
      if (taken.length === 0) return undefined;
      const round = (row.rework_rounds as number) + 1;
      const automatic = isAutomaticRound(taken);
      const cause = roundCause(taken);
      await tx.query("UPDATE rework_feedback SET round = $3 WHERE worker_id = $1 AND round IS NULL AND seq <= $2", [id, start.upTo, round]);
      const meta: TransitionMeta = {
        source: start.source,
        correlationId: start.correlationId ?? null,
        detail: `rework round ${round}: ${describeFeedback(taken.map((f) => f.detail))}`,
        patch: {
          owner: start.owner,
          pid: null,
          reworkRounds: round,
          automaticReworkRounds: (row.automatic_rework_rounds as number) + (automatic ? 1 : 0),
          reworkCause: cause,
        },
      };
      const move = this.moveStatement(id, "WORKING", current, meta, current, start.leaseMs);
      const moved = (await tx.query(move.sql, move.params)).rows[0]!;
      return { worker: toWorker(moved), round, cause, automatic, feedback: taken.map((f) => ({ ...f, round })) };
    });
  }

  // --- ports

  allocatePort(holder: PortHolder, range: PortRange, prefer?: number): Promise<number | undefined> {
    const { column, id } = holderColumn(holder);
    return this.atomically(async (tx) => {
      // every block is read and a free one taken in one step: the table is locked against other
      // allocations (the lock conflicts with itself) and against writes, not against reads
      await tx.exec("LOCK TABLE ports IN SHARE ROW EXCLUSIVE MODE");
      const own = (await tx.query(`SELECT port FROM ports WHERE ${column} = $1`, [id])).rows[0];
      if (own) return own.port as number;
      const held = (await tx.query("SELECT port, span FROM ports")).rows as unknown as PortBlock[];
      const port = firstFreeBlock(held, range, prefer);
      if (port === undefined) return undefined;
      await tx.query(`INSERT INTO ports (port, span, ${column}, since) VALUES ($1, $2, $3, ${NOW})`, [port, range.perWorker, id]);
      return port;
    });
  }

  async releasePort(holder: PortHolder): Promise<boolean> {
    const { column, id } = holderColumn(holder);
    return (await this.write(`DELETE FROM ports WHERE ${column} = $1`, [id])) > 0;
  }

  // --- spare worktrees

  async addSpare(spare: NewSpare): Promise<Spare> {
    const rows = await this.writeReturning(
      `INSERT INTO spares (id, repo_path, path, state, base_branch, base_commit, owner, lease_until, created_at, updated_at)
       VALUES ($1, $2, $3, 'filling', $4, $5, $6, ${nowPlus(7)}, ${NOW}, ${NOW})
       ON CONFLICT DO NOTHING RETURNING *, NULL::integer AS port`,
      [spare.id, spare.repoPath, spare.path, spare.baseBranch, spare.baseCommit, spare.owner, spare.leaseMs],
    );
    if (!rows[0]) throw new StoreError(`spare ${spare.id} (${spare.path}) is recorded already`);
    return toSpare(rows[0]);
  }

  async getSpare(id: string): Promise<Spare | undefined> {
    const rows = await this.read(`${SPARES} WHERE s.id = $1`, [id]);
    return rows[0] && toSpare(rows[0]);
  }

  async listSpares(repoPath?: string): Promise<Spare[]> {
    const rows =
      repoPath === undefined
        ? await this.read(`${SPARES} ORDER BY s.created_at, s.id`)
        : await this.read(`${SPARES} WHERE s.repo_path = $1 ORDER BY s.created_at, s.id`, [repoPath]);
    return rows.map(toSpare);
  }

  async moveSpare(id: string, from: SpareState, to: SpareState, patch: SpareFields = {}, owner?: string): Promise<Spare | undefined> {
    const params: unknown[] = [id, from, to, owner ?? null];
    const assignments = ["state = $3", `updated_at = ${NOW}`];
    const columns = { baseBranch: "base_branch", baseCommit: "base_commit", owner: "owner", note: "note" } as const;
    for (const name of Object.keys(columns) as Array<keyof typeof columns>) {
      if (name in patch) assignments.push(`${columns[name]} = $${params.push(patch[name] ?? null)}`);
    }
    if (patch.leaseMs === null) assignments.push("lease_until = NULL");
    else if (patch.leaseMs !== undefined) assignments.push(`lease_until = ${nowPlus(params.push(patch.leaseMs))}`);
    const rows = await this.writeReturning(
      `WITH moved AS (UPDATE spares SET ${assignments.join(", ")} WHERE id = $1 AND state = $2 AND ($4::text IS NULL OR owner = $4::text) RETURNING *)
       SELECT moved.*, (SELECT p.port FROM ports p WHERE p.spare_id = moved.id) AS port FROM moved`,
      params,
    );
    return rows[0] && toSpare(rows[0]);
  }

  async takeSpare(repoPath: string, owner: string, leaseMs: number): Promise<Spare | undefined> {
    // as a claim of a worker: the oldest ready one is locked (one another taker locks is skipped,
    // not waited for), checked again under the lock, and taken
    const rows = await this.writeReturning(
      `WITH next AS MATERIALIZED (
         SELECT s.id FROM spares s WHERE s.repo_path = $1 AND s.state = 'ready'
         ORDER BY s.created_at, s.id LIMIT 1
         FOR UPDATE OF s SKIP LOCKED
       ), taken AS (
         UPDATE spares SET state = 'taken', owner = $2, lease_until = ${nowPlus(3)}, updated_at = ${NOW}
         FROM next WHERE spares.id = next.id AND spares.state = 'ready'
         RETURNING spares.*
       )
       SELECT taken.*, (SELECT p.port FROM ports p WHERE p.spare_id = taken.id) AS port FROM taken`,
      [repoPath, owner, leaseMs],
    );
    return rows[0] && toSpare(rows[0]);
  }

  handOverSpare(id: string, owner: string, workerId: string): Promise<{ port: number | null } | undefined> {
    return this.atomically(async (tx) => {
      // the ports table first: an allocation under way for this spare waits for nothing we hold
      await tx.exec("LOCK TABLE ports IN ROW EXCLUSIVE MODE");
      const spare = await tx.query("SELECT 1 FROM spares WHERE id = $1 AND state = 'taken' AND owner = $2 FOR UPDATE", [id, owner]);
      if (!spare.rows[0]) return undefined;
      if (!(await tx.query("SELECT 1 FROM workers WHERE id = $1", [workerId])).rows[0]) {
        throw new NotFoundError(`no worker ${workerId}: see \`pw worker list\``);
      }
      if (!(await tx.query("SELECT 1 FROM ports WHERE worker_id = $1", [workerId])).rows[0]) {
        await tx.query("UPDATE ports SET worker_id = $1, spare_id = NULL WHERE spare_id = $2", [workerId, id]);
      }
      await tx.query("DELETE FROM spares WHERE id = $1", [id]);
      const port = (await tx.query("SELECT port FROM ports WHERE worker_id = $1", [workerId])).rows[0];
      return { port: (port?.port as number | undefined) ?? null };
    });
  }

  async removeSpare(id: string): Promise<boolean> {
    // its ports first, in the same statement (see removeWorker)
    const rows = await this.writeReturning(
      "WITH freed AS (DELETE FROM ports WHERE spare_id = $1), removed AS (DELETE FROM spares WHERE id = $1 RETURNING 1) SELECT count(*) AS removed FROM removed",
      [id],
    );
    return rows[0]?.removed === 1;
  }

  // --- runners

  /** The columns of a runner as RunnerRecord reads them, ages by the database clock. */
  private static readonly RUNNER_COLUMNS = `r.id, r.host, r.repositories, r.settings, r.started_at, r.heartbeat_at,
    greatest(0, floor(extract(epoch FROM (${NOW} - r.heartbeat_at)) * 1000))::bigint AS age_ms,
    (SELECT count(*) FROM workers w WHERE w.runner_id = r.id AND w.state NOT IN ('MERGED', 'ABANDONED')) AS workers`;

  registerRunner(runner: RunnerRegistration): Promise<RunnerRecord> {
    return this.atomically(async (tx) => {
      await tx.query(
        `INSERT INTO runners (id, host, repositories, settings, started_at, heartbeat_at) VALUES ($1, $2, $3::jsonb, $4::jsonb, ${NOW}, ${NOW})
         ON CONFLICT (id) DO UPDATE SET host = excluded.host, repositories = excluded.repositories, settings = excluded.settings,
           started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,
        [runner.id, runner.host, JSON.stringify(runner.repositories), JSON.stringify(runner.settings ?? {})],
      );
      const { rows } = await tx.query(`SELECT ${PostgresWorkerStore.RUNNER_COLUMNS} FROM runners r WHERE r.id = $1`, [runner.id]);
      return toRunner(rows[0]!, Infinity);
    });
  }

  async heartbeatRunner(id: string): Promise<boolean> {
    return (await this.write(`UPDATE runners SET heartbeat_at = ${NOW} WHERE id = $1`, [id])) === 1;
  }

  async listRunners(staleAfterMs: number): Promise<RunnerRecord[]> {
    const rows = await this.read(`SELECT ${PostgresWorkerStore.RUNNER_COLUMNS} FROM runners r ORDER BY r.id`);
    return rows.map((row) => toRunner(row, staleAfterMs));
  }

  async forgetRunner(id: string): Promise<boolean> {
    return (await this.write("DELETE FROM runners WHERE id = $1", [id])) === 1;
  }

  // --- health

  async ping(): Promise<void> {
    await this.read("SELECT 1 FROM workers WHERE id = ''");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

/** Opens the PostgreSQL store at `url` (see `PostgresWorkerStore.open`). */
export function openPostgresStore(url: string | DatabaseUrl, options?: PostgresStoreOptions): Promise<PostgresWorkerStore> {
  return PostgresWorkerStore.open(url, options);
}
