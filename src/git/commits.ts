import type { Repository } from "./repo.js";

/** Used only when neither the repository nor the user has configured an identity. */
const FALLBACK_IDENTITY = ["-c", "user.name=parallel-workers", "-c", "user.email=parallel-workers@users.noreply.github.com"];

/** `-c user.name=... -c user.email=...` when neither the repository nor the user configured an identity. */
export async function identityArgs(repo: Repository, cwd: string): Promise<string[]> {
  const email = (await repo.tryRun(["config", "user.email"], cwd))?.trim();
  return email ? [] : FALLBACK_IDENTITY;
}

/**
 * Commits everything uncommitted in the worktree except `exclude` (files copied in from the main
 * checkout, which must never be committed). Returns false when there was nothing to commit.
 */
export async function commitAll(repo: Repository, cwd: string, message: string, exclude: readonly string[] = []): Promise<boolean> {
  // an ignored path is never added anyway, and git add refuses a pathspec that names one
  const ignored = exclude.length ? ((await repo.tryRun(["-c", "core.quotePath=false", "check-ignore", "--", ...exclude], cwd)) ?? "").split("\n") : [];
  const excluded = exclude.filter((file) => !ignored.includes(file));
  await repo.run(["add", "--all", "--", ".", ...excluded.map((file) => `:(exclude,literal)${file}`)], cwd);
  const staged = await repo.run(["diff", "--cached", "--name-only"], cwd);
  if (!staged.trim()) return false;
  await repo.run([...(await identityArgs(repo, cwd)), "commit", "--quiet", "--no-verify", "-m", message], cwd);
  return true;
}

/** Which of `paths` (files or directories) the commits on HEAD since it left `base` add or change. */
export async function committedPaths(repo: Repository, cwd: string, base: string, paths: readonly string[]): Promise<string[]> {
  if (paths.length === 0) return [];
  const out = await repo.run(["diff", "--name-only", "--no-renames", `${base}...HEAD`, "--", ...paths.map((p) => `:(literal)${p}`)], cwd);
  const changed = out.split("\n").filter(Boolean);
  return paths.filter((p) => changed.some((file) => file === p || file.startsWith(`${p}/`)));
}

/** Commits on HEAD that `base` does not have. */
export async function commitsAhead(repo: Repository, cwd: string, base: string): Promise<number> {
  return Number((await repo.run(["rev-list", "--count", `${base}..HEAD`], cwd)).trim());
}

/**
 * Pushes the branch to `origin` under the same name. No `--set-upstream`: that writes the
 * shared `.git/config`, and pushes of several workers at once then fight over its lock.
 */
export async function pushBranch(repo: Repository, cwd: string, branch: string): Promise<void> {
  await repo.run(["push", "--quiet", "origin", `refs/heads/${branch}:refs/heads/${branch}`], cwd, { push: true });
}

/** The unified diff of the worktree's HEAD against where it branched from `base`. */
export async function diffAgainstBase(repo: Repository, cwd: string, base: string): Promise<string> {
  return repo.run(["diff", "--no-color", "--no-ext-diff", "--find-renames", `${base}...HEAD`], cwd);
}
