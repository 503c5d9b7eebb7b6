import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { pw, type CliResult } from "./cli.js";
import { GitHubStandIn, type AddRepoOptions } from "./github-stand-in.js";
import { git, makeRepo, tempDir } from "./git.js";

export const AGENTS_DIR = fileURLToPath(new URL("../../fixtures/agents/", import.meta.url));
export const REPOSITORY = "acme/widgets";

/** An agent entry that runs one of the fake agents in fixtures/agents with node. */
export function fakeAgent(script: string, ...args: string[]): { command: string[]; timeout?: string } {
  return { command: [process.execPath, join(AGENTS_DIR, script), ...args] };
}

export interface RunnerSandbox {
  repo: string;
  origin: string;
  home: string;
  root: string;
  out: string;
  github: GitHubStandIn;
  env: NodeJS.ProcessEnv;
  /** Runs `pw` in the repository with the sandbox's environment (plus `extra`). */
  pw(args: string[], extra?: NodeJS.ProcessEnv): Promise<CliResult>;
  /** Rewrites .parallel-workers.yml (committed, as a team would). */
  configure(config: Record<string, unknown>): void;
  close(): Promise<void>;
}

/**
 * A real repository with a bare `origin`, a temporary PW_HOME and worktrees root, and a local
 * GitHub stand-in that knows acme/widgets; `pw` reaches it through GHE_HOST, as it would an
 * Enterprise server. Both name `options.defaultBranch` (default `main`) the default branch; the
 * other options go to the stand-in's repository.
 */
export async function runnerSandbox(config: Record<string, unknown> = {}, options: AddRepoOptions = {}): Promise<RunnerSandbox> {
  const defaultBranch = options.defaultBranch ?? "main";
  const { dir: repo, origin } = makeRepo(undefined, { branch: defaultBranch });
  const home = join(tempDir("pw-home-"), "home");
  const root = join(tempDir("pw-wt-"), "worktrees");
  const out = tempDir("pw-out-");
  mkdirSync(home, { recursive: true });
  const github = await GitHubStandIn.start();
  github.addRepo(REPOSITORY, { ...options, defaultBranch });
  const env: NodeJS.ProcessEnv = {
    PW_HOME: home,
    PW_WORKTREES_ROOT: root,
    GITHUB_TOKEN: "test-token",
    // the stand-in has no secondary rate limit: no need to space writes a second apart
    PW_GITHUB_WRITE_INTERVAL_MS: "0",
    ...github.env,
  };
  const sandbox: RunnerSandbox = {
    repo,
    origin,
    home,
    root,
    out,
    github,
    env,
    pw: (args, extra = {}) => pw(args, { cwd: repo, env: { ...env, ...extra } }),
    configure(next) {
      writeFileSync(join(repo, ".parallel-workers.yml"), stringify({ github: { repository: REPOSITORY }, ...next }));
      git(repo, "add", ".parallel-workers.yml");
      git(repo, "commit", "--quiet", "-m", "configure parallel-workers");
      git(repo, "push", "--quiet", "origin", defaultBranch);
    },
    close: () => github.close(),
  };
  sandbox.configure(config);
  return sandbox;
}

/** Branches that exist in the bare origin repository. */
export function originBranches(origin: string): string[] {
  return git(origin, "for-each-ref", "--format=%(refname:short)", "refs/heads").split("\n").filter(Boolean).sort();
}
