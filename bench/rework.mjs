#!/usr/bin/env node
// Rework round benchmark: the time from a review's delivery to the round's agent starting, beside
// the time from a `/worker spawn` comment's delivery to a fresh worker's agent starting, through
// one `pw serve` (the BUILT CLI) on the same repository (FILES files, a bare origin), with the
// GitHub stand-in of the tests in this process and an agent that records when it started and
// does nothing more in a round. Prints p50/p99 of each and their ratio; target: a round costs
// no more than a spawn (ratio at most 1.0x).
//
//   npm run build && node bench/rework.mjs [--rounds N] [--files N] [--poll S]
import { execFileSync, spawn } from "node:child_process";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { fixture, loadGitHubStandIn, requireBuilt, ROOT, signature } from "./harness.mjs";
import { numberOption } from "./options.mjs";

const ROUNDS = Math.round(numberOption("rounds", 20));
const FILES = Math.round(numberOption("files", 2000));
const POLL = numberOption("poll", 0.5);
const SECRET = "bench-secret";
const REPO = "acme/widgets";

requireBuilt();

// ---- the GitHub stand-in of the tests, transpiled to plain JavaScript ---------------------------
const work = mkdtempSync(join(tmpdir(), "pw-bench-rework-"));
const GitHubStandIn = await loadGitHubStandIn(work);
const github = await GitHubStandIn.start();
github.addRepo(REPO);
github.setPermission(REPO, "alice", "write");

// ---- a repository the size of a small project, with a bare origin ----------------------------
const repo = join(work, "widgets");
const origin = join(work, "origin.git");
mkdirSync(repo);
const git = (cwd, ...argv) => execFileSync("git", argv, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
git(work, "init", "--quiet", "--bare", "-b", "main", origin);
git(repo, "init", "--quiet", "-b", "main");
const line = "export const value = computeSomething(input, options); // a line of ordinary source\n";
for (let i = 0; i < FILES; i++) {
  const dir = join(repo, "src", `module${i % 40}`, `part${i % 7}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `file${i}.ts`), line.repeat(20 + (i % 40)));
}
// the agent: records when it started; a first run writes a file (its PR needs a change), a round nothing
const record = join(work, "record");
mkdirSync(record);
const agent = join(work, "agent.mjs");
writeFileSync(
  agent,
  `import { writeFileSync } from "node:fs";
const round = Number(/Rework round (\\d+):/.exec(process.argv[3] ?? "")?.[1] ?? 0);
writeFileSync(${JSON.stringify(record)} + "/" + process.env.PW_WORKER_ID + "-" + round, String(Date.now()));
if (round === 0) writeFileSync(process.env.PW_TASK_ID + ".txt", "done\\n");
`,
);
writeFileSync(
  join(repo, ".parallel-workers.yml"),
  [
    `github: { repository: ${REPO} }`,
    `max_workers: 4`,
    `agents:`,
    `  code-author: { command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(agent)}, "x", "{prompt}"] }`,
    `rework: { max_rounds: 100, debounce: 0 }`,
    "",
  ].join("\n"),
);
git(repo, "add", "-A");
git(repo, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "--quiet", "-m", "initial");
git(repo, "remote", "add", "origin", origin);
git(repo, "push", "--quiet", "origin", "main");

// ---- pw serve -----------------------------------------------------------------------------------
const home = join(work, "home");
const env = {
  ...process.env,
  PW_HOME: home,
  PW_WORKTREES_ROOT: join(work, "worktrees"),
  ...github.env,
  APP_ID: "123456",
  PRIVATE_KEY: generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  WEBHOOK_SECRET: SECRET,
  PORT: "0",
  HOST: "127.0.0.1",
  LOG_LEVEL: "warn",
  PW_GITHUB_WRITE_INTERVAL_MS: "0",
  GIT_AUTHOR_NAME: "bench",
  GIT_AUTHOR_EMAIL: "bench@example.com",
};
const child = spawn(process.execPath, [join(ROOT, "dist/cli/main.js"), "serve", "--poll-interval", String(POLL), "--log-format", "json"], {
  cwd: repo,
  env: { ...env, LOG_LEVEL: "info" },
  stdio: ["ignore", "pipe", "pipe"],
});
let output = "";
child.stdout.on("data", (chunk) => (output += chunk));
child.stderr.on("data", (chunk) => (output += chunk));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(probe, what, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (child.exitCode !== null) throw new Error(`pw serve exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs} ms:\n${output.slice(-3000)}`);
    await sleep(2);
  }
}
const listening = await until(() => output.split("\n").find((l) => l.includes('"pw serve listening"')), "pw serve listening");
const url = `http://127.0.0.1:${JSON.parse(listening).port}/api/github/webhooks`;
const db = new Database(join(home, "state.db"), { readonly: true, fileMustExist: true });
const workerRow = db.prepare("SELECT id, state, pr_number AS prNumber, rework_rounds AS rounds FROM workers WHERE task_id = ?");

