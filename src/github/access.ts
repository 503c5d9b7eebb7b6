import { InvalidInputError } from "../core/errors.js";
import {
  clientForRepository,
  githubAuthFromEnv,
  githubBaseUrl,
  NO_CREDENTIALS,
  writeIntervalFromEnv,
  type ClientOptions,
  type GitHubClient,
} from "./octokit.js";

/** How the runner reaches GitHub for one repository. */
export type GitHubAccess = (repository: string) => Promise<GitHubClient>;

/**
 * GitHub access from the environment (App credentials or GITHUB_TOKEN, GHE_HOST/GHE_PROTOCOL),
 * one client per repository, made on first use.
 */
export function githubAccessFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  options: Omit<ClientOptions, "baseUrl"> = {},
): GitHubAccess {
  const clients = new Map<string, Promise<GitHubClient>>();
  return (repository) => {
    let client = clients.get(repository);
    if (!client) {
      const auth = githubAuthFromEnv(env);
      if (!auth) {
        return Promise.reject(new InvalidInputError(NO_CREDENTIALS));
      }
      client = clientForRepository(repository, auth, {
        writeIntervalMs: writeIntervalFromEnv(env),
        ...options,
        baseUrl: githubBaseUrl(env),
      });
      client.catch(() => clients.delete(repository));
      clients.set(repository, client);
    }
    return client;
  };
}
