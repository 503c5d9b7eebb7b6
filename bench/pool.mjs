#!/usr/bin/env node
// The warm pool against a fresh checkout: on a generated repository (20,000 files by default)
// whose setup takes about a second, a spawn that takes a spare (switch, clean, move) and what the
// runner then does before the agent (bring files along, see that setup is done), against raw
// `git worktree add` plus the same setup, alternating, in one run. Target: at most 0.10x.
// Also: the same when the base moved by a commit that touches no lockfile, and a spawn with the
// pool off (worktree add through pw, then setup) for reference. Runs the built code.
//
//   node bench/pool.mjs [--files N] [--rounds R] [--setup-ms MS]
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { startRepositoryAnswer } from "./github-answer.mjs";
import { numberOption } from "./options.mjs";

const dist = new URL("../dist/", import.meta.url);
const { resolvePaths } = await import(new URL("config.js", dist));
const { SqliteWorkerStore } = await import(new URL("store/sqlite.js", dist));
const { SqliteAsyncWorkerStore } = await import(new URL("store/sqlite-async.js", dist));
const { openRepoContext } = await import(new URL("runner/context.js", dist));
const { spawnWorkers } = await import(new URL("runner/operations.js", dist));
const { WarmPool } = await import(new URL("runner/pool.js", dist));
const { bringAlong } = await import(new URL("runner/bring-along.js", dist));
const { runSetup } = await import(new URL("runner/setup.js", dist));
const { isSetupDone } = await import(new URL("git/worktree-state.js", dist));
const { githubAccessFromEnv } = await import(new URL("github/access.js", dist));
const { silentLogger } = await import(new URL("log/logger.js", dist));

const FILES = numberOption("files", 20_000);
const ROUNDS = numberOption("rounds", 7);
const SETUP_MS = numberOption("setup-ms", 1000);

