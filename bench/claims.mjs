#!/usr/bin/env node
// Claims per second: 1, 3 and 8 claiming processes on PostgreSQL against 1 on SQLite, each run on
// a fresh queue of 10,000 workers of one repository, with no git and no agent: the claim path
// alone, as a runner walks it (claimNextWorker, then NEEDS_INIT -> WORKING). Counts double claims
// (a worker claimed by two processes, or started twice): there must be none. Prints the rates and
// their ratios, and the CPU a claim costs (the claiming processes', and their server processes'
// when the server runs here), which says what a loaded machine's rates cannot; targets: 0 double
// claims, 3 processes at least 1.5x one.
//
// PostgreSQL is PW_BENCH_DATABASE_URL (its user must be allowed to create schemas there), else a
// throwaway cluster started for the run (scripts/throwaway-postgres.sh) and stopped after it.
// Commits are not flushed to disk one by one (synchronous_commit=off on the bench's sessions), the
// durability SQLite's WAL with synchronous=NORMAL has; --durable flushes each commit. The schemas
// it makes (bench_*) are dropped after each run. Runs the built code (npm run build first).
//
//   node bench/claims.mjs [--workers N] [--durable]
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { numberOption } from "./options.mjs";

const dist = new URL("../dist/", import.meta.url);
const { openPostgresStore } = await import(new URL("store/postgres.js", dist));
const { openSqliteStore } = await import(new URL("store/sqlite-async.js", dist));

const REPOSITORY = "acme/bench";
const LEASE_MS = 10 * 60_000;

/** Opens the store a run measures: `sqlite:<file>` or `postgres:<schema>:<url>`. */
function openStore(place, poolSize) {
  if (place.startsWith("sqlite:")) return openSqliteStore(place.slice("sqlite:".length));
  const [, schema, ...url] = place.split(":");
  return openPostgresStore(url.join(":"), { schema, poolSize });
}

// ------------------------------------------------------------------------------------------
// a claiming process: opens its store, says ready, waits for go, claims and starts until the
// queue is empty, then prints what it claimed

/** CPU milliseconds process `pid` has used (user + system), from /proc; undefined where it cannot be read. */
function cpuMsOf(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in ticks of 1/100 s
  } catch {
    return undefined;
  }
}

if (process.argv[2] === "--claimer") {
  const [, , , place, owner] = process.argv;
  const store = await openStore(place, 1);
  // the server process of the store's one connection, when it runs on this machine
  const backend = store.backend === "postgres" ? (await store.pool.query("SELECT pg_backend_pid() AS pid")).rows[0].pid : undefined;
  process.stdout.write("ready\n");
  await new Promise((resolve) => createInterface({ input: process.stdin }).once("line", resolve));
  const cpu = process.cpuUsage();
  const serverCpu = backend && cpuMsOf(backend);
  const claimed = [];
  let conflicts = 0;
  for (;;) {
    const worker = await store.claimNextWorker(owner, LEASE_MS, { repositories: [REPOSITORY] });
    if (!worker) break;
    claimed.push(worker.id);
    await store.transition(worker.id, "NEEDS_INIT", "WORKING", { source: "runner" }).catch(() => conflicts++);
  }
  const used = process.cpuUsage(cpu);
  const clientMs = (used.user + used.system) / 1000;
  const serverMs = serverCpu === undefined ? undefined : cpuMsOf(backend) - serverCpu;
  await store.close();
  // exit only once the (long) line is written: a pipe takes it in pieces
  await new Promise((resolve) => process.stdout.write(`${JSON.stringify({ claimed, conflicts, clientMs, serverMs })}\n`, resolve));
  process.exit(0);
}

// ------------------------------------------------------------------------------------------
// the parent

const WORKERS = numberOption("workers", 10_000);
const DURABLE = process.argv.includes("--durable");
const script = fileURLToPath(import.meta.url);
const throwaway = fileURLToPath(new URL("../scripts/throwaway-postgres.sh", import.meta.url));

let serverUrl = process.env.PW_BENCH_DATABASE_URL;
let clusterDir;
if (!serverUrl) {
  const started = spawnSync("bash", [throwaway, "start"], { encoding: "utf8" });
  if (started.status === 3) {
    console.log("claims: skipped: no PW_BENCH_DATABASE_URL, and no PostgreSQL to start a throwaway cluster with (apt-get install -y postgresql)");
    process.exit(0);
  }
  if (started.status !== 0) {
    console.error(`bench: no PW_BENCH_DATABASE_URL, and a throwaway PostgreSQL did not start: ${started.stderr.trim()}`);
    process.exit(1);
  }
  serverUrl = started.stdout.match(/^PW_TEST_DATABASE_URL=(.*)$/m)[1];
  clusterDir = started.stdout.match(/^PW_TEST_POSTGRES_DIR=(.*)$/m)[1];
}
const scratch = mkdtempSync(join(tmpdir(), "pw-bench-claims-"));
const stopServer = () => {
  if (clusterDir) spawnSync("bash", [throwaway, "stop", clusterDir]);
  rmSync(scratch, { recursive: true, force: true });
};
process.on("exit", stopServer);

const synchronousCommit = DURABLE ? "on" : "off";
/** The server's URL with the bench's session setting (the store adds its schema to these options). */
const benchUrl = (() => {
  const url = new URL(serverUrl);
  url.searchParams.set("options", [url.searchParams.get("options"), `-c synchronous_commit=${synchronousCommit}`].filter(Boolean).join(" "));
  return url.toString();
})();

