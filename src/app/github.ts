/**
 * The small GitHub port the app's handlers act through: one object per repository, a method per
 * effect, every answer validated at the edge. It works over any Octokit (Probot's event client
 * or the runner's), since it only needs `request`.
 */
import { z } from "zod";
import { PwError } from "../core/errors.js";
import { graphqlMergeMethod, type MergeMethod } from "../core/merge-flow.js";
import { pullRequestFacts, type PullRequestFacts } from "../core/pull-requests.js";

/** What the port needs of an Octokit: its `request` method, and `graphql` for what REST cannot do (auto-merge, the merge queue). */
export interface RequestOctokit {
  request(
    route: string,
    parameters?: Record<string, unknown>,
  ): Promise<{ status: number; data: unknown; headers: { link?: string | undefined } }>;
  graphql(query: string, parameters?: Record<string, unknown>): Promise<unknown>;
}

/** An Octokit for a repository: Probot's for a delivery, or one made for the repository. */
export type OctokitFor = (repository: string) => Promise<RequestOctokit>;

export const REACTIONS = ["eyes", "rocket", "confused"] as const;
export type Reaction = (typeof REACTIONS)[number];

export interface Permission {
  /** The role as the repository names it: read, triage, write, maintain, admin or a custom role. */
  role: string;
  /** GitHub's folded permission: none, read, write or admin (maintain is write). */
  permission: string;
}

/** Every effect the app has on one repository. */
export interface RepositoryGitHub {
  readonly repository: string;
  pullRequest(number: number): Promise<PullRequestFacts>;
  /** Every PR of the repository (open and closed), in as few paginated calls as GitHub allows. */
  listPullRequests(): Promise<PullRequestFacts[]>;
  react(commentId: number, content: Reaction): Promise<void>;
  /** Creates a comment and returns its id. */
  comment(issueNumber: number, body: string): Promise<number>;
  /** Edits a comment; false when it no longer exists. */
  editComment(commentId: number, body: string): Promise<boolean>;
  /** The id of the first comment on the issue whose body passes `test`. */
  findComment(issueNumber: number, test: (body: string) => boolean): Promise<number | undefined>;
  permission(login: string): Promise<Permission>;
  /** Deletes a branch; false when it was already gone. */
  deleteBranch(branch: string): Promise<boolean>;
  /** Adds labels to an issue or PR (GitHub keeps each once). */
  addLabels(issueNumber: number, labels: readonly string[]): Promise<void>;
  /** The PR's reviews, oldest first. */
  reviews(number: number): Promise<Review[]>;
  /** The comments one review left on the PR's diff, in order. */
  reviewComments(number: number, reviewId: number): Promise<ReviewComment[]>;
  /** The checks `branch` requires before a merge: its branch protection's and its rulesets'; none when it has neither or they cannot be read. */
  requiredChecks(branch: string): Promise<string[]>;
  /** One check run with its output's title and summary. */
  checkRun(id: number): Promise<CheckRunDetail>;
  /** The latest run of every check of a check suite, with their outputs. */
  checkRunsOfSuite(suiteId: number): Promise<CheckRunDetail[]>;
  /** The first `limit` annotations of a check run. */
  annotations(checkRunId: number, limit: number): Promise<Annotation[]>;
  /** The PR's changed files as GitHub lists them (with patches), every page. */
  pullRequestFiles(number: number): Promise<unknown[]>;
  /** A file's text at `ref`, or undefined when it does not exist there. */
  fileAt(path: string, ref: string): Promise<string | undefined>;
  /** The latest run of every check on a commit. */
  checkRuns(sha: string): Promise<CheckRun[]>;
  /** A PR with what merging it needs: its node id, draft, labels, and whether auto-merge is on. */
  mergeablePullRequest(number: number): Promise<MergeablePullRequest>;
  /** How `head` stands against `base` (`base...head`), with the changed files when asked (a merge group's gates). */
  compare(base: string, head: string): Promise<Comparison>;
  /** GitHub's update-branch: the base merged into the PR's branch, only while its head is `expectedHeadSha`. */
  updateBranch(number: number, expectedHeadSha: string): Promise<Refusable>;
  /** Changes the base branch of a PR (a stacked PR moved to its merged parent's base). */
  setBase(number: number, base: string): Promise<Refusable>;
  /** Whether `branch` merges through a merge queue (a ruleset's `merge_queue` rule). */
  usesMergeQueue(branch: string): Promise<boolean>;
  /** Turns GitHub's auto-merge on for a PR (GraphQL `enablePullRequestAutoMerge`). */
  enableAutoMerge(nodeId: string, method: MergeMethod, expectedHeadSha: string): Promise<Refusable>;
  /** Turns it off again (GraphQL `disablePullRequestAutoMerge`). */
  disableAutoMerge(nodeId: string): Promise<Refusable>;
  /** Adds a PR to its base's merge queue (GraphQL `enqueuePullRequest`). */
  enqueue(nodeId: string, expectedHeadSha: string): Promise<Refusable>;
  /** Merges a PR through REST, only while its head is `sha`. */
  merge(number: number, method: MergeMethod, sha: string): Promise<Refusable>;
  /**
   * Completes the check run `name` on `headSha` with this result: the latest run of that name is
   * updated in place, else one is created. Twice, or racing, still leaves one run. GitHub appends
   * the annotations of every request to the run's, so only those not on the run yet are sent.
   */
  ensureCheckRun(input: CheckRunInput): Promise<{ id: number; created: boolean }>;
}

