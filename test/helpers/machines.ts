import { join } from "node:path";
import { pw, type CliResult } from "./cli.js";
import { git, tempDir } from "./git.js";
import type { RunnerSandbox } from "./runner-env.js";

/** Another machine sharing one database: its own clone of origin, PW_HOME and worktrees root. */
export interface Machine {
  checkout: string;
  env: NodeJS.ProcessEnv;
  /** Runs `pw` in its checkout with its environment. */
  pw(args: string[]): Promise<CliResult>;
}

/** A machine named `name` for the sandbox's origin, whose runners and commands use the database at `databaseUrl`. */
export function machine(sb: RunnerSandbox, name: string, databaseUrl: string): Machine {
  const dir = tempDir(`pw-${name}-`);
  git(dir, "clone", "--quiet", sb.origin, "checkout");
  const checkout = join(dir, "checkout");
  const env = { ...sb.env, PW_HOME: join(dir, "home"), PW_WORKTREES_ROOT: join(dir, "worktrees"), PW_DATABASE_URL: databaseUrl };
  return { checkout, env, pw: (args) => pw(args, { cwd: checkout, env }) };
}
