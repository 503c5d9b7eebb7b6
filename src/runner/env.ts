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
  /** PW_WORKER_ID, PW_TASK_ID, PW_DESCRIPTION, PW_PROMPT. */
  worker: { workerId: string; taskId: string; description: string; prompt: string };
}

/**
 * The whole environment an agent runs with: an allowlist, never extended with the runner's own.
 * `dropped` names what was asked for but refused because it looks secret.
 */
export function agentEnvironment(input: AgentEnvironmentInput): { env: Record<string, string>; dropped: string[] } {
  const passthrough = new Set(input.passthrough);
  const env: Record<string, string> = {};
  const dropped = new Set<string>();
  for (const [name, value] of Object.entries(input.parent)) {
    if (value === undefined || !allowed(name, passthrough)) continue;
    if (isSecretName(name)) dropped.add(name);
    else env[name] = value;
  }
  for (const [name, value] of Object.entries(input.agentEnv)) {
    if (isSecretName(name)) dropped.add(name);
    else env[name] = value;
  }
  env.PW_WORKER_ID = input.worker.workerId;
  env.PW_TASK_ID = input.worker.taskId;
  env.PW_DESCRIPTION = input.worker.description;
  env.PW_PROMPT = input.worker.prompt;
  return { env, dropped: [...dropped].sort() };
}
