#!/usr/bin/env node
// CLI start-up: `pw --help` and `pw state list` with Node's module compile cache (what
// src/cli/main.ts enables) against the same commands with it disabled (NODE_DISABLE_COMPILE_CACHE=1),
// in alternating rounds so the machine's drift hits both alike. Runs the BUILT CLI:
// `npm run build && node bench/cli-start.mjs`. Options: --runs N (rounds, default 15).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
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

function timeOnce(args, cached) {
  const env = cached ? baseEnv : { ...baseEnv, NODE_DISABLE_COMPILE_CACHE: "1" };
  const started = performance.now();
  const result = spawnSync(process.execPath, [cli, ...args], { env, stdio: ["ignore", "ignore", "pipe"] });
  const elapsed = performance.now() - started;
  if (result.status !== 0) throw new Error(`pw ${args.join(" ")} exited ${result.status}: ${result.stderr}`);
  return elapsed;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

try {
  console.log(`node ${process.version}, ${runs} alternating rounds each (median wall time of a whole process)`);
  console.log("command          no cache    compile cache   cached / uncached");
  for (const args of [["--help"], ["state", "list"]]) {
    timeOnce(args, true); // fills the cache, as the first run after an install does
    timeOnce(args, false);
    const cold = [];
    const warm = [];
    for (let round = 0; round < runs; round++) {
      cold.push(timeOnce(args, false));
      warm.push(timeOnce(args, true));
    }
    const ratio = median(warm.map((ms, i) => ms / cold[i]));
    console.log(`${`pw ${args.join(" ")}`.padEnd(16)} ${median(cold).toFixed(0).padStart(5)} ms    ${median(warm).toFixed(0).padStart(8)} ms     ${ratio.toFixed(2)}x`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
