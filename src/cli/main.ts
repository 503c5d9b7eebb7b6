#!/usr/bin/env node
import { runCli } from "./program.js";

// `pw worker list | head -1`: the reader is gone, so stop quietly as a Unix tool would on
// SIGPIPE (Node ignores that signal and would crash on the write error instead).
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(process.exitCode ?? 0);
  });
}

process.exitCode = await runCli(process.argv);
