import { z } from "zod";
import { EXIT_FAILED, EXIT_USAGE, PwError } from "../core/errors.js";
import type { GitHubAccess } from "../github/access.js";
import { githubAuthFromEnv, githubBaseUrl, type GitHubAuth } from "../github/octokit.js";
import type { RepoContext } from "./context.js";

/**
 * One reason a repository's work could not be delivered (pushed, its PR opened), and its exit
 * code: 2 for configuration a person must fix, 1 for a host that did not answer.
 */
export interface PreflightProblem {
  message: string;
  exitCode: 1 | 2;
}

export interface PreflightReport {
  /** Empty when the checks passed. */
  problems: PreflightProblem[];
  /** The branch origin's HEAD names, else GitHub's `default_branch`; undefined when neither says. */
  defaultBranch: string | undefined;
}

/** Reports by checkout, kept briefly: one per process, shared by spawn and the runner. */
export type PreflightCache = Map<string, { report: Promise<PreflightReport>; until: number }>;

export interface PreflightDeps {
  /** Where the GitHub credentials and GHE_HOST are read. */
  env: NodeJS.ProcessEnv;
  github: GitHubAccess;
  preflights: PreflightCache;
}

/** How long a passed check stands before it is made again. */
const PASSED_FOR_MS = 60_000;
/** A failed check is made again sooner: the fix is usually one command away. */
const FAILED_FOR_MS = 5_000;
/** How long GitHub and origin have to answer. */
const ANSWER_WITHIN_MS = 15_000;

/**
 * Checks, before any agent runs, what delivering a worker's work needs: GitHub credentials that
 * can read the repository, and an `origin` that answers. The report is cached per checkout
 * (PASSED_FOR_MS, or FAILED_FOR_MS after a failure); `fresh` skips the cache.
 */
export function preflight(deps: PreflightDeps, ctx: RepoContext, options: { fresh?: boolean } = {}): Promise<PreflightReport> {
  const key = ctx.repo.root;
  const cached = deps.preflights.get(key);
  if (cached && !options.fresh && cached.until > Date.now()) return cached.report;
  const report = checkRepository(deps, ctx).catch(
    (error: unknown): PreflightReport => ({
      // a bad GHE_HOST, say: reported like any other problem, never thrown at the runner
      problems: [{ message: (error as Error).message.split("\n")[0]!, exitCode: error instanceof PwError && error.exitCode === EXIT_FAILED ? 1 : 2 }],
      defaultBranch: undefined,
    }),
  );
  const entry = { report, until: Number.POSITIVE_INFINITY };
  deps.preflights.set(key, entry);
  void report.then((done) => (entry.until = Date.now() + (done.problems.length === 0 ? PASSED_FOR_MS : FAILED_FOR_MS)));
  return report;
}

/** A preflight that failed, as an error carrying every problem (exit 2 when any is configuration). */
export class PreflightError extends PwError {
  constructor(readonly problems: PreflightProblem[]) {
    super(problems.map((p) => p.message).join("\n"), { exitCode: problems.some((p) => p.exitCode === EXIT_USAGE) ? EXIT_USAGE : EXIT_FAILED });
  }
}

/** Throws a PreflightError when the checks of `ctx` fail; for commands that push right after. */
export async function requirePreflight(deps: PreflightDeps, ctx: RepoContext): Promise<PreflightReport> {
  const report = await preflight(deps, ctx);
  if (report.problems.length > 0) throw new PreflightError(report.problems);
  return report;
}

const configuration = (message: string): PreflightProblem => ({ message, exitCode: EXIT_USAGE });
const unreachable = (message: string): PreflightProblem => ({ message, exitCode: EXIT_FAILED });

