import type { GitHubClient } from "./octokit.js";

function split(repository: string): { owner: string; repo: string } {
  const [owner, repo] = repository.split("/") as [string, string];
  return { owner, repo };
}

export interface CheckRunSummary {
  id: number;
  name: string;
  status: string;
  conclusion: string | null;
  headSha: string;
  /** The app that made it, when GitHub says. */
  appSlug: string | null;
}

/** The latest run of every check on a commit (GitHub's `filter=latest`), across all pages. */
export async function listCheckRunsForRef(client: GitHubClient, repository: string, ref: string): Promise<CheckRunSummary[]> {
  const runs = await client.paginate(client.rest.checks.listForRef, { ...split(repository), ref, filter: "latest", per_page: 100 });
  return runs.map((run) => ({
    id: run.id,
    name: run.name,
    status: run.status,
    conclusion: run.conclusion ?? null,
    headSha: run.head_sha,
    appSlug: run.app?.slug ?? null,
  }));
}

export interface CheckRunOutputInput {
  title: string;
  summary: string;
  annotations?: Array<{
    path: string;
    start_line: number;
    end_line: number;
    annotation_level: "notice" | "warning" | "failure";
    message: string;
    title?: string;
  }>;
}

export interface EnsureCheckRunInput {
  name: string;
  headSha: string;
  conclusion: "success" | "failure" | "neutral";
  output: CheckRunOutputInput;
  externalId?: string;
}

/** One queue per (repository, commit, check name): two deliveries for one commit never both create. */
const queues = new Map<string, Promise<unknown>>();

function serialized<T>(key: string, work: () => Promise<T>): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(work);
  queues.set(key, next);
  void next.finally(() => {
    if (queues.get(key) === next) queues.delete(key);
  });
  return next;
}

/**
 * The check run `name` on `headSha`, completed with this result: the latest one of that name is
 * updated in place when there is one, else one is created. Running it twice leaves one run.
 */
export function ensureCheckRun(
  client: GitHubClient,
  repository: string,
  input: EnsureCheckRunInput,
  ownSlug?: string,
): Promise<{ id: number; created: boolean }> {
  return serialized(`${repository}@${input.headSha}#${input.name}`, async () => {
    const target = split(repository);
    const { data } = await client.rest.checks.listForRef({
      ...target,
      ref: input.headSha,
      check_name: input.name,
      filter: "latest",
      per_page: 100,
    });
    const existing = data.check_runs
      .filter((run) => run.name === input.name && run.head_sha === input.headSha)
      .filter((run) => !ownSlug || !run.app?.slug || run.app.slug === ownSlug)
      .sort((a, b) => b.id - a.id)[0];
    const body = {
      status: "completed" as const,
      conclusion: input.conclusion,
      completed_at: new Date().toISOString(),
      output: input.output,
      ...(input.externalId ? { external_id: input.externalId } : {}),
    };
    if (existing) {
      await client.rest.checks.update({ ...target, check_run_id: existing.id, ...body });
      return { id: existing.id, created: false };
    }
    const { data: created } = await client.rest.checks.create({ ...target, name: input.name, head_sha: input.headSha, ...body });
    return { id: created.id, created: true };
  });
}

/** The PR's changed files as GitHub lists them (with patches), all pages. */
export async function listPullRequestFiles(client: GitHubClient, repository: string, number: number): Promise<unknown[]> {
  return client.paginate(client.rest.pulls.listFiles, { ...split(repository), pull_number: number, per_page: 100 });
}

/** A file's text at `ref`, or undefined when it does not exist there. */
export async function readFileAt(client: GitHubClient, repository: string, path: string, ref: string): Promise<string | undefined> {
  try {
    const { data } = await client.rest.repos.getContent({ ...split(repository), path, ref });
    if (Array.isArray(data) || data.type !== "file" || !("content" in data)) return undefined;
    return Buffer.from(data.content, "base64").toString("utf8");
  } catch (error) {
    if ((error as { status?: number }).status === 404) return undefined;
    throw error;
  }
}