async function deliver(event, payload) {
  const body = JSON.stringify(payload);
  const sent = Date.now();
  const response = await globalThis.fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": randomUUID(),
      "x-hub-signature-256": signature(SECRET, body),
    },
    body,
  });
  await response.text();
  if (response.status !== 200) throw new Error(`${event} answered ${response.status}`);
  return sent;
}
const repository = { ...fixture("issue_comment.created").repository, full_name: REPO, name: "widgets", default_branch: "main" };
const startedAt = (workerId, round) => {
  const file = join(record, `${workerId}-${round}`);
  return existsSync(file) && Number(readFileSync(file, "utf8"));
};

/** A `/worker spawn` comment on a new issue: ms from its delivery to the new worker's agent starting. */
async function spawnOnce(i) {
  const issue = github.addIssue(REPO, { title: `Task ${i}`, body: "do it" });
  const comment = github.addComment(REPO, issue.number, { body: "/worker spawn", user: "alice" });
  const payload = fixture("issue_comment.created");
  Object.assign(payload, { repository, installation: { id: 1 }, sender: { ...payload.sender, login: "alice", type: "User" } });
  Object.assign(payload.issue, { number: issue.number, title: issue.title, body: issue.body });
  delete payload.issue.pull_request;
  Object.assign(payload.comment, { id: comment.id, body: "/worker spawn", user: { ...payload.comment.user, login: "alice", type: "User" }, updated_at: comment.updated_at });
  const sent = await deliver("issue_comment", payload);
  const worker = await until(() => workerRow.get(`issue-${issue.number}`), "worker recorded");
  const started = await until(() => startedAt(worker.id, 0), "agent started");
  await until(() => workerRow.get(`issue-${issue.number}`)?.state === "PR_OPEN", "PR open");
  return { ms: started - sent, worker: workerRow.get(`issue-${issue.number}`) };
}

/** A review asking for changes on `worker`'s PR: ms from its delivery to the round's agent starting. */
async function roundOnce(worker, round) {
  const pr = github.pull(REPO, worker.prNumber);
  const review = github.addReview(REPO, pr.number, { user: "alice", body: `change ${round}`, comments: [{ path: "src/module0/part0/file0.ts", line: 1, body: "here" }] });
  const payload = fixture("pull_request_review.submitted");
  Object.assign(payload, { repository, installation: { id: 1 }, sender: { ...payload.sender, login: "alice", type: "User" } });
  Object.assign(payload.review, { id: review.id, state: "changes_requested", body: `change ${round}`, user: { ...payload.review.user, login: "alice", type: "User" } });
  Object.assign(payload.pull_request, { number: pr.number, html_url: pr.html_url, state: "open", body: pr.body, head: { ...payload.pull_request.head, ref: pr.head.ref, sha: pr.head.sha, repo: { ...payload.pull_request.head.repo, full_name: REPO } } });
  const sent = await deliver("pull_request_review", payload);
  const started = await until(() => startedAt(worker.id, round), `round ${round} started`);
  await until(() => {
    const now = db.prepare("SELECT state, rework_rounds AS rounds FROM workers WHERE id = ?").get(worker.id);
    return now.state === "PR_OPEN" && now.rounds === round;
  }, `round ${round} done`);
  return started - sent;
}

const percentile = (xs, p) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

try {
  console.log(`repository: ${FILES} files; pw serve --poll-interval ${POLL}; ${ROUNDS} of each, one at a time`);
  // one warm-up spawn (the runner's first preflight, the App's first token)
  const { worker } = await spawnOnce(0);
  const spawns = [];
  for (let i = 1; i <= ROUNDS; i++) spawns.push((await spawnOnce(i)).ms);
  const rounds = [];
  for (let r = 1; r <= ROUNDS; r++) rounds.push(await roundOnce(worker, r));
  const row = (name, xs) => `${name.padEnd(44)} p50 ${String(percentile(xs, 50)).padStart(5)} ms   p99 ${String(percentile(xs, 99)).padStart(5)} ms`;
  console.log(row("spawn: /worker spawn -> agent started", spawns));
  console.log(row("rework: review delivered -> agent started", rounds));
  const ratio = (p) => (percentile(rounds, p) / percentile(spawns, p)).toFixed(2);
  console.log(`round / spawn: p50 ${ratio(50)}x, p99 ${ratio(99)}x (target: at most 1.0x)`);
} finally {
  db.close();
  child.kill("SIGTERM");
  await new Promise((resolve) => child.once("exit", resolve));
  await github.close();
  rmSync(work, { recursive: true, force: true });
}
