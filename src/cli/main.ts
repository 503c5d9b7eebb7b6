#!/usr/bin/env node
import { enableCompileCache } from "node:module";

// Node keeps the compiled code of the CLI and its dependencies on disk, so the next start is
// faster; the program is imported only after that, or the cache would miss it.
enableCompileCache();
const { runCli } = await import("./program.js");

process.exitCode = await runCli(process.argv);
