#!/usr/bin/env node
// Spawn overhead against raw `git worktree add`, measured side by side in one run on the same
// repository: one worker, and ten with concurrency 5 against `xargs -P5 git worktree add`.
// Runs the built code (npm run build first). Prints medians and ratios; target: at most 1.3x.
//
//   node bench/spawn.mjs [--files N] [--rounds R]
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { startRepositoryAnswer } from "./github-answer.mjs";
import { numberOption } from "./options.mjs";

const dist = new URL("../dist/", import.meta.url);
const { resolvePaths } = await import(new URL("config.js", dist));
const { SqliteWorkerStore } = await import(new URL("store/sqlite.js", dist));
const { SqliteAsyncWorkerStore } = await import(new URL("store/sqlite-async.js", dist));
const { openRepoContext } = await import(new URL("runner/context.js", dist));
const { spawnWorkers } = await import(new URL("runner/operations.js", dist));
const { silentLogger } = await import(new URL("log/logger.js", dist));
const { isWorktreeRace } = await import(new URL("git/repo.js", dist));
const { githubAccessFromEnv } = await import(new URL("github/access.js", dist));
const PW_BIN = fileURLToPath(new URL("cli/main.js", dist));

const FILES = numberOption("files", 3000);
const ROUNDS = numberOption("rounds", 7);

const git = (cwd, ...argv) => execFileSync("git", argv, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = async (fn) => {
  const start = performance.now();
  await fn();
  return performance.now() - start;
};

// A repository the size of a small real project: FILES files of source-like text in nested folders.
const root = mkdtempSync(join(tmpdir(), "pw-bench-"));
const repo = join(root, "repo");
mkdirSync(repo);
git(root, "init", "--quiet", "--bare", "-b", "main", join(root, "origin.git"));
git(repo, "init", "--quiet", "-b", "main");
const line = "export const value = computeSomething(input, options); // a line of ordinary source\n";
for (let i = 0; i < FILES; i++) {
  const dir = join(repo, "src", `module${i % 40}`, `part${i % 7}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `file${i}.ts`), line.repeat(20 + (i % 40)));
}
writeFileSync(join(repo, ".parallel-workers.yml"), "github:\n  repository: acme/bench\n");
git(repo, "add", "-A");
git(repo, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "--quiet", "-m", "initial");
git(repo, "remote", "add", "origin", join(root, "origin.git"));

// a spawn checks GitHub and origin first (once a minute per process): answered here, locally
const github = await startRepositoryAnswer("acme/bench");
const home = join(root, "home");
const worktrees = join(root, "worktrees");
const env = { ...process.env, PW_HOME: home, PW_WORKTREES_ROOT: worktrees, ...github.env };
const paths = resolvePaths(env);
const store = new SqliteWorkerStore(paths.storeFile);
const ctx = await openRepoContext(repo, paths, env);
// the pipeline takes the asynchronous port; the bench resets the file through the engine directly
const deps = { store: new SqliteAsyncWorkerStore(store), paths, logger: silentLogger(), env, github: githubAccessFromEnv(env), preflights: new Map() };

let counter = 0;
const rawPath = (i) => join(worktrees, "raw", `t${i}`);

function resetRepo() {
  rmSync(worktrees, { recursive: true, force: true });
  git(repo, "worktree", "prune");
  for (const ref of git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split("\n").filter(Boolean)) {
    if (ref !== "main") git(repo, "branch", "-D", ref);
  }
  for (const w of store.listWorkers()) store.removeWorker(w.id);
}

const rawOne = () => {
  const i = counter++;
  mkdirSync(join(worktrees, "raw"), { recursive: true });
  git(repo, "worktree", "add", "--quiet", "--no-track", "-b", `raw/t${i}`, rawPath(i), "main");
};
const pwOne = () => spawnWorkers(deps, ctx, [{ taskId: `T-${counter++}`, description: "bench", agent: "code-author", baseBranch: "main" }]);
const rawTen = () => {
  mkdirSync(join(worktrees, "raw"), { recursive: true });
  const lines = Array.from({ length: 10 }, () => {
    const i = counter++;
    return `raw/t${i} ${rawPath(i)}`;
  }).join("\n");
  const result = spawnSync("xargs", ["-P5", "-n2", "sh", "-c", 'git worktree add --quiet --no-track -b "$0" "$1" main'], {
    cwd: repo,
    input: `${lines}\n`,
  });
  if (result.status !== 0) {
    throw Object.assign(new Error(`xargs failed: ${result.stderr}`), { race: isWorktreeRace(String(result.stderr)) });
  }
};
/** Baseline rounds timed again because raw git met its own race between simultaneous worktree adds (pw retries it). */
let baselineRedone = 0;
const pwTen = () =>
  spawnWorkers(
    deps,
    ctx,
    Array.from({ length: 10 }, () => ({ taskId: `T-${counter++}`, description: "bench", agent: "code-author", baseBranch: "main" })),
  );
// not spawnSync: this process answers the spawn's questions to GitHub meanwhile
const cliOne = () =>
  new Promise((resolve, reject) => {
    execFile(process.execPath, [PW_BIN, "worker", "spawn", "--task-id", `T-${counter++}`, "--description", "bench"], { cwd: repo, env }, (error, _out, stderr) =>
      error ? reject(new Error(`pw worker spawn failed: ${stderr}`)) : resolve(),
    );
  });

/** Alternates baseline and candidate, resetting the repository before each, and keeps every sample. */
async function compare(name, baseline, candidate) {
  const a = [];
  const b = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (;;) {
      resetRepo();
      try {
        a.push(await time(baseline));
        break;
      } catch (error) {
        if (!error.race) throw error;
        baselineRedone++;
      }
    }
    resetRepo();
    b.push(await time(candidate));
  }
  const ma = median(a);
  const mb = median(b);
  return { name, baseline: ma, candidate: mb, ratio: mb / ma };
}

// warm the file cache and both code paths once
resetRepo();
rawOne();
resetRepo();
await pwOne();

const results = [
  await compare("1 worker: spawnWorkers vs git worktree add", rawOne, pwOne),
  await compare("10 workers: spawnWorkers (5 at once) vs xargs -P5 git worktree add", rawTen, pwTen),
  await compare("1 worker: `pw worker spawn` process vs git worktree add (incl. Node start-up)", rawOne, cliOne),
];
resetRepo();
store.close();
await github.close();
rmSync(root, { recursive: true, force: true });

console.log(`spawn overhead: ${FILES} files in the repository, median of ${ROUNDS} alternating rounds`);
console.log("case".padEnd(82), "baseline ms".padStart(12), "pw ms".padStart(9), "ratio".padStart(7));
for (const r of results) {
  console.log(r.name.padEnd(82), r.baseline.toFixed(1).padStart(12), r.candidate.toFixed(1).padStart(9), `${r.ratio.toFixed(2)}x`.padStart(7));
}
console.log("target: the first two at most 1.30x");
if (baselineRedone) console.log(`baseline rounds timed again after raw git failed on its race between simultaneous worktree adds: ${baselineRedone}`);
