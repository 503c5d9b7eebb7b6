import { createHash } from "node:crypto";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname, isAbsolute, join, normalize, sep } from "node:path";
import picomatch from "picomatch";
import { retryingWorktreeRace, type Repository } from "./repo.js";

/**
 * The git side of the warm pool: spare worktrees are checked out detached (they hold no
 * branch), and become a worker's worktree by a move and a branch switch, which cost a fraction
 * of a new checkout. On a large repository every git command that looks at the whole tree
 * costs tens of milliseconds, so a hand-out asks git once (`worktreeFiles`) and does the rest
 * itself.
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

/** What is in a worktree besides its commit, as one `git status` sees it. */
export interface WorktreeFiles {
  /** Every change that is not ignored (modified, staged, untracked at any depth), as status lists it (`XY path`). */
  changes: string[];
  /** The ignored paths, a directory that an ignore rule names once (`node_modules/`). */
  ignored: string[];
}

export async function worktreeFiles(repo: Repository, path: string): Promise<WorktreeFiles> {
  const out = await repo.run(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored=matching"], path);
  const files: WorktreeFiles = { changes: [], ignored: [] };
  const entries = out.split("\0");
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (!entry) continue;
    if (entry.startsWith("!! ")) files.ignored.push(entry.slice(3));
    else {
      files.changes.push(entry);
      // a rename or copy names its source in the next entry
      if (entry[0] === "R" || entry[0] === "C") i++;
    }
  }
  return files;
}

/** A hash of a worktree's changes: equal hashes, nobody changed it in between. */
export function changesHash(files: WorktreeFiles): string {
  return sha256(files.changes.join("\0"));
}

/** Deletes untracked paths (relative to the worktree, as status names them) from the worktree; never anything outside it. */
export function removeUntracked(worktree: string, paths: readonly string[]): void {
  for (const path of paths) {
    const clean = normalize(path);
    if (!clean || isAbsolute(clean) || clean === "." || clean.split(sep).includes("..")) continue;
    // a symlink is removed, never followed
    rmSync(join(worktree, clean), { recursive: true, force: true });
  }
}

/**
 * Whether a file matching `patterns` (globs, `**` for any depth) differs between commits `from`
 * and `to`: cheap, git compares only the trees that changed. A commit git cannot find counts as changed.
 */
export async function lockfilesChanged(repo: Repository, from: string, to: string, patterns: readonly string[]): Promise<boolean> {
  if (from === to) return false;
  const matches = picomatch([...patterns], { dot: true });
  const out = await repo.tryRun(["diff-tree", "-r", "--name-only", "--no-renames", "-z", from, to]);
  return out === undefined || out.split("\0").some((name) => name && matches(name));
}

/** Checks out `commit` detached in the worktree (a spare holds no branch). */
export async function detachAt(repo: Repository, path: string, commit: string): Promise<void> {
  await repo.run(["checkout", "--quiet", "--detach", commit], path);
}

/**
 * Makes `branch` at `commit` and checks it out in the worktree at `path`, which is clean and at
 * `from`. At the same commit only HEAD changes (no look at the files). The branch is created
 * only if it does not exist (never moved), and deleted again when the switch fails.
 */
export async function switchToNewBranch(repo: Repository, path: string, branch: string, commit: string, from: string): Promise<void> {
  await repo.run(["update-ref", `refs/heads/${branch}`, commit, ""]);
  try {
    if (from === commit) await repo.run(["symbolic-ref", "HEAD", `refs/heads/${branch}`], path);
    else await repo.run(["checkout", "--quiet", branch], path);
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
