import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pw } from "../helpers/cli.js";
import { branches, git, makeRepo, removeTempDirs, tempDir, tree } from "../helpers/git.js";

let repo: string;
let root: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  repo = makeRepo().dir;
  root = join(tempDir(), "worktrees");
  env = { PW_HOME: join(tempDir(), "home"), PW_WORKTREES_ROOT: root };
});
afterEach(removeTempDirs);

const run = (...args: string[]) => pw(args, { env, cwd: repo });

/** What a refused command must leave exactly as it was. */
function snapshot() {
  return { branches: branches(repo), worktrees: git(repo, "worktree", "list", "--porcelain"), root: tree(root) };
}

describe("pw worktree", () => {
  it("creates a worktree on feature/<task> from the base and reports its status", async () => {
    const created = await run("worktree", "create", "demo", "task-001", "main");
    expect(created.code).toBe(0);
    const path = join(root, "demo", "task-001");
    expect(created.stdout).toContain(`created ${path}`);
    expect(git(path, "rev-parse", "--abbrev-ref", "HEAD").trim()).toBe("feature/task-001");
    expect(git(path, "rev-parse", "HEAD")).toBe(git(repo, "rev-parse", "main"));

    writeFileSync(join(path, "feature.txt"), "work\n");
    git(path, "add", "feature.txt");
    git(path, "commit", "--quiet", "-m", "add feature");
    writeFileSync(join(path, "notes.txt"), "draft\n");
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "main moves on");

    const status = JSON.parse((await run("worktree", "status", "demo", "task-001", "--json")).stdout);
    expect(status).toMatchObject({
      path,
      branch: "feature/task-001",
      base: "main",
      ahead: 1,
      behind: 1,
      dirty: ["notes.txt"],
      lastCommit: { subject: "add feature", author: "Test" },
    });
    const text = await run("worktree", "status", "demo", "task-001");
    expect(text.stdout).toContain("branch    feature/task-001");
    expect(text.stdout).toContain("main: 1 ahead, 1 behind");
    expect(text.stdout).toContain("notes.txt");
    expect(text.stdout).toContain("add feature");
  });

  it("takes HEAD as the branch checked out, and compares with that branch afterwards (a detached HEAD: its commit)", async () => {
    git(repo, "checkout", "--quiet", "-b", "trunk");
    const created = await run("worktree", "create", "demo", "h-1", "HEAD");
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/branch {2}feature\/h-1 from trunk \([0-9a-f]{10}\)/);
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "trunk moves on");
    expect(JSON.parse((await run("worktree", "status", "demo", "h-1", "--json")).stdout)).toMatchObject({ base: "trunk", ahead: 0, behind: 1 });

    const sha = git(repo, "rev-parse", "HEAD").trim();
    git(repo, "checkout", "--quiet", "--detach");
    expect((await run("worktree", "create", "demo", "h-2", "HEAD")).stdout).toContain(`from ${sha} (${sha.slice(0, 10)})`);
  });

  it("lowercases the task id for branch and directory", async () => {
    expect((await run("worktree", "create", "demo", "TASK-002", "main")).code).toBe(0);
    expect(existsSync(join(root, "demo", "task-002"))).toBe(true);
    expect(branches(repo)).toContain("refs/heads/feature/task-002");
  });

  it("lists a project's worktrees, and all of them", async () => {
    await run("worktree", "create", "demo", "a1", "main");
    await run("worktree", "create", "demo", "a2", "main");
    await run("worktree", "create", "other", "b1", "main");
    const demo = JSON.parse((await run("worktree", "list", "demo", "--json")).stdout);
    expect(demo.map((w: { task: string }) => w.task)).toEqual(["a1", "a2"]);
    const all = JSON.parse((await run("worktree", "list", "--json")).stdout);
    expect(all.map((w: { project: string; task: string }) => `${w.project}/${w.task}`)).toEqual(["demo/a1", "demo/a2", "other/b1"]);
    expect((await run("worktree", "list", "demo")).stdout).toMatch(/demo\s+a1\s+feature\/a1/);
  });

  it("works on --repo DIR from anywhere, and from inside a worktree", async () => {
    const elsewhere = tempDir();
    expect((await pw(["worktree", "create", "demo", "t1", "main", "--repo", repo], { env, cwd: elsewhere })).code).toBe(0);
    const inside = join(root, "demo", "t1");
    const removed = await pw(["worktree", "remove", "demo", "t1"], { env, cwd: inside });
    expect(removed.code).toBe(0);
    expect(branches(repo)).toEqual(["refs/heads/main"]);
  });

  it("removes a clean worktree and its branch", async () => {
    await run("worktree", "create", "demo", "t1", "main");
    const removed = await run("worktree", "remove", "demo", "t1");
    expect(removed).toMatchObject({ code: 0, stdout: `removed ${join(root, "demo", "t1")} and branch feature/t1\n` });
    expect(existsSync(join(root, "demo", "t1"))).toBe(false);
    expect(branches(repo)).toEqual(["refs/heads/main"]);
  });

  it("refuses to remove uncommitted work without --force", async () => {
    await run("worktree", "create", "demo", "t1", "main");
    const path = join(root, "demo", "t1");
    writeFileSync(join(path, "wip.txt"), "unsaved\n");
    const before = snapshot();
    const refused = await run("worktree", "remove", "demo", "t1");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("uncommitted changes (1 file: wip.txt)");
    expect(refused.stderr).toContain("--force");
    expect(snapshot()).toEqual(before);
    expect(existsSync(join(path, "wip.txt"))).toBe(true);

    expect((await run("worktree", "remove", "demo", "t1", "--force")).code).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it("refuses to drop commits that exist on no other branch without --force", async () => {
    await run("worktree", "create", "demo", "t1", "main");
    const path = join(root, "demo", "t1");
    writeFileSync(join(path, "done.txt"), "done\n");
    git(path, "add", "done.txt");
    git(path, "commit", "--quiet", "-m", "done");
    const refused = await run("worktree", "remove", "demo", "t1");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("branch feature/t1 has 1 commit on no other branch");
    git(path, "push", "--quiet", "origin", "feature/t1");
    expect((await run("worktree", "remove", "demo", "t1")).code).toBe(0);
  });

  it("prunes worktrees whose directories were deleted", async () => {
    await run("worktree", "create", "demo", "t1", "main");
    const path = join(root, "demo", "t1");
    const { rmSync } = await import("node:fs");
    rmSync(path, { recursive: true, force: true });
    const listed = JSON.parse((await run("worktree", "list", "demo", "--json")).stdout);
    expect(listed[0]).toMatchObject({ path, missing: true });
    const pruned = await run("worktree", "prune");
    expect(pruned).toMatchObject({ code: 0, stdout: `pruned ${path}\n` });
    expect((await run("worktree", "prune")).stdout).toBe("nothing to prune\n");
  });
});