async function checkRepository(deps: PreflightDeps, ctx: RepoContext): Promise<PreflightReport> {
  const problems: PreflightProblem[] = [];
  const root = ctx.repo.root;
  const originUrl = (await ctx.repo.tryRun(["remote", "get-url", "origin"]))?.trim() || undefined;
  let auth: GitHubAuth | undefined;
  try {
    auth = githubAuthFromEnv(deps.env);
    if (!auth) {
      problems.push(
        configuration(
          `no GitHub credentials: set GITHUB_TOKEN to a token that can push to ${ctx.repository ?? "the repository"} and open pull requests there, ` +
            "or APP_ID with PRIVATE_KEY or PRIVATE_KEY_PATH for a GitHub App installed on it",
        ),
      );
    }
  } catch (error) {
    problems.push(configuration((error as Error).message));
  }
  if (!originUrl) {
    const where = ctx.repository ? `${webBase(deps.env)}/${ctx.repository}.git` : "<the GitHub repository's URL>";
    problems.push(configuration(`${root} has no remote named origin, where workers push: add it with \`git remote add origin ${where}\``));
  } else if (!ctx.repository) {
    problems.push(
      configuration(`cannot tell the GitHub repository of ${root} from origin ${withoutCredentials(originUrl)}: set github.repository in .parallel-workers.yml`),
    );
  }
  const [github, origin] = await Promise.all([
    auth && ctx.repository ? askGitHub(deps, ctx.repository, auth) : undefined,
    originUrl ? askOrigin(ctx, originUrl) : undefined,
  ]);
  if (github?.problem) problems.push(github.problem);
  if (origin?.problem) problems.push(origin.problem);
  const defaultBranch = origin?.head ?? (originUrl ? await ctx.repo.rememberedRemoteHead("origin") : undefined) ?? github?.defaultBranch;
  return { problems, defaultBranch };
}

/** Where repositories live on the web: https://github.com, or GHE_HOST's server. */
function webBase(env: NodeJS.ProcessEnv): string {
  const api = new URL(githubBaseUrl(env));
  return api.host === "api.github.com" ? "https://github.com" : api.origin;
}

/** A URL as it may be shown: without a user or password (a token may sit there). */
function withoutCredentials(text: string): string {
  return text.replace(/\/\/[^/@\s]+@/g, "//");
}

const repositoryAnswer = z.object({ default_branch: z.string().min(1).optional(), archived: z.boolean().optional() });

interface GitHubAnswer {
  problem?: PreflightProblem;
  defaultBranch?: string;
}

async function askGitHub(deps: PreflightDeps, repository: string, auth: GitHubAuth): Promise<GitHubAnswer> {
  const host = new URL(githubBaseUrl(deps.env)).host;
  const [owner, repo] = repository.split("/") as [string, string];
  let client;
  try {
    // with App credentials, this finds the App's installation on the repository
    client = await deps.github(repository);
  } catch (error) {
    return { problem: describeGitHubError(error, { host, repository, auth, installation: auth.kind === "app" }) };
  }
  try {
    const { data } = await client.request("GET /repos/{owner}/{repo}", {
      owner,
      repo,
      // a preflight reports at once: no retries, and a deadline
      request: { retries: 0, signal: AbortSignal.timeout(ANSWER_WITHIN_MS) },
    });
    const parsed = repositoryAnswer.safeParse(data);
    if (!parsed.success) return {};
    if (parsed.data.archived) {
      return { problem: configuration(`${repository} is archived on GitHub at ${host}: nothing can be pushed to it; unarchive it or use another repository`) };
    }
    return parsed.data.default_branch ? { defaultBranch: parsed.data.default_branch } : {};
  } catch (error) {
    return { problem: describeGitHubError(error, { host, repository, auth, installation: false }) };
  }
}

interface GitHubErrorContext {
  host: string;
  repository: string;
  auth: GitHubAuth;
  /** The error came from looking up the App's installation on the repository. */
  installation: boolean;
}

/** The reason a request failed without an answer (Octokit reports those as status 500). */
function networkReason(error: unknown): string {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e.name === "TimeoutError") return `no answer within ${ANSWER_WITHIN_MS / 1000} s`;
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return e.message;
  }
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}

