/**
 * What `--help` shows beyond commander's defaults: examples under each main command, required
 * options marked "(required)" and named in the usage line, and no "(default: [])" on
 * repeatable options. Applied once to the whole program after every command is registered.
 */
import { Help, type Command, type Option } from "commander";

/** Examples by command path ("" is `pw` itself); each line is a command and, after `#`, why. */
const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  "": [
    "pw init                                 # set this repository up (config, example tasks, gates)",
    'pw worker spawn --task-id TASK-1 --description "Add a login page"   # queue a task',
    "pw loop                                 # start queued workers (Ctrl-C stops)",
    "pw worker list                          # where every worker is",
    "pw worker logs worker-abc123            # what its agent did",
    'eval "$(pw completion bash)"            # tab completion (also zsh, fish)',
  ],
  "worker spawn": [
    'pw worker spawn --task-id TASK-1 --description "Add a login page"',
    'pw worker spawn --task-id TASK-2 --description "Link it from the header" --depends-on TASK-1 --label frontend',
    'pw worker spawn --task-id TASK-3 --description "Fix the README typo" --wait   # run here, wait for the PR',
  ],
  "worker spawn-batch": [
    "pw worker spawn-batch --spec-file .parallel-workers/tasks.example.yml   # queue every task of the file",
    "pw worker spawn-batch --spec-file tasks.yml --wait   # and run them here until their PRs are open",
  ],
  init: ["pw init   # in your repository: .parallel-workers.yml, an example task spec, the gate files"],
  "worker list": ["pw worker list", "pw worker list --state UNKNOWN", "pw worker list --json"],
  "worker get": ["pw worker get worker-abc123", "pw worker get worker-abc123 --json"],
  "worker logs": ["pw worker logs worker-abc123", "pw worker logs worker-abc123 --follow"],
  "worker terminate": ["pw worker terminate worker-abc123", "pw worker terminate worker-abc123 --force   # and drop its unsaved work"],
  "worker cleanup": ["pw worker cleanup                    # worktrees of MERGED workers", "pw worker cleanup --state ABANDONED"],
  "worker retry": ["pw worker retry worker-abc123   # then `pw loop` (or `pw serve`) runs it"],
  "worker submit": ["pw worker submit worker-abc123"],
  "worker rework": [
    "pw worker rework worker-abc123                                 # another round with the feedback waiting",
    'pw worker rework worker-abc123 --message "Also handle empty input"   # and this',
  ],
  "state get": ["pw state get worker-abc123"],
  "state set": ["pw state set worker-abc123 NEEDS_INIT"],
  "state list": ["pw state list --state PR_OPEN --json"],
  "state transition": ["pw state transition worker-abc123 PR_OPEN MERGED"],
  "state history": ["pw state history worker-abc123"],
  "worktree create": ["pw worktree create web TASK-1 main"],
  "worktree list": ["pw worktree list", "pw worktree list web --json"],
  "worktree status": ["pw worktree status web TASK-1"],
  "worktree remove": ["pw worktree remove web TASK-1"],
  "pool status": ["pw pool status", "pw pool status --json"],
  "pool fill": ["pw pool fill   # make the spares now, rather than when a runner next gets to it"],
  "pool drain": ["pw pool drain   # remove every spare (set pool.size to 0 first to keep it empty)"],
  loop: [
    "pw loop                               # run until Ctrl-C",
    "pw loop --until-idle                  # run what can run, print a summary, exit 1 if a worker failed",
    "pw loop --repo ../api --repo ../web   # serve several checkouts",
    "pw loop --log-format json | jq .      # JSON lines",
  ],
  serve: ["pw serve", "PORT=8080 pw serve --repo ../web --log-format json"],
  reconcile: ["pw reconcile", "pw reconcile --json"],
  "gate init": ["pw gate init"],
  "gate check": ["pw gate check worker-abc123"],
  completion: [
    'eval "$(pw completion bash)"                                  # in ~/.bashrc',
    'eval "$(pw completion zsh)"                                   # in ~/.zshrc, after compinit',
    "pw completion fish > ~/.config/fish/completions/pw.fish",
  ],
};

/** Options made required with `requiredOption`, checked after parsing (see `checkRequiredLate`). */
const required = new WeakSet<Option>();

/** The command and every command below it. */
export function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

/** A command's path below the program: "worker spawn"; "" for the program. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

const helpConfiguration = {
  optionDescription(this: Help, option: Option): string {
    // an empty list is the start value of a repeatable option, not a default worth showing
    const text = Help.prototype.optionDescription.call(this, option).replace(" (default: [])", "");
    return required.has(option) ? `${text} (required)` : text;
  },
};

/**
 * commander checks required options before unknown ones, so `--tas-id` would be reported as a
 * missing `--task-id`; the check moves after parsing, where an unknown option has already been
 * reported (with its "Did you mean" suggestion).
 */
function checkRequiredLate(program: Command): void {
  for (const command of allCommands(program)) {
    for (const option of command.options) {
      if (!option.mandatory) continue;
      option.mandatory = false;
      required.add(option);
    }
  }
  program.hook("preAction", (_program, action) => {
    for (const option of action.options) {
      if (required.has(option) && action.getOptionValue(option.attributeName()) === undefined) {
        action.error(`error: required option '${option.flags}' not specified`, { code: "commander.missingMandatoryOptionValue", exitCode: 2 });
      }
    }
  });
}

function examplesText(lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join("\n")}`;
}

/** Adds examples, required-option marks and the help layout to every command of `program`. */
export function finishHelp(program: Command): void {
  checkRequiredLate(program);
  for (const command of allCommands(program)) {
    command.configureHelp(helpConfiguration);
    const marked = command.options.filter((option) => required.has(option));
    // `pw worker spawn --task-id <id> --description <text> [options]`
    if (marked.length > 0) command.usage(`${marked.map((option) => option.flags).join(" ")} ${command.usage()}`);
    const examples = EXAMPLES[commandPath(command)];
    if (examples) command.addHelpText("after", examplesText(examples));
  }
  program.addHelpText("after", "\nRun `pw COMMAND --help` for a command's options and examples, e.g. `pw worker spawn --help`.");
}
