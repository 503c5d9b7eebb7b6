#!/usr/bin/env node
// Merge flow benchmark: from a `push` to main delivered to `pw serve` (the BUILT CLI,
// merge_flow.update: rebase) to every one of PRS open worker PRs being up to date on origin (each
// rebased onto the new main and pushed with a lease, no conflicts), against the same done by
// hand: one `git fetch`, then PRS sequential `git rebase origin/main` + `git push
// --force-with-lease` in the worktrees. Same repository (FILES files, a bare origin), same
// branches, both in one run; prints each time and the ratio (hand / pw serve: above 1.0x, pw is faster).
//
//   npm run build && node bench/merge-flow.mjs [--prs N] [--files N] [--poll S]
import { execFile, execFileSync, spawn } from "node:child_process";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { loadGitHubStandIn, requireBuilt, ROOT, signature } from "./harness.mjs";
import { numberOption } from "./options.mjs";

const PRS = Math.round(numberOption("prs", 20));
const FILES = Math.round(numberOption("files", 2000));
const POLL = numberOption("poll", 0.1);
const SECRET = "bench-secret";
const REPO = "acme/widgets";

requireBuilt();

// ---- the GitHub stand-in of the tests, transpiled to plain JavaScript ---------------------------
const work = mkdtempSync(join(tmpdir(), "pw-bench-merge-flow-"));
const GitHubStandIn = await loadGitHubStandIn(work);
const github = await GitHubStandIn.start();
github.addRepo(REPO);

