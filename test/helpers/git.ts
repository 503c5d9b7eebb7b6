import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const made: string[] = [];

/** A fresh temporary directory, removed by `removeTempDirs`. */
export function tempDir(prefix = "pw-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Runs real git; test setup only. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "Test",
      GIT_AUTHOR_EMAIL: "test@example.com",
      GIT_COMMITTER_NAME: "Test",
      GIT_COMMITTER_EMAIL: "test@example.com",
    },
  });
}

/**
 * A repository on `main` (or `options.branch`) with one commit, and a local bare repository as
 * its `origin`, whose HEAD names that branch.
 */
export function makeRepo(
  files: Record<string, string> = { "README.md": "# demo\n" },
  options: { branch?: string } = {},
): { dir: string; origin: string } {
  const branch = options.branch ?? "main";
  const root = tempDir("pw-repo-");
  const dir = join(root, "work");
  const origin = join(root, "origin.git");
  mkdirSync(dir);
  git(root, "init", "--quiet", "--bare", "-b", branch, origin);
  git(dir, "init", "--quiet", "-b", branch);
  git(dir, "config", "user.name", "Test");
  git(dir, "config", "user.email", "test@example.com");
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  git(dir, "add", "-A");
  git(dir, "commit", "--quiet", "-m", "initial commit");
  git(dir, "remote", "add", "origin", origin);
  git(dir, "push", "--quiet", "origin", branch);
  return { dir, origin };
}

export function branches(dir: string): string[] {
  return git(dir, "for-each-ref", "--format=%(refname)", "refs/heads").split("\n").filter(Boolean).sort();
}

/** Every path below `dir` (relative), for "nothing changed on disk" assertions. */
export function tree(dir: string): string[] {
  try {
    return (readdirSync(dir, { recursive: true }) as string[]).sort();
  } catch {
    return [];
  }
}
