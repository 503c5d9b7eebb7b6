#!/usr/bin/env node
// Webhook received -> worker MERGED, on SQLite and on PostgreSQL, side by side in one run: two
// `pw serve` processes (the built CLI, each with its runner, in the same served checkout), one on
// each store, each store holding 200 older workers and one PR_OPEN worker (whose PR the GitHub
// stand-in has merged) per delivery. Each round sends signed `pull_request.closed` (merged)
// deliveries to one server, then the other, open loop at --rate R a second for --seconds S
// (alternating who goes first), and the latency of a delivery is from its sending to the time the
// store recorded the worker's move to MERGED (the transition's own time; milliseconds on SQLite),
// read back once every move has landed; the time to the answer is printed beside it.
// Target: MERGED p99 under 50 ms on both.
//
// PostgreSQL is PW_BENCH_DATABASE_URL (its user must be allowed to create schemas there), else a
// throwaway cluster started for the run (scripts/throwaway-postgres.sh) and stopped after it;
// without either, SQLite alone, and a line says so. As in bench/claims.mjs, PostgreSQL's commits
// are not flushed one by one (synchronous_commit=off: SQLite's WAL with synchronous=NORMAL is the
// same); --durable flushes each. The schema it makes (bench_*) is dropped after the run.
//
//   npm run build && node bench/merged.mjs [--rate R] [--seconds S] [--rounds N] [--durable]
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { numberOption } from "./options.mjs";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const RATE = numberOption("rate", 50);
const SECONDS = numberOption("seconds", 10);
const ROUNDS = Math.round(numberOption("rounds", 4));
const DURABLE = process.argv.includes("--durable");
const HISTORY = 200;
const WARMUP = 300;
const SECRET = "bench-secret";
const REPO = "acme/widgets";
const TARGET_MS = 50;

if (!existsSync(join(ROOT, "dist/cli/main.js"))) {
  console.error("bench: dist/cli/main.js is missing: run `npm run build` first");
  process.exit(1);
}
const { openSqliteStore } = await import(join(ROOT, "dist/store/sqlite-async.js"));
const { openPostgresStore } = await import(join(ROOT, "dist/store/postgres.js"));

const work = mkdtempSync(join(tmpdir(), "pw-bench-merged-"));
const cleanups = [() => rmSync(work, { recursive: true, force: true })];
process.on("exit", () => {
  for (const cleanup of cleanups.reverse()) cleanup();
});

// ---- PostgreSQL: the bench's server, or a throwaway cluster ----------------------------------
const throwaway = join(ROOT, "scripts/throwaway-postgres.sh");
let serverUrl = process.env.PW_BENCH_DATABASE_URL;
let clusterNote = "";
if (!serverUrl) {
  const started = spawnSync("bash", [throwaway, "start"], { encoding: "utf8" });
  if (started.status === 0) {
    serverUrl = started.stdout.match(/^PW_TEST_DATABASE_URL=(.*)$/m)[1];
    const clusterDir = started.stdout.match(/^PW_TEST_POSTGRES_DIR=(.*)$/m)[1];
    cleanups.push(() => spawnSync("bash", [throwaway, "stop", clusterDir]));
    clusterNote = " (throwaway cluster)";
  } else if (started.status === 3) {
    console.log("merged: PostgreSQL skipped: no PW_BENCH_DATABASE_URL, and no PostgreSQL to start a throwaway cluster with (apt-get install -y postgresql)");
  } else {
    console.error(`bench: no PW_BENCH_DATABASE_URL, and a throwaway PostgreSQL did not start: ${started.stderr.trim()}`);
    process.exit(1);
  }
}
const schema = `bench_${randomBytes(4).toString("hex")}`;
/** The server's URL in the bench's schema, with its commit setting: what `pw serve` is given as PW_DATABASE_URL. */
const benchUrl = serverUrl
  ? (() => {
      const url = new URL(serverUrl);
      url.searchParams.set("options", [url.searchParams.get("options"), `-c search_path=${schema}`, `-c synchronous_commit=${DURABLE ? "on" : "off"}`].filter(Boolean).join(" "));
      return url.toString();
    })()
  : undefined;

// ---- the GitHub stand-in of the tests, transpiled to plain JavaScript ---------------------------
const { default: ts } = await import("typescript");
const { outputText } = ts.transpileModule(readFileSync(join(ROOT, "test/helpers/github-stand-in.ts"), "utf8"), {
  compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
});
writeFileSync(join(work, "github-stand-in.mjs"), outputText);
const { GitHubStandIn } = await import(join(work, "github-stand-in.mjs"));
const github = await GitHubStandIn.start();
github.addRepo(REPO);

