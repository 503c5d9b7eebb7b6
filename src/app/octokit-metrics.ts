import type { ProbotOctokit } from "probot";
import type { Metrics } from "../log/metrics.js";

type OctokitInstance = InstanceType<typeof ProbotOctokit>;

/**
 * An Octokit plugin that counts every GitHub API call of Probot's clients (method and status,
 * no status when no response came) in `pw_github_api_requests_total`.
 */
export function githubMetricsPlugin(metrics: Pick<Metrics, "githubRequest">) {
  return (octokit: Pick<OctokitInstance, "hook">): void => {
    octokit.hook.after("request", (response, options) => metrics.githubRequest(options.method, response.status));
    octokit.hook.error("request", (error, options) => {
      const status = (error as { status?: unknown }).status;
      metrics.githubRequest(options.method, typeof status === "number" ? status : null);
      throw error;
    });
  };
}
