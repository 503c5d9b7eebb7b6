import { createHash } from "node:crypto";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import picomatch from "picomatch";
import { retryingWorktreeRace, type Repository } from "./repo.js";

/**
 * The git side of the warm pool: spare worktrees are checked out detached (they hold no
 * branch), and become a worker's worktree by a branch switch and a move, which cost a fraction
 * of a new checkout.
 */

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Makes a detached worktree at `commit`; a failure takes back what it made. */
export async function addDetachedWorktree(repo: Repository, path: string, commit: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  await retryingWorktreeRace(async () => {
    try {
      await repo.run(["worktree", "add", "--quiet", "--detach", path, commit], undefined, { once: true });
    } catch (error) {
      await removeWorktreeByPath(repo, path);
      throw error;
    }
  });
}

/** Removes the worktree at `path` whatever state it is in (half-made, changed, already gone). */
export async function removeWorktreeByPath(repo: Repository, path: string): Promise<void> {
  await repo.tryRun(["worktree", "remove", "--force", "--force", path]);
  if (existsSync(path)) rmSync(path, { recursive: true, force: true });
  await repo.tryRun(["worktree", "prune"]);
}

/**
 * Every change in the worktree that is not ignored (modified, staged, untracked, at any depth),
 * as git status lists them: what tells a spare touched since it was made.
 */
export async function changesOf(repo: Repository, path: string): Promise<string> {
  return repo.run(["status", "--porcelain=v1", "-z", "--untracked-files=all"], path);
}

export function statusHash(changes: string): string {
  return sha256(changes);
}

/** The ignored paths in the worktree, a directory named once (`node_modules/`). */
export async function ignoredPaths(repo: Repository, path: string): Promise<string[]> {
  const out = await repo.run(["status", "--porcelain=v1", "-z", "--ignored=traditional", "--untracked-files=normal"], path);
  return out
    .split("\0")
    .filter((entry) => entry.startsWith("!! "))
    .map((entry) => entry.slice(3));
}

/**
 * A hash of the blobs of the files matching `patterns` (globs, `**` for any depth) at `commit`:
 * it changes when a lockfile setup reads changes.
 */
export async function lockfilesHash(repo: Repository, commit: string, patterns: readonly string[]): Promise<string> {
  const matches = picomatch([...patterns], { dot: true });
  const out = await repo.run(["ls-tree", "-r", "--full-tree", "-z", commit]);
  const entries = out.split("\0").filter((entry) => entry && matches(entry.slice(entry.indexOf("\t") + 1)));
  return sha256(entries.join("\0"));
}

/**
 * Removes every untracked file, ignored ones included, except `keep` (paths relative to the
 * worktree's top, as `ignoredPaths` names them), and puts back tracked files changed since HEAD.
 */
export async function cleanWorktree(repo: Repository, path: string, keep: readonly string[]): Promise<void> {
  await repo.run(["reset", "--quiet", "--hard", "HEAD"], path);
  // -x ignores .gitignore but honours -e: only what is named here survives
  await repo.run(["clean", "-ffdxq", ...keep.flatMap((p) => ["-e", `/${p.replace(/([\\*?[!#])/g, "\\$1")}`])], path);
}

/** Checks out `commit` detached in the worktree (a spare holds no branch). */
export async function detachAt(repo: Repository, path: string, commit: string): Promise<void> {
  await repo.run(["checkout", "--quiet", "--detach", commit], path);
}

/**
 * Makes `branch` at `commit` and checks it out in the worktree at `path`. The branch is created
 * only if it does not exist (never moved), and deleted again when the switch fails.
 */
export async function switchToNewBranch(repo: Repository, path: string, branch: string, commit: string): Promise<void> {
  await repo.run(["update-ref", `refs/heads/${branch}`, commit, ""]);
  try {
    await repo.run(["checkout", "--quiet", branch], path);
  } catch (error) {
    await repo.tryRun(["update-ref", "-d", `refs/heads/${branch}`, commit]);
    throw error;
  }
}

/** Moves the worktree at `from` to `to` (a rename: the checkout and what setup made go along). */
export async function moveWorktree(repo: Repository, from: string, to: string): Promise<void> {
  mkdirSync(dirname(to), { recursive: true });
  await repo.run(["worktree", "move", from, to]);
}
