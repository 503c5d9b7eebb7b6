import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * A runnable JavaScript copy of src/core and src/log in a temporary directory whose
 * node_modules points at the project's, so a plain `node` child process can import the logger
 * without a build. Returns the directory; `log/logger.js` is in it.
 */
export function buildLogModules(): string {
  const out = mkdtempSync(join(tmpdir(), "pw-log-child-"));
  for (const folder of ["core", "log"]) {
    mkdirSync(join(out, folder));
    for (const name of readdirSync(join(ROOT, "src", folder)).filter((file) => file.endsWith(".ts"))) {
      const source = readFileSync(join(ROOT, "src", folder, name), "utf8");
      const { outputText } = ts.transpileModule(source, {
        compilerOptions: {
          module: ts.ModuleKind.ESNext,
          target: ts.ScriptTarget.ES2022,
          verbatimModuleSyntax: true,
        },
        fileName: name,
      });
      writeFileSync(join(out, folder, name.replace(/\.ts$/, ".js")), outputText);
    }
  }
  writeFileSync(join(out, "package.json"), JSON.stringify({ type: "module" }));
  symlinkSync(join(ROOT, "node_modules"), join(out, "node_modules"), "dir");
  return out;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** Runs `script` (an ES module) with node in `cwd`; kills it after `killAfterMs`. */
export function runNode(cwd: string, script: string, env: NodeJS.ProcessEnv, killAfterMs = 15_000): Promise<ChildResult> {
  const file = join(cwd, `script-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, script);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [file], { cwd, env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, elapsedMs: performance.now() - started });
    });
  });
}