describe("pw worktree: bad input changes nothing", () => {
  it.each([
    [["demo", "../x", "main"], 'task id "../x" is not allowed'],
    [["demo", "a/b", "main"], 'task id "a/b" is not allowed'],
    [["demo", "--", "-rf", "main"], 'task id "-rf" is not allowed'],
    [["demo", "", "main"], "task id is empty"],
    [["demo", "x".repeat(200), "main"], "200 characters long"],
    [["../demo", "t1", "main"], 'project name "../demo" is not allowed'],
    [["demo", "t1", "--", "-main"], 'base branch "-main" is not a valid name'],
  ])("create %j exits 2", async (args, message) => {
    const before = snapshot();
    const result = await run("worktree", "create", ...args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(snapshot()).toEqual(before);
  });

  it("treats a bare -rf as an unknown option (exit 2)", async () => {
    const before = snapshot();
    const result = await run("worktree", "create", "demo", "-rf", "main");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown option '-rf'");
    expect(snapshot()).toEqual(before);
  });

  it("refuses a base branch that does not exist (exit 1)", async () => {
    const before = snapshot();
    const result = await run("worktree", "create", "demo", "t1", "no-such-branch");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('base branch "no-such-branch" does not exist');
    expect(snapshot()).toEqual(before);
  });

  it("refuses an existing worktree and says where it is and how to remove it", async () => {
    await run("worktree", "create", "demo", "t1", "main");
    const before = snapshot();
    const result = await run("worktree", "create", "demo", "T1", "main");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`branch feature/t1 already exists (checked out at ${join(root, "demo", "t1")})`);
    expect(result.stderr).toContain("pw worktree remove demo T1");
    expect(snapshot()).toEqual(before);
  });

  it("refuses an existing branch that has no worktree", async () => {
    git(repo, "branch", "feature/t9");
    const before = snapshot();
    const result = await run("worktree", "create", "demo", "t9", "main");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("branch feature/t9 already exists (not checked out anywhere)");
    expect(result.stderr).toContain("git branch -D feature/t9");
    expect(snapshot()).toEqual(before);
  });

  it("refuses a path that is already taken", async () => {
    mkdirSync(join(root, "demo", "t2"), { recursive: true });
    const before = snapshot();
    const result = await run("worktree", "create", "demo", "t2", "main");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`worktree path ${join(root, "demo", "t2")} already exists`);
    expect(snapshot()).toEqual(before);
  });

  it("refuses a directory that is not a git repository (exit 2)", async () => {
    const plain = tempDir();
    const result = await pw(["worktree", "create", "demo", "t1", "main"], { env, cwd: plain });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${plain} is not a git repository`);
    expect(tree(root)).toEqual([]);
    expect(tree(plain)).toEqual([]);
  });

  it("says which worktree is missing for status and remove", async () => {
    for (const command of ["status", "remove"]) {
      const result = await run("worktree", command, "demo", "nope");
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("no worktree for demo/nope");
    }
  });
});
