#!/usr/bin/env node
// CLI start-up: `pw --help` and `pw state list` with Node's module compile cache (what
// src/cli/main.ts enables) against the same commands with it disabled (NODE_DISABLE_COMPILE_CACHE=1),
// in alternating rounds so the machine's drift hits both alike: the median wall time, and on
// Linux the mean CPU time (user + system, from /proc) of each process. Runs the BUILT CLI:
// `npm run build && node bench/cli-start.mjs`. Options: --runs N (rounds, default 15).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { numberOption } from "./options.mjs";

const runs = Math.round(numberOption("runs", 15));
const cli = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
if (!existsSync(cli)) {
  console.error("bench: dist/cli/main.js is missing: run `npm run build` first");
  process.exit(1);
}

const scratch = mkdtempSync(join(tmpdir(), "pw-bench-start-"));
// its own cache directory (through TMPDIR, as a user's would be) and an empty store
const baseEnv = { ...process.env, TMPDIR: scratch, PW_HOME: join(scratch, "home") };
delete baseEnv.NODE_COMPILE_CACHE;
delete baseEnv.NODE_DISABLE_COMPILE_CACHE;

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

function timeOnce(args, cached) {
  const env = cached ? baseEnv : { ...baseEnv, NODE_DISABLE_COMPILE_CACHE: "1" };
  const cpuBefore = childrenCpuMs();
  const started = performance.now();
  const result = spawnSync(process.execPath, [cli, ...args], { env, stdio: ["ignore", "ignore", "pipe"] });
  const elapsed = performance.now() - started;
  if (result.status !== 0) throw new Error(`pw ${args.join(" ")} exited ${result.status}: ${result.stderr}`);
  const cpuAfter = childrenCpuMs();
  return { wall: elapsed, cpu: cpuBefore === undefined ? undefined : cpuAfter - cpuBefore };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

try {
  console.log(`node ${process.version}, ${runs} alternating rounds each: median wall time, mean CPU time of a whole process`);
  console.log(`${"command".padEnd(17)}${"no cache".padEnd(22)}${"compile cache".padEnd(22)}cached / uncached (wall, CPU)`);
  for (const args of [["--help"], ["state", "list"]]) {
    timeOnce(args, true); // fills the cache, as the first run after an install does
    timeOnce(args, false);
    const cold = [];
    const warm = [];
    for (let round = 0; round < runs; round++) {
      cold.push(timeOnce(args, false));
      warm.push(timeOnce(args, true));
    }
    const wallRatio = median(warm.map((run, i) => run.wall / cold[i].wall));
    const mean = (list) => (list[0].cpu === undefined ? undefined : list.reduce((sum, run) => sum + run.cpu, 0) / list.length);
    const [coldCpu, warmCpu] = [mean(cold), mean(warm)];
    const cpuText = (ms) => (ms === undefined ? "" : `, ${ms.toFixed(0)} ms CPU`);
    const cell = (list, cpu) => `${median(list.map((run) => run.wall)).toFixed(0).padStart(4)} ms${cpuText(cpu)}`.padEnd(22);
    const cpuRatio = coldCpu && warmCpu !== undefined ? `, ${(warmCpu / coldCpu).toFixed(2)}x` : "";
    console.log(`${`pw ${args.join(" ")}`.padEnd(16)} ${cell(cold, coldCpu)}${cell(warm, warmCpu)}${wallRatio.toFixed(2)}x${cpuRatio}`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
