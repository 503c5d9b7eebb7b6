import { pullRequestFacts, type PullRequestFacts, type PullRequestJson } from "../core/pull-requests.js";
import type { GitHubClient } from "./octokit.js";

/** A PR's facts, plus what the runner's PR opener needs. */
export interface PullRequestSummary extends PullRequestFacts {
  labels: string[];
  updatedAt: string;
}

function split(repository: string): { owner: string; repo: string } {
  const [owner, repo] = repository.split("/") as [string, string];
  return { owner, repo };
}

type PullLike = Omit<PullRequestJson, "state"> & {
  state: string;
  labels?: Array<{ name?: string } | string>;
  updated_at: string;
};

export function summarize(pr: PullLike): PullRequestSummary {
  return {
    ...pullRequestFacts({ ...pr, state: pr.state === "open" ? "open" : "closed" }),
    labels: (pr.labels ?? []).map((l) => (typeof l === "string" ? l : (l.name ?? ""))).filter(Boolean),
    updatedAt: pr.updated_at,
  };
}

/** The newest PR whose head is `branch` in `repository` itself (never a fork's branch of that name). */
export async function findPullRequestForBranch(
  client: GitHubClient,
  repository: string,
  branch: string,
  state: "open" | "all" = "all",
): Promise<PullRequestSummary | undefined> {
  const { owner, repo } = split(repository);
  const { data } = await client.rest.pulls.list({ owner, repo, head: `${owner}:${branch}`, state, per_page: 20 });
  const own = data.map(summarize).filter((pr) => pr.headRef === branch && pr.headRepository === repository);
  own.sort((a, b) => b.number - a.number);
  return own[0];
}

export async function getPullRequest(client: GitHubClient, repository: string, number: number): Promise<PullRequestSummary> {
  const { data } = await client.rest.pulls.get({ ...split(repository), pull_number: number });
  return summarize(data);
}

/** Every PR of the repository in one paginated listing: reconcile makes one such call per repository. */
export async function listPullRequests(client: GitHubClient, repository: string): Promise<PullRequestSummary[]> {
  const prs = await client.paginate(client.rest.pulls.list, { ...split(repository), state: "all", per_page: 100 });
  return prs.map(summarize);
}

function isAlreadyExists(error: unknown): boolean {
  const e = error as { status?: number; response?: { data?: { errors?: Array<{ code?: string; message?: string }> } } };
  if (e.status !== 422) return false;
  return (e.response?.data?.errors ?? []).some((x) => x.code === "already_exists" || /already exists/i.test(x.message ?? ""));
}

/** The milestone with this exact title, created once when missing (a lost creation race re-reads it). */
export async function ensureMilestone(client: GitHubClient, repository: string, title: string): Promise<number> {
  const find = async () => {
    const all = await client.paginate(client.rest.issues.listMilestones, { ...split(repository), state: "all", per_page: 100 });
    return all.find((m) => m.title === title)?.number;
  };
  const existing = await find();
  if (existing !== undefined) return existing;
  try {
    const { data } = await client.rest.issues.createMilestone({ ...split(repository), title });
    return data.number;
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
    const raced = await find();
    if (raced === undefined) throw error;
    return raced;
  }
}

export interface OpenPullRequestInput {
  repository: string;
  branch: string;
  base: string;
  title: string;
  body: string;
  draft: boolean;
  labels: string[];
  milestone: string | null;
}

/**
 * Opens the PR for `branch`, or adopts the open one that already exists (a retry after a partial
 * failure must never make a second PR), then ensures its labels and milestone.
 */
export async function openPullRequest(
  client: GitHubClient,
  input: OpenPullRequestInput,
): Promise<{ pullRequest: PullRequestSummary; created: boolean }> {
  const target = split(input.repository);
  let pullRequest = await findPullRequestForBranch(client, input.repository, input.branch, "open");
  let created = false;
  if (!pullRequest) {
    try {
      const { data } = await client.rest.pulls.create({
        ...target,
        head: input.branch,
        base: input.base,
        title: input.title,
        body: input.body,
        draft: input.draft,
      });
      pullRequest = summarize(data);
      created = true;
    } catch (error) {
      if (!isAlreadyExists(error) && !/already exists/i.test(String((error as Error).message))) throw error;
      pullRequest = await findPullRequestForBranch(client, input.repository, input.branch, "open");
      if (!pullRequest) throw error;
    }
  }
  // One write for labels and milestone: GitHub asks integrations to space out mutating requests,
  // and the throttling plugin does, so every write saved is a second saved.
  const labels = [...new Set([...pullRequest.labels, ...input.labels])];
  const milestone = input.milestone ? await ensureMilestone(client, input.repository, input.milestone) : undefined;
  if (labels.length > pullRequest.labels.length || milestone !== undefined) {
    await client.rest.issues.update({
      ...target,
      issue_number: pullRequest.number,
      ...(labels.length > pullRequest.labels.length ? { labels } : {}),
      ...(milestone !== undefined ? { milestone } : {}),
    });
  }
  return { pullRequest, created };
}
