import { homedir } from "node:os";
import { join, resolve } from "node:path";

/**
 * Where parallel-workers keeps its state, from PW_HOME, PW_WORKTREES_ROOT and HOME. Apart from
 * the config's zod schemas so that the commands that must start fast (`cli/fast.ts`) need
 * neither; `resolvePaths` in config.ts validates the same variables with the same rule first.
 */

export interface Paths {
  home: string;
  storeFile: string;
  logsDir: string;
  worktreesRoot: string;
}

/** Expands a leading `~` and makes the path absolute. */
export function expandHome(path: string, home: string = homedir(), base: string = process.cwd()): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return resolve(base, path);
}

/** Why a path variable's value is refused, or undefined when it is fine (unset is fine). */
export function pathVariableProblem(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.length === 0) return "must not be empty";
  if (value.includes("\0")) return "must not contain a NUL byte";
  return undefined;
}

/** The paths the variables name, once they passed `pathVariableProblem`. */
export function pathsFrom(vars: { PW_HOME?: string | undefined; PW_WORKTREES_ROOT?: string | undefined; HOME?: string | undefined }): Paths {
  const userHome = vars.HOME || homedir();
  const home = expandHome(vars.PW_HOME ?? "~/.parallel-workers", userHome);
  return {
    home,
    storeFile: join(home, "state.db"),
    logsDir: join(home, "logs"),
    worktreesRoot: expandHome(vars.PW_WORKTREES_ROOT ?? "~/.worktrees", userHome),
  };
}
