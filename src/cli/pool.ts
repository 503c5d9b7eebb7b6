import type { Command } from "commander";
import { formatDuration } from "../core/duration.js";
import { InvalidInputError, PwError } from "../core/errors.js";
import type { Spare } from "../core/spare.js";
import type { CliContext } from "./context.js";
import { print, printJson, printTable } from "./output.js";

/** The pool's modules pull in git and process handling: loaded only when a pool command runs. */
async function poolOf(ctx: CliContext, dir: string | undefined, role: string) {
  const [{ openRepoContext }, { WarmPool }, { processOwner }] = await Promise.all([
    import("../runner/context.js"),
    import("../runner/pool.js"),
    import("../runner/owners.js"),
  ]);
  const repo = await openRepoContext(dir ?? process.cwd(), ctx.paths);
  return new WarmPool(ctx.pipelineDeps(), repo, processOwner(role));
}

function shortBase(spare: Spare): string {
  return spare.baseBranch ? `${spare.baseBranch} ${spare.baseCommit?.slice(0, 10) ?? ""}`.trim() : "-";
}

function printSpares(spares: Spare[], stale: readonly string[]): void {
  if (spares.length === 0) return;
  printTable(
    ["SPARE", "STATE", "PORT", "BASE", "AGE", "PATH"],
    spares.map((s) => [
      s.id,
      stale.includes(s.id) ? `${s.state} (stale)` : s.state,
      s.port === null ? "-" : String(s.port),
      shortBase(s),
      formatDuration(Date.now() - Date.parse(s.createdAt)),
      s.note ? `${s.path}  ${s.note}` : s.path,
    ]),
  );
}

export function registerPoolCommands(program: Command, ctx: CliContext): void {
  const pool = program
    .command("pool")
    .description("the warm pool: spare worktrees, checked out and set up, that spawns take (pool: { size: N } turns it on)");
  const repoOption = ["--repo <dir>", "the git repository (default: the current directory's)"] as const;

  pool
    .command("status")
    .description("the spare worktrees of a repository and what each is doing")
    .option(...repoOption)
    .option("--json", "print JSON")
    .action(async (opts: { repo?: string; json?: boolean }) => {
      const warm = await poolOf(ctx, opts.repo, "pool-status");
      const status = await warm.status();
      const ready = status.spares.filter((s) => s.state === "ready").length;
      if (opts.json) return printJson({ ...status, base: status.base ?? null, ready });
      const base = status.base ? `, base ${status.base.branch} (${status.base.commit.slice(0, 10)})` : "";
      print(`pool of ${status.repoPath}: ${ready} of ${status.size} ready${base}`);
      if (status.size === 0 && status.spares.length === 0) print("the pool is off: set pool: { size: 2 } in .parallel-workers.yml");
      printSpares(status.spares, status.stale);
    });

  pool
    .command("fill")
    .description("make spare worktrees now, until the pool holds its size (a runner keeps it filled by itself)")
    .option(...repoOption)
    .action(async (opts: { repo?: string }) => {
      const warm = await poolOf(ctx, opts.repo, "pool-fill");
      const size = warm.ctx.config.pool.size;
      if (size === 0) throw new InvalidInputError("the pool is off (pool.size is 0): set pool: { size: 2 } in .parallel-workers.yml");
      for (const id of await warm.tidy()) print(`removed ${id}: left half-made by a process that is gone`);
      const base = await warm.base();
      if (!base) throw new PwError(`cannot tell which branch spares start from in ${warm.ctx.repo.root}: check out a branch`);
      const live = async () => (await warm.spares()).filter((s) => s.state === "ready" || (s.state === "filling" && !warm.isStale(s))).length;
      while ((await live()) < size) {
        let made: Spare | undefined;
        try {
          made = await warm.fillOne(base);
        } catch (error) {
          throw new PwError(`a spare worktree could not be made: ${(error as Error).message.split("\n")[0]}`);
        }
        if (!made) throw new PwError("a spare worktree was removed while it was made (`pw pool drain`?)");
        print(`made ${made.id} at ${base.branch} (${base.commit.slice(0, 10)}), port ${made.port ?? "-"}: ${made.path}`);
      }
      const ready = (await warm.spares()).filter((s) => s.state === "ready").length;
      print(`pool of ${warm.ctx.repo.root}: ${ready} of ${size} ready`);
    });

  pool
    .command("drain")
    .description("remove every spare worktree that is not being made right now (dirty ones too)")
    .option(...repoOption)
    .action(async (opts: { repo?: string }) => {
      const warm = await poolOf(ctx, opts.repo, "pool-drain");
      const before = new Map((await warm.spares()).map((s) => [s.id, s]));
      const { removed, busy } = await warm.drain();
      for (const id of removed) print(`removed ${id}${before.get(id) ? ` (${before.get(id)!.path})` : ""}`);
      for (const id of busy) print(`left ${id}: ${before.get(id)?.state ?? "busy"} by ${before.get(id)?.owner ?? "another process"}`);
      if (removed.length === 0 && busy.length === 0) print("no spare worktrees to remove");
      if (warm.ctx.config.pool.size > 0) print(`a runner fills the pool again (pool.size is ${warm.ctx.config.pool.size}); set it to 0 to keep it empty`);
    });
}
