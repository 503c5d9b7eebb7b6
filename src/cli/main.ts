#!/usr/bin/env node
import { readFileSync } from "node:fs";
import module from "node:module";
import { nodeVersionProblem } from "./node-version.js";

const { engines } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { engines: { node: string } };
const tooOld = nodeVersionProblem(process.versions.node, engines.node);
if (tooOld) {
  process.stderr.write(`pw: ${tooOld}\n`);
  process.exit(1);
}

// Node keeps the compiled code of the CLI and its dependencies on disk, so the next start is
// faster; the program is imported only after that, or the cache would miss it.
module.enableCompileCache();
const { runCli } = await import("./program.js");

process.exitCode = await runCli(process.argv);