/** Runs `sql` on the server, in schema `name`. */
async function inSchema(name, sql) {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: serverUrl, options: `-c search_path=${name}` });
  await client.connect();
  await client.query(sql);
  await client.end();
}

/** Fills a new store with WORKERS queued workers, through the store (as spawns do). */
async function fill(place) {
  const store = await openStore(place, 8);
  const ids = Array.from({ length: WORKERS }, (_, i) => `worker-${i.toString(36).padStart(6, "0")}`);
  let next = 0;
  await Promise.all(
    Array.from({ length: store.backend === "postgres" ? 8 : 1 }, async () => {
      while (next < ids.length) {
        const id = ids[next++];
        await store.createWorker({ id, taskId: `task-${id}`, repo: REPOSITORY }, { source: "cli" });
      }
    }),
  );
  return store;
}

/** One run: `processes` claimers on a fresh queue; rate, and what each claimed. */
async function run(label, place, processes) {
  const store = await fill(place);
  // what autovacuum does within a minute of a bulk load: without statistics the planner sorts
  // the whole queue for each claim instead of reading the queue's index in order
  if (place.startsWith("postgres:")) await inSchema(place.split(":")[1], "ANALYZE workers");
  const children = Array.from({ length: processes }, (_, i) =>
    spawn(process.execPath, [script, "--claimer", place, `bench-runner-${i}`], { stdio: ["pipe", "pipe", "inherit"] }),
  );
  const lines = children.map((child) => {
    const reader = createInterface({ input: child.stdout });
    const queue = [];
    const waiting = [];
    reader.on("line", (line) => (waiting.length ? waiting.shift()(line) : queue.push(line)));
    return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiting.push(resolve)));
  });
  for (const next of lines) if ((await next()) !== "ready") throw new Error(`${label}: a claimer did not start`);
  const start = performance.now();
  for (const child of children) child.stdin.write("go\n");
  const reports = await Promise.all(lines.map(async (next) => JSON.parse(await next())));
  const seconds = (performance.now() - start) / 1000;

  const claims = new Map();
  for (const report of reports) for (const id of report.claimed) claims.set(id, (claims.get(id) ?? 0) + 1);
  const total = reports.reduce((sum, r) => sum + r.claimed.length, 0);
  const doubles = [...claims.values()].filter((n) => n > 1).length + reports.reduce((sum, r) => sum + r.conflicts, 0);
  const working = (await store.listWorkers({ state: "WORKING" })).length;
  const unclaimed = WORKERS - claims.size;
  await store.close();
  if (place.startsWith("postgres:")) await inSchema(place.split(":")[1], `DROP SCHEMA ${place.split(":")[1]} CASCADE`);
  const rate = total / seconds;
  // CPU per claim, the claiming processes' and (when on this machine) their server processes':
  // what a claim costs, whatever else the machine is doing
  const perClaim = (key) => (reports.every((r) => typeof r[key] === "number") ? `${((reports.reduce((sum, r) => sum + r[key], 0) * 1000) / total).toFixed(0)} µs` : "?");
  const cpu = place.startsWith("postgres:") ? `client ${perClaim("clientMs")} + server ${perClaim("serverMs")}` : `${perClaim("clientMs")}`;
  console.log(
    `${label.padEnd(26)} ${rate.toFixed(0).padStart(6)} claims/s  (${total} claims in ${seconds.toFixed(2)} s; CPU per claim ${cpu}; ` +
      `double claims ${doubles}, unclaimed ${unclaimed}, WORKING ${working}; per process ${reports.map((r) => r.claimed.length).join("/")})`,
  );
  if (doubles !== 0 || unclaimed !== 0 || working !== WORKERS) process.exitCode = 1;
  return rate;
}

console.log(`claim path (claimNextWorker + NEEDS_INIT -> WORKING), ${WORKERS} queued workers per run, one repository`);
console.log(`PostgreSQL synchronous_commit=${synchronousCommit}${clusterDir ? " (throwaway cluster)" : ""}; SQLite WAL, synchronous=NORMAL`);
const schema = () => `bench_${randomBytes(4).toString("hex")}`;
const rates = {
  sqlite: await run("SQLite, 1 process", `sqlite:${join(scratch, "state.db")}`, 1),
  pg1: await run("PostgreSQL, 1 process", `postgres:${schema()}:${benchUrl}`, 1),
  pg3: await run("PostgreSQL, 3 processes", `postgres:${schema()}:${benchUrl}`, 3),
  pg8: await run("PostgreSQL, 8 processes", `postgres:${schema()}:${benchUrl}`, 8),
};
const ratio = (a, b) => `${(a / b).toFixed(2)}x`;
console.log(
  `ratios: PostgreSQL 1/SQLite 1 ${ratio(rates.pg1, rates.sqlite)}, 3/SQLite 1 ${ratio(rates.pg3, rates.sqlite)}, ` +
    `8/SQLite 1 ${ratio(rates.pg8, rates.sqlite)}; PostgreSQL 3/1 ${ratio(rates.pg3, rates.pg1)} (target >= 1.5x), 8/1 ${ratio(rates.pg8, rates.pg1)}`,
);
