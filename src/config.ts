import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import { z } from "zod";
import {
  BUILTIN_AGENT_PROMPTS,
  DEFAULT_AGENT,
  DEFAULT_AGENT_COMMAND,
  GENERIC_PROMPT,
  PLACEHOLDERS,
  SETUP_PLACEHOLDERS,
  unknownPlaceholders,
} from "./core/agents.js";
import { parseDuration } from "./core/duration.js";
import { MAX_PORT, type PortRange } from "./core/ports.js";
import { InvalidInputError } from "./core/errors.js";
import { repositorySlugSchema } from "./core/repository.js";
import { DEFAULT_MERGE_FLOW, MERGE_METHODS, MERGE_MODES, UPDATE_MODES, type MergeFlowSettings } from "./core/merge-flow.js";
import { DEFAULT_REWORK, FAILED_CHECK_POLICIES, type ReworkSettings } from "./core/rework.js";
import { parseWith, parseYamlText } from "./core/validate.js";
import { expandHome, pathsFrom, pathVariableProblem, type Paths } from "./paths.js";

export { expandHome, type Paths };

const pathVariable = z
  .string()
  .superRefine((value, ctx) => {
    const problem = pathVariableProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .optional();

const envSchema = z.object({
  /** Where state.db and logs/ live. */
  PW_HOME: pathVariable,
  /** Where worktrees are made: <root>/<project>/<task-id>. */
  PW_WORKTREES_ROOT: pathVariable,
  HOME: z.string().optional(),
});

/** Reads the environment once, at the edge; a bad value names the variable. */
export function resolvePaths(env: NodeJS.ProcessEnv = process.env): Paths {
  return pathsFrom(parseWith(envSchema, env, "environment"));
}

/** `ports` when the files say nothing: blocks of 10 from 4100. */
export const DEFAULT_PORTS: PortRange = { from: 4100, perWorker: 10 };

/** "45m", "1h30m", "90s", "500ms" or a number of seconds, as milliseconds. */
const durationSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `${JSON.stringify(value)} is not a duration: use e.g. 90s, 45m or 1h30m` });
    return z.NEVER;
  }
  return ms;
});

// ---------------------------------------------------------------------------------------------
// .parallel-workers.yml over $PW_HOME/config.yml

/** File name of the repository's config, at the repository root. */
export const REPO_CONFIG_FILE = ".parallel-workers.yml";

const envNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name");
const agentNameSchema = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, "expected a lowercase name like code-author");
const relativePathSchema = z
  .string()
  .min(1)
  .refine((p) => !isAbsolute(p) && !p.split(/[\\/]/).includes(".."), "must be a path inside the repository");

/** An argv array whose elements may use `placeholders`; `where` says what else is wrong with another one. */
function commandSchemaWith(placeholders: readonly string[], where = "") {
  return z
    .array(z.string().min(1, "must not be empty"))
    .min(1, "must name a program")
    .superRefine((argv, ctx) => {
      argv.forEach((arg, i) => {
        const unknown = unknownPlaceholders(arg, placeholders);
        if (unknown.length > 0) {
          ctx.addIssue({
            code: "custom",
            path: [i],
            message: `placeholder {${unknown[0]}} is not known${where}: use ${placeholders.map((p) => `{${p}}`).join(", ")}`,
          });
        }
      });
    });
}

const commandSchema = commandSchemaWith(PLACEHOLDERS);
/** Setup prepares a worktree, maybe a spare one before any worker has it: only its port is known then. */
const setupCommandSchema = commandSchemaWith(SETUP_PLACEHOLDERS, " in setup (it prepares a worktree before a worker has it)");

/** A glob of paths inside the repository (`**` for any depth). */
const lockfilePatternSchema = z
  .string()
  .min(1)
  .refine((p) => !isAbsolute(p) && !p.split(/[\\/]/).includes("..") && !p.startsWith(":"), "must be a path pattern inside the repository");

