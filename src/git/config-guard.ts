import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Repository } from "./repo.js";

/** Sections whose keys run nothing and send nothing anywhere: changes to them are accepted. */
const HARMLESS_SECTIONS = new Set(["advice", "blame", "branch", "color", "column", "format", "gui", "i18n", "log", "pull", "rerere", "status", "user"]);
/** `core` keys that name a program to run or move the repository. */
const RISKY_CORE_KEYS = new Set(["askpass", "bare", "editor", "fsmonitor", "gitproxy", "hookspath", "pager", "sshcommand", "worktree"]);

/** A key (as `git config --list` prints it) that can run a program or change where git connects. */
export function isRiskyConfigKey(key: string): boolean {
  const parts = key.split(".");
  const section = parts[0]!.toLowerCase();
  if (section === "core") return RISKY_CORE_KEYS.has(parts.at(-1)!.toLowerCase());
  return !HARMLESS_SECTIONS.has(section);
}

/** The global configuration files git reads (`$XDG_CONFIG_HOME/git/config` and `~/.gitconfig`). */
function globalConfigFiles(env: NodeJS.ProcessEnv): string[] {
  const home = env.HOME || homedir();
  const xdg = env.XDG_CONFIG_HOME || join(home, ".config");
  return [join(xdg, "git", "config"), join(home, ".gitconfig")];
}

function readOrNull(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}

interface Trusted {
  path: string;
  bytes: Buffer | null;
  risky: string;
}

export interface RejectedConfig {
  /** The configuration file that changed; it holds the trusted content again. */
  path: string;
  /** Where the changed content was kept, for a person to look at; null when the file had been deleted. */
  keptAs: string | null;
}

/**
 * Agents run as the same user as the runner and can write the repository's shared `.git/config`
 * and the user's global git configuration, which the runner's own push reads. The guard
 * remembers their risky entries (anything that can run a program or redirect a connection:
 * credential helpers, ssh commands, filters, url rewrites, remotes, includes, ...) when the
 * runner starts; before each push, a file whose risky entries changed is put back as it was,
 * and the changed content is kept beside it. Harmless changes (upstream branches, user name)
 * are accepted as the new trusted content.
 */
export class GitConfigGuard {
  private constructor(
    private readonly repo: Repository,
    private readonly trusted: Trusted[],
  ) {}

  static async take(repo: Repository, env: NodeJS.ProcessEnv = process.env): Promise<GitConfigGuard> {
    const paths = [join(repo.commonDir, "config"), ...globalConfigFiles(env)];
    const trusted: Trusted[] = [];
    for (const path of paths) {
      const bytes = readOrNull(path);
      trusted.push({ path, bytes, risky: bytes === null ? "" : await riskyEntries(repo, path) });
    }
    return new GitConfigGuard(repo, trusted);
  }

  /**
   * Puts back each file whose risky entries changed since they were trusted, keeping the
   * changed content as `<file>.pw-rejected-<tag>`; returns what it put back (empty: all is well).
   */
  async restoreIfChanged(tag: string): Promise<RejectedConfig[]> {
    const rejected: RejectedConfig[] = [];
    for (const entry of this.trusted) {
      const now = readOrNull(entry.path);
      if (now === null ? entry.bytes === null : entry.bytes !== null && now.equals(entry.bytes)) continue;
      const risky = now === null ? "" : await riskyEntries(this.repo, entry.path);
      if (risky === entry.risky) {
        entry.bytes = now;
        continue;
      }
      let keptAs: string | null = null;
      if (now !== null) {
        keptAs = `${entry.path}.pw-rejected-${tag}`;
        writeFileSync(keptAs, now, { mode: 0o600 });
      }
      if (entry.bytes === null) rmSync(entry.path, { force: true });
      else {
        const temporary = `${entry.path}.pw-restore-${process.pid}`;
        writeFileSync(temporary, entry.bytes, { mode: 0o600 });
        renameSync(temporary, entry.path);
      }
      rejected.push({ path: entry.path, keptAs });
    }
    return rejected;
  }
}

/** The risky entries of a configuration file, one `key=value` per line, in file order. */
async function riskyEntries(repo: Repository, path: string): Promise<string> {
  if (!existsSync(path)) return "";
  const listed = await repo.tryRun(["config", "--file", path, "--list", "--null"]);
  // a file git cannot read is as suspicious as a risky entry: its bytes stand for its entries
  if (listed === undefined) return `unreadable:${readOrNull(path)?.toString("base64") ?? ""}`;
  return listed
    .split("\0")
    .filter(Boolean)
    .map((entry) => {
      const newline = entry.indexOf("\n");
      return newline < 0 ? { key: entry, value: "" } : { key: entry.slice(0, newline), value: entry.slice(newline + 1) };
    })
    .filter(({ key }) => isRiskyConfigKey(key))
    .map(({ key, value }) => `${key}=${value}`)
    .join("\n");
}
