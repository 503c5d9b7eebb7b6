/**
 * Keeping a worker's branch in step with its pull request on `origin`, for rework rounds: fetch
 * the PR's head, bring the worktree to it, put a round's commits on top of what others pushed
 * meanwhile, and set aside what a round must not push. Argv arrays only; nothing here pushes.
 */
import { GitError } from "../core/errors.js";
import { identityArgs } from "./commits.js";
import type { Repository } from "./repo.js";

/** Where the fetched head of a worker's branch is kept: the remote-tracking ref git itself would use. */
export function trackingRef(branch: string): string {
  return `refs/remotes/origin/${branch}`;
}

/**
 * Fetches `branch` from `origin` into its remote-tracking ref, from the main checkout (a
 * worktree's own git files are an agent's to change), and returns the commit it names there;
 * undefined when origin has no such branch.
 */
export async function fetchBranch(repo: Repository, branch: string): Promise<string | undefined> {
  try {
    await repo.run(["fetch", "--quiet", "--no-tags", "origin", `+refs/heads/${branch}:${trackingRef(branch)}`], repo.root, { push: true });
  } catch (error) {
    const text = String((error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message);
    if (/couldn't find remote ref/i.test(text)) return undefined;
    throw error;
  }
  return repo.resolveCommit(trackingRef(branch));
}

export async function headOf(repo: Repository, cwd: string): Promise<string> {
  return (await repo.run(["rev-parse", "--verify", "HEAD"], cwd)).trim();
}

/** True when the worktree has changes not committed (untracked files included). */
export async function isDirty(repo: Repository, cwd: string): Promise<boolean> {
  return (await repo.run(["status", "--porcelain", "--untracked-files=normal"], cwd)).trim().length > 0;
}

export async function isAncestor(repo: Repository, ancestor: string, descendant: string): Promise<boolean> {
  return (await repo.tryRun(["merge-base", "--is-ancestor", ancestor, descendant])) !== undefined;
}

/** A rebase that could not place the worktree's commits: the files in conflict. */
export class RebaseConflict extends GitError {
  constructor(
    readonly onto: string,
    readonly files: readonly string[],
  ) {
    super(`the branch's commits conflict with ${onto.slice(0, 7)} in ${files.length ? files.join(", ") : "some files"}`);
  }
}

/**
 * Brings the worktree's branch onto `onto`: a fast-forward when it has nothing of its own, else
 * its own commits replayed on top. A conflict is taken back (`rebase --abort`, the branch as it
 * was) and thrown as a RebaseConflict naming the files.
 */
export async function rebaseOnto(repo: Repository, cwd: string, onto: string): Promise<void> {
  try {
    await repo.run([...(await identityArgs(repo, cwd)), "rebase", "--quiet", "--no-autostash", onto], cwd, { once: true });
  } catch (error) {
    const files = ((await repo.tryRun(["diff", "--name-only", "--diff-filter=U"], cwd)) ?? "").split("\n").filter(Boolean);
    const rebasing = await repo.tryRun(["rev-parse", "--verify", "--quiet", "REBASE_HEAD"], cwd);
    await repo.tryRun(["rebase", "--abort"], cwd);
    if (rebasing !== undefined || files.length > 0) throw new RebaseConflict(onto, files);
    throw error;
  }
}

/** The commits in `from..to`, oldest first. */
export async function commitsBetween(repo: Repository, cwd: string, from: string, to = "HEAD"): Promise<Array<{ sha: string; subject: string }>> {
  const out = await repo.run(["log", "--reverse", "--format=%H%x09%s", `${from}..${to}`], cwd);
  return out
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const tab = line.indexOf("\t");
      return { sha: line.slice(0, tab), subject: line.slice(tab + 1) };
    });
}

/** The files `from..to` changes. */
export async function filesBetween(repo: Repository, cwd: string, from: string, to = "HEAD"): Promise<string[]> {
  const out = await repo.run(["diff", "--name-only", "--no-renames", from, to], cwd);
  return out.split("\n").filter(Boolean);
}

/** Keeps HEAD under `ref` (a ref outside refs/heads, so no branch list shows it), then puts the branch at `to`. */
export async function setAside(repo: Repository, cwd: string, ref: string, to: string): Promise<void> {
  await repo.run(["update-ref", ref, "HEAD"], cwd);
  await resetTo(repo, cwd, to);
}

/** Puts the worktree's branch (and files) at `to`: for a branch with nothing of its own, a fast-forward. */
export async function resetTo(repo: Repository, cwd: string, to: string): Promise<void> {
  await repo.run(["reset", "--quiet", "--hard", to], cwd);
}