const git = (cwd, ...argv) => execFileSync("git", argv, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = async (fn) => {
  const start = performance.now();
  await fn();
  return performance.now() - start;
};

const root = mkdtempSync(join(tmpdir(), "pw-bench-pool-"));
const repo = join(root, "repo");
mkdirSync(repo);
git(root, "init", "--quiet", "--bare", "-b", "main", join(root, "origin.git"));
git(repo, "init", "--quiet", "-b", "main");
const line = "export const value = computeSomething(input, options); // a line of ordinary source\n";
for (let i = 0; i < FILES; i++) {
  const dir = join(repo, "src", `module${i % 100}`, `part${i % 9}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `file${i}.ts`), line.repeat(10 + (i % 30)));
}
// setup as `npm ci` would be: reads the lockfile, takes its time, fills an ignored directory
const setupScript = join(root, "install.mjs");
writeFileSync(
  setupScript,
  `import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
   await new Promise((r) => setTimeout(r, ${SETUP_MS}));
   const lock = readFileSync("package-lock.json", "utf8");
   for (let i = 0; i < 300; i++) { mkdirSync("node_modules/pkg" + i, { recursive: true }); writeFileSync("node_modules/pkg" + i + "/index.js", lock); }\n`,
);
writeFileSync(join(repo, "package-lock.json"), '{ "lockfileVersion": 3 }\n');
writeFileSync(join(repo, ".gitignore"), "node_modules/\n");
writeFileSync(
  join(repo, ".parallel-workers.yml"),
  `github:\n  repository: acme/bench\npool: { size: 1 }\nsetup: [[${JSON.stringify(process.execPath)}, ${JSON.stringify(setupScript)}]]\n`,
);
git(repo, "add", "-A");
const commit = (message) => git(repo, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "--quiet", "-m", message);
commit("initial");
git(repo, "remote", "add", "origin", join(root, "origin.git"));
git(repo, "push", "--quiet", "origin", "main");

const github = await startRepositoryAnswer("acme/bench");
const home = join(root, "home");
const worktrees = join(root, "worktrees");
const env = { ...process.env, PW_HOME: home, PW_WORKTREES_ROOT: worktrees, ...github.env };
const paths = resolvePaths(env);
const store = new SqliteWorkerStore(paths.storeFile);
const ctx = await openRepoContext(repo, paths, env);
// the pipeline takes the asynchronous port; the bench resets the file through the engine directly
const deps = { store: new SqliteAsyncWorkerStore(store), paths, logger: silentLogger(), env, github: githubAccessFromEnv(env), preflights: new Map() };
const pool = new WarmPool(deps, ctx, `${process.pid}:bench`);
const setupCommand = [process.execPath, setupScript];

let counter = 0;

function resetRepo() {
  for (const w of store.listWorkers()) store.removeWorker(w.id);
  for (const s of store.listSpares()) store.removeSpare(s.id);
  rmSync(worktrees, { recursive: true, force: true });
  git(repo, "worktree", "prune");
  for (const ref of git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split("\n").filter(Boolean)) {
    if (ref !== "main") git(repo, "branch", "-D", ref);
  }
}

/** The baseline: a checkout of its own, then the setup, as a script around git would do it. */
const rawOne = () => {
  const i = counter++;
  const path = join(worktrees, "raw", `t${i}`);
  mkdirSync(join(worktrees, "raw"), { recursive: true });
  git(repo, "worktree", "add", "--quiet", "--no-track", "-b", `raw/t${i}`, path, "main");
  const setup = spawnSync(setupCommand[0], setupCommand.slice(1), { cwd: path });
  if (setup.status !== 0) throw new Error(`setup failed: ${setup.stderr}`);
};

/** A spawn, then what the runner does before the agent: the worktree ready to work in. */
async function spawnReady(expectWarm) {
  const [worker] = await spawnWorkers(deps, ctx, [{ taskId: `T-${counter++}`, description: "bench", agent: "code-author", baseBranch: "main" }]);
  const path = worker.worktreePath;
  await bringAlong(ctx.repo, ctx.config, path);
  if (!isSetupDone(path)) {
    if (expectWarm) throw new Error("a warm spawn found setup not done: the pool did not serve it");
    await runSetup({ repo: ctx.repo, config: ctx.config, path, port: null, parent: env, logFile: join(home, "bench-setup.log") });
  }
}

async function fillOne() {
  const base = await pool.base();
  const made = await pool.fillOne(base);
  if (!made) throw new Error("no spare made");
}

/** Alternates baseline and candidate (the candidate's preparation untimed), and keeps every sample. */
async function compare(name, baseline, prepare, candidate) {
  const a = [];
  const b = [];
  for (let r = 0; r < ROUNDS; r++) {
    resetRepo();
    a.push(await time(baseline));
    resetRepo();
    await prepare();
    b.push(await time(candidate));
  }
  const ratios = a.map((x, i) => b[i] / x);
  return { name, baseline: median(a), candidate: median(b), ratio: median(ratios) };
}

try {
  // warm the file cache and every code path once
  resetRepo();
  rawOne();
  resetRepo();
  await fillOne();
  await spawnReady(true);

  const results = [];
  results.push(await compare("spawn from a warm pool, ready for the agent", rawOne, fillOne, () => spawnReady(true)));
  results.push(
    await compare(
      "the same after the base moved (a commit touching no lockfile)",
      rawOne,
      async () => {
        await fillOne();
        writeFileSync(join(repo, "src", `moved-${counter}.ts`), line);
        git(repo, "add", "-A");
        commit("the base moves");
      },
      () => spawnReady(true),
    ),
  );
  results.push(await compare("spawn with the pool off (pw's worktree add, then setup)", rawOne, async () => {}, async () => {
    ctx.config.pool.size = 0;
    try {
      await spawnReady(false);
    } finally {
      ctx.config.pool.size = 1;
    }
  }));

  console.log(`warm pool: ${FILES} files, a setup of about ${SETUP_MS} ms, median of ${ROUNDS} alternating rounds`);
  console.log("case".padEnd(64), "worktree add + setup ms".padStart(24), "pw ms".padStart(9), "ratio".padStart(7));
  for (const r of results) {
    console.log(r.name.padEnd(64), r.baseline.toFixed(0).padStart(24), r.candidate.toFixed(0).padStart(9), `${r.ratio.toFixed(3)}x`.padStart(7));
  }
  console.log("target: a spawn from the warm pool at most 0.10x");
} finally {
  resetRepo();
  store.close();
  await github.close();
  rmSync(root, { recursive: true, force: true });
}
