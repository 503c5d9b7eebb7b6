import { Command, CommanderError } from "commander";
import { readFileSync } from "node:fs";
import { EXIT_FAILED, EXIT_USAGE, PwError } from "../core/errors.js";
import { registerCompletionCommand } from "./completion.js";
import { CliContext } from "./context.js";
import { registerGateCommands } from "./gate.js";
import { commandPath, finishHelp } from "./help.js";
import { registerInitCommand } from "./init.js";
import { printError } from "./output.js";
import { registerPoolCommands } from "./pool.js";
import { registerRunnersCommand } from "./runners.js";
import { registerServeCommands } from "./serve.js";
import { registerStateCommands } from "./state.js";
import { registerLoopCommand, registerWorkerCommands } from "./worker.js";
import { registerWorktreeCommands } from "./worktree.js";

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/**
 * Commands that talk to GitHub, by path: their GitHub variables are checked before they start,
 * and those that do nothing without GitHub also need credentials. `--wait` makes any command a
 * runner. `serve` checks its own, after reading .env.
 */
const GITHUB_USE: Readonly<Record<string, "may use" | "needs">> = { loop: "may use", "worker submit": "needs", reconcile: "needs" };

export function buildProgram(ctx: CliContext): Command {
  const program = new Command("pw")
    .description("run coding-agent workers in parallel git worktrees, each ending as a pull request")
    .version(packageVersion())
    .option("--verbose", "show stack traces on errors")
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text.startsWith("error:") ? `pw: ${text}` : text) });
  registerInitCommand(program);
  registerWorkerCommands(program, ctx);
  registerStateCommands(program, ctx);
  registerWorktreeCommands(program, ctx);
  registerPoolCommands(program, ctx);
  registerLoopCommand(program, ctx);
  registerRunnersCommand(program, ctx);
  registerGateCommands(program, ctx);
  registerServeCommands(program, ctx);
  registerCompletionCommand(program);
  // after every command exists: examples, "(required)" marks, and completion sees them all
  finishHelp(program);
  program.hook("preAction", async (_program, action) => {
    if (action.name() === "completion") return;
    ctx.checkEnvironment();
    const use = GITHUB_USE[commandPath(action)] ?? (action.opts().wait ? "may use" : undefined);
    if (use) await ctx.checkGitHubEnvironment({ credentials: use === "needs" });
  });
  return program;
}

/**
 * `pw help worker spawn` is `pw worker spawn --help`: commander's help command reads one name
 * only, and would show the help of `worker`. Left alone unless the words name a command.
 */
function helpAsOption(program: Command, argv: string[]): string[] {
  const [node, script, first, ...names] = argv;
  if (first !== "help" || names.length < 2) return argv;
  let command: Command | undefined = program;
  for (const name of names) command = command?.commands.find((c) => c.name() === name);
  return command ? [node!, script!, ...names, "--help"] : argv;
}

/** Runs one CLI invocation and returns its exit code; never throws. */
export async function runCli(argv: string[]): Promise<number> {
  const ctx = new CliContext();
  const verbose = argv.includes("--verbose");
  try {
    const program = buildProgram(ctx);
    await program.parseAsync(helpAsOption(program, argv));
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has already printed its one line (or the help text)
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return 0;
      // help shown because a command is missing (`pw`, `pw worker`) is a usage error; asked for, it is not
      if (error.code === "commander.help") return error.exitCode === 0 ? 0 : EXIT_USAGE;
      return EXIT_USAGE;
    }
    if (error instanceof PwError) {
      printError(verbose && error.stack ? error.stack : error.message);
      return error.exitCode;
    }
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    printError(verbose && error instanceof Error && error.stack ? error.stack : `unexpected error: ${message}`);
    return EXIT_FAILED;
  } finally {
    await ctx.close();
  }
}