/** The outcome of a write GitHub may refuse: refused with its reason (a permission, a protected branch, a setting), else done. */
export type Refusable = { ok: true } | { ok: false; status: number | null; reason: string };

export interface MergeablePullRequest extends PullRequestFacts {
  nodeId: string;
  draft: boolean;
  labels: string[];
  /** GitHub's auto-merge is on for it. */
  autoMerge: boolean;
}

export interface Comparison {
  /** `identical`, `ahead`, `behind` or `diverged`. */
  status: string;
  aheadBy: number;
  behindBy: number;
  /** The changed files as GitHub lists them (with patches); at most 300. */
  files: unknown[];
}

export interface CheckRun {
  id: number;
  name: string;
  status: string;
  conclusion: string | null;
}

/** A check run with what a rework round tells the agent about it. */
export interface CheckRunDetail extends CheckRun {
  headSha: string;
  title: string | null;
  summary: string | null;
  annotationsCount: number;
}

export interface Annotation {
  path: string;
  startLine: number;
  endLine: number;
  level: string;
  title: string | null;
  message: string;
}

export interface Review {
  id: number;
  /** As the API spells it: `CHANGES_REQUESTED`, `APPROVED`, `COMMENTED`, `DISMISSED`, `PENDING`. */
  state: string;
  author: string;
  authorIsBot: boolean;
  body: string;
  url: string | null;
}

export interface ReviewComment {
  path: string;
  line: number | null;
  startLine: number | null;
  diffHunk: string;
  body: string;
  author: string;
}

/** A check-run annotation in the API's names (what `checkRunOutput` of the gates gives). */
export interface CheckRunAnnotation {
  path: string;
  start_line: number;
  end_line: number;
  start_column?: number;
  end_column?: number;
  annotation_level: "notice" | "warning" | "failure";
  title?: string;
  message: string;
}

export interface CheckRunInput {
  name: string;
  headSha: string;
  conclusion: "success" | "failure" | "neutral";
  output: { title: string; summary: string; annotations?: CheckRunAnnotation[] };
}

const pullSchema = z.object({
  number: z.number().int().positive(),
  html_url: z.string(),
  state: z.enum(["open", "closed"]),
  merged: z.boolean().nullish(),
  merged_at: z.string().nullish(),
  merge_commit_sha: z.string().nullish(),
  body: z.string().nullish(),
  head: z.object({ ref: z.string(), sha: z.string().optional(), repo: z.object({ full_name: z.string() }).nullish() }),
  base: z.object({ ref: z.string() }).optional(),
  labels: z.array(z.object({ name: z.string() })).optional(),
});
const mergeableSchema = z.object({ node_id: z.string().min(1), draft: z.boolean().nullish(), auto_merge: z.object({}).passthrough().nullish() });
const comparisonSchema = z.object({
  status: z.string(),
  ahead_by: z.number().int().nonnegative(),
  behind_by: z.number().int().nonnegative(),
  files: z.array(z.unknown()).optional(),
});
const mergeQueueRulesSchema = z.array(z.object({ type: z.string() }).passthrough());
const idSchema = z.object({ id: z.number().int().positive() });
const commentsSchema = z.array(z.object({ id: z.number().int().positive(), body: z.string().nullish() }));
const permissionSchema = z.object({ permission: z.string(), role_name: z.string().nullish() });
const checkRunsSchema = z.object({
  check_runs: z.array(
    z.object({
      id: z.number().int().positive(),
      name: z.string(),
      status: z.string(),
      conclusion: z.string().nullish(),
      head_sha: z.string(),
      output: z.object({ annotations_count: z.number().int().nonnegative().optional() }).nullish(),
    }),
  ),
});
const annotationsSchema = z.array(
  z.object({
    path: z.string(),
    start_line: z.number().int(),
    end_line: z.number().int(),
    start_column: z.number().int().nullish(),
    end_column: z.number().int().nullish(),
    annotation_level: z.string().nullish(),
    title: z.string().nullish(),
    message: z.string().nullish(),
  }),
);
/** GitHub takes at most 50 annotations per check-run request; more need further PATCHes. */
const ANNOTATIONS_PER_REQUEST = 50;