const agentFileSchema = z
  .object({
    /** argv of the agent; placeholders {prompt} {task_id} {worker_id} {description} {worktree} {port}. */
    command: commandSchema.optional(),
    /** How long the agent may run before its process group is killed, e.g. 45m. */
    timeout: durationSchema.optional(),
    /** Extra variables for the agent; names that look secret are still dropped. */
    env: z.record(envNameSchema, z.string()).optional(),
    /** The text {prompt} becomes; may use the other placeholders. */
    prompt: z.string().min(1).optional(),
  })
  .strict();

/** A wait that may be none (`0`, `0s`), else a duration such as 30s. */
const waitSchema = z.union([z.literal(0), z.string().regex(/^\s*0+(ms|s|m|h)?\s*$/).transform(() => 0), durationSchema]);

/** `rework:` the loop that sends review feedback and failed checks back to the agent. */
const reworkFileSchema = z
  .object({
    /** Automatic rounds (reviews, failed checks) per worker; past it the PR gets `needs-human`. 0 turns the automatic loop off. */
    max_rounds: z.number().int().min(0).max(100).optional(),
    /** Which failed checks start a round: `required` (branch protection's, or the phase-5-to-6 gate's list), `all` or `none`. */
    on_failed_checks: z.enum(FAILED_CHECK_POLICIES).optional(),
    /** How long feedback waits for more before its round starts (more that comes meanwhile joins it), e.g. 30s; 0 for none. */
    debounce: waitSchema.optional(),
  })
  .strict();

/** `merge_flow:` keeping worker PRs current, stacking dependent tasks, merging through GitHub. */
const mergeFlowFileSchema = z
  .object({
    /** When a PR's base branch moves: `merge` (GitHub's update-branch), `rebase` (the runner rebases and force-pushes with a lease) or `off`. */
    update: z.enum(UPDATE_MODES).optional(),
    /** A task depending on exactly one unmerged task starts from its branch once it has a PR, and opens a stacked PR. */
    stack: z.boolean().optional(),
    /** `auto`: a worker PR whose phase-5-to-6 gate passes gets GitHub's auto-merge, or joins the merge queue, or is merged; `off`. */
    merge: z.enum(MERGE_MODES).optional(),
    /** How GitHub merges it: `squash`, `merge` or `rebase`. */
    method: z.enum(MERGE_METHODS).optional(),
  })
  .strict();

const configFileSchema = z
  .object({
    github: z
      .object({
        /** owner/name; when absent, read from the origin remote's URL. */
        repository: repositorySlugSchema.optional(),
        /** Delete the remote branch after its PR merges. */
        delete_branch_on_merge: z.boolean().optional(),
      })
      .strict()
      .optional(),
    /** At most this many agents run at once for this repository. */
    max_workers: z.number().int().min(1).max(64).optional(),
    /** Labels added to every PR. */
    labels: z.array(z.string().min(1).max(50)).optional(),
    /** Default milestone title for PRs. */
    milestone: z.string().min(1).optional(),
    /** Open PRs as drafts. */
    draft: z.boolean().optional(),
    worktrees_root: z.string().min(1).optional(),
    /** Commands (argv arrays) run in a new worktree before the agent; `{port}` is the worker's port. */
    setup: z.array(setupCommandSchema).optional(),
    /** Files copied from the main checkout into each new worktree (explicit opt-in). */
    copy: z.array(relativePathSchema).optional(),
    /** Paths of the main checkout symlinked into each new worktree instead of copied (a large cache). */
    links: z.array(relativePathSchema).optional(),
    /** Spare worktrees kept ready (checked out, setup run) for the next spawns. */
    pool: z
      .object({
        /** How many spares the runner keeps; 0 turns the pool off. */
        size: z.number().int().min(0).max(16).optional(),
        /** Files whose change makes setup run again in a spare (globs, `**` for any depth); common lockfiles by default. */
        lockfiles: z.array(lockfilePatternSchema).min(1).optional(),
      })
      .strict()
      .optional(),
    /** The ports each worker gets: PW_PORT is the first of its block. */
    ports: z
      .object({
        /** The first port handed out. */
        from: z.number().int().min(1024).max(MAX_PORT).optional(),
        /** How many ports each worker's block holds. */
        per_worker: z.number().int().min(1).max(1000).optional(),
      })
      .strict()
      .refine((p) => (p.from ?? DEFAULT_PORTS.from) + (p.per_worker ?? DEFAULT_PORTS.perWorker) - 1 <= MAX_PORT, {
        message: `from + per_worker must stay within port ${MAX_PORT}`,
      })
      .optional(),
    env: z
      .object({
        /** Variables passed to agents from the runner's environment (secret-looking names never are). */
        passthrough: z.array(envNameSchema).optional(),
      })
      .strict()
      .optional(),
    agents: z.record(agentNameSchema, agentFileSchema).optional(),
    /** The agent of a `/worker spawn` that names none; a built-in or one of `agents`. */
    default_agent: agentNameSchema.optional(),
    rework: reworkFileSchema.optional(),
    merge_flow: mergeFlowFileSchema.optional(),
    /** The PostgreSQL store (postgres://...); only in $PW_HOME/config.yml, which is this machine's, never in a repository. */
    database_url: z.string().optional(),
  })
  .strict();

