/**
 * Keeping a worker's branch in step with its pull request on `origin`, for rework rounds: fetch
 * the PR's head, bring the worktree to it, put a round's commits on top of what others pushed
 * meanwhile, and set aside what a round must not push. Argv arrays only; nothing here pushes.
 */
import { existsSync } from "node:fs";
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

/**
 * Fetches several branches from `origin` in one connection, each into its remote-tracking ref,
 * and returns the commit each names there (undefined for a branch origin does not have). One
 * fetch for a base and all the PRs on it: a fetch costs a connection, whatever it brings.
 */
export async function fetchBranches(repo: Repository, branches: readonly string[]): Promise<Map<string, string | undefined>> {
  const unique = [...new Set(branches)];
  const heads = new Map<string, string | undefined>();
  if (unique.length === 0) return heads;
  try {
    await repo.run(["fetch", "--quiet", "--no-tags", "origin", ...unique.map((b) => `+refs/heads/${b}:${trackingRef(b)}`)], repo.root, { push: true });
  } catch (error) {
    const text = String((error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message);
    if (!/couldn't find remote ref/i.test(text)) throw error;
    // one of them is gone from origin: each on its own, so the others still come
    for (const branch of unique) heads.set(branch, await fetchBranch(repo, branch));
    return heads;
  }
  for (const branch of unique) heads.set(branch, await repo.resolveCommit(trackingRef(branch)));
  return heads;
}

/** A file a rebase stopped on, with the base's commits that changed it since the branch left it. */
export interface ConflictingFile {
  path: string;
  commits: Array<{ sha: string; subject: string }>;
}

/** Where a rebase stopped: the files in conflict and the branch's commit it was putting on top. */
export interface RebaseStop {
  files: ConflictingFile[];
  commit: { sha: string; subject: string } | null;
}

/** The rebase in `cwd` is under way (stopped on a conflict): git keeps its state in the worktree's git directory while it is. */
export async function rebaseInProgress(repo: Repository, cwd: string): Promise<boolean> {
  const paths = (await repo.tryRun(["rev-parse", "--path-format=absolute", "--git-path", "rebase-merge", "--git-path", "rebase-apply"], cwd)) ?? "";
  return paths.split("\n").some((path) => path.trim() !== "" && existsSync(path.trim()));
}

async function unmergedFiles(repo: Repository, cwd: string): Promise<string[]> {
  return ((await repo.tryRun(["-c", "core.quotePath=false", "diff", "--name-only", "--diff-filter=U"], cwd)) ?? "").split("\n").filter(Boolean);
}

/** At most this many base commits are named per file in conflict. */
const COMMITS_PER_FILE = 20;

/** The stop a rebase onto `onto` is at: its files in conflict, each with the commits of `since..onto` that changed it. */
async function stopOf(repo: Repository, cwd: string, onto: string, since: string | undefined): Promise<RebaseStop> {
  const paths = await unmergedFiles(repo, cwd);
  const files: ConflictingFile[] = [];
  for (const path of paths) {
    const range = since ? `${since}..${onto}` : onto;
    const log = (await repo.tryRun(["log", `--max-count=${COMMITS_PER_FILE}`, "--format=%H%x09%s", range, "--", path], cwd)) ?? "";
    const commits = log
      .split("\n")
      .filter(Boolean)
      .map((line) => ({ sha: line.slice(0, line.indexOf("\t")), subject: line.slice(line.indexOf("\t") + 1) }));
    files.push({ path, commits });
  }
  const head = await repo.tryRun(["log", "-1", "--format=%H%x09%s", "REBASE_HEAD"], cwd);
  const commit = head?.trim() ? { sha: head.trim().slice(0, 40), subject: head.trim().slice(41) } : null;
  return { files, commit };
}

export type RebaseOutcome = { kind: "done" } | { kind: "stopped"; stop: RebaseStop };

/**
 * Rebases the worktree's branch onto `onto`: its commits since `upstream` (a merged parent's
 * head, whose commits are dropped; by default where the branch left `onto`'s history) replayed
 * on top. On a conflict the rebase stays under way (`continueRebase`, `abortRebase`) and the
 * stop says which files, with the commits of the base that changed each.
 */
export async function startRebase(repo: Repository, cwd: string, onto: string, upstream?: string, identity?: readonly string[]): Promise<RebaseOutcome> {
  const args = upstream ? ["rebase", "--quiet", "--no-autostash", "--onto", onto, upstream] : ["rebase", "--quiet", "--no-autostash", onto];
  try {
    await repo.run([...(identity ?? (await identityArgs(repo, cwd))), "-c", "core.editor=true", ...args], cwd, { once: true });
    return { kind: "done" };
  } catch (error) {
    if (!(await rebaseInProgress(repo, cwd))) throw error;
    // where the branch left the base: the rebase keeps the head it started from as ORIG_HEAD
    const since = upstream ?? (await repo.tryRun(["merge-base", "ORIG_HEAD", onto], cwd))?.trim();
    return { kind: "stopped", stop: await stopOf(repo, cwd, onto, since || undefined) };
  }
}

/** The worktree's head commit, and whether it has changes not committed (untracked files included), in one git call. */
export async function worktreeHead(repo: Repository, cwd: string): Promise<{ head: string; dirty: boolean }> {
  const lines = (await repo.run(["status", "--porcelain=v2", "--branch", "--untracked-files=normal"], cwd)).split("\n").filter(Boolean);
  const head = lines.find((line) => line.startsWith("# branch.oid "))?.slice("# branch.oid ".length).trim();
  if (!head || !/^[0-9a-f]{40}$/.test(head)) throw new GitError(`the worktree ${cwd} has no commit checked out`);
  return { head, dirty: lines.some((line) => !line.startsWith("# ")) };
}

/** Of `refs`, those whose commit has `commit` in its history, in one git call. */
export async function refsContaining(repo: Repository, commit: string, refs: readonly string[]): Promise<Set<string>> {
  if (refs.length === 0) return new Set();
  const out = await repo.run(["for-each-ref", "--format=%(refname)", `--contains=${commit}`, ...refs]);
  return new Set(out.split("\n").filter(Boolean));
}

/**
 * Goes on with a rebase stopped on a conflict once its files are resolved: everything in the
 * worktree is staged (but `exclude`: files brought from the main checkout) and the rebase
 * continues, to its end or its next stop.
 */
export async function continueRebase(
  repo: Repository,
  cwd: string,
  onto: string,
  since: string | undefined,
  exclude: readonly string[] = [],
): Promise<RebaseOutcome> {
  const excluded = exclude.map((file) => `:(exclude,literal)${file}`);
  await repo.run(["add", "--all", "--", ".", ...excluded], cwd);
  try {
    // core.editor=true: the commit keeps its message, no editor waits on nobody
    await repo.run([...(await identityArgs(repo, cwd)), "-c", "core.editor=true", "rebase", "--continue"], cwd, { once: true });
    return { kind: "done" };
  } catch (error) {
    if (!(await rebaseInProgress(repo, cwd))) throw error;
    if ((await unmergedFiles(repo, cwd)).length === 0) {
      // the stop's commit became empty (its change is on the base already): nothing to keep
      const empty = await repo.tryRun(["diff", "--cached", "--quiet"], cwd);
      if (empty !== undefined) {
        try {
          await repo.run([...(await identityArgs(repo, cwd)), "-c", "core.editor=true", "rebase", "--skip"], cwd, { once: true });
          return { kind: "done" };
        } catch (skipped) {
          if (!(await rebaseInProgress(repo, cwd))) throw skipped;
        }
      }
    }
    return { kind: "stopped", stop: await stopOf(repo, cwd, onto, since) };
  }
}

/** Takes a rebase under way back: the branch as it was before it. */
export async function abortRebase(repo: Repository, cwd: string): Promise<void> {
  await repo.tryRun(["rebase", "--abort"], cwd);
}

/** Lines that are conflict markers git leaves in a file. */
const CONFLICT_MARKER = /^(<{7}|>{7})(\s|$)|^={7}$/m;

/** True when `text` still holds a conflict marker. */
export function hasConflictMarkers(text: string): boolean {
  return CONFLICT_MARKER.test(text);
}

/** The outcome of one branch of a push with leases. */
export type LeasedPush = { ok: true; updated: boolean } | { ok: false; reason: string };

/**
 * Pushes several branches to `origin` in one connection, each with `--force-with-lease` against
 * the head the caller knows it at: a branch someone else moved meanwhile is refused (stale info)
 * and the others still go. From `cwd` (the main checkout: a worktree's own git files are an
 * agent's to change). Returns each branch's outcome.
 */
export async function pushWithLeases(repo: Repository, cwd: string, branches: ReadonlyArray<{ branch: string; expected: string }>): Promise<Map<string, LeasedPush>> {
  const outcomes = new Map<string, LeasedPush>();
  if (branches.length === 0) return outcomes;
  const args = ["push", "--porcelain"];
  for (const { branch, expected } of branches) args.push(`--force-with-lease=refs/heads/${branch}:${expected}`);
  args.push("origin", ...branches.map(({ branch }) => `refs/heads/${branch}:refs/heads/${branch}`));
  let out: string;
  try {
    out = await repo.run(args, cwd, { push: true });
  } catch (error) {
    // a refused branch fails the whole command; what git said per branch is in its output
    out = String((error as { cause?: { message?: string } }).cause?.message ?? "");
    if (!/^[!=+*\- ]\trefs\/heads\//m.test(out)) throw error;
  }
  for (const line of out.split("\n")) {
    const match = /^([!=+*\- ])\trefs\/heads\/(.+?):refs\/heads\/\S+\t(.*)$/.exec(line);
    if (!match) continue;
    const [, flag, branch, summary] = match as unknown as [string, string, string, string];
    outcomes.set(branch, flag === "!" ? { ok: false, reason: summary.trim() } : { ok: true, updated: flag !== "=" });
  }
  for (const { branch } of branches) if (!outcomes.has(branch)) outcomes.set(branch, { ok: false, reason: "git said nothing about it" });
  return outcomes;
}
