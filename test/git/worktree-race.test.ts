import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isWorktreeRace, Repository } from "../../src/git/repo.js";
import { createWorktree, ensureWorktree, listWorktrees } from "../../src/git/worktrees.js";
import { branches, git, makeRepo, removeTempDirs, tempDir } from "../helpers/git.js";

afterEach(() => removeTempDirs());

/**
 * What another `git worktree add` leaves for a moment while it writes a new worktree's files:
 * `locked` (so that `worktree prune` leaves it alone) and `gitdir` written, `commondir` still
 * empty. Any git command that reads every worktree dies on it (git 2.39: "failed to read
 * .git/worktrees/half/commondir: Success"). After `ms` the other add finishes; without `ms` it
 * never does.
 */
function halfMadeWorktree(repoDir: string, ms?: number): { finished: Promise<void> } {
  const admin = join(repoDir, ".git", "worktrees", "half");
  const checkout = join(tempDir("pw-half-"), "half");
  mkdirSync(admin, { recursive: true });
  writeFileSync(join(admin, "locked"), "initializing");
  writeFileSync(join(admin, "gitdir"), `${join(checkout, ".git")}\n`);
  writeFileSync(join(admin, "commondir"), "");
  if (ms === undefined) return { finished: new Promise(() => undefined) };
  return {
    finished: new Promise((resolve) =>
      setTimeout(() => {
        writeFileSync(join(admin, "commondir"), "../..\n");
        rmSync(join(admin, "locked"));
        resolve();
      }, ms),
    ),
  };
}

function setup() {
  const { dir } = makeRepo();
  const root = join(tempDir("pw-wt-"), "worktrees");
  return { dir, root, target: { worktreesRoot: root, project: "demo", taskId: "T-1" } };
}

describe("git's race between worktrees being made at once", () => {
  it("is what git itself says when it reads a worktree that is still being made", async () => {
    const { dir } = setup();
    halfMadeWorktree(dir);
    let said: unknown;
    try {
      git(dir, "worktree", "list");
    } catch (error) {
      said = error;
    }
    expect(isWorktreeRace(said)).toBe(true);
    expect(isWorktreeRace(new Error("fatal: 'feature/t-1' is already checked out at '/x'"))).toBe(false);
    // an add whose half-made directory another's `worktree prune` took away (three runners' pipelines at once)
    expect(isWorktreeRace(new Error("git worktree: fatal: could not open '.git/worktrees/s-13/locked' for writing: No such file or directory"))).toBe(true);
    expect(isWorktreeRace(new Error("fatal: could not open '/x/notes.txt' for writing: Permission denied"))).toBe(false);
  });

  it("a new worktree waits it out: made once, with its branch, and nothing extra", async () => {
    const { dir, root, target } = setup();
    const repo = await Repository.open(dir);
    const other = halfMadeWorktree(dir, 150);
    const made = await createWorktree(repo, target, "main");
    await other.finished;
    expect(made.branch).toBe("feature/t-1");
    expect(existsSync(join(root, "demo", "t-1", "README.md"))).toBe(true);
    expect(git(join(root, "demo", "t-1"), "rev-parse", "--abbrev-ref", "HEAD").trim()).toBe("feature/t-1");
    expect(branches(dir)).toEqual(["refs/heads/feature/t-1", "refs/heads/main"]);
    expect((await listWorktrees(repo, root)).map((w) => w.task)).toEqual(["t-1"]);
  });

  it("the runner's repair of a worker's worktree waits it out too", async () => {
    const { dir, root } = setup();
    const path = join(root, "demo", "t-2");
    const repo = await Repository.open(dir);
    const other = halfMadeWorktree(dir, 150);
    expect(await ensureWorktree(repo, { path, branch: "feature/t-2", base: "main" })).toEqual({ created: true });
    await other.finished;
    expect(git(path, "rev-parse", "--abbrev-ref", "HEAD").trim()).toBe("feature/t-2");
  });

  it("a worktree that never finishes: the add fails with git's words and leaves nothing behind", async () => {
    const { dir, root, target } = setup();
    halfMadeWorktree(dir);
    const repo = await Repository.open(dir);
    await expect(createWorktree(repo, target, "main")).rejects.toThrow(/failed to read .*worktrees\/half\/commondir/);
    rmSync(join(dir, ".git", "worktrees", "half"), { recursive: true });
    expect(branches(dir)).toEqual(["refs/heads/main"]);
    expect(existsSync(root)).toBe(false);
  });
});
