import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { GitError, InvalidInputError, NotFoundError, PwError } from "../core/errors.js";
import { branchForTask, parseProjectName, parseTaskId, worktreePathFor } from "../core/names.js";
import { retryingWorktreeRace, type Repository } from "./repo.js";
import { fetchBranch, trackingRef } from "./sync.js";
import { worktreeGitDir } from "./worktree-state.js";

/**
 * The base a worktree was made from, kept in the worktree's own git directory
 * (`.git/worktrees/<name>/pw-base`) so `status` can compare. Per worktree, so parallel creations
 * never contend for a lock, and it goes when the worktree goes.
 */
const BASE_FILE = "pw-base";

export function recordBase(path: string, base: string): void {
  const gitDir = worktreeGitDir(path);
  if (gitDir) writeFileSync(join(gitDir, BASE_FILE), `${base}\n`);
}

function recordedBase(path: string): string | null {
  const gitDir = worktreeGitDir(path);
  try {
    return gitDir ? readFileSync(join(gitDir, BASE_FILE), "utf8").trim() || null : null;
  } catch {
    return null;
  }
}

export interface WorktreeTarget {
  worktreesRoot: string;
  project: string;
  taskId: string;
}

export interface WorktreeInfo {
  path: string;
  branch: string | null;
  head: string | null;
  project: string;
  /** The directory name: the task id, lowercased. */
  task: string;
  /** Registered in git, but its directory is gone. */
  missing: boolean;
}

export interface CreatedWorktree {
  path: string;
  branch: string;
  base: string;
  baseCommit: string;
}

export interface WorktreeStatus {
  path: string;
  branch: string;
  base: string | null;
  ahead: number | null;
  behind: number | null;
  dirty: string[];
  lastCommit: { sha: string; subject: string; author: string; date: string } | null;
}

interface ListedWorktree {
  path: string;
  head: string | null;
  branch: string | null;
}

function parsePorcelain(output: string): ListedWorktree[] {
  const entries: ListedWorktree[] = [];
  for (const block of output.split("\n\n")) {
    const entry: ListedWorktree = { path: "", head: null, branch: null };
    for (const line of block.split("\n")) {
      if (line.startsWith("worktree ")) entry.path = line.slice("worktree ".length);
      else if (line.startsWith("HEAD ")) entry.head = line.slice("HEAD ".length);
      else if (line.startsWith("branch ")) entry.branch = line.slice("branch ".length).replace(/^refs\/heads\//, "");
    }
    if (entry.path) entries.push(entry);
  }
  return entries;
}

async function listAll(repo: Repository): Promise<ListedWorktree[]> {
  return parsePorcelain(await repo.run(["worktree", "list", "--porcelain"]));
}

function removeCommand(project: string, taskId: string): string {
  return `\`pw worktree remove ${project} ${taskId}\``;
}

/**
 * Makes branch `feature/<task>` from `base` and checks it out at `<root>/<project>/<task>`.
 * Everything is checked first; if git fails half-way, what was made is taken back.
 */
export async function createWorktree(repo: Repository, target: WorktreeTarget, base: string): Promise<CreatedWorktree> {
  const project = parseProjectName(target.project);
  const taskId = parseTaskId(target.taskId);
  if (!base || base.startsWith("-")) throw new InvalidInputError(`base branch ${JSON.stringify(base)} is not a valid name`);
  const branch = branchForTask(taskId);
  const path = worktreePathFor(target.worktreesRoot, project, taskId);

  const baseCommit = await repo.resolveCommit(base);
  if (!baseCommit) {
    throw new NotFoundError(`base branch "${base}" does not exist in ${repo.root}: create or fetch it, or pick another base`);
  }
  if (await repo.branchExists(branch)) {
    const holder = (await listAll(repo)).find((w) => w.branch === branch);
    const where = holder ? `checked out at ${holder.path}` : "not checked out anywhere";
    const fix = holder ? `remove it with ${removeCommand(project, taskId)}` : `delete it with \`git branch -D ${branch}\``;
    throw new PwError(`branch ${branch} already exists (${where}): ${fix}`);
  }
  if (existsSync(path)) {
    throw new PwError(`worktree path ${path} already exists: remove it with ${removeCommand(project, taskId)} or move it aside`);
  }

  // "HEAD" is recorded as the branch it names: `status` then compares with that branch, not with the worktree's own HEAD
  const named = base === "HEAD" ? (await repo.tryRun(["symbolic-ref", "--quiet", "--short", "HEAD"]))?.trim() || baseCommit : base;
  return addWorktree(repo, { path, branch, base: named, baseCommit });
}

/**
 * The effect alone, for callers that checked everything already: `git worktree add -b`, and on
 * failure everything it made is taken back (worktree, branch, new parent directories). An add
 * that met the worktree race is taken back the same way and tried again.
 */
export async function addWorktree(repo: Repository, target: CreatedWorktree): Promise<CreatedWorktree> {
  return retryingWorktreeRace(() => addWorktreeOnce(repo, target));
}

async function addWorktreeOnce(repo: Repository, target: CreatedWorktree): Promise<CreatedWorktree> {
  const { path, branch, base, baseCommit } = target;
  const madeDirs = makeParents(dirname(path));
  let added = false;
  try {
    // `-b` makes the branch before git looks at the other worktrees: not safe to repeat as is
    await repo.run(["worktree", "add", "--quiet", "--no-track", "-b", branch, path, baseCommit], undefined, { once: true });
    added = true;
    recordBase(path, base);
  } catch (error) {
    if (added) {
      await repo.tryRun(["worktree", "remove", "--force", path]);
      await repo.tryRun(["branch", "-D", branch]);
    } else {
      // `branch -D` reads every worktree and can meet the same race; this cannot, and deletes
      // the branch only while it is still the one just made
      await repo.tryRun(["update-ref", "-d", `refs/heads/${branch}`, baseCommit]);
    }
    await repo.tryRun(["worktree", "prune"]);
    for (const dir of madeDirs.reverse()) tryRmdir(dir);
    throw error;
  }
  return target;
}

/** Creates the missing parents of `dir`; returns the ones it made, outermost first. */
function makeParents(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d); d = dirname(d)) missing.unshift(d);
  mkdirSync(dir, { recursive: true });
  return missing;
}

