import { statSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { simpleGit, type SimpleGit } from "simple-git";
import { GitError, InvalidInputError, NotARepositoryError, PwError } from "../core/errors.js";
import { gitEnvironment } from "./env.js";

/** The first meaningful line of what git said, so an error stays one line. */
function gitMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const lines = text.split("\n").map((line) => line.trim()).filter(Boolean);
  return lines.find((line) => /^(fatal|error):/.test(line)) ?? lines[0] ?? "git failed";
}

/** Git's closing lines after any failure to reach a remote: the reason is on an earlier line. */
const REMOTE_BOILERPLATE = /^(fatal: Could not read from remote repository\.|Please make sure you have the correct access rights|and the repository exists\.|git exited with code \d+)$/;

/**
 * Why a remote did not answer, in one line: ssh says it before git's generic closing lines
 * ("ssh: Could not resolve hostname ...", "git@github.com: Permission denied (publickey).").
 */
function remoteMessage(text: string): string {
  const lines = text.split("\n").map((line) => line.trim()).filter((line) => line && !REMOTE_BOILERPLATE.test(line));
  const line = lines.find((l) => /^(fatal|error):/.test(l)) ?? lines[0] ?? gitMessage(text);
  return line.replace(/^(fatal|error|remote): /, "");
}

/**
 * Git writes a new worktree's files under `.git/worktrees/<name>/` one after another, and any git
 * command that looks at all worktrees (`worktree add`, `worktree list`, `branch -D`, ...) dies
 * when it reads one of them while it is still empty. Several spawns at once meet this (git
 * 2.39: about one batch of three in thirty on a busy machine). And a `worktree prune` (the runner
 * runs one before it repairs a worker's worktree) takes away the directory of an add that has not
 * yet written its `locked` file, which that add then cannot write. It passes in milliseconds.
 */
export function isWorktreeRace(error: unknown): boolean {
  const text = error instanceof Error ? error.message : String(error);
  return (
    /failed to read \S*worktrees[\\/][^\s\\/]+[\\/](commondir|gitdir)\b/.test(text) ||
    /could not open '\S*worktrees[\\/][^\s\\/]+[\\/]locked' for writing/.test(text)
  );
}

/** How many times work is tried when it meets the worktree race. */
const RACE_ATTEMPTS = 5;

/**
 * Runs `work`, and again while it fails on the worktree race: up to five tries, waiting 20, 40,
 * 80 and 160 ms (jittered) between them. Any other failure, or the last one, is thrown.
 */
export async function retryingWorktreeRace<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= RACE_ATTEMPTS || !isWorktreeRace(error)) throw error;
      await sleep(10 * 2 ** attempt * (0.75 + Math.random() / 2));
    }
  }
}

/**
 * simple-git only fails a command that both exits non-zero and writes to stderr; a quiet
 * `show-ref --verify --quiet` that finds nothing would pass. Any non-zero exit is a failure here.
 */
function gitFor(
  baseDir: string,
  env: Record<string, string> = gitEnvironment(process.env),
  options: { timeoutMs?: number; allowEnvironment?: string[] } = {},
): SimpleGit {
  const git = simpleGit({
    baseDir,
    ...(options.timeoutMs ? { timeout: { block: options.timeoutMs, stdOut: false, stdErr: false } } : {}),
    ...(options.allowEnvironment ? { allowEnvironment: options.allowEnvironment } : {}),
    // only ever to switch them off: see NO_REPOSITORY_CODE (and the editor only ever to `true`,
    // so a rebase that goes on after a conflict keeps its commit's message without waiting)
    unsafe: { allowUnsafeHooksPath: true, allowUnsafeFsMonitor: true, allowUnsafeEditor: true },
    errors: (error, result) => {
      if (error || result.exitCode === 0) return error;
      return Buffer.concat([...result.stdErr, ...result.stdOut, Buffer.from(`git exited with code ${result.exitCode}`)]);
    },
  });
  return git.env(env);
}

/**
 * Agents write into worktrees, and a worktree shares `.git` with the main checkout: hooks and
 * an fsmonitor command an agent could have put there never run inside our own git calls, and
 * whatever else may run there finds none of the runner's secrets (see gitEnvironment).
 */
const NO_REPOSITORY_CODE = ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"];

/** A git checkout, driven through simple-git with argv arrays only. */
export class Repository {
  private constructor(
    /** The top-level directory of the checkout. */
    readonly root: string,
    /** The git directory its worktrees share (`<root>/.git` for an ordinary checkout). */
    readonly commonDir: string,
    private readonly git: SimpleGit,
  ) {}

