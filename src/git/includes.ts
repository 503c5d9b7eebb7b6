import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Repository } from "./repo.js";

/** At the repository root: the ignored files to copy into each new worktree, in gitignore syntax (as Claude Code reads it). */
export const WORKTREE_INCLUDE_FILE = ".worktreeinclude";

/** How many paths one `git check-ignore` is asked about. */
const CHECK_BATCH = 200;

/**
 * The untracked files of the main checkout that `.worktreeinclude` names and git ignores (a
 * file it names that git does not ignore would be committed: it is left out), as paths
 * relative to the root. Empty without the file.
 */
export async function worktreeIncludes(repo: Repository): Promise<string[]> {
  const file = join(repo.root, WORKTREE_INCLUDE_FILE);
  if (!existsSync(file)) return [];
  const named = (await repo.run(["ls-files", "-z", "--others", "--ignored", `--exclude-from=${file}`]))
    .split("\0")
    .filter(Boolean);
  const ignored = new Set<string>();
  for (let i = 0; i < named.length; i += CHECK_BATCH) {
    // answers with the paths that are ignored (unquoted), and exits 1 when none is
    const out = await repo.tryRun(["-c", "core.quotePath=false", "check-ignore", "--", ...named.slice(i, i + CHECK_BATCH)]);
    for (const line of (out ?? "").split("\n")) if (line) ignored.add(line);
  }
  return named.filter((path) => ignored.has(path));
}