function tryRmdir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty or already gone: leave it
  }
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel !== "" && !rel.startsWith("..") && !rel.startsWith(sep) && !rel.includes(sep);
}

/** The worktrees of `project` (all projects when omitted) under the worktrees root. */
export async function listWorktrees(repo: Repository, worktreesRoot: string, project?: string): Promise<WorktreeInfo[]> {
  const name = project === undefined ? undefined : parseProjectName(project);
  const result: WorktreeInfo[] = [];
  for (const w of await listAll(repo)) {
    const projectDir = dirname(w.path);
    if (!isInside(projectDir, worktreesRoot)) continue;
    const projectName = relative(worktreesRoot, projectDir);
    if (name !== undefined && projectName !== name) continue;
    result.push({
      path: w.path,
      branch: w.branch,
      head: w.head,
      project: projectName,
      task: relative(projectDir, w.path),
      missing: !existsSync(w.path),
    });
  }
  return result;
}

async function findWorktree(repo: Repository, target: WorktreeTarget): Promise<ListedWorktree> {
  const project = parseProjectName(target.project);
  const taskId = parseTaskId(target.taskId);
  const path = worktreePathFor(target.worktreesRoot, project, taskId);
  const found = (await listAll(repo)).find((w) => w.path === path);
  if (!found) throw new NotFoundError(`no worktree for ${project}/${taskId} at ${path}: see \`pw worktree list ${project}\``);
  return found;
}

/** Files with uncommitted changes (untracked included), as `git status --porcelain` names them. */
export async function dirtyFiles(repo: Repository, path: string): Promise<string[]> {
  const out = await repo.run(["status", "--porcelain=v1", "--untracked-files=all"], path);
  return out
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => line.slice(3));
}

/** How many commits of `branch` no other branch, remote branch or tag holds. */
async function unsavedCommits(repo: Repository, branch: string): Promise<number> {
  const out = await repo.run([
    "rev-list",
    "--count",
    `refs/heads/${branch}`,
    "--not",
    `--exclude=${branch}`,
    "--branches",
    "--remotes",
    "--tags",
  ]);
  return Number(out.trim());
}

export interface RemovedWorktree {
  path: string;
  branch: string | null;
}

/**
 * Removes the worktree and its branch. Refuses, unless `force`, when it holds uncommitted changes
 * or commits that exist nowhere else, so no work is lost by accident.
 */