type ConfigFile = z.infer<typeof configFileSchema>;

/** The user's `$PW_HOME/config.yml`. */
export function userConfigFile(paths: Paths): string {
  return join(paths.home, "config.yml");
}

/** Where the store's URL comes from, for messages, and the URL as written (checked by the store). */
export interface DatabaseUrlSetting {
  value: string;
  /** `PW_DATABASE_URL`, or `database_url in <file>`. */
  what: string;
}

/**
 * The database every command uses: `PW_DATABASE_URL` when set (even empty: that is a mistake to
 * report, not SQLite), else `database_url` in `$PW_HOME/config.yml`; undefined means the SQLite
 * file in `$PW_HOME`. Only the one key is read here, so a config.yml that a repository command
 * would refuse for another key does not stop `pw worker list`; YAML that cannot be read does,
 * since it may name a database.
 */
export function databaseUrlSetting(paths: Paths, env: NodeJS.ProcessEnv = process.env): DatabaseUrlSetting | undefined {
  const fromEnv = env.PW_DATABASE_URL;
  if (fromEnv !== undefined) return { value: fromEnv, what: "PW_DATABASE_URL" };
  const file = userConfigFile(paths);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    // no file, or no PW_HOME directory to hold one (a PW_HOME that is a file is said by the PW_HOME check)
    if (["ENOENT", "ENOTDIR"].includes((error as NodeJS.ErrnoException).code ?? "")) return undefined;
    throw new InvalidInputError(`${file}: cannot be read (${(error as Error).message})`);
  }
  const data = parseYamlText(text, file);
  if (data === null || data === undefined) return undefined;
  const { database_url: value } = parseWith(z.object({ database_url: z.string().optional() }).passthrough(), data, file);
  return value === undefined ? undefined : { value, what: `database_url in ${file}` };
}

export interface AgentConfig {
  name: string;
  command: string[];
  timeoutMs: number;
  env: Record<string, string>;
  prompt: string;
}

export interface RepoConfig {
  /** owner/name, when known. */
  repository: string | null;
  deleteBranchOnMerge: boolean;
  maxWorkers: number;
  labels: string[];
  milestone: string | null;
  draft: boolean;
  worktreesRoot: string;
  setup: string[][];
  copy: string[];
  /** Paths symlinked from the main checkout into each new worktree. */
  links: string[];
  pool: PoolConfig;
  ports: PortRange;
  passthrough: string[];
  agents: Record<string, AgentConfig>;
  /** Agents the files configure under `agents` (the built-ins are known without). */
  configuredAgents: string[];
  /**
   * The agent of a `/worker spawn` that names none: `default_agent`, else the only configured
   * agent, else `code-author` when it is configured or nothing is; null when several are and
   * none of them is the default (the command then asks which).
   */
  defaultAgent: string | null;
  /** The rework loop: review feedback, failed checks and `/worker rework` go back to the agent. */
  rework: ReworkSettings;
  /** The merge flow: keeping PRs current with their base, stacked dependents, merging through GitHub. */
  mergeFlow: MergeFlowSettings;
  /** The files that were read, user default first. */
  sources: string[];
}

export interface PoolConfig {
  /** Spare worktrees the runner keeps ready; 0 is off. */
  size: number;
  /** Globs of the files setup reads (lockfiles): when one changes, setup runs again. */
  lockfiles: string[];
}