  /** Opens the repository that contains `dir`; refuses a directory that is not in one. */
  static async open(dir: string): Promise<Repository> {
    const absolute = resolve(dir);
    let isDir = false;
    try {
      isDir = statSync(absolute).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) throw new InvalidInputError(`directory ${absolute} does not exist`);
    const probe = gitFor(absolute);
    let root = "";
    let common = "";
    try {
      // From inside a linked worktree, the repository is still the main checkout.
      const [commonDir = "", topLevel = ""] = (
        await probe.raw(["rev-parse", "--path-format=absolute", "--git-common-dir", "--show-toplevel"])
      )
        .trim()
        .split("\n");
      root = basename(commonDir) === ".git" ? dirname(commonDir) : topLevel;
      common = commonDir;
    } catch {
      root = "";
    }
    if (!root) {
      throw new NotARepositoryError(`${absolute} is not a git repository with a working tree: run inside one or pass --repo DIR`);
    }
    return new Repository(root, common, gitFor(root));
  }

  /**
   * Runs git with an argv array in the repository (or in `cwd`); failures become one-line
   * GitErrors. `push` keeps the GitHub token variables in git's environment, for a credential
   * helper; no other command gets them. A command that meets the worktree race (isWorktreeRace)
   * is tried again, unless `once`: for commands that may have changed something before dying,
   * whose caller takes that back before it tries again.
   */
  async run(args: string[], cwd?: string, options: { push?: boolean; once?: boolean } = {}): Promise<string> {
    const git = cwd || options.push ? gitFor(cwd ?? this.root, gitEnvironment(process.env, options)) : this.git;
    const once = () => git.raw([...NO_REPOSITORY_CODE, ...args]);
    try {
      return await (options.once ? once() : retryingWorktreeRace(once));
    } catch (error) {
      if (error instanceof PwError) throw error;
      throw new GitError(`git ${args[0]}: ${gitMessage(error)}`, { cause: error });
    }
  }

  /** Like run, but a failure means "no": for questions such as "does this ref exist?". */
  async tryRun(args: string[], cwd?: string): Promise<string | undefined> {
    try {
      return await this.run(args, cwd);
    } catch {
      return undefined;
    }
  }

  /**
   * Asks `remote` which branch its HEAD names (`git ls-remote --symref`), reaching it as a push
   * would (the push's environment, for a credential helper) but never waiting on a person: no
   * credential prompt, and the command is killed after `timeoutMs`. Undefined when HEAD names no
   * branch (an empty repository); a GitError when the remote does not answer.
   */
  async remoteHead(remote: string, timeoutMs: number): Promise<string | undefined> {
    const env = { ...gitEnvironment(process.env, { push: true }), GIT_TERMINAL_PROMPT: "0", GCM_INTERACTIVE: "never" };
    const git = gitFor(this.root, env, { timeoutMs, allowEnvironment: ["GIT_TERMINAL_PROMPT"] });
    let out: string;
    try {
      out = await git.raw([...NO_REPOSITORY_CODE, "ls-remote", "--symref", remote, "HEAD"]);
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      const reason = /block timeout reached/.test(text) ? `no answer within ${Math.round(timeoutMs / 1000)} s` : remoteMessage(text);
      throw new GitError(`git ls-remote: ${reason}`, { cause: error });
    }
    return /^ref: refs\/heads\/(\S+)\tHEAD$/m.exec(out)?.[1];
  }

  /** The branch `refs/remotes/<remote>/HEAD` names (set by a clone), or undefined. */
  async rememberedRemoteHead(remote: string): Promise<string | undefined> {
    const ref = (await this.tryRun(["symbolic-ref", "--quiet", `refs/remotes/${remote}/HEAD`]))?.trim();
    const prefix = `refs/remotes/${remote}/`;
    return ref?.startsWith(prefix) ? ref.slice(prefix.length) : undefined;
  }

  /** The commit a revision names, or undefined when it names none. */
  async resolveCommit(rev: string): Promise<string | undefined> {
    if (rev.startsWith("-")) return undefined;
    const sha = await this.tryRun(["rev-parse", "--verify", "--quiet", `${rev}^{commit}`]);
    return sha?.trim() || undefined;
  }

  /** Every local branch name, in one call (for checking many at once). */
  async localBranches(): Promise<Set<string>> {
    const out = await this.run(["for-each-ref", "--format=%(refname:short)", "refs/heads/"]);
    return new Set(out.split("\n").filter(Boolean));
  }

  async branchExists(branch: string): Promise<boolean> {
    return (await this.tryRun(["show-ref", "--verify", "--quiet", `refs/heads/${branch}`])) !== undefined;
  }
}