export async function removeWorktree(repo: Repository, target: WorktreeTarget, force = false): Promise<RemovedWorktree> {
  const found = await findWorktree(repo, target);
  const exists = existsSync(found.path);
  if (!force && exists) {
    const dirty = await dirtyFiles(repo, found.path);
    if (dirty.length > 0) {
      const shown = dirty.slice(0, 3).join(", ") + (dirty.length > 3 ? ", ..." : "");
      throw new PwError(
        `worktree ${found.path} has uncommitted changes (${dirty.length} file${dirty.length === 1 ? "" : "s"}: ${shown}): commit them or pass --force`,
      );
    }
  }
  if (!force && found.branch) {
    const unsaved = await unsavedCommits(repo, found.branch);
    if (unsaved > 0) {
      throw new PwError(
        `branch ${found.branch} has ${unsaved} commit${unsaved === 1 ? "" : "s"} on no other branch: push or merge ${unsaved === 1 ? "it" : "them"}, or pass --force`,
      );
    }
  }
  if (exists) await repo.run(["worktree", "remove", ...(force ? ["--force"] : []), found.path]);
  else await repo.run(["worktree", "prune"]);
  if (found.branch) await repo.run(["branch", "-D", found.branch]);
  tryRmdir(dirname(found.path));
  return { path: found.path, branch: found.branch };
}

/** Forgets worktrees whose directories are gone; returns the paths git pruned. */
export async function pruneWorktrees(repo: Repository): Promise<string[]> {
  const before = await listAll(repo);
  await repo.run(["worktree", "prune"]);
  const after = new Set((await listAll(repo)).map((w) => w.path));
  return before.map((w) => w.path).filter((path) => !after.has(path));
}

export async function worktreeStatus(repo: Repository, target: WorktreeTarget): Promise<WorktreeStatus> {
  const found = await findWorktree(repo, target);
  if (!existsSync(found.path)) {
    throw new GitError(`worktree ${found.path} is registered but its directory is gone: run \`pw worktree prune\``);
  }
  const branch = found.branch ?? "(detached)";
  const base = recordedBase(found.path);
  let ahead: number | null = null;
  let behind: number | null = null;
  if (base && (await repo.resolveCommit(base))) {
    const counts = await repo.run(["rev-list", "--left-right", "--count", `${base}...HEAD`], found.path);
    const [left, right] = counts.trim().split(/\s+/).map(Number);
    behind = left ?? null;
    ahead = right ?? null;
  }
  const log = await repo.tryRun(["log", "-1", "--format=%H%x00%s%x00%an%x00%aI"], found.path);
  const [sha, subject, author, date] = (log ?? "").trim().split("\0");
  return {
    path: found.path,
    branch,
    base,
    ahead,
    behind,
    dirty: await dirtyFiles(repo, found.path),
    lastCommit: sha ? { sha, subject: subject ?? "", author: author ?? "", date: date ?? "" } : null,
  };
}


export interface EnsureWorktreeInput {
  path: string;
  branch: string;
  base: string;
  /**
   * The branch may have been pushed from another machine (a worker with a PR, started again
   * elsewhere): without a local branch, origin's is fetched and the worktree starts from it.
   */
  pushed?: boolean;
}

/**
 * Makes sure the worktree a worker's record names exists and is usable, whatever an interrupted
 * spawn left behind: a half-made directory, a registered worktree whose directory is gone, or a
 * branch without its worktree. Returns whether it had to (re)create it.
 */
export async function ensureWorktree(repo: Repository, input: EnsureWorktreeInput): Promise<{ created: boolean }> {
  const registered = (await listAll(repo)).find((w) => w.path === input.path);
  if (registered && registered.branch === input.branch && existsSync(input.path)) {
    const head = await repo.tryRun(["rev-parse", "--verify", "--quiet", "HEAD"], input.path);
    if (head?.trim()) return { created: false };
  }
  if (registered) await repo.tryRun(["worktree", "remove", "--force", "--force", input.path]);
  // Only ever this worker's own directory under the worktrees root, named by a validated task id.
  if (existsSync(input.path)) rmSync(input.path, { recursive: true, force: true });
  await repo.run(["worktree", "prune"]);
  mkdirSync(dirname(input.path), { recursive: true });
  if (await repo.branchExists(input.branch)) {
    await repo.run(["worktree", "add", "--quiet", input.path, input.branch]);
  } else if (input.pushed && (await fetchBranch(repo, input.branch))) {
    await repo.run(["branch", "--no-track", input.branch, trackingRef(input.branch)]);
    await repo.run(["worktree", "add", "--quiet", input.path, input.branch]);
  } else {
    const baseCommit = await repo.resolveCommit(input.base);
    if (!baseCommit) throw new NotFoundError(`base branch "${input.base}" does not exist in ${repo.root}`);
    await repo.run(["branch", "--no-track", input.branch, baseCommit]);
    await repo.run(["worktree", "add", "--quiet", input.path, input.branch]);
  }
  recordBase(input.path, input.base);
  return { created: true };
}