/** Lockfiles of common package managers, at any depth. */
export const DEFAULT_LOCKFILES = [
  "package-lock.json",
  "npm-shrinkwrap.json",
  "yarn.lock",
  "pnpm-lock.yaml",
  "bun.lock",
  "bun.lockb",
  "Gemfile.lock",
  "poetry.lock",
  "Pipfile.lock",
  "uv.lock",
  "requirements*.txt",
  "go.sum",
  "Cargo.lock",
  "composer.lock",
  "mix.lock",
  "pubspec.lock",
  "flake.lock",
].map((name) => `**/${name}`);

export const DEFAULT_LABELS = ["phase:5", "type:task"];
export const DEFAULT_MAX_WORKERS = 3;
export const DEFAULT_AGENT_TIMEOUT_MS = 45 * 60_000;

function readConfigFile(file: string): ConfigFile | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new InvalidInputError(`${file}: cannot be read (${(error as Error).message})`);
  }
  const data = parseYamlText(text, file);
  if (data === null || data === undefined) return {};
  return parseWith(configFileSchema, data, file);
}

/** Repository file over user file: scalars and lists replace, `github`, `env`, `rework`, `merge_flow`, `pool`, `ports` and `agents` merge by key. */
function mergeConfigFiles(user: ConfigFile, repo: ConfigFile): ConfigFile {
  const agents: Record<string, z.infer<typeof agentFileSchema>> = { ...user.agents };
  for (const [name, agent] of Object.entries(repo.agents ?? {})) agents[name] = { ...agents[name], ...agent };
  return {
    ...user,
    ...repo,
    github: { ...user.github, ...repo.github },
    env: { ...user.env, ...repo.env },
    rework: { ...user.rework, ...repo.rework },
    merge_flow: { ...user.merge_flow, ...repo.merge_flow },
    pool: { ...user.pool, ...repo.pool },
    ports: { ...user.ports, ...repo.ports },
    agents,
  };
}

/**
 * Built-in agents run the default command unless told otherwise; any other agent must say what to
 * run (else a typo such as `code-autor` would silently run Claude Code). Checked after the merge,
 * so a command in the user's file serves a repository's entry that only changes the timeout.
 */
function requireAgentCommands(merged: ConfigFile, sources: Array<{ file: string; config: ConfigFile | undefined }>): void {
  for (const [name, entry] of Object.entries(merged.agents ?? {})) {
    if (entry.command || name in BUILTIN_AGENT_PROMPTS) continue;
    // the last file that has the entry is the one to fix (the repository's over the user's)
    const file = sources.filter((s) => s.config?.agents?.[name]).at(-1)?.file ?? sources.at(-1)!.file;
    throw new InvalidInputError(
      `${file}: agents.${name}.command: required for an agent that is not built in (${Object.keys(BUILTIN_AGENT_PROMPTS).join(", ")})`,
    );
  }
}

function resolveAgents(file: ConfigFile["agents"]): Record<string, AgentConfig> {
  const names = new Set([...Object.keys(BUILTIN_AGENT_PROMPTS), ...Object.keys(file ?? {})]);
  const agents: Record<string, AgentConfig> = {};
  for (const name of names) {
    const entry = file?.[name] ?? {};
    agents[name] = {
      name,
      command: entry.command ?? [...DEFAULT_AGENT_COMMAND],
      timeoutMs: entry.timeout ?? DEFAULT_AGENT_TIMEOUT_MS,
      env: entry.env ?? {},
      prompt: entry.prompt ?? BUILTIN_AGENT_PROMPTS[name] ?? GENERIC_PROMPT,
    };
  }
  return agents;
}

/** See `RepoConfig.defaultAgent`; a `default_agent` that names no known agent is refused, naming the file. */
function defaultAgentOf(merged: ConfigFile, agents: Record<string, AgentConfig>, file: string): string | null {
  const named = merged.default_agent;
  if (named !== undefined) {
    if (!(named in agents)) {
      throw new InvalidInputError(`${file}: default_agent: "${named}" is not an agent: use one of ${Object.keys(agents).sort().join(", ")}`);
    }
    return named;
  }
  const configured = Object.keys(merged.agents ?? {});
  if (configured.length === 1) return configured[0]!;
  return configured.length === 0 || configured.includes(DEFAULT_AGENT) ? DEFAULT_AGENT : null;
}

