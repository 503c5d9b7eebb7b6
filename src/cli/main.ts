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

// `pw worker list | head -1`: the reader is gone, so stop quietly as a Unix tool would on
// SIGPIPE (Node ignores that signal and would crash on the write error instead).
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(process.exitCode ?? 0);
  });
}

// the read commands run most often are answered without loading the whole program
const { answerQuickly } = await import("./fast.js");
if (!answerQuickly(process.argv.slice(2), process.env)) {
  const { runCli } = await import("./program.js");
  process.exitCode = await runCli(process.argv);
}