// ---- a served checkout, and the two stores --------------------------------------------------
const repo = join(work, "widgets");
mkdirSync(repo);
const git = (...argv) => execFileSync("git", argv, { cwd: repo, stdio: "ignore" });
git("init", "-q", "-b", "main");
git("-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "--allow-empty", "-m", "init");
git("remote", "add", "origin", `https://github.com/${REPO}.git`);

const perRound = Math.round(RATE * SECONDS);
/** Fills `store` with the history and, per round, `perRound` PR_OPEN workers whose PRs are merged; their deliveries, by round. */
async function seed(store, prefix) {
  for (let i = 0; i < HISTORY; i++) {
    const state = i % 20 === 0 ? "ABANDONED" : i % 10 === 0 ? "PR_OPEN" : "MERGED";
    await store.createWorker({ id: `worker-h${prefix}${i.toString(36).padStart(4, "0")}`, repo: REPO, taskId: `old-${i}`, branch: `feature/old-${prefix}${i}`, state, prNumber: 200_000 + i }, { source: "cli" });
  }
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const deliveries = [];
    for (let i = 0; i < perRound; i++) {
      const branch = `feature/${prefix}-${round}-${i}`;
      const pr = github.addPullRequest(REPO, { head: branch });
      github.mergePullRequest(REPO, pr.number);
      const id = `worker-${prefix}${round.toString(36)}${i.toString(36).padStart(4, "0")}`;
      await store.createWorker({ id, repo: REPO, taskId: `bench-${prefix}-${round}-${i}`, branch, state: "PR_OPEN", prNumber: pr.number }, { source: "cli" });
      deliveries.push({ id, ...signed(mergedPayload(pr.number, branch)) });
    }
    rounds.push(deliveries);
  }
  return rounds;
}

const fixture = (name) => JSON.parse(readFileSync(join(ROOT, "fixtures/webhooks", `${name}.json`), "utf8"));
function pullRequestPayload(name, number, branch) {
  const payload = fixture(name);
  const [owner, repoName] = REPO.split("/");
  payload.repository.full_name = REPO;
  payload.repository.name = repoName;
  payload.repository.owner.login = owner;
  payload.number = number;
  const pr = payload.pull_request;
  pr.number = number;
  pr.html_url = `https://github.com/${REPO}/pull/${number}`;
  pr.head.ref = branch;
  pr.head.repo = JSON.parse(JSON.stringify(payload.repository));
  pr.base.repo = JSON.parse(JSON.stringify(payload.repository));
  return payload;
}
const mergedPayload = (number, branch) => pullRequestPayload("pull_request.closed.merged", number, branch);
function signed(payload) {
  const body = JSON.stringify(payload);
  return { body, signature: `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}` };
}
const noop = signed(pullRequestPayload("pull_request.synchronize", 99_999, "feature/nobody"));

const backends = [];
{
  const home = join(work, "sqlite");
  mkdirSync(home);
  const store = await openSqliteStore(join(home, "state.db"));
  backends.push({ label: "SQLite", home, env: {}, store, rounds: await seed(store, "s") });
}
if (benchUrl) {
  const home = join(work, "postgres");
  mkdirSync(home);
  const store = await openPostgresStore(serverUrl, { schema });
  cleanups.push(() => {
    spawnSync(process.execPath, ["-e", `const pg=require("pg");const c=new pg.Client({connectionString:process.argv[1]});c.connect().then(()=>c.query("DROP SCHEMA ${schema} CASCADE")).finally(()=>c.end())`, serverUrl], {
      cwd: ROOT,
      stdio: "ignore",
    });
  });
  backends.push({ label: "PostgreSQL", home, env: { PW_DATABASE_URL: benchUrl }, store, rounds: await seed(store, "p") });
}

// ---- the servers ------------------------------------------------------------------------------
const baseEnv = {
  ...process.env,
  GITHUB_TOKEN: "bench",
  WEBHOOK_SECRET: SECRET,
  PORT: "0",
  HOST: "127.0.0.1",
  LOG_LEVEL: "info",
  PW_GITHUB_WRITE_INTERVAL_MS: "0",
  PW_WORKTREES_ROOT: join(work, "worktrees"),
  ...github.env,
};
for (const name of ["APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_PROXY_URL", "PW_DATABASE_URL"]) delete baseEnv[name];

