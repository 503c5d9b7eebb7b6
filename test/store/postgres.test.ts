/**
 * What only the PostgreSQL store has: versioned migrations in a database, URLs and their
 * passwords, the database clock, connections that are lost and come back, and LISTEN/NOTIFY.
 * The contract it shares with SQLite is in conformance.ts.
 */
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { InvalidInputError, StoreError, StoreUnavailableError } from "../../src/core/errors.js";
import { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION } from "../../src/store/postgres-migrations.js";
import { WORKER_CHANNEL, WorkerNotices, type WorkerNotice } from "../../src/store/postgres-notify.js";
import { openPostgresStore, type PostgresWorkerStore } from "../../src/store/postgres.js";
import { retryWhileUnavailable } from "../../src/store/retry.js";
import { openSqliteStore } from "../../src/store/sqlite-async.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";
import { freshSchema, queryDatabase, testDatabase, withDatabase } from "../helpers/postgres.js";
import { THROWAWAY_SCRIPT } from "../setup/postgres.js";

const database = testDatabase();
const cli = { source: "cli" as const };
const MINUTE = 60_000;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  removeTempDirs();
});

/** A store on a schema of its own, closed after the test. */
async function openStore(url = database!.url, schema = freshSchema()): Promise<PostgresWorkerStore> {
  const store = await openPostgresStore(url, { schema, poolSize: 3 });
  cleanups.push(() => store.close());
  return store;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `url` with a password in it: its own when it has one, else one the test server ignores (trust). */
function withPassword(url: string): { url: string; password: string } {
  const parsed = new URL(url);
  if (!parsed.password) parsed.password = "s3cret-test-pw";
  return { url: parsed.toString(), password: decodeURIComponent(parsed.password) };
}

describe("opening a PostgreSQL store", () => {
  it("refuses a malformed URL or another scheme with exit 2, before connecting, naming it without its password", async () => {
    for (const [url, says] of [
      ["postgres://pw:hunter2@db.example:99999/pw", "is not a valid URL"],
      ["mysql://pw:hunter2@db.example/pw", 'unsupported scheme "mysql"'],
      ["", "is empty"],
    ] as const) {
      const error = await rejection(openPostgresStore(url));
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).exitCode).toBe(2);
      expect(error.message).toContain(says);
      expect(error.message).not.toContain("hunter2");
      expect(error.message).not.toContain("\n");
    }
    expect(await rejection(openPostgresStore("postgres://127.0.0.1/x", { schema: "a;drop" }))).toBeInstanceOf(InvalidInputError);
  });

  it("says a database that does not answer is unreachable (exit 1, retryable), without the password", async () => {
    const port = await closedPort();
    const error = await rejection(openPostgresStore(`postgres://pw:hunter2@127.0.0.1:${port}/pw`));
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as StoreUnavailableError).exitCode).toBe(1);
    expect((error as StoreUnavailableError).retryable).toBe(true);
    expect(error.message).toBe(
      `database postgres://pw:***@127.0.0.1:${port}/pw is unreachable (connect ECONNREFUSED 127.0.0.1:${port}): check that PostgreSQL is running there and answers`,
    );
  });

  describe.skipIf(!database)("against a server", () => {
    it("says so for a database that does not exist (exit 1, not retryable)", async () => {
      const { url, password } = withPassword(withDatabase(database!.url, "pw_no_such_database"));
      const error = await rejection(openPostgresStore(url));
      expect(error).toBeInstanceOf(StoreError);
      expect(error).not.toBeInstanceOf(StoreUnavailableError);
      expect(error.message).toMatch(/database "pw_no_such_database" does not exist: create it, or fix the database name in the URL$/);
      expect(error.message).not.toContain(password);
    });

    it("migrates a new schema once, even when several processes open it together", async () => {
      const schema = freshSchema();
      const stores = await Promise.all(Array.from({ length: 5 }, () => openStore(database!.url, schema)));
      expect(await stores[0]!.schemaVersion()).toBe(POSTGRES_SCHEMA_VERSION);
      expect(await queryDatabase(database!.url, "SELECT version FROM schema_version", [], schema)).toEqual([{ version: POSTGRES_SCHEMA_VERSION }]);
      await stores[1]!.createWorker({ id: "worker-mig001" }, cli);
      expect((await stores[4]!.getWorker("worker-mig001"))?.state).toBe("NEEDS_INIT");
    });

    it("refuses a database from a newer release and leaves it untouched, naming it without its password", async () => {
      const schema = freshSchema();
      const newer = POSTGRES_SCHEMA_VERSION + 1;
      await queryDatabase(database!.url, `CREATE SCHEMA ${schema}`);
      await queryDatabase(database!.url, "CREATE TABLE schema_version (one boolean PRIMARY KEY DEFAULT true, version integer NOT NULL)", [], schema);
      await queryDatabase(database!.url, "INSERT INTO schema_version (version) VALUES ($1)", [newer], schema);
      await queryDatabase(database!.url, "CREATE TABLE workers (id text PRIMARY KEY, something_new text)", [], schema);
      const tablesBefore = await queryDatabase(database!.url, "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", [schema]);

      const { url, password } = withPassword(database!.url);
      const error = await rejection(openPostgresStore(url, { schema }));
      expect(error).toBeInstanceOf(StoreError);
      expect(error.message).toContain(`has schema version ${newer}, newer than this release's ${POSTGRES_SCHEMA_VERSION}: upgrade parallel-workers`);
      expect(error.message).toContain(":***@");
      expect(error.message).not.toContain(password);
      expect(await queryDatabase(database!.url, "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", [schema])).toEqual(tablesBefore);
      expect(await queryDatabase(database!.url, "SELECT version FROM schema_version", [], schema)).toEqual([{ version: newer }]);
    });

    it("brings a database of step 1 forward (feedback, spares, ports), keeping its workers", async () => {
      const schema = freshSchema();
      await queryDatabase(database!.url, `CREATE SCHEMA ${schema}`);
      await queryDatabase(database!.url, "CREATE TABLE schema_version (one boolean PRIMARY KEY DEFAULT true CHECK (one), version integer NOT NULL)", [], schema);
      await queryDatabase(database!.url, POSTGRES_MIGRATIONS[0]!, [], schema);
      await queryDatabase(database!.url, "INSERT INTO schema_version (version) VALUES (1)", [], schema);
      await queryDatabase(database!.url, "INSERT INTO workers (id, state, created_at, updated_at) VALUES ('worker-old001', 'WORKING', now(), now())", [], schema);
      const store = await openStore(database!.url, schema);
      expect(await store.schemaVersion()).toBe(POSTGRES_SCHEMA_VERSION);
      expect(await store.requireWorker("worker-old001")).toMatchObject({ state: "WORKING", port: null, reworkRounds: 0 });
      expect(await store.allocatePort({ workerId: "worker-old001" }, { from: 4100, perWorker: 10 })).toBe(4100);
      expect(await store.listSpares()).toEqual([]);
      expect(await store.listFeedback({})).toEqual([]);
    });

    it("refuses rework feedback a newer release wrote, naming the fix", async () => {
      const schema = freshSchema();
      const store = await openStore(database!.url, schema);
      await store.createWorker({ id: "worker-new001", state: "PR_OPEN" }, cli);
      await queryDatabase(
        database!.url,
        `INSERT INTO rework_feedback (worker_id, key, scope, cause, detail, received_at) VALUES ('worker-new001', 'k', 's', 'pager', '{"cause":"pager"}', now())`,
        [],
        schema,
      );
      const error = await rejection(store.listFeedback({ workerId: "worker-new001" }));
      expect(error).toBeInstanceOf(StoreError);
      expect(error.message).toContain("upgrade parallel-workers");
    });

    it("refuses a schema that holds someone else's tables, changing nothing", async () => {
      const schema = freshSchema();
      await queryDatabase(database!.url, `CREATE SCHEMA ${schema}`);
      await queryDatabase(database!.url, "CREATE TABLE workers (name text)", [], schema);
      const error = await rejection(openPostgresStore(database!.url, { schema }));
      expect(error).toBeInstanceOf(StoreError);
      expect(error.message).toContain('relation "workers" already exists');
      expect(await queryDatabase(database!.url, "SELECT to_regclass('schema_version') AS present", [], schema)).toEqual([{ present: null }]);
    });
  });
});