function describeGitHubError(error: unknown, c: GitHubErrorContext): PreflightProblem {
  // from our own GitHub access: missing or unreadable credentials
  if (error instanceof PwError) return configuration(error.message);
  const e = error as { status?: number; response?: { data?: { message?: unknown } } };
  // no answer at all: Octokit turns a failed fetch into a 500 without a response
  if (!e.response && (e.status === 500 || e.status === undefined)) {
    return unreachable(`GitHub at ${c.host} is unreachable: ${networkReason(error)}`);
  }
  const said = typeof e.response?.data?.message === "string" ? e.response.data.message : "";
  const answer = `${e.status}${said ? ` ${said}` : ""}`;
  const app = c.auth.kind === "app" ? c.auth.appId : undefined;
  switch (e.status) {
    case 401:
      return configuration(
        app
          ? `GitHub at ${c.host} rejected the App's credentials (${answer}): check that APP_ID ${app} and PRIVATE_KEY (or PRIVATE_KEY_PATH) belong to the same App`
          : `GitHub at ${c.host} rejected GITHUB_TOKEN (${answer}): it is wrong, expired or revoked; set GITHUB_TOKEN to a valid token`,
      );
    case 403:
      return configuration(
        app
          ? `the GitHub App ${app} may not read ${c.repository} (${answer}): grant it Contents and Pull requests permissions and accept them on its installation`
          : `GITHUB_TOKEN may not read ${c.repository} (${answer}): give the token access to it (fine-grained: Contents and Pull requests, read and write; classic: the repo scope)`,
      );
    case 404:
      if (c.installation) {
        return configuration(
          `the GitHub App ${app} is not installed on ${c.repository} (or it does not exist on ${c.host}): install the App on ${c.repository}, or fix github.repository or the origin URL`,
        );
      }
      return configuration(
        `${c.repository} was not found on GitHub at ${c.host}, or ${app ? `the App ${app}` : "GITHUB_TOKEN"} cannot see it: ` +
          `check github.repository and the origin URL, and that the ${app ? "App's installation" : "token"} includes the repository`,
      );
    default:
      return unreachable(`GitHub at ${c.host} answered ${answer} for ${c.repository}: try again later`);
  }
}

interface OriginAnswer {
  problem?: PreflightProblem;
  head?: string;
}

/** Whether `origin` answers as it must for a push: ls-remote with the push's credentials. */
async function askOrigin(ctx: RepoContext, url: string): Promise<OriginAnswer> {
  try {
    const head = await ctx.repo.remoteHead("origin", ANSWER_WITHIN_MS);
    return head ? { head } : {};
  } catch (error) {
    const shown = withoutCredentials(url);
    const said = withoutCredentials((error as Error).message.replace(/^git ls-remote: /, ""));
    if (/authentication failed|could not read (username|password)|terminal prompts disabled|permission denied|invalid credentials|returned error: 40[13]/i.test(said)) {
      return {
        problem: configuration(
          `origin (${shown}) refused git's credentials: ${said}; set up credentials for it (e.g. \`gh auth setup-git\`, or an SSH key) so that \`git ls-remote origin\` works`,
        ),
      };
    }
    if (/does not appear to be a git repository|repository .*not found|not found|does not exist/i.test(said)) {
      return {
        problem: configuration(`origin (${shown}) is not a repository git can reach: ${said}; fix it with \`git remote set-url origin <url>\``),
      };
    }
    const host = hostOf(url);
    return { problem: unreachable(`origin${host ? ` at ${host}` : ` (${shown})`} is unreachable: ${said}`) };
  }
}

/** The host of a remote URL in any of git's spellings, or undefined for a local path. */
function hostOf(url: string): string | undefined {
  const scp = /^[^/@\s]+@([^:/\s]+):/.exec(url);
  if (scp) return scp[1];
  try {
    const parsed = new URL(url);
    return parsed.protocol === "file:" ? undefined : parsed.host || undefined;
  } catch {
    return undefined;
  }
}