/** What makes two annotations the same one on a run (GitHub lists absent fields as null). */
function annotationKey(a: z.infer<typeof annotationsSchema>[number] | CheckRunAnnotation): string {
  return JSON.stringify([a.path, a.start_line, a.end_line, a.start_column ?? null, a.end_column ?? null, a.annotation_level ?? null, a.title ?? null, a.message ?? null]);
}
const userSchema = z.object({ login: z.string(), type: z.string().optional() }).nullish();
const reviewsSchema = z.array(
  z.object({
    id: z.number().int().positive(),
    state: z.string(),
    body: z.string().nullish(),
    html_url: z.string().nullish(),
    user: userSchema,
  }),
);
const reviewCommentsSchema = z.array(
  z.object({
    pull_request_review_id: z.number().int().nullish(),
    path: z.string(),
    line: z.number().int().nullish(),
    start_line: z.number().int().nullish(),
    diff_hunk: z.string().nullish(),
    body: z.string().nullish(),
    user: userSchema,
  }),
);
const checkRunDetailSchema = z.object({
  id: z.number().int().positive(),
  name: z.string(),
  status: z.string(),
  conclusion: z.string().nullish(),
  head_sha: z.string(),
  output: z
    .object({ title: z.string().nullish(), summary: z.string().nullish(), annotations_count: z.number().int().nonnegative().optional() })
    .nullish(),
});
const branchSchema = z.object({
  protection: z
    .object({ required_status_checks: z.object({ contexts: z.array(z.string()).optional(), checks: z.array(z.object({ context: z.string() })).optional() }).nullish() })
    .nullish(),
});
const branchRulesSchema = z.array(
  z.object({
    type: z.string(),
    parameters: z.object({ required_status_checks: z.array(z.object({ context: z.string() })).optional() }).passthrough().nullish(),
  }),
);

function toCheckRunDetail(run: z.infer<typeof checkRunDetailSchema>): CheckRunDetail {
  return {
    id: run.id,
    name: run.name,
    status: run.status,
    conclusion: run.conclusion ?? null,
    headSha: run.head_sha,
    title: run.output?.title ?? null,
    summary: run.output?.summary ?? null,
    annotationsCount: run.output?.annotations_count ?? 0,
  };
}

const contentSchema = z.object({ type: z.string(), encoding: z.string().optional(), content: z.string().optional() });

/** One queue per (repository, commit, check name): two deliveries for one commit never both create a run. */
const checkRunQueues = new Map<string, Promise<unknown>>();

function serialized<T>(key: string, work: () => Promise<T>): Promise<T> {
  const next = (checkRunQueues.get(key) ?? Promise.resolve()).catch(() => undefined).then(work);
  checkRunQueues.set(key, next);
  void next.finally(() => {
    if (checkRunQueues.get(key) === next) checkRunQueues.delete(key);
  }).catch(() => undefined);
  return next;
}
const PAGE = 100;

function toFacts(data: unknown): PullRequestFacts {
  return pullRequestFacts(pullSchema.parse(data));
}

function status(error: unknown): number | undefined {
  return (error as { status?: number }).status;
}

/** A GitHub answer that is not the shape the app relies on: one line, naming the call. */
function unexpected(what: string, error: unknown): never {
  if (error instanceof z.ZodError) {
    const issue = error.issues[0];
    throw new PwError(`GitHub answered ${what} with an unexpected shape (${issue?.path.join(".")}: ${issue?.message})`);
  }
  throw error;
}