describe.skipIf(!database)("the database clock", () => {
  it("times leases, moves and heartbeats by the database, whatever this process's clock says", async () => {
    const store = await openStore();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2001-01-01T00:00:00.000Z"));
    const [{ now }] = (await queryDatabase<{ now: Date }>(database!.url, "SELECT now()")) as [{ now: Date }];
    const databaseNow = now.getTime();
    const created = await store.createWorker({ id: "worker-clock1" }, cli);
    expect(Math.abs(Date.parse(created.createdAt) - databaseNow)).toBeLessThan(MINUTE);
    expect(await store.claimWorker("worker-clock1", "runner-a", MINUTE)).toBe(true);
    const claimed = await store.requireWorker("worker-clock1");
    expect(Date.parse(claimed.leaseUntil!)).toBeGreaterThan(databaseNow);
    // by this process's clock the lease ran out long ago; by the database's it holds
    expect(await store.claimWorker("worker-clock1", "runner-b", MINUTE)).toBe(false);
    await store.registerRunner({ id: "runner-a", host: "a", repositories: [] });
    expect((await store.listRunners(MINUTE))[0]).toMatchObject({ stale: false });
    expect(Math.abs(Date.parse((await store.listRunners(MINUTE))[0]!.heartbeatAt) - databaseNow)).toBeLessThan(MINUTE);
  });

  it("while the SQLite store, which lives on this machine, uses this machine's clock", async () => {
    const store = await openSqliteStore(`${tempDir()}/state.db`);
    cleanups.push(() => store.close());
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2001-01-01T00:00:00.000Z"));
    expect((await store.createWorker({ id: "worker-clock2" }, cli)).createdAt).toBe("2001-01-01T00:00:00.000Z");
  });
});