/**
 * The configuration for the repository at `repoRoot`: its `.parallel-workers.yml` over the user's
 * `$PW_HOME/config.yml`, over built-in defaults. `remoteRepository` is the owner/name read from the
 * origin remote, used when the files do not name one.
 */
export function loadRepoConfig(repoRoot: string, paths: Paths, remoteRepository?: string, env: NodeJS.ProcessEnv = process.env): RepoConfig {
  const userFile = userConfigFile(paths);
  const repoFile = join(repoRoot, REPO_CONFIG_FILE);
  const user = readConfigFile(userFile);
  const repo = readConfigFile(repoFile);
  if (repo?.database_url !== undefined) {
    // a committed file would share the password, and each machine names its own way to the database
    throw new InvalidInputError(`${repoFile}: database_url does not belong in a repository: set PW_DATABASE_URL, or database_url in ${userFile}`);
  }
  const merged = mergeConfigFiles(user ?? {}, repo ?? {});
  requireAgentCommands(merged, [
    { file: userFile, config: user },
    { file: repoFile, config: repo },
  ]);
  const agents = resolveAgents(merged.agents);
  const ports = { from: merged.ports?.from ?? DEFAULT_PORTS.from, perWorker: merged.ports?.per_worker ?? DEFAULT_PORTS.perWorker };
  if (ports.from + ports.perWorker - 1 > MAX_PORT) {
    // each file was within range on its own; the user's `from` and the repository's `per_worker` are not
    throw new InvalidInputError(`${repoFile}: ports: from ${ports.from} + per_worker ${ports.perWorker} must stay within port ${MAX_PORT}`);
  }
  const worktreesRoot = env.PW_WORKTREES_ROOT
    ? paths.worktreesRoot
    : merged.worktrees_root
      ? expandHome(merged.worktrees_root, env.HOME || homedir(), repoRoot)
      : paths.worktreesRoot;
  return {
    repository: merged.github?.repository ?? remoteRepository ?? null,
    deleteBranchOnMerge: merged.github?.delete_branch_on_merge ?? false,
    maxWorkers: merged.max_workers ?? DEFAULT_MAX_WORKERS,
    labels: merged.labels ?? [...DEFAULT_LABELS],
    milestone: merged.milestone ?? null,
    draft: merged.draft ?? false,
    worktreesRoot,
    setup: merged.setup ?? [],
    copy: merged.copy ?? [],
    links: merged.links ?? [],
    pool: { size: merged.pool?.size ?? 0, lockfiles: merged.pool?.lockfiles ?? DEFAULT_LOCKFILES },
    ports,
    passthrough: merged.env?.passthrough ?? [],
    agents,
    configuredAgents: Object.keys(merged.agents ?? {}),
    defaultAgent: defaultAgentOf(merged, agents, repo?.default_agent !== undefined ? repoFile : userFile),
    rework: {
      maxRounds: merged.rework?.max_rounds ?? DEFAULT_REWORK.maxRounds,
      onFailedChecks: merged.rework?.on_failed_checks ?? DEFAULT_REWORK.onFailedChecks,
      debounceMs: merged.rework?.debounce ?? DEFAULT_REWORK.debounceMs,
    },
    mergeFlow: {
      update: merged.merge_flow?.update ?? DEFAULT_MERGE_FLOW.update,
      stack: merged.merge_flow?.stack ?? DEFAULT_MERGE_FLOW.stack,
      merge: merged.merge_flow?.merge ?? DEFAULT_MERGE_FLOW.merge,
      method: merged.merge_flow?.method ?? DEFAULT_MERGE_FLOW.method,
    },
    sources: [user && userFile, repo && repoFile].filter((f): f is string => Boolean(f)),
  };
}

/**
 * The `.parallel-workers.yml` that `pw init` writes: every key commented out with its default and
 * a line on what it does, so the file changes nothing (not even the user's own defaults in
 * `$PW_HOME/config.yml`) until a line is uncommented. `repository` is the owner/name read from
 * the origin remote, when there is one.
 */
