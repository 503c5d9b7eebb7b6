/**
 * The `/worker` slash commands, Prow style: one definition per command (usage, what it does,
 * who may use it, examples), anchored per-line case-insensitive patterns, and `/worker help`
 * generated from the definitions. Pure: parsing turns comment text into plain requests.
 */
import { z } from "zod";
import { workerIdSchema } from "../core/names.js";

/** Roles (the collaborator-permission endpoint's `role_name`) that may run any command. */
export const COMMAND_ROLES = ["write", "maintain", "admin"] as const;

export type CommandName = "spawn" | "status" | "retry" | "terminate" | "rework" | "help";

export type CommandRequest =
  | { command: "spawn"; agent: string | undefined; base: string | undefined }
  | { command: "status" }
  | { command: "retry"; workerId: string }
  | { command: "terminate"; workerId: string }
  | { command: "rework"; text: string }
  | { command: "help" };

export interface CommandDefinition {
  name: CommandName;
  usage: string;
  description: string;
  /** Who may run it, for `/worker help` and refusals. */
  whoMay: string;
  examples: readonly string[];
  /** Anchored, case-insensitive; group 1 holds the arguments. */
  pattern: RegExp;
  /** Turns the argument text into a request, or says what is wrong with it. */
  parse(args: string): CommandRequest | { problem: string };
}

/** One `/worker ...` line of a comment, parsed. */
export interface ParsedCommand {
  /** The line as written, for quoting in a reply. */
  line: string;
  /** Undefined for an unknown command. */
  definition: CommandDefinition | undefined;
  request: CommandRequest | undefined;
  /** Why the line could not become a request (unknown command, bad arguments). */
  problem: string | undefined;
}

const SPAWN_USAGE = "/worker spawn [AGENT] [--base BRANCH]";
const WHO_MAY = "people with write, maintain or admin access to the repository";

/** Any line that addresses the bot: `/worker` alone or followed by whitespace. */
const WORKER_LINE = /^\/worker(?:\s+(.*))?$/i;
/** At most this many command lines of one comment are run; the rest are reported. */
export const MAX_COMMANDS_PER_COMMENT = 10;

const agentSchema = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, "is not an agent name: use lowercase letters, digits and '-', like code-author");

/** A branch name safe to hand to git: no option look-alikes, no `..`, no ref syntax. */
export const branchNameSchema = z
  .string()
  .max(200, "is longer than 200 characters")
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, "is not a branch name: use letters, digits, '.', '_', '/' or '-', starting with a letter or digit")
  .refine((b) => !b.includes("..") && !b.includes("//") && !b.endsWith("/") && !b.endsWith(".") && !b.toLowerCase().endsWith(".lock"), {
    message: "is not a valid branch name",
  });

function shown(value: string): string {
  return `\`${value.length > 60 ? `${value.slice(0, 60)}...` : value}\``;
}

function tokens(args: string): string[] {
  return args.trim().split(/\s+/).filter(Boolean);
}

function noArguments(request: CommandRequest, usage: string) {
  return (args: string): CommandRequest | { problem: string } => {
    const extra = tokens(args);
    return extra.length === 0 ? request : { problem: `unexpected ${shown(extra.join(" "))}: usage is \`${usage}\`` };
  };
}

function workerIdArgument(command: "retry" | "terminate", usage: string) {
  return (args: string): CommandRequest | { problem: string } => {
    const given = tokens(args);
    if (given.length !== 1) return { problem: `expected one worker id: usage is \`${usage}\`` };
    const parsed = workerIdSchema.safeParse(given[0]);
    if (!parsed.success) return { problem: parsed.error.issues[0]?.message ?? "invalid worker id" };
    return { command, workerId: parsed.data };
  };
}

function parseSpawn(args: string): CommandRequest | { problem: string } {
  const usage = SPAWN_USAGE;
  let agent: string | undefined;
  let base: string | undefined;
  const given = tokens(args);
  for (let i = 0; i < given.length; i++) {
    const token = given[i]!;
    let value: string | undefined;
    if (token.toLowerCase() === "--base") {
      value = given[++i];
      if (value === undefined) return { problem: `\`--base\` needs a branch name: usage is \`${usage}\`` };
    } else if (token.toLowerCase().startsWith("--base=")) {
      value = token.slice("--base=".length);
    } else if (token.startsWith("-")) {
      return { problem: `unknown option ${shown(token)}: usage is \`${usage}\`` };
    } else if (agent === undefined) {
      const parsed = agentSchema.safeParse(token);
      if (!parsed.success) return { problem: `${shown(token)} ${parsed.error.issues[0]?.message}` };
      agent = parsed.data;
      continue;
    } else {
      return { problem: `unexpected ${shown(token)}: usage is \`${usage}\`` };
    }
    if (base !== undefined) return { problem: `\`--base\` is given twice: usage is \`${usage}\`` };
    const parsed = branchNameSchema.safeParse(value);
    if (!parsed.success) return { problem: `base branch ${shown(value)} ${parsed.error.issues[0]?.message}` };
    base = parsed.data;
  }
  return { command: "spawn", agent, base };
}