function startServe(backend) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "dist/cli/main.js"), "serve", "--no-reconcile"], {
      cwd: repo,
      env: { ...baseEnv, PW_HOME: backend.home, ...backend.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let found = false;
    const onData = (chunk) => {
      if (found) return;
      out += chunk.toString();
      const line = out.split("\n").find((l) => /listening"/.test(l));
      if (line) {
        found = true;
        resolve({ child, port: JSON.parse(line).port });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => found || reject(new Error(`pw serve on ${backend.label} exited with ${code}:\n${out}`)));
  });
}

function send(agent, port, delivery) {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/api/github/webhooks",
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(delivery.body),
          "user-agent": "GitHub-Hookshot/bench",
          "x-github-event": "pull_request",
          "x-github-delivery": randomUUID(),
          "x-hub-signature-256": delivery.signature,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.on("error", reject);
    req.end(delivery.body);
  });
}

/** The wall-clock time now, in milliseconds, as the store records a transition's time. */
const wallNow = () => Date.now();

/** One round on one server: the deliveries at RATE a second; when each was sent and answered. */
async function round(server, deliveries) {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const sent = [];
  const pending = [];
  const started = performance.now();
  for (const [i, delivery] of deliveries.entries()) {
    const wait = started + (i * 1000) / RATE - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const at = wallNow();
    pending.push(send(agent, server.port, delivery).then(() => sent.push({ id: delivery.id, at, answeredMs: wallNow() - at })));
  }
  await Promise.all(pending);
  agent.destroy();
  return sent;
}

/** Waits until every worker of `sent` is MERGED in `store` (60 s at most); the time each move was recorded. */
async function mergedAt(store, sent) {
  const deadline = Date.now() + 60_000;
  const times = new Map();
  while (times.size < sent.length) {
    for (const { id } of sent) {
      if (times.has(id)) continue;
      const move = (await store.history(id)).find((t) => t.to === "MERGED");
      if (move) times.set(id, Date.parse(move.at));
    }
    if (times.size < sent.length) {
      if (Date.now() > deadline) throw new Error(`bench: ${sent.length - times.size} workers never reached MERGED`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return times;
}

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};

console.log(
  `webhook received -> worker MERGED: ${ROUNDS} rounds per store of ${perRound} merged deliveries at ${RATE}/s (open loop), ` +
    `each for its own PR_OPEN worker; ${HISTORY} older workers per store`,
);
console.log(`SQLite WAL, synchronous=NORMAL${benchUrl ? `; PostgreSQL synchronous_commit=${DURABLE ? "on" : "off"}${clusterNote}` : ""}; both pw serve with their runner`);
const servers = [];
try {
  for (const backend of backends) servers.push({ backend, server: await startServe(backend), sent: [] });
  const warmAgent = new Agent({ keepAlive: true, maxSockets: 8 });
  for (const { server } of servers) await Promise.all(Array.from({ length: WARMUP }, () => send(warmAgent, server.port, noop)));
  warmAgent.destroy();
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? servers : [...servers].reverse();
    for (const entry of order) {
      entry.sent.push(...(await round(entry.server, entry.backend.rounds[r])));
      // the runner's pass after the moves settles before the other store's round
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  console.log("store        deliveries   MERGED p50 ms   p99 ms   max ms   answer p50 ms   p99 ms");
  const verdicts = [];
  for (const { backend, sent } of servers) {
    const times = await mergedAt(backend.store, sent);
    const merged = sent.map(({ id, at }) => times.get(id) - at);
    const answered = sent.map((s) => s.answeredMs);
    const f = (n) => n.toFixed(1);
    console.log(
      `${backend.label.padEnd(13)}${String(sent.length).padStart(10)}${f(quantile(merged, 0.5)).padStart(16)}${f(quantile(merged, 0.99)).padStart(9)}` +
        `${f(Math.max(...merged)).padStart(9)}${f(quantile(answered, 0.5)).padStart(16)}${f(quantile(answered, 0.99)).padStart(9)}`,
    );
    verdicts.push(`${backend.label} ${f(quantile(merged, 0.99))} ms (${quantile(merged, 0.99) < TARGET_MS ? "meets" : "misses"})`);
  }
  console.log(`MERGED p99, target under ${TARGET_MS} ms: ${verdicts.join(", ")}`);
} finally {
  for (const { server } of servers) {
    await new Promise((resolve) => {
      if (server.child.exitCode !== null || server.child.signalCode !== null) return resolve();
      server.child.on("exit", resolve);
      server.child.kill("SIGTERM");
    });
  }
  for (const backend of backends) await backend.store.close();
  await github.close();
}
