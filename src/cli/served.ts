import { runnerSettings } from "../app/served.js";
import type { ServedRepository } from "../app/deps.js";
import type { Logger } from "../log/logger.js";
import type { RepoContext } from "../runner/context.js";

/** The repositories of these checkouts, as the app needs to know them; a checkout without a GitHub name is left out (and said, given a logger). */
export function servedList(repos: readonly RepoContext[], logger?: Logger): ServedRepository[] {
  const list: ServedRepository[] = [];
  for (const ctx of repos) {
    if (!ctx.repository) {
      logger?.warn({ repo_path: ctx.repo.root }, "no GitHub repository name (github.repository or an origin URL): webhooks cannot reach its workers");
      continue;
    }
    list.push({
      repository: ctx.repository,
      agents: Object.keys(ctx.config.agents),
      configuredAgents: ctx.config.configuredAgents,
      defaultAgent: ctx.config.defaultAgent,
      deleteBranchOnMerge: ctx.config.deleteBranchOnMerge,
      rework: ctx.config.rework,
      mergeFlow: ctx.config.mergeFlow,
    });
  }
  return list;
}

/** What a runner of these checkouts registers, so an app on another machine serves their repositories as they are configured. */
export function registrationSettings(repos: readonly RepoContext[]): Record<string, unknown> {
  return runnerSettings(servedList(repos));
}