// ---- a repository the size of a small project, with a bare origin ----------------------------
const repo = join(work, "widgets");
const origin = join(work, "origin.git");
mkdirSync(repo);
const identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"];
const git = (cwd, ...argv) => execFileSync("git", [...identity, ...argv], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
git(work, "init", "--quiet", "--bare", "-b", "main", origin);
git(repo, "init", "--quiet", "-b", "main");
const line = "export const value = computeSomething(input, options); // a line of ordinary source\n";
for (let i = 0; i < FILES; i++) {
  const dir = join(repo, "src", `module${i % 40}`, `part${i % 7}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `file${i}.ts`), line.repeat(20 + (i % 40)));
}
// the agent: one file of its own per task, so no two PRs and no base commit conflict
const agent = join(work, "agent.mjs");
writeFileSync(agent, `import { writeFileSync } from "node:fs";\nwriteFileSync(process.env.PW_TASK_ID + ".txt", "done\\n");\n`);
writeFileSync(
  join(repo, ".parallel-workers.yml"),
  [
    `github: { repository: ${REPO} }`,
    `max_workers: 8`,
    `agents:`,
    `  code-author: { command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(agent)}] }`,
    `merge_flow: { update: rebase }`,
    "",
  ].join("\n"),
);
git(repo, "add", "-A");
git(repo, "commit", "--quiet", "-m", "initial");
git(repo, "remote", "add", "origin", origin);
git(repo, "push", "--quiet", "origin", "main");
const spec = join(work, "tasks.yml");
writeFileSync(spec, ["tasks:", ...Array.from({ length: PRS }, (_, i) => `  - { id: T-${i + 1}, description: "Task ${i + 1}", agent: code-author }`), ""].join("\n"));

const home = join(work, "home");
const env = {
  ...process.env,
  PW_HOME: home,
  PW_WORKTREES_ROOT: join(work, "worktrees"),
  ...github.env,
  GITHUB_TOKEN: "bench-token",
  APP_ID: "123456",
  PRIVATE_KEY: generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  WEBHOOK_SECRET: SECRET,
  PORT: "0",
  HOST: "127.0.0.1",
  LOG_LEVEL: "warn",
  PW_GITHUB_WRITE_INTERVAL_MS: "0",
  GIT_AUTHOR_NAME: "bench",
  GIT_AUTHOR_EMAIL: "bench@example.com",
  GIT_COMMITTER_NAME: "bench",
  GIT_COMMITTER_EMAIL: "bench@example.com",
};
// not execFileSync: the stand-in in this process must answer the spawn's preflight meanwhile
await promisify(execFile)(process.execPath, [join(ROOT, "dist/cli/main.js"), "worker", "spawn-batch", "--spec-file", spec], { cwd: repo, env });

// ---- pw serve: the workers run to their PRs -----------------------------------------------------
const child = spawn(process.execPath, [join(ROOT, "dist/cli/main.js"), "serve", "--poll-interval", String(POLL), "--log-format", "json"], {
  cwd: repo,
  env: { ...env, LOG_LEVEL: "info" },
  stdio: ["ignore", "pipe", "pipe"],
});
let output = "";
child.stdout.on("data", (chunk) => (output += chunk));
child.stderr.on("data", (chunk) => (output += chunk));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(probe, what, timeoutMs = 180_000) {
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
const workers = () => db.prepare("SELECT id, state, branch, worktree_path AS worktree, merge_flow AS mergeFlow FROM workers ORDER BY task_id").all();

/** Commits a file on main and pushes it to origin, as a merged PR would: the new head. */
function mainMoves(name) {
  writeFileSync(join(repo, name), `${name}\n`);
  git(repo, "add", name);
  git(repo, "commit", "--quiet", "-m", `main moves: ${name}`);
  git(repo, "push", "--quiet", "origin", "main");
  return git(repo, "rev-parse", "HEAD").trim();
}

/** Every PR branch on origin has `head` of main in its history. */
function allUpToDate(head) {
  return workers().every((w) => {
    try {
      git(origin, "merge-base", "--is-ancestor", head, w.branch);
      return true;
    } catch {
      return false;
    }
  });
}

try {
  await until(() => workers().length === PRS && workers().every((w) => w.state === "PR_OPEN"), `${PRS} PRs open`);
  console.log(`repository: ${FILES} files; ${PRS} open worker PRs; pw serve --poll-interval ${POLL}`);

  // pw serve: a push to main delivered, until every PR's merge-flow record says it is up to date with it
  const before = git(repo, "rev-parse", "HEAD").trim();
  const after = mainMoves("pushed-for-pw.txt");
  const payload = JSON.parse(readFileSync(join(ROOT, "fixtures/webhooks/push.json"), "utf8"));
  Object.assign(payload, { ref: "refs/heads/main", before, after, forced: false, deleted: false, installation: { id: 1 } });
  Object.assign(payload.repository, { full_name: REPO, name: "widgets", default_branch: "main" });
  const body = JSON.stringify(payload);
  const sent = performance.now();
  const response = await globalThis.fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": "push",
      "x-github-delivery": randomUUID(),
      "x-hub-signature-256": signature(SECRET, body),
    },
    body,
  });
  await response.text();
  if (response.status !== 200) throw new Error(`push answered ${response.status}`);
  await until(() => workers().every((w) => {
    const update = JSON.parse(w.mergeFlow ?? "{}").update;
    return update?.baseSha === after && update.outcome === "updated";
  }), `${PRS} PRs rebased`);
  const pwMs = performance.now() - sent;
  if (process.env.PW_BENCH_DEBUG) {
    const t0 = Date.now() - pwMs;
    for (const l of output.split("\n").filter((l) => l.startsWith("{"))) {
      const j = JSON.parse(l);
      if (j.time >= t0 - 50) console.log(j.time - t0, j.msg, j.worker_id ?? "", j.event ?? "");
    }
  }
  if (!allUpToDate(after)) throw new Error("pw serve said the PRs are up to date, but origin disagrees");
  child.kill("SIGTERM");
  await new Promise((resolve) => child.once("exit", resolve));

  // by hand: the same branches in the same worktrees, one after another
  const next = mainMoves("pushed-by-hand.txt");
  const started = performance.now();
  git(repo, "fetch", "--quiet", "origin", "main");
  for (const w of workers()) {
    const lease = git(origin, "rev-parse", w.branch).trim();
    git(w.worktree, "rebase", "--quiet", "origin/main");
    git(w.worktree, "push", "--quiet", `--force-with-lease=refs/heads/${w.branch}:${lease}`, "origin", `${w.branch}:${w.branch}`);
  }
  const handMs = performance.now() - started;
  if (!allUpToDate(next)) throw new Error("the rebases by hand left a PR behind");

  const ms = (x) => `${Math.round(x)}`.padStart(6);
  console.log(`pw serve: push delivered -> ${PRS} PRs rebased and pushed  ${ms(pwMs)} ms`);
  console.log(`by hand: fetch + ${PRS} x (git rebase + git push)          ${ms(handMs)} ms`);
  console.log(`by hand / pw serve: ${(handMs / pwMs).toFixed(2)}x (above 1.0x: pw serve is faster)`);
} finally {
  db.close();
  if (child.exitCode === null) {
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
  }
  await github.close();
  rmSync(work, { recursive: true, force: true });
}
