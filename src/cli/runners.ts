import type { Command } from "commander";
import type { CliContext } from "./context.js";
import { printJson } from "./output.js";
import { printRunners, runnerJson } from "./runners-view.js";
import { parseStaleAfter, staleAfterOption } from "./worker.js";

/** `pw runners`: every runner the store knows, how long ago each was heard from, and the workers it holds. */
export function registerRunnersCommand(program: Command, ctx: CliContext): void {
  program
    .command("runners")
    .description("list the runners that share this store: host, repositories, heartbeat age, workers held, stale or live")
    .addOption(staleAfterOption("a runner not heard from for this long is stale"))
    .option("--json", "print a JSON array (id, host, repositories, startedAt, heartbeatAt, heartbeatAgeMs, stale, workers)")
    .action(async (opts: { staleAfter: string; json?: boolean }) => {
      const staleAfterMs = parseStaleAfter(opts.staleAfter);
      const runners = await ctx.store.listRunners(staleAfterMs);
      if (opts.json) printJson(runners.map(runnerJson));
      else printRunners(runners, staleAfterMs);
    });
}