/** GitHub's statuses that mean "no" (a permission, a protected branch, a setting, a head that moved), not "try again". */
const REFUSALS = new Set([401, 403, 404, 405, 409, 422]);

/** GitHub's reason for a refused REST write, in a line: its message, and the first error's. */
function restReason(error: unknown): string {
  const data = (error as { response?: { data?: { message?: unknown; errors?: Array<{ message?: unknown } | string> } } }).response?.data;
  const message = typeof data?.message === "string" ? data.message : (error as Error).message.split("\n")[0]!;
  const first = data?.errors?.[0];
  const detail = typeof first === "string" ? first : typeof first?.message === "string" ? first.message : undefined;
  return detail && !message.includes(detail) ? `${message}: ${detail}` : message;
}

/** A REST write GitHub may refuse: its refusal as an outcome, anything else (a 5xx, no answer) thrown to be tried again. */
async function refusable(write: () => Promise<unknown>): Promise<Refusable> {
  try {
    await write();
    return { ok: true };
  } catch (error) {
    const code = status(error);
    if (code !== undefined && REFUSALS.has(code)) return { ok: false, status: code, reason: restReason(error) };
    throw error;
  }
}

/**
 * A GraphQL mutation GitHub may refuse: it answers 200 with `errors` (Octokit throws them as a
 * GraphqlResponseError), or 401/403 for a token or App without the permission.
 */
async function refusableMutation(write: () => Promise<unknown>): Promise<Refusable> {
  try {
    await write();
    return { ok: true };
  } catch (error) {
    const errors = (error as { errors?: Array<{ message?: unknown }> }).errors;
    if (Array.isArray(errors) && errors.length > 0) {
      return { ok: false, status: null, reason: errors.map((e) => String(e.message ?? "")).filter(Boolean).join("; ") || "refused" };
    }
    const code = status(error);
    if (code !== undefined && REFUSALS.has(code)) return { ok: false, status: code, reason: restReason(error) };
    throw error;
  }
}

/** The GraphQL mutations the app sends (each listed with its App permissions in `permissions.ts`). */
export const GRAPHQL_MUTATIONS = {
  enablePullRequestAutoMerge: `mutation enablePullRequestAutoMerge($pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod!, $expectedHeadOid: GitObjectID) {
  enablePullRequestAutoMerge(input: { pullRequestId: $pullRequestId, mergeMethod: $mergeMethod, expectedHeadOid: $expectedHeadOid }) { pullRequest { number } }
}`,
  disablePullRequestAutoMerge: `mutation disablePullRequestAutoMerge($pullRequestId: ID!) {
  disablePullRequestAutoMerge(input: { pullRequestId: $pullRequestId }) { pullRequest { number } }
}`,
  enqueuePullRequest: `mutation enqueuePullRequest($pullRequestId: ID!, $expectedHeadOid: GitObjectID) {
  enqueuePullRequest(input: { pullRequestId: $pullRequestId, expectedHeadOid: $expectedHeadOid }) { mergeQueueEntry { position } }
}`,
} as const;

