#!/usr/bin/env node
// CLI start-up, whole processes, in alternating rounds so the machine's drift hits both sides
// alike (the median wall time, and on Linux the mean CPU time, user + system from /proc):
// 1. the short read commands (`pw state get`, `pw worker list`) against `node -e ""`, the least a
//    Node program costs (target: at most 2x), and `pw state list` over a store of 10,000 workers;
// 2. `pw --help` and `pw state history` (the whole program) with Node's module compile cache (what
//    src/cli/main.ts enables) against the same with it disabled (NODE_DISABLE_COMPILE_CACHE=1).
// Runs the BUILT CLI: `npm run build && node bench/cli-start.mjs`. Options: --runs N (rounds,
// default 15), --workers N (the large store, default 10000).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { numberOption } from "./options.mjs";

const runs = Math.round(numberOption("runs", 15));
const manyWorkers = Math.round(numberOption("workers", 10_000));
const cli = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
if (!existsSync(cli)) {
  console.error("bench: dist/cli/main.js is missing: run `npm run build` first");
  process.exit(1);
}

const scratch = mkdtempSync(join(tmpdir(), "pw-bench-start-"));
// its own cache directory (through TMPDIR, as a user's would be) and a store of a few workers
const baseEnv = { ...process.env, TMPDIR: scratch, PW_HOME: join(scratch, "home") };
delete baseEnv.NODE_COMPILE_CACHE;
delete baseEnv.NODE_DISABLE_COMPILE_CACHE;
// variables the program would check first (and a LOG_LEVEL makes it do so): as a fresh shell has them
for (const name of ["LOG_LEVEL", "PW_PHASE", "PW_LOG_FORMAT", "LOKI_URL", "LOKI_USERNAME", "LOKI_PASSWORD", "LOKI_TENANT", "PW_WORKTREES_ROOT"]) delete baseEnv[name];
const bigEnv = { ...baseEnv, PW_HOME: join(scratch, "big") };

const { SqliteWorkerStore } = await import(new URL("../dist/store/sqlite.js", import.meta.url));
/** A store of `count` workers spread over the states, as months of use leave it. */
function fillStore(home, count) {
  const store = new SqliteWorkerStore(join(home, "state.db"));
  const states = ["PR_OPEN", "MERGED", "MERGED", "MERGED", "UNKNOWN", "ABANDONED", "NEEDS_INIT", "WORKING"];
  for (let i = 0; i < count; i++) {
    const id = `worker-${i.toString(36).padStart(6, "0")}`;
    store.createWorker(
      {
        id,
        state: states[i % states.length],
        taskId: `TASK-${i}`,
        repo: "acme/web",
        branch: `feature/task-${i}`,
        baseBranch: "main",
        description: `task number ${i}, as a person would describe it`,
        agent: "code-author",
        labels: ["area:web"],
        ...(i % 8 === 0 ? { prNumber: i, prUrl: `https://github.com/acme/web/pull/${i}` } : {}),
        ...(i % 8 === 4 ? { error: "agent made no changes" } : {}),
      },
      { source: "cli" },
    );
  }
  store.close();
}
fillStore(baseEnv.PW_HOME, 12);
fillStore(bigEnv.PW_HOME, manyWorkers);

/** CPU seconds of this process's waited-for children (cutime + cstime), or undefined off Linux. */
function childrenCpuMs() {
  try {
    // fields after the command name; cutime and cstime are the 16th and 17th of the line
    const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ");
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** One whole process of `argv` (node's own arguments first); its wall and CPU time. */
function timeProcess(argv, env) {
  const cpuBefore = childrenCpuMs();
  const started = performance.now();
  const result = spawnSync(process.execPath, argv, { env, stdio: ["ignore", "ignore", "pipe"] });
  const elapsed = performance.now() - started;
  if (result.status !== 0) throw new Error(`${argv.join(" ")} exited ${result.status}: ${result.stderr}`);
  const cpuAfter = childrenCpuMs();
  return { wall: elapsed, cpu: cpuBefore === undefined ? undefined : cpuAfter - cpuBefore };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const mean = (list) => (list[0].cpu === undefined ? undefined : list.reduce((sum, run) => sum + run.cpu, 0) / list.length);
const cpuText = (ms) => (ms === undefined ? "" : `, ${ms.toFixed(0)} ms CPU`);
const cell = (list) => `${median(list.map((run) => run.wall)).toFixed(0).padStart(4)} ms${cpuText(mean(list))}`.padEnd(22);

/** Runs `baseline` and `candidate` (each `[argv, env]`) in alternating rounds; prints a line, returns the wall ratio. */
function compare(name, baseline, candidate) {
  timeProcess(...baseline);
  timeProcess(...candidate); // fills the compile cache, as the first run after an install does
  const a = [];
  const b = [];
  for (let round = 0; round < runs; round++) {
    a.push(timeProcess(...baseline));
    b.push(timeProcess(...candidate));
  }
  const wallRatio = median(b.map((run, i) => run.wall / a[i].wall));
  const [cpuA, cpuB] = [mean(a), mean(b)];
  const cpuRatio = cpuA && cpuB !== undefined ? `, ${(cpuB / cpuA).toFixed(2)}x` : "";
  console.log(`${name.padEnd(36)} ${cell(a)}${cell(b)}${wallRatio.toFixed(2)}x${cpuRatio}`);
  return wallRatio;
}

const uncached = (env) => ({ ...env, NODE_DISABLE_COMPILE_CACHE: "1" });
try {
  const emptyNode = [["-e", ""], baseEnv];
  console.log(`node ${process.version}, ${runs} alternating rounds each: median wall time, mean CPU time of a whole process`);
  console.log("");
  console.log(`${"command".padEnd(37)}${'node -e ""'.padEnd(22)}${"pw".padEnd(22)}pw / node (wall, CPU)`);
  const short = [
    compare("pw state get ID", emptyNode, [[cli, "state", "get", "worker-000001"], baseEnv]),
    compare("pw worker list", emptyNode, [[cli, "worker", "list"], baseEnv]),
  ];
  console.log(`target: the two above at most 2x (${short.every((r) => r <= 2) ? "met" : "NOT met"} in this run)`);
  compare(`pw state list (${manyWorkers} workers)`, emptyNode, [[cli, "state", "list"], bigEnv]);
  compare(`pw state list --json (${manyWorkers})`, emptyNode, [[cli, "state", "list", "--json"], bigEnv]);
  compare(`pw worker list (${manyWorkers} workers)`, emptyNode, [[cli, "worker", "list"], bigEnv]);

  console.log("");
  console.log(`${"command".padEnd(37)}${"no cache".padEnd(22)}${"compile cache".padEnd(22)}cached / uncached (wall, CPU)`);
  for (const args of [["--help"], ["state", "history", "worker-000001"]]) {
    compare(`pw ${args.join(" ")}`, [[cli, ...args], uncached(baseEnv)], [[cli, ...args], baseEnv]);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
