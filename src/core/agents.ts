/** Placeholders an agent's command may use; each becomes one whole argv element's part, never a shell word. */
export const PLACEHOLDERS = ["prompt", "task_id", "worker_id", "description", "worktree", "port"] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

/** What a setup command may use: setup prepares a worktree (maybe a spare one) before a worker has it. */
export const SETUP_PLACEHOLDERS = ["port"] as const satisfies readonly Placeholder[];

const PLACEHOLDER = /\{([a-z_]+)\}/g;

/** The placeholders in `arg` that are not `known`, for config validation. */
export function unknownPlaceholders(arg: string, known: readonly string[] = PLACEHOLDERS): string[] {
  return [...arg.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((name) => !known.includes(name));
}

/**
 * Fills placeholders in each argv element; one without a value is left as it is. The result is
 * still an argv array: no shell ever reads it.
 */
export function fillCommand(command: readonly string[], values: Partial<Record<Placeholder, string>>): string[] {
  return command.map((arg) => arg.replace(PLACEHOLDER, (whole, name: string) => values[name as Placeholder] ?? whole));
}

/** The agent a spawn gets when nothing says which: a built-in. */
export const DEFAULT_AGENT = "code-author";

export const DEFAULT_AGENT_COMMAND = ["claude", "-p", "{prompt}", "--permission-mode", "acceptEdits"] as const;

const CLOSING =
  "Work only in this directory, on this branch. Commit your work with clear messages. " +
  "Do not push and do not open a pull request: parallel-workers pushes the branch and opens it.";

/** The built-in agents: the same coding-agent CLI with a role-specific prompt. */
export const BUILTIN_AGENT_PROMPTS: Record<string, string> = {
  "code-author":
    "You are implementing task {task_id} in the git worktree {worktree}.\n\nTask: {description}\n\n" +
    `Make the change the task asks for, with tests where they fit. ${CLOSING}`,
  "test-author":
    "You are writing tests for task {task_id} in the git worktree {worktree}.\n\nTask: {description}\n\n" +
    `Add or extend automated tests that cover what the task describes; change production code only to make it testable. ${CLOSING}`,
  "iac-engineer":
    "You are changing infrastructure as code for task {task_id} in the git worktree {worktree}.\n\nTask: {description}\n\n" +
    `Make the infrastructure change the task asks for, keep it minimal and reviewable, and never write credentials into files. ${CLOSING}`,
};

/** The prompt for agents that do not set their own. */
export const GENERIC_PROMPT =
  "You are working on task {task_id} in the git worktree {worktree}.\n\nTask: {description}\n\n" + CLOSING;