export function starterRepoConfig(repository: string | null): string {
  const key = (text: string, comment: string) => `# ${`${text} `.padEnd(35)}# ${comment}`;
  return [
    "# parallel-workers settings for this repository. Every key is optional: uncomment a line to",
    "# change it. A key left out keeps the default shown, or yours from $PW_HOME/config.yml.",
    "",
    "# github:",
    repository
      ? key(`  repository: ${repository}`, "owner/name; read from the origin remote when left out")
      : key("  repository: owner/name", "needed: no GitHub origin remote was found"),
    key("  delete_branch_on_merge: false", "delete a worker's branch on GitHub once its PR is merged"),
    key(`max_workers: ${DEFAULT_MAX_WORKERS}`, "agents running at once for this repository"),
    key(`labels: [${DEFAULT_LABELS.join(", ")}]`, "labels added to every PR"),
    key("milestone: Sprint 1", "milestone of every PR (created when missing); a task may set its own"),
    key("draft: false", "open PRs as drafts"),
    key("default_agent: code-author", "the agent of a task or /worker spawn that names none"),
    key("worktrees_root: ~/.worktrees", "where worktrees are made; PW_WORKTREES_ROOT wins over this"),
    key('setup: [["npm", "ci"]]', "commands (argv arrays) run in each new worktree before the agent"),
    key("copy: [.env.local]", "files copied from this checkout into each new worktree, never committed"),
    key("links: [node_modules/.cache]", "paths symlinked from this checkout instead (ignored by git), never committed"),
    "# pool:",
    key("  size: 0", "spare worktrees kept checked out and set up for the next spawns (0: off)"),
    "# ports:",
    key(`  from: ${DEFAULT_PORTS.from}`, "each worker's own ports (PW_PORT, {port}) start here..."),
    key(`  per_worker: ${DEFAULT_PORTS.perWorker}`, "...in blocks of this many, freed when the worker ends"),
    "# env:",
    key("  passthrough: [NODE_OPTIONS]", "variables passed to agents (names that look secret never are)"),
    "# rework:",
    key(`  max_rounds: ${DEFAULT_REWORK.maxRounds}`, "automatic rework rounds per worker (reviews, failed checks); 0: off"),
    key(`  on_failed_checks: ${DEFAULT_REWORK.onFailedChecks}`, "which failed checks start a round: required | all | none"),
    key(`  debounce: ${DEFAULT_REWORK.debounceMs / 1000}s`, "feedback waits this long for more before its round starts"),
    "# merge_flow:",
    key(`  update: ${DEFAULT_MERGE_FLOW.update}`, "when a PR's base moves: merge (GitHub's update-branch) | rebase | off"),
    key(`  stack: ${DEFAULT_MERGE_FLOW.stack}`, "a task depending on one unmerged task opens a PR stacked on it"),
    key(`  merge: ${DEFAULT_MERGE_FLOW.merge}`, "auto: merge a worker PR through GitHub once its phase-5-to-6 gate passes"),
    key(`  method: ${DEFAULT_MERGE_FLOW.method}`, "how GitHub merges it: squash | merge | rebase"),
    "",
    `# Agents. Built in: ${Object.keys(BUILTIN_AGENT_PROMPTS).join(", ")}; each runs Claude Code headless`,
    "# with a prompt for its role. Give one another command or timeout, or add your own agent: one",
    "# that is not built in needs a command. A command is an argv array, never a shell string;",
    "# {prompt}, {task_id}, {worker_id}, {description}, {worktree} and {port} are filled in.",
    "# agents:",
    "#   code-author:",
    key(`    timeout: ${DEFAULT_AGENT_TIMEOUT_MS / 60_000}m`, "its process group is killed after this"),
    "#   docs-writer:",
    key('    command: ["./scripts/write-docs.sh", "{task_id}"]', "what to run, in the worktree"),
    key('    prompt: "Document {description}"', "what {prompt} becomes"),
    key("    env: { DOCS_STYLE: short }", "extra variables (names that look secret are dropped)"),
    "",
  ].join("\n");
}
