import { cpSync, existsSync, lstatSync, mkdirSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import type { RepoConfig } from "../config.js";
import { worktreeIncludes } from "../git/includes.js";
import type { Repository } from "../git/repo.js";
import { readBroughtPaths, recordBroughtPaths } from "../git/worktree-state.js";

export interface Brought {
  copied: string[];
  linked: string[];
  /** Links not made because git does not ignore them there, so an agent's `git add -A` would commit them. */
  notLinked: string[];
}

function present(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Brings into a new worktree what it needs from the main checkout and git does not carry: the
 * `copy` files, the ignored files `.worktreeinclude` names (copied), and the `links` (symlinked,
 * for what is too large to copy). Nothing already there is replaced. What it brings is recorded
 * with the worktree, so it is never committed.
 */
export async function bringAlong(repo: Repository, config: RepoConfig, worktree: string): Promise<Brought> {
  const brought: Brought = { copied: [], linked: [], notLinked: [] };
  const copies = [...new Set([...config.copy, ...(await worktreeIncludes(repo))])];
  for (const path of copies) {
    const from = join(repo.root, path);
    const to = join(worktree, path);
    if (!existsSync(from) || present(to)) continue;
    mkdirSync(dirname(to), { recursive: true });
    // symlinks inside a copied directory stay symlinks, as git would have them
    cpSync(from, to, { recursive: true, verbatimSymlinks: true });
    brought.copied.push(path);
  }
  const wanted = config.links.filter((path) => existsSync(join(repo.root, path)) && !present(join(worktree, path)));
  // a symlink is no directory to .gitignore: `cache/` does not ignore a link named cache
  const ignored = wanted.length ? ((await repo.tryRun(["-c", "core.quotePath=false", "check-ignore", "--", ...wanted], worktree)) ?? "").split("\n") : [];
  for (const path of wanted) {
    const from = join(repo.root, path);
    const to = join(worktree, path);
    if (!ignored.includes(path)) {
      brought.notLinked.push(path);
      continue;
    }
    mkdirSync(dirname(to), { recursive: true });
    symlinkSync(from, to);
    brought.linked.push(path);
  }
  recordBroughtPaths(worktree, [...brought.copied, ...brought.linked]);
  return brought;
}

/** Every path of the worktree that must never be committed: configured copies and links, and whatever was brought. */
export function neverCommitted(config: RepoConfig, worktree: string): string[] {
  return [...new Set([...config.copy, ...config.links, ...readBroughtPaths(worktree)])];
}