export function repositoryGitHub(octokit: RequestOctokit, repository: string): RepositoryGitHub {
  const [owner, repo] = repository.split("/") as [string, string];
  const base = { owner, repo };

  async function pages<T>(route: string, parameters: Record<string, unknown>, schema: z.ZodType<T[]>): Promise<T[]> {
    const all: T[] = [];
    for (let page = 1; ; page++) {
      const response = await octokit.request(route, { ...base, ...parameters, per_page: PAGE, page });
      const items = schema.parse(response.data);
      all.push(...items);
      if (items.length < PAGE || !/rel="next"/.test(response.headers.link ?? "")) return all;
    }
  }

  return {
    repository,
    async pullRequest(number) {
      const { data } = await octokit.request("GET /repos/{owner}/{repo}/pulls/{pull_number}", { ...base, pull_number: number });
      try {
        return toFacts(data);
      } catch (error) {
        unexpected(`GET pull request #${number}`, error);
      }
    },
    async mergeablePullRequest(number) {
      const { data } = await octokit.request("GET /repos/{owner}/{repo}/pulls/{pull_number}", { ...base, pull_number: number });
      try {
        const facts = toFacts(data);
        const extra = mergeableSchema.parse(data);
        return { ...facts, labels: facts.labels ?? [], nodeId: extra.node_id, draft: extra.draft ?? false, autoMerge: Boolean(extra.auto_merge) };
      } catch (error) {
        unexpected(`GET pull request #${number}`, error);
      }
    },
    async compare(baseRef, head) {
      const { data } = await octokit.request("GET /repos/{owner}/{repo}/compare/{basehead}", { ...base, basehead: `${baseRef}...${head}` });
      try {
        const parsed = comparisonSchema.parse(data);
        return { status: parsed.status, aheadBy: parsed.ahead_by, behindBy: parsed.behind_by, files: parsed.files ?? [] };
      } catch (error) {
        unexpected(`the comparison ${baseRef}...${head}`, error);
      }
    },
    updateBranch(number, expectedHeadSha) {
      return refusable(() =>
        octokit.request("PUT /repos/{owner}/{repo}/pulls/{pull_number}/update-branch", { ...base, pull_number: number, expected_head_sha: expectedHeadSha }),
      );
    },
    setBase(number, newBase) {
      return refusable(() => octokit.request("PATCH /repos/{owner}/{repo}/pulls/{pull_number}", { ...base, pull_number: number, base: newBase }));
    },
    async usesMergeQueue(branch) {
      try {
        const { data } = await octokit.request("GET /repos/{owner}/{repo}/rules/branches/{branch}", { ...base, branch, per_page: PAGE });
        return mergeQueueRulesSchema.parse(data).some((rule) => rule.type === "merge_queue");
      } catch (error) {
        if (status(error) === 404 || status(error) === 403) return false;
        unexpected(`the rules of ${branch}`, error);
      }
    },
    enableAutoMerge(nodeId, method, expectedHeadSha) {
      return refusableMutation(() =>
        octokit.graphql(GRAPHQL_MUTATIONS.enablePullRequestAutoMerge, { pullRequestId: nodeId, mergeMethod: graphqlMergeMethod(method), expectedHeadOid: expectedHeadSha }),
      );
    },
    disableAutoMerge(nodeId) {
      return refusableMutation(() => octokit.graphql(GRAPHQL_MUTATIONS.disablePullRequestAutoMerge, { pullRequestId: nodeId }));
    },
    enqueue(nodeId, expectedHeadSha) {
      return refusableMutation(() => octokit.graphql(GRAPHQL_MUTATIONS.enqueuePullRequest, { pullRequestId: nodeId, expectedHeadOid: expectedHeadSha }));
    },
    merge(number, method, sha) {
      return refusable(() => octokit.request("PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge", { ...base, pull_number: number, merge_method: method, sha }));
    },
    async listPullRequests() {
      try {
        return (await pages("GET /repos/{owner}/{repo}/pulls", { state: "all" }, z.array(z.unknown()))).map(toFacts);
      } catch (error) {
        unexpected("the pull request list", error);
      }
    },
    async react(commentId, content) {
      await octokit.request("POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", {
        ...base,
        comment_id: commentId,
        content,
      });
    },
    async comment(issueNumber, body) {
      const { data } = await octokit.request("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", {
        ...base,
        issue_number: issueNumber,
        body,
      });
      try {
        return idSchema.parse(data).id;
      } catch (error) {
        unexpected("a new comment", error);
      }
    },
    async editComment(commentId, body) {
      try {
        await octokit.request("PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}", { ...base, comment_id: commentId, body });
        return true;
      } catch (error) {
        if (status(error) === 404) return false;
        throw error;
      }
    },
    async findComment(issueNumber, test) {
      try {
        const comments = await pages("GET /repos/{owner}/{repo}/issues/{issue_number}/comments", { issue_number: issueNumber }, commentsSchema);
        return comments.find((c) => test(c.body ?? ""))?.id;
      } catch (error) {
        unexpected(`the comments of #${issueNumber}`, error);
      }
    },
    async permission(login) {
      try {
        const { data } = await octokit.request("GET /repos/{owner}/{repo}/collaborators/{username}/permission", { ...base, username: login });
        const parsed = permissionSchema.parse(data);
        return { role: parsed.role_name ?? parsed.permission, permission: parsed.permission };
      } catch (error) {
        // not a collaborator of a private repository, or a user GitHub does not know
        if (status(error) === 404 || status(error) === 403) return { role: "none", permission: "none" };
        unexpected(`the permission of @${login}`, error);
      }
    },
    async pullRequestFiles(number) {
      return pages("GET /repos/{owner}/{repo}/pulls/{pull_number}/files", { pull_number: number }, z.array(z.unknown()));
    },
    async fileAt(path, ref) {
      try {
        const { data } = await octokit.request("GET /repos/{owner}/{repo}/contents/{path}", { ...base, path, ref });
        const file = contentSchema.parse(data);
        if (file.type !== "file" || file.content === undefined) return undefined;
        return Buffer.from(file.content, file.encoding === "base64" ? "base64" : "utf8").toString("utf8");
      } catch (error) {
        if (status(error) === 404) return undefined;
        unexpected(`the file ${path}@${ref}`, error);
      }
    },
    async checkRuns(sha) {
      try {
        const runs: CheckRun[] = [];
        for (let page = 1; ; page++) {
          const response = await octokit.request("GET /repos/{owner}/{repo}/commits/{ref}/check-runs", {
            ...base,
            ref: sha,
            filter: "latest",
            per_page: PAGE,
            page,
          });
          const parsed = checkRunsSchema.parse(response.data).check_runs;
          runs.push(...parsed.map((r) => ({ id: r.id, name: r.name, status: r.status, conclusion: r.conclusion ?? null })));
          if (parsed.length < PAGE || !/rel="next"/.test(response.headers.link ?? "")) return runs;
        }
      } catch (error) {
        unexpected(`the check runs of ${sha.slice(0, 7)}`, error);
      }
    },
    ensureCheckRun(input) {
      return serialized(`${repository}@${input.headSha}#${input.name}`, async () => {
        const { data } = await octokit.request("GET /repos/{owner}/{repo}/commits/{ref}/check-runs", {
          ...base,
          ref: input.headSha,
          check_name: input.name,
          filter: "latest",
          per_page: PAGE,
        });
        let latest: { id: number; annotations: number | undefined } | undefined;
        try {
          for (const run of checkRunsSchema.parse(data).check_runs) {
            if (run.name !== input.name || run.head_sha !== input.headSha || (latest && run.id < latest.id)) continue;
            latest = { id: run.id, annotations: run.output?.annotations_count };
          }
        } catch (error) {
          unexpected(`the check runs of ${input.headSha.slice(0, 7)}`, error);
        }
        // GitHub appends every request's annotations to the run's: send each one once, ever
        const seen = new Set<string>();
        if (latest && latest.annotations !== 0 && (input.output.annotations ?? []).length > 0) {
          try {
            const route = "GET /repos/{owner}/{repo}/check-runs/{check_run_id}/annotations";
            for (const a of await pages(route, { check_run_id: latest.id }, annotationsSchema)) seen.add(annotationKey(a));
          } catch (error) {
            unexpected(`the annotations of check run ${latest.id}`, error);
          }
        }
        const fresh = (input.output.annotations ?? []).filter((a) => {
          const key = annotationKey(a);
          return !seen.has(key) && seen.add(key);
        });
        const batches: CheckRunAnnotation[][] = [];
        for (let i = 0; i < fresh.length; i += ANNOTATIONS_PER_REQUEST) batches.push(fresh.slice(i, i + ANNOTATIONS_PER_REQUEST));
        // every request repeats the title and summary (GitHub requires both with any output)
        const output = (annotations: CheckRunAnnotation[] = []) => ({
          title: input.output.title,
          summary: input.output.summary,
          ...(annotations.length > 0 ? { annotations } : {}),
        });
        const body = {
          status: "completed",
          conclusion: input.conclusion,
          completed_at: new Date().toISOString(),
          output: output(batches[0]),
        };
        let result: { id: number; created: boolean };
        if (latest !== undefined) {
          await octokit.request("PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}", { ...base, check_run_id: latest.id, ...body });
          result = { id: latest.id, created: false };
        } else {
          const created = await octokit.request("POST /repos/{owner}/{repo}/check-runs", {
            ...base,
            name: input.name,
            head_sha: input.headSha,
            ...body,
          });
          try {
            result = { id: idSchema.parse(created.data).id, created: true };
          } catch (error) {
            unexpected("a new check run", error);
          }
        }
        for (const batch of batches.slice(1)) {
          await octokit.request("PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}", { ...base, check_run_id: result.id, output: output(batch) });
        }
        return result;
      });
    },
    async addLabels(issueNumber, labels) {
      await octokit.request("POST /repos/{owner}/{repo}/issues/{issue_number}/labels", { ...base, issue_number: issueNumber, labels: [...labels] });
    },
    async reviews(number) {
      try {
        const list = await pages("GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews", { pull_number: number }, reviewsSchema);
        return list.map((r) => ({
          id: r.id,
          state: r.state,
          author: r.user?.login ?? "",
          authorIsBot: r.user?.type === "Bot" || (r.user?.login ?? "").endsWith("[bot]"),
          body: r.body ?? "",
          url: r.html_url ?? null,
        }));
      } catch (error) {
        unexpected(`the reviews of #${number}`, error);
      }
    },
    async reviewComments(number, reviewId) {
      try {
        // the per-review listing gives no line numbers: the PR's listing does, with the review's id
        const all = await pages("GET /repos/{owner}/{repo}/pulls/{pull_number}/comments", { pull_number: number }, reviewCommentsSchema);
        return all
          .filter((c) => c.pull_request_review_id === reviewId)
          .map((c) => ({
            path: c.path,
            line: c.line ?? null,
            startLine: c.start_line ?? null,
            diffHunk: c.diff_hunk ?? "",
            body: c.body ?? "",
            author: c.user?.login ?? "",
          }));
      } catch (error) {
        unexpected(`the review comments of #${number}`, error);
      }
    },
    async requiredChecks(branch) {
      const names = new Set<string>();
      // classic branch protection, as "get a branch" summarizes it (no administration permission needed)
      try {
        const { data } = await octokit.request("GET /repos/{owner}/{repo}/branches/{branch}", { ...base, branch });
        const checks = branchSchema.parse(data).protection?.required_status_checks;
        for (const name of [...(checks?.contexts ?? []), ...(checks?.checks ?? []).map((c) => c.context)]) names.add(name);
      } catch (error) {
        if (status(error) !== 404 && status(error) !== 403) unexpected(`the branch ${branch}`, error);
      }
      // rulesets that apply to the branch
      try {
        const { data } = await octokit.request("GET /repos/{owner}/{repo}/rules/branches/{branch}", { ...base, branch, per_page: PAGE });
        for (const rule of branchRulesSchema.parse(data)) {
          if (rule.type !== "required_status_checks") continue;
          for (const check of rule.parameters?.required_status_checks ?? []) names.add(check.context);
        }
      } catch (error) {
        if (status(error) !== 404 && status(error) !== 403) unexpected(`the rules of ${branch}`, error);
      }
      return [...names];
    },
    async checkRun(id) {
      const { data } = await octokit.request("GET /repos/{owner}/{repo}/check-runs/{check_run_id}", { ...base, check_run_id: id });
      try {
        return toCheckRunDetail(checkRunDetailSchema.parse(data));
      } catch (error) {
        unexpected(`check run ${id}`, error);
      }
    },
    async checkRunsOfSuite(suiteId) {
      try {
        const runs: CheckRunDetail[] = [];
        for (let page = 1; ; page++) {
          const response = await octokit.request("GET /repos/{owner}/{repo}/check-suites/{check_suite_id}/check-runs", {
            ...base,
            check_suite_id: suiteId,
            filter: "latest",
            per_page: PAGE,
            page,
          });
          const parsed = z.object({ check_runs: z.array(checkRunDetailSchema) }).parse(response.data).check_runs;
          runs.push(...parsed.map(toCheckRunDetail));
          if (parsed.length < PAGE || !/rel="next"/.test(response.headers.link ?? "")) return runs;
        }
      } catch (error) {
        unexpected(`the check runs of suite ${suiteId}`, error);
      }
    },
    async annotations(checkRunId, limit) {
      try {
        const { data } = await octokit.request("GET /repos/{owner}/{repo}/check-runs/{check_run_id}/annotations", {
          ...base,
          check_run_id: checkRunId,
          per_page: Math.min(PAGE, limit),
        });
        return annotationsSchema.parse(data).slice(0, limit).map((a) => ({
          path: a.path,
          startLine: a.start_line,
          endLine: a.end_line,
          level: a.annotation_level ?? "failure",
          title: a.title ?? null,
          message: a.message ?? "",
        }));
      } catch (error) {
        unexpected(`the annotations of check run ${checkRunId}`, error);
      }
    },
    async deleteBranch(branch) {
      try {
        await octokit.request("DELETE /repos/{owner}/{repo}/git/refs/{ref}", { ...base, ref: `heads/${branch}` });
        return true;
      } catch (error) {
        if (status(error) === 422 || status(error) === 404) return false;
        throw error;
      }
    },
  };
}
