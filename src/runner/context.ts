import { basename } from "node:path";
import { loadRepoConfig, type Paths, type RepoConfig } from "../config.js";
import { InvalidInputError } from "../core/errors.js";
import { parseProjectName } from "../core/names.js";
import { repositoryFromRemoteUrl } from "../core/repository.js";
import type { GitConfigGuard } from "../git/config-guard.js";
import { Repository } from "../git/repo.js";

/** A local checkout the runner serves: git, its configuration, its GitHub name and project. */
export interface RepoContext {
  repo: Repository;
  config: RepoConfig;
  /** owner/name on GitHub, from the config or the origin remote; null when neither says. */
  repository: string | null;
  /** The default project name for its worktrees. */
  project: string;
  /**
   * The git configuration as trusted when this process first started an agent here; checked
   * before each push the runner makes (see GitConfigGuard).
   */
  configGuard?: Promise<GitConfigGuard>;
}

export async function openRepoContext(dir: string, paths: Paths, env: NodeJS.ProcessEnv = process.env): Promise<RepoContext> {
  const repo = await Repository.open(dir);
  const remoteUrl = (await repo.tryRun(["remote", "get-url", "origin"]))?.trim();
  const fromRemote = remoteUrl ? repositoryFromRemoteUrl(remoteUrl) : undefined;
  const config = loadRepoConfig(repo.root, paths, fromRemote, env);
  const candidate = config.repository?.split("/")[1] ?? basename(repo.root);
  let project: string;
  try {
    project = parseProjectName(candidate);
  } catch {
    throw new InvalidInputError(`cannot name a project after "${candidate}": pass --project NAME`);
  }
  return { repo, config, repository: config.repository, project };
}
