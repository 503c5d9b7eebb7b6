import { isSecretName } from "../core/secret-names.js";

/**
 * Names simple-git's environment guard keeps from git (it strips them from the inherited
 * environment, and refuses a task that passes one explicitly): `GIT_*` and these.
 */
const GUARDED = new Set(["EDITOR", "VISUAL", "PAGER", "PREFIX", "SSH_ASKPASS"]);
/** The runner's own settings: git never needs them. */
const RUNNER_SETTINGS = new Set(["PRIVATE_KEY_PATH", "WEBHOOK_PROXY_URL", "LOKI_URL", "LOKI_USERNAME"]);
/** What a credential helper such as `gh auth git-credential` may read when git pushes. */
const PUSH_CREDENTIALS = new Set(["GITHUB_TOKEN", "GH_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN"]);

/**
 * The environment the runner's own git commands run with. A worktree shares `.git` (and the
 * user's global configuration) with what an agent can write, so a command planted there (a
 * clean filter, a credential helper, an ssh command) may run inside them: it must find none of
 * the runner's secrets. Only a push keeps the GitHub token variables, for the credential helper.
 */
export function gitEnvironment(parent: NodeJS.ProcessEnv, options: { push?: boolean } = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value === undefined) continue;
    const upper = name.toUpperCase();
    if (upper.startsWith("GIT_") || GUARDED.has(upper)) continue;
    if (options.push && PUSH_CREDENTIALS.has(upper)) env[name] = value;
    else if (!isSecretName(name) && !RUNNER_SETTINGS.has(upper)) env[name] = value;
  }
  return env;
}
