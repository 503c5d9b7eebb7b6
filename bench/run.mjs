#!/usr/bin/env node
// `npm run bench`: every benchmark, one after another (each prints its own measured numbers).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const benches = ["cli-start.mjs", "spawn.mjs", "pool.mjs", "secrets.mjs", "webhooks.mjs", "claims.mjs", "merged.mjs", "rework.mjs", "merge-flow.mjs"];
let failed = false;
for (const name of benches) {
  const file = fileURLToPath(new URL(name, import.meta.url));
  if (!existsSync(file)) continue;
  console.log(`\n== ${name}`);
  const result = spawnSync(process.execPath, [file], { stdio: "inherit" });
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
