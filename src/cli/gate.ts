import type { Command } from "commander";
import { PwError } from "../core/errors.js";
import { parseWorkerId } from "../core/names.js";
import type { CliContext } from "./context.js";
import { print, printJson } from "./output.js";

export function registerGateCommands(program: Command, ctx: CliContext): void {
  const gate = program.command("gate").description("the pre-merge gates: security-gate and phase-5-to-6");

  gate
    .command("init")
    .description("write the default gate files to .parallel-workers/gates/ for you to adjust")
    .option("--repo <dir>", "the git repository (default: the current directory's)")
    .option("--force", "replace gate files that exist")
    .action(async (opts: { repo?: string; force?: boolean }) => {
      const [{ Repository }, { initGates }] = await Promise.all([import("../git/repo.js"), import("../gates/index.js")]);
      const repo = await Repository.open(opts.repo ?? process.cwd());
      for (const written of initGates(repo.root, { force: opts.force ?? false })) {
        print(`${written.replaced ? "replaced" : "wrote"} ${written.path}`);
      }
    });

  gate
    .command("check")
    .description("run the gates on a worker's change against its base, as before a push; exit 1 on a blocking failure")
    .argument("<id>", "worker id")
    .option("--json", "print the results as JSON (secrets only as 4-character previews)")
    .action(async (id: string, opts: { json?: boolean }) => {
      const worker = await ctx.store.requireWorker(parseWorkerId(id));
      if (!worker.repoPath || !worker.worktreePath) throw new PwError(`worker ${worker.id} has no worktree to check yet`);
      const [{ Repository }, gates] = await Promise.all([import("../git/repo.js"), import("../runner/gates.js")]);
      const results = await gates.evaluateWorkerGates(await Repository.open(worker.repoPath), worker);
      if (opts.json) printJson(results);
      else for (const result of results) print(gates.formatGateResult(result));
      if (results.some((r) => r.blocking)) ctx.exitCode = 1;
    });
}
