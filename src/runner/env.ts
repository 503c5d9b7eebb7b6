import { composeProjectName, databaseName } from "../core/ports.js";
import { isSecretName } from "../core/secret-names.js";

/** Variables an agent gets from the runner's environment without asking. */
const BASE_ALLOWLIST = ["PATH", "HOME", "USER", "LANG", "SHELL", "TERM", "TMPDIR"];

function allowed(name: string, passthrough: ReadonlySet<string>): boolean {
  return BASE_ALLOWLIST.includes(name) || name.startsWith("LC_") || passthrough.has(name);
}

export interface AgentEnvironmentInput {
  parent: NodeJS.ProcessEnv;
  passthrough: readonly string[];
  /** The agent's own `env` from the configuration. */
  agentEnv: Readonly<Record<string, string>>;
  /** PW_WORKER_ID, PW_TASK_ID, PW_DESCRIPTION, PW_PROMPT; PW_PORT when the worker holds ports. */
  worker: { workerId: string; taskId: string; description: string; prompt: string; port?: number | null };
}

export interface SetupEnvironmentInput {
  parent: NodeJS.ProcessEnv;
  passthrough: readonly string[];
  /** PW_PORT: the port of the worker the worktree is (or will be) for. */
  port: number | null;
}

/** The allowlist and the passthrough names of `parent`, and `extra`; never a name that looks secret. */
function allowlisted(
  parent: NodeJS.ProcessEnv,
  passthroughNames: readonly string[],
  extra: Readonly<Record<string, string>> = {},
): { env: Record<string, string>; dropped: Set<string> } {
  const passthrough = new Set(passthroughNames);
  const env: Record<string, string> = {};
  const dropped = new Set<string>();
  for (const [name, value] of Object.entries(parent)) {
    if (value === undefined || !allowed(name, passthrough)) continue;
    if (isSecretName(name)) dropped.add(name);
    else env[name] = value;
  }
  for (const [name, value] of Object.entries(extra)) {
    if (isSecretName(name)) dropped.add(name);
    else env[name] = value;
  }
  return { env, dropped };
}

/**
 * The whole environment an agent runs with: an allowlist, never extended with the runner's own,
 * and the worker's own names (its port, a Compose project and a database name of its own).
 * `dropped` names what was asked for but refused because it looks secret.
 */
export function agentEnvironment(input: AgentEnvironmentInput): { env: Record<string, string>; dropped: string[] } {
  const { env, dropped } = allowlisted(input.parent, input.passthrough, input.agentEnv);
  env.PW_WORKER_ID = input.worker.workerId;
  env.PW_TASK_ID = input.worker.taskId;
  env.PW_DESCRIPTION = input.worker.description;
  env.PW_PROMPT = input.worker.prompt;
  if (input.worker.port != null) env.PW_PORT = String(input.worker.port);
  env.COMPOSE_PROJECT_NAME = composeProjectName(input.worker.workerId);
  env.PW_DB_NAME = databaseName(input.worker.workerId);
  return { env, dropped: [...dropped].sort() };
}

/**
 * What setup commands run with: the allowlist, the passthrough names and PW_PORT. Setup prepares
 * a worktree, maybe a spare one before any worker has it, so it never sees a worker's own names
 * or an agent's `env`: it runs alike in a spare and in a worker's new worktree.
 */
export function setupEnvironment(input: SetupEnvironmentInput): { env: Record<string, string>; dropped: string[] } {
  const { env, dropped } = allowlisted(input.parent, input.passthrough);
  if (input.port !== null) env.PW_PORT = String(input.port);
  return { env, dropped: [...dropped].sort() };
}