/** Every command, in the order `/worker help` lists them. */
export const COMMANDS: readonly CommandDefinition[] = [
  {
    name: "spawn",
    usage: SPAWN_USAGE,
    description:
      "On an issue: queue a worker for it (task `issue-<n>`, described by the issue's title and body). Its pull request closes the issue.",
    whoMay: WHO_MAY,
    examples: ["/worker spawn", "/worker spawn test-author", "/worker spawn code-author --base develop"],
    pattern: /^\/worker\s+spawn(?:\s+(.*))?$/i,
    parse: parseSpawn,
  },
  {
    name: "status",
    usage: "/worker status",
    description: "List this repository's workers: task, state, pull request, age.",
    whoMay: WHO_MAY,
    examples: ["/worker status"],
    pattern: /^\/worker\s+status(?:\s+(.*))?$/i,
    parse: noArguments({ command: "status" }, "/worker status"),
  },
  {
    name: "retry",
    usage: "/worker retry ID",
    description: "Queue a failed (UNKNOWN) or ABANDONED worker again.",
    whoMay: WHO_MAY,
    examples: ["/worker retry worker-a1b2c3"],
    pattern: /^\/worker\s+retry(?:\s+(.*))?$/i,
    parse: workerIdArgument("retry", "/worker retry ID"),
  },
  {
    name: "terminate",
    usage: "/worker terminate ID",
    description: "Stop a worker: its runner kills the agent, and the worker becomes ABANDONED (its worktree is kept).",
    whoMay: WHO_MAY,
    examples: ["/worker terminate worker-a1b2c3"],
    pattern: /^\/worker\s+terminate(?:\s+(.*))?$/i,
    parse: workerIdArgument("terminate", "/worker terminate ID"),
  },
  {
    name: "rework",
    usage: "/worker rework [WHAT TO DO]",
    description:
      "On a worker's pull request: another round for its agent, at once, with the rest of the line and any review or failed check waiting. Works past `rework.max_rounds` and with the `needs-human` label.",
    whoMay: WHO_MAY,
    examples: ["/worker rework", "/worker rework rename `frob` to `frobnicate` everywhere"],
    pattern: /^\/worker\s+rework(?:\s+(.*))?$/i,
    parse: (args) => ({ command: "rework", text: args.trim() }),
  },
  {
    name: "help",
    usage: "/worker help",
    description: "Show this list.",
    whoMay: WHO_MAY,
    examples: ["/worker help"],
    pattern: /^\/worker\s+help(?:\s+(.*))?$/i,
    parse: noArguments({ command: "help" }, "/worker help"),
  },
];

/**
 * The `/worker` lines of a comment, in order. A line counts only when it starts with `/worker`
 * (so a quoted `> /worker ...` never fires) and is outside a fenced code block.
 */
export function parseCommands(body: string): ParsedCommand[] {
  const found: ParsedCommand[] = [];
  let fence: string | undefined;
  for (const raw of body.split(/\r?\n|\r/)) {
    const line = raw.trimEnd();
    const opening = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (opening) {
      const marker = opening[1]!;
      if (fence === undefined) fence = marker;
      else if (marker[0] === fence[0] && marker.length >= fence.length && line.trim() === marker) fence = undefined;
      continue;
    }
    if (fence !== undefined || !WORKER_LINE.test(line)) continue;
    const definition = COMMANDS.find((c) => c.pattern.test(line));
    if (!definition) {
      const word = WORKER_LINE.exec(line)?.[1]?.split(/\s+/)[0];
      found.push({
        line,
        definition: undefined,
        request: undefined,
        problem: word
          ? `unknown command ${shown(word)}: use one of ${COMMANDS.map((c) => `\`${c.name}\``).join(", ")} (see \`/worker help\`)`
          : `say what to do: use one of ${COMMANDS.map((c) => `\`${c.name}\``).join(", ")} (see \`/worker help\`)`,
      });
      continue;
    }
    const parsed = definition.parse(definition.pattern.exec(line)?.[1] ?? "");
    found.push(
      "problem" in parsed
        ? { line, definition, request: undefined, problem: parsed.problem }
        : { line, definition, request: parsed, problem: undefined },
    );
  }
  return found;
}

/** True when `role` (the collaborator-permission endpoint's `role_name`) may run commands. */
export function mayRunCommands(role: string, permission: string): boolean {
  if ((COMMAND_ROLES as readonly string[]).includes(role)) return true;
  // A custom repository role has its own name; `permission` holds the base role it extends.
  const standard = ["", "none", "read", "triage", "write", "maintain", "admin"];
  return !standard.includes(role) && (permission === "write" || permission === "admin");
}

/** `/worker help`: a table generated from the definitions. */
export function helpText(): string {
  const rows = COMMANDS.map(
    (c) => `| \`${c.usage}\` | ${c.description} | ${c.examples.map((e) => `\`${e}\``).join("<br>")} |`,
  );
  return [
    "**parallel-workers** commands (one per line, at the start of the line):",
    "",
    "| command | what it does | examples |",
    "| --- | --- | --- |",
    ...rows,
    "",
    `Who may use them: ${[...new Set(COMMANDS.map((c) => c.whoMay))].join("; ")}.`,
  ].join("\n");
}
