import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

/**
 * What parallel-workers remembers about one worktree, kept in the worktree's private git
 * directory (`.git/worktrees/<name>/`): it goes wherever the worktree goes (`git worktree move`
 * keeps it) and goes away with it, and parallel worktrees never contend for one file.
 */

/** The worktree's private git directory, read from its `.git` file. */
export function worktreeGitDir(path: string): string | undefined {
  try {
    const match = /^gitdir: (.+)$/m.exec(readFileSync(join(path, ".git"), "utf8"));
    return match ? resolve(path, match[1]!.trim()) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Written once every setup command has succeeded in the worktree, so setup runs once per
 * worktree: whoever made it (a spawn, the runner, the pool), and again after a setup that failed.
 */
const SETUP_FILE = "pw-setup-done";

export interface SetupRecord {
  at: string;
  /** The commit setup ran at: a later commit that changes no lockfile keeps what setup made. */
  commit: string | null;
  /** A hash of what else setup depends on (its commands, the lockfile patterns, the port); null when unknown (an older release's record). */
  inputs: string | null;
  /** The ignored paths setup left, as `git status` names them (`node_modules/`): kept when a spare is cleaned. */
  outputs: string[];
  /** A hash of the worktree's changes right after setup: a spare whose changes differ was changed since. */
  status: string | null;
  /** The port setup ran with (PW_PORT, `{port}`), or null. */
  port: number | null;
}

function parseSetupRecord(text: string): SetupRecord {
  const textOrNull = (value: unknown) => (typeof value === "string" ? value : null);
  try {
    const data = JSON.parse(text) as Partial<Record<keyof SetupRecord, unknown>>;
    if (data && typeof data === "object" && typeof data.at === "string") {
      return {
        at: data.at,
        commit: textOrNull(data.commit),
        inputs: textOrNull(data.inputs),
        outputs: Array.isArray(data.outputs) ? data.outputs.filter((o): o is string => typeof o === "string") : [],
        status: textOrNull(data.status),
        port: typeof data.port === "number" ? data.port : null,
      };
    }
  } catch {
    // an older release wrote the time alone
  }
  return { at: text.trim(), commit: null, inputs: null, outputs: [], status: null, port: null };
}

/** The record of the setup that succeeded in the worktree at `path`, or undefined when none did. */
export function readSetupRecord(path: string): SetupRecord | undefined {
  const gitDir = worktreeGitDir(path);
  if (!gitDir) return undefined;
  try {
    return parseSetupRecord(readFileSync(join(gitDir, SETUP_FILE), "utf8"));
  } catch {
    return undefined;
  }
}

export function isSetupDone(path: string): boolean {
  const gitDir = worktreeGitDir(path);
  return gitDir !== undefined && existsSync(join(gitDir, SETUP_FILE));
}

export function writeSetupRecord(path: string, record: Omit<SetupRecord, "at">): void {
  const gitDir = worktreeGitDir(path);
  if (gitDir) writeFileSync(join(gitDir, SETUP_FILE), `${JSON.stringify({ at: new Date().toISOString(), ...record })}\n`);
}

/** Setup runs again in this worktree (what it made was cleaned away, or it depended on what changed). */
export function forgetSetup(path: string): void {
  const gitDir = worktreeGitDir(path);
  if (gitDir) rmSync(join(gitDir, SETUP_FILE), { force: true });
}

/**
 * The paths copied or linked into the worktree from the main checkout (`copy`,
 * `.worktreeinclude`, `links`): never committed, and removed when the worktree goes back to the pool.
 */
const BROUGHT_FILE = "pw-brought";

export function readBroughtPaths(path: string): string[] {
  const gitDir = worktreeGitDir(path);
  if (!gitDir) return [];
  try {
    const data = JSON.parse(readFileSync(join(gitDir, BROUGHT_FILE), "utf8")) as unknown;
    return Array.isArray(data) ? data.filter((p): p is string => typeof p === "string") : [];
  } catch {
    return [];
  }
}

/** Adds `paths` to what the worktree holds from the main checkout. */
export function recordBroughtPaths(path: string, paths: readonly string[]): void {
  const gitDir = worktreeGitDir(path);
  if (!gitDir || paths.length === 0) return;
  const all = [...new Set([...readBroughtPaths(path), ...paths])].sort();
  writeFileSync(join(gitDir, BROUGHT_FILE), `${JSON.stringify(all)}\n`);
}

export function forgetBroughtPaths(path: string): void {
  const gitDir = worktreeGitDir(path);
  if (gitDir) rmSync(join(gitDir, BROUGHT_FILE), { force: true });
}
