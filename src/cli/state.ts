import type { Command } from "commander";
import { NotFoundError } from "../core/errors.js";
import { parseWorkerId } from "../core/names.js";
import { parseState } from "../core/state-input.js";
import type { CliContext } from "./context.js";
import { print, printJson } from "./output.js";
import { printHistory, printWorkers } from "./views.js";

export function registerStateCommands(program: Command, ctx: CliContext): void {
  const state = program.command("state").description("read and move worker states (the administrator's view)");

  state
    .command("get")
    .description("print a worker's state")
    .argument("<id>", "worker id, like worker-a1b2c3")
    .option("--json", "print the worker as JSON")
    .action(async (id: string, opts: { json?: boolean }) => {
      const worker = await ctx.store.requireWorker(parseWorkerId(id));
      if (opts.json) printJson(worker);
      else print(worker.state);
    });

  state
    .command("set")
    .description("override a worker's state (creates the record when missing; recorded in history)")
    .argument("<id>", "worker id")
    .argument("<state>", "new state")
    .action(async (id: string, name: string) => {
      const workerId = parseWorkerId(id);
      const to = parseState(name);
      const before = await ctx.store.getWorker(workerId);
      await ctx.store.setState(workerId, to, { source: "admin", correlationId: ctx.correlationId, detail: "pw state set" });
      print(before ? `${workerId}: ${before.state} -> ${to} (override)` : `${workerId}: created in ${to}`);
    });

  state
    .command("list")
    .description("list workers")
    .option("--state <state>", "only workers in this state")
    .option("--json", "print a JSON array")
    .action(async (opts: { state?: string; json?: boolean }) => {
      const filter = opts.state === undefined ? {} : { state: parseState(opts.state) };
      const workers = await ctx.store.listWorkers(filter);
      if (opts.json) printJson(workers);
      else printWorkers(workers);
    });

  state
    .command("remove")
    .description("delete a worker's record and history (its worktree is left alone)")
    .argument("<id>", "worker id")
    .action(async (id: string) => {
      const workerId = parseWorkerId(id);
      if (!(await ctx.store.removeWorker(workerId))) throw new NotFoundError(`no worker ${workerId}: see \`pw worker list\``);
      print(`removed ${workerId}`);
    });

  state
    .command("transition")
    .description("move a worker FROM -> TO, only if it is in FROM now and the move is legal")
    .argument("<id>", "worker id")
    .argument("<from>", "the state it must be in now")
    .argument("<to>", "the state to move to")
    .action(async (id: string, fromName: string, toName: string) => {
      const workerId = parseWorkerId(id);
      const from = parseState(fromName);
      const to = parseState(toName);
      await ctx.store.transition(workerId, from, to, { source: "cli", correlationId: ctx.correlationId });
      print(`${workerId}: ${from} -> ${to}`);
    });

  state
    .command("history")
    .description("show a worker's transitions, oldest first")
    .argument("<id>", "worker id")
    .option("--json", "print a JSON array")
    .action(async (id: string, opts: { json?: boolean }) => {
      const workerId = parseWorkerId(id);
      await ctx.store.requireWorker(workerId);
      const history = await ctx.store.history(workerId);
      if (opts.json) printJson(history);
      else printHistory(history);
    });
}
