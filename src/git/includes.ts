import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Repository } from "./repo.js";

/** At the repository root: the ignored files to copy into each new worktree, in gitignore syntax (as Claude Code reads it). */
export const WORKTREE_INCLUDE_FILE = ".worktreeinclude";

/**
 * The untracked files and directories of the main checkout that `.worktreeinclude` names and
 * git ignores (a file it names that git does not ignore would be committed: it is left out), as
 * paths relative to the root, a whole matching directory once (`.secrets/`). Empty without the file.
 */
export async function worktreeIncludes(repo: Repository): Promise<string[]> {
  const file = join(repo.root, WORKTREE_INCLUDE_FILE);
  if (!existsSync(file)) return [];
  const named = (await repo.run(["ls-files", "-z", "--others", "--ignored", "--directory", `--exclude-from=${file}`]))
    .split("\0")
    .filter(Boolean);
  if (named.length === 0) return [];
  // check-ignore answers with the paths that are ignored, and exits 1 when none is
  const ignored = await repo.tryRun(["-c", "core.quotePath=false", "check-ignore", "-z", "--", ...named]);
  const ignoredSet = new Set((ignored ?? "").split("\0").filter(Boolean));
  return named.filter((path) => ignoredSet.has(path));
}