describe.skipIf(!database)("connections that are lost", () => {
  /** Cuts every connection of this file's database made by `application`, as a restart or a network fault would. */
  async function cutConnections(application: string): Promise<number> {
    const rows = await queryDatabase<{ cut: boolean }>(
      database!.url,
      "SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()",
      [application],
    );
    // as after a real restart, the backends are gone (their clients told) before the store is used again
    for (let tries = 0; tries < 200; tries++) {
      const left = await queryDatabase<{ n: number }>(
        database!.url,
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
        [application],
      );
      if (left[0]!.n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return rows.length;
  }

  it("answers on fresh connections after its connections were cut; a call that cannot is retryable", async () => {
    const store = await openStore();
    await store.createWorker({ id: "worker-cut001" }, cli);
    await Promise.all([store.ping(), store.ping(), store.ping()]);
    expect(await cutConnections("parallel-workers")).toBeGreaterThan(0);
    // reads and transactions that find a dead connection run again on a new one
    expect((await store.getWorker("worker-cut001"))?.state).toBe("NEEDS_INIT");
    await cutConnections("parallel-workers");
    await store.transition("worker-cut001", "NEEDS_INIT", "WORKING", cli);
    await cutConnections("parallel-workers");
    // a lone write is not run twice on its own: it succeeds, or says to try again
    const outcome = await store.claimWorker("worker-cut001", "runner-a", MINUTE).then(
      (claimed) => ({ claimed }),
      (error: unknown) => ({ error }),
    );
    if ("error" in outcome) expect(outcome.error).toBeInstanceOf(StoreUnavailableError);
    expect(await retryWhileUnavailable(() => store.renewLeases("runner-a", MINUTE), { initialDelayMs: 10 })).toBe(0);
    expect((await store.history("worker-cut001")).map((t) => t.to)).toEqual(["NEEDS_INIT", "WORKING"]);
  });

  const bindir = spawnSync("bash", [THROWAWAY_SCRIPT, "bindir"], { encoding: "utf8" });
  it.skipIf(bindir.status !== 0)("rides out a database that goes away and comes back, losing nothing", async () => {
    // durable commits: a crash of a --fast cluster loses the last ones, as it should
    const started = spawnSync("bash", [THROWAWAY_SCRIPT, "start"], { encoding: "utf8", timeout: 120_000 });
    expect(started.status, started.stderr).toBe(0);
    const url = started.stdout.match(/^PW_TEST_DATABASE_URL=(.*)$/m)![1]!;
    const dir = started.stdout.match(/^PW_TEST_POSTGRES_DIR=(.*)$/m)![1]!;
    cleanups.push(() => spawnSync("bash", [THROWAWAY_SCRIPT, "stop", dir]));
    const store = await openStore(url);
    await store.createWorker({ id: "worker-gone01" }, cli);

    expect(spawnSync("bash", [THROWAWAY_SCRIPT, "pause", dir]).status).toBe(0);
    const down = await rejection(store.transition("worker-gone01", "NEEDS_INIT", "WORKING", cli));
    expect(down).toBeInstanceOf(StoreUnavailableError);
    expect(down.message).toContain("is unreachable");

    const reports: number[] = [];
    let recoveredAfter: number | undefined;
    const moved = retryWhileUnavailable(() => store.transition("worker-gone01", "NEEDS_INIT", "WORKING", cli), {
      initialDelayMs: 50,
      maxDelayMs: 200,
      report: (error, unavailableMs) => {
        expect(error).toBeInstanceOf(StoreUnavailableError);
        reports.push(unavailableMs);
      },
      recovered: (unavailableMs) => (recoveredAfter = unavailableMs),
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(spawnSync("bash", [THROWAWAY_SCRIPT, "resume", dir]).status).toBe(0);
    expect((await moved).state).toBe("WORKING");
    // said once (the first failure), not at every try
    expect(reports).toEqual([0]);
    expect(recoveredAfter).toBeGreaterThan(0);
    expect((await store.history("worker-gone01")).map((t) => t.to)).toEqual(["NEEDS_INIT", "WORKING"]);
  });
});

describe.skipIf(!database)("worker notices (LISTEN/NOTIFY)", () => {
  async function listen(): Promise<WorkerNotices> {
    const notices = await WorkerNotices.listen(database!.url, { reconnectDelayMs: 20, maxReconnectDelayMs: 100 });
    cleanups.push(() => notices.close());
    return notices;
  }

  /** Waits (up to a few seconds) until the notices heard include `count`, and returns them all. */
  async function hear(notices: WorkerNotices, count: number): Promise<WorkerNotice[]> {
    const heard: WorkerNotice[] = [];
    for (let i = 0; i < 50 && heard.length < count; i++) heard.push(...(await notices.wait(100)));
    return heard;
  }

  it("tells a listener when a worker is queued, merged or gets a request, once each, on commit only", async () => {
    const store = await openStore();
    const notices = await listen();
    await store.createWorker({ id: "worker-ntf001", repo: "acme/web" }, cli);
    expect(await store.claimWorker("worker-ntf001", "runner-a", MINUTE)).toBe(true);
    await store.transition("worker-ntf001", "NEEDS_INIT", "WORKING", cli);
    await store.updateWorker("worker-ntf001", { request: "terminate" });
    await store.updateWorker("worker-ntf001", { description: "no notice for this" });
    await store.transition("worker-ntf001", "WORKING", "MERGED", { source: "webhook" });
    // a move that lost its compare-and-swap tells nobody
    await store.transition("worker-ntf001", "WORKING", "MERGED", cli).catch(() => {});
    await store.createWorker({ id: "worker-ntf002", state: "UNKNOWN" }, cli);
    await store.transition("worker-ntf002", "UNKNOWN", "NEEDS_INIT", cli);
    expect(await hear(notices, 4)).toEqual([
      { event: "queued", id: "worker-ntf001", repo: "acme/web" },
      { event: "request", id: "worker-ntf001", repo: "acme/web" },
      { event: "merged", id: "worker-ntf001", repo: "acme/web" },
      { event: "queued", id: "worker-ntf002", repo: null },
    ]);
    expect(await notices.wait(50)).toEqual([]);
  });

  it("keeps notices that came between waits, ignores what is not ours, and ends a wait on abort", async () => {
    const store = await openStore();
    const notices = await listen();
    await queryDatabase(database!.url, `SELECT pg_notify('${WORKER_CHANNEL}', 'not json'), pg_notify('${WORKER_CHANNEL}', '{"event":"exploded","id":"x"}')`);
    await store.createWorker({ id: "worker-ntf003" }, cli);
    // the notices arrive while nobody waits; a wait then answers with them at once
    let kept: WorkerNotice[] = [];
    for (let i = 0; i < 100 && kept.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      kept = await notices.wait(0);
    }
    expect(kept).toEqual([{ event: "queued", id: "worker-ntf003", repo: null }]);
    const aborted = new AbortController();
    const waiting = notices.wait(MINUTE, aborted.signal);
    aborted.abort();
    expect(await waiting).toEqual([]);
  });

  it("listens again after its connection is lost, and says so", async () => {
    const store = await openStore();
    const notices = await listen();
    expect(notices.listening).toBe(true);
    await queryDatabase(
      database!.url,
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'parallel-workers-listen'",
    );
    const heard = await hear(notices, 1);
    expect(heard).toEqual([{ event: "reconnected" }]);
    expect(notices.listening).toBe(true);
    await store.createWorker({ id: "worker-ntf004" }, cli);
    expect(await hear(notices, 1)).toEqual([{ event: "queued", id: "worker-ntf004", repo: null }]);
  });

  it("cannot listen on a database that does not answer", async () => {
    const port = await closedPort();
    const error = await rejection(WorkerNotices.listen(`postgres://pw:hunter2@127.0.0.1:${port}/pw`));
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error.message).toContain(`postgres://pw:***@127.0.0.1:${port}/pw`);
  });
});
