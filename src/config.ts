import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { InvalidInputError } from "./core/errors.js";

/** Expands a leading `~` and makes the path absolute. */
export function expandHome(path: string, home: string = homedir()): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return resolve(path);
}

const pathVariable = z
  .string()
  .min(1, "must not be empty")
  .refine((value) => !value.includes("\0"), "must not contain a NUL byte")
  .optional();

const envSchema = z.object({
  /** Where state.db and logs/ live. */
  PW_HOME: pathVariable,
  /** Where worktrees are made: <root>/<project>/<task-id>. */
  PW_WORKTREES_ROOT: pathVariable,
  HOME: z.string().optional(),
});

export interface Paths {
  home: string;
  storeFile: string;
  logsDir: string;
  worktreesRoot: string;
}

/** Reads the environment once, at the edge; a bad value names the variable. */
export function resolvePaths(env: NodeJS.ProcessEnv = process.env): Paths {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InvalidInputError(`environment variable ${issue.path.join(".")} ${issue.message}`);
  }
  const userHome = parsed.data.HOME || homedir();
  const home = expandHome(parsed.data.PW_HOME ?? "~/.parallel-workers", userHome);
  return {
    home,
    storeFile: join(home, "state.db"),
    logsDir: join(home, "logs"),
    worktreesRoot: expandHome(parsed.data.PW_WORKTREES_ROOT ?? "~/.worktrees", userHome),
  };
}
