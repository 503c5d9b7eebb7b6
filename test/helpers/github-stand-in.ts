/**
 * A local stand-in for the parts of GitHub's REST API that parallel-workers uses, for end-to-end
 * tests: a real HTTP server on 127.0.0.1 (random port) with in-memory state per repository. It
 * answers at the root (`http://127.0.0.1:PORT/repos/...`, Octokit's `baseUrl`) and under the
 * GitHub Enterprise prefix `/api/v3` (so `GHE_HOST=127.0.0.1:PORT GHE_PROTOCOL=http` works for
 * Probot and the runner). Every request is recorded, unknown routes included (404), so a test can
 * assert the exact calls and that no unexpected one happened.
 *
 * Behaviour copied from GitHub on purpose (each catches a real bug):
 * - pull request and issue numbers share one counter per repository;
 * - `GET /pulls?head=branch` without `owner:` ignores the filter and lists every PR;
 * - a second open PR for the same head and base answers 422 "A pull request already exists";
 * - the collaborator-permission endpoint folds maintain into write and triage into read in
 *   `permission` (`role_name` keeps the role); a user with no role reads a public repository
 *   (`read`) and has `none` on a private one;
 * - branch names in paths arrive percent-encoded (`heads%2Ffeature%2Fx`) and are decoded;
 * - unknown labels are created when added to an issue; milestone titles are unique (422);
 * - a check run's annotations are appended by every POST and PATCH that carries some (never
 *   replaced: GitHub keeps them all), at most 50 per request, and listed at `.../annotations`.
 * - the App manifest flow: `submitManifest` is the person pressing "Create GitHub App" (it
 *   gives the code GitHub puts in the redirect); `POST /app-manifests/{code}/conversions`
 *   exchanges a code once (404 after), answering the App with a new PEM key and webhook secret.
 * - a token it was told to reject (`rejectToken`) gets 401 "Bad credentials" on every request.
 * - reviews and their comments on the diff: `GET .../pulls/{n}/reviews` spells states in capitals
 *   (`CHANGES_REQUESTED`), as the API does (webhooks use lower case); the PR's review comments carry
 *   `pull_request_review_id`, `line`, `start_line` and `diff_hunk`;
 * - a branch's required checks: `GET .../branches/{branch}` sums its protection up in `protection`,
 *   and `GET .../rules/branches/{branch}` lists rulesets' `required_status_checks` rules;
 * - check runs another App reports (`addCheckRun`) belong to that App's suite of the commit, listed
 *   at `GET .../check-suites/{id}/check-runs`.
 * Simplified on purpose: any other token or JWT is accepted (and recorded); a PR's head branch is
 * created on demand when the test has not pushed it with `pushBranch`; any base is accepted.
 */
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** The prefix GitHub Enterprise Server (and Probot/runner with `GHE_HOST`) puts before API paths. */
export const GHE_PREFIX = "/api/v3";
/** The installation id every repository gets unless `addRepo` says otherwise (the fixtures' id). */
export const DEFAULT_INSTALLATION_ID = 1;

export type Role = "none" | "read" | "triage" | "write" | "maintain" | "admin";

export interface RecordedRequest {
  method: string;
  /** Decoded path without the `/api/v3` prefix and without the query string. */
  path: string;
  /** `""` for root requests, `"/api/v3"` for GitHub Enterprise style requests. */
  prefix: string;
  query: Record<string, string>;
  /** Parsed JSON body; `undefined` when the request had none. */
  body: unknown;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  /** The status the stand-in answered. */
  status: number;
  /** The route template that answered (`"POST /repos/{owner}/{repo}/pulls"`), `null` when none did. */
  route: string | null;
  /** True when a `failNext` rule answered instead of the route. */
  injected: boolean;
}

export interface RequestMatch {
  method?: string;
  /** Exact path (without prefix and query) or a pattern tested against it. */
  path: string | RegExp;
}

export interface FailureRule extends RequestMatch {
  status: number;
  /** Defaults to GitHub's error shape with a message for the status. */
  body?: unknown;
  headers?: Record<string, string>;
  /** How many matching requests fail (default 1). */
  times?: number;
  delayMs?: number;
}

export interface DelayRule extends RequestMatch {
  ms: number;
  /** How many matching requests are delayed (default: all of them). */
  times?: number;
}

export interface StandInOptions {
  appId?: number;
  appSlug?: string;
  appName?: string;
  /** Web host used in `html_url` fields (default `https://github.com`). */
  htmlBaseUrl?: string;
  /** Who the API caller is: author of PRs, comments, reactions created through the API. */
  actorLogin?: string;
}

export interface AddRepoOptions {
  defaultBranch?: string;
  private?: boolean;
  installationId?: number;
  archived?: boolean;
  /** The first issue/PR number this repository hands out (default 1). */
  firstNumber?: number;
}

export interface PullRequestSeed {
  title?: string;
  body?: string | null;
  /** `branch` or `owner:branch` (a fork when owner differs). */
  head: string;
  /** Full name of the head repository; defaults to `<head owner>/<repo name>`. */
  headRepo?: string;
  headSha?: string;
  base?: string;
  user?: string;
  draft?: boolean;
  labels?: string[];
  state?: "open" | "closed";
}

export interface IssueSeed {
  title: string;
  body?: string | null;
  user?: string;
  labels?: string[];
}

export interface PullFileSeed {
  filename: string;
  status?: "added" | "removed" | "modified" | "renamed" | "copied" | "changed" | "unchanged";
  additions?: number;
  deletions?: number;
  /** Unified diff hunk text, as GitHub returns it (absent for binary or very large files). */
  patch?: string;
  previous_filename?: string;
}

export interface CommentSeed {
  body: string;
  user: string;
}

export interface ReviewCommentSeed {
  path: string;
  /** The line of the file (its last, for a comment on several). */
  line: number;
  startLine?: number;
  diffHunk?: string;
  body: string;
}

export interface ReviewSeed {
  user: string;
  userType?: "User" | "Bot";
  /** As the API spells it. */
  state?: "CHANGES_REQUESTED" | "APPROVED" | "COMMENTED" | "DISMISSED";
  body?: string;
  comments?: ReviewCommentSeed[];
}

export interface ReviewJson {
  id: number;
  node_id: string;
  user: UserJson;
  body: string;
  state: string;
  html_url: string;
  pull_request_url: string;
  commit_id: string;
  submitted_at: string;
  author_association: string;
}

export interface ReviewCommentJson {
  id: number;
  pull_request_review_id: number;
  path: string;
  line: number;
  original_line: number;
  start_line: number | null;
  side: string;
  diff_hunk: string;
  body: string;
  user: UserJson;
  commit_id: string;
  html_url: string;
  created_at: string;
}

export interface CheckRunSeed {
  name: string;
  headSha: string;
  conclusion: "failure" | "timed_out" | "success" | "neutral" | "cancelled";
  title?: string;
  summary?: string;
  annotations?: Array<{ path: string; start_line: number; end_line: number; annotation_level: "notice" | "warning" | "failure"; title?: string; message: string }>;
  /** The App reporting it (its suite of the commit); default a CI app. */
  app?: string;
}

// ---------- JSON shapes answered (the subset of GitHub's fields our code and Octokit read) ----------

export interface UserJson {
  login: string;
  id: number;
  node_id: string;
  type: "User" | "Bot" | "Organization";
  site_admin: boolean;
  url: string;
  html_url: string;
}

export interface LabelJson {
  id: number;
  node_id: string;
  url: string;
  name: string;
  color: string;
  default: boolean;
  description: string | null;
}

export interface MilestoneJson {
  url: string;
  html_url: string;
  labels_url: string;
  id: number;
  node_id: string;
  number: number;
  title: string;
  description: string | null;
  creator: UserJson;
  open_issues: number;
  closed_issues: number;
  state: "open" | "closed";
  created_at: string;
  updated_at: string;
  due_on: string | null;
  closed_at: string | null;
}

export interface RepoJson {
  id: number;
  node_id: string;
  name: string;
  full_name: string;
  private: boolean;
  visibility: "public" | "private";
  owner: UserJson;
  html_url: string;
  url: string;
  description: string | null;
  fork: boolean;
  default_branch: string;
  archived: boolean;
  disabled: boolean;
  created_at: string;
  updated_at: string;
  pushed_at: string;
}

export interface PullRequestJson {
  url: string;
  id: number;
  node_id: string;
  html_url: string;
  diff_url: string;
  patch_url: string;
  issue_url: string;
  number: number;
  state: "open" | "closed";
  locked: boolean;
  title: string;
  user: UserJson;
  body: string | null;
  labels: LabelJson[];
  milestone: MilestoneJson | null;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  merged_at: string | null;
  merge_commit_sha: string | null;
  assignee: null;
  assignees: UserJson[];
  requested_reviewers: UserJson[];
  draft: boolean;
  merged: boolean;
  mergeable: boolean | null;
  merged_by: UserJson | null;
  author_association: string;
  auto_merge: { enabled_by: UserJson; merge_method: string; commit_title: string; commit_message: string } | null;
  head: BranchJson;
  base: BranchJson;
}

export interface BranchJson {
  label: string;
  ref: string;
  sha: string;
  user: UserJson;
  repo: RepoJson;
}

export interface IssueJson {
  url: string;
  repository_url: string;
  html_url: string;
  id: number;
  node_id: string;
  number: number;
  title: string;
  user: UserJson;
  labels: LabelJson[];
  state: "open" | "closed";
  state_reason: string | null;
  locked: boolean;
  assignee: null;
  assignees: UserJson[];
  milestone: MilestoneJson | null;
  comments: number;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  author_association: string;
  body: string | null;
  draft?: boolean;
  pull_request?: { url: string; html_url: string; diff_url: string; patch_url: string; merged_at: string | null };
}

export interface CommentJson {
  url: string;
  html_url: string;
  issue_url: string;
  id: number;
  node_id: string;
  user: UserJson;
  created_at: string;
  updated_at: string;
  author_association: string;
  body: string;
}

export interface ReactionJson {
  id: number;
  node_id: string;
  user: UserJson;
  content: string;
  created_at: string;
}

export interface PullFileJson {
  sha: string;
  filename: string;
  status: string;
  additions: number;
  deletions: number;
  changes: number;
  blob_url: string;
  raw_url: string;
  contents_url: string;
  patch?: string;
  previous_filename?: string;
}

export interface CheckRunJson {
  id: number;
  node_id: string;
  name: string;
  head_sha: string;
  external_id: string | null;
  url: string;
  html_url: string;
  details_url: string | null;
  status: string;
  conclusion: string | null;
  started_at: string | null;
  completed_at: string | null;
  output: {
    title: string | null;
    summary: string | null;
    text: string | null;
    annotations_count: number;
    annotations_url: string;
  };
  check_suite: { id: number };
  app: AppJson;
  pull_requests: Array<{
    url: string;
    id: number;
    number: number;
    head: { ref: string; sha: string; repo: { id: number; url: string; name: string } };
    base: { ref: string; sha: string; repo: { id: number; url: string; name: string } };
  }>;
}

export interface AppJson {
  id: number;
  slug: string;
  node_id: string;
  name: string;
  owner: UserJson;
  description: string;
  external_url: string;
  html_url: string;
  created_at: string;
  updated_at: string;
  permissions: Record<string, string>;
  events: string[];
}

// ---------- internal state ----------

interface LabelRecord {
  id: number;
  name: string;
  color: string;
  description: string | null;
}

interface MilestoneRecord {
  id: number;
  number: number;
  title: string;
  description: string | null;
  state: "open" | "closed";
  creator: string;
  dueOn: string | null;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
}

interface PullRecord {
  id: number;
  headRef: string;
  headSha: string;
  /** Full name of the head repository (differs from the base repository for forks). */
  headRepo: string;
  baseRef: string;
  draft: boolean;
  merged: boolean;
  mergedAt: string | null;
  mergedBy: string | null;
  mergeCommitSha: string | null;
  /** GitHub's auto-merge, when turned on (GraphQL `enablePullRequestAutoMerge`). */
  autoMerge: { method: string; enabledAt: string } | null;
  /** In its base's merge queue (GraphQL `enqueuePullRequest`). */
  queued: boolean;
  files: PullFileSeed[];
  reviews: ReviewJson[];
  reviewComments: ReviewCommentJson[];
}

interface IssueRecord {
  id: number;
  number: number;
  title: string;
  body: string | null;
  user: string;
  state: "open" | "closed";
  stateReason: string | null;
  /** Lower-cased label keys into the repository's labels. */
  labels: string[];
  milestone: number | null;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  pull?: PullRecord;
}

interface CommentRecord {
  id: number;
  repo: string;
  issue: number;
  body: string;
  user: string;
  createdAt: string;
  updatedAt: string;
}

interface ReactionRecord {
  id: number;
  content: string;
  user: string;
  createdAt: string;
}

interface CheckRunRecord {
  id: number;
  suiteId: number;
  name: string;
  headSha: string;
  externalId: string | null;
  detailsUrl: string | null;
  status: string;
  conclusion: string | null;
  startedAt: string | null;
  completedAt: string | null;
  title: string | null;
  summary: string | null;
  text: string | null;
  /** Every annotation sent to the run, in order (GitHub appends, never replaces). */
  annotations: AnnotationJson[];
}

/** A check-run annotation as GitHub lists it. */
export interface AnnotationJson {
  path: string;
  blob_href: string;
  start_line: number;
  end_line: number;
  start_column: number | null;
  end_column: number | null;
  annotation_level: string;
  title: string | null;
  message: string;
  raw_details: string | null;
}

interface RepoState {
  id: number;
  owner: string;
  name: string;
  fullName: string;
  defaultBranch: string;
  private: boolean;
  installationId: number;
  archived: boolean;
  createdAt: string;
  nextNumber: number;
  nextMilestoneNumber: number;
  issues: Map<number, IssueRecord>;
  labels: Map<string, LabelRecord>;
  milestones: Map<number, MilestoneRecord>;
  roles: Map<string, Role>;
  branches: Map<string, string>;
  checkRuns: CheckRunRecord[];
  suites: Map<string, number>;
  /** Required check names per branch: branch protection's, and rulesets'. */
  protection: Map<string, string[]>;
  rulesets: Map<string, string[]>;
  /** File contents by `ref:path`, for `GET /contents/{path}?ref=`. */
  files: Map<string, string>;
  merging: MergeSettings;
}

/** How the repository merges: what auto-merge, the merge queue, update-branch and REST merges answer. */
export interface MergeSettings {
  /** The repository's "Allow auto-merge" (GraphQL refuses `enablePullRequestAutoMerge` without it). */
  allowAutoMerge: boolean;
  /** Branches whose ruleset has a `merge_queue` rule. */
  mergeQueue: string[];
  /** How many commits of its base each PR lacks (`GET /compare`), by PR number; 1 when not set. */
  behind: Record<number, number>;
  /** PRs whose base does not merge into them cleanly (update-branch answers 422). */
  conflicts: number[];
  /** PRs GitHub would merge at once ("clean" status: auto-merge cannot be turned on for them). */
  clean: number[];
  /** PRs a REST merge refuses, with GitHub's reason (405). */
  blocked: Record<number, string>;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.message));
  }
}

interface RouteContext {
  params: Record<string, string>;
  query: Record<string, string>;
  body: Record<string, unknown>;
  /** Resolved from `{owner}/{repo}` in the template; 404 before the handler when unknown. */
  repo: RepoState;
  /** `http://127.0.0.1:PORT` + prefix + path, for `link` headers. */
  selfUrl: string;
  authorization: string | undefined;
}

type Handler = (ctx: RouteContext) => Reply;

interface Route {
  method: string;
  template: string;
  regex: RegExp;
  keys: string[];
  handler: Handler;
}

interface ActiveRule<R> {
  rule: R;
  remaining: number;
}

interface Hold {
  rule: RequestMatch;
  /** Resolves when the hold is released. */
  released: Promise<void>;
  release: () => void;
  /** Requests waiting on it now. */
  waiting: number;
}

interface Waiter {
  match: (request: RecordedRequest) => boolean;
  resolve: (request: RecordedRequest) => void;
  reject: (error: Error) => void;
}

const REACTIONS = new Set(["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"]);
const ANNOTATION_LEVELS = new Set(["notice", "warning", "failure"]);
const CHECK_STATUSES = new Set(["queued", "in_progress", "completed", "waiting", "requested", "pending"]);
const CHECK_CONCLUSIONS = new Set([
  "action_required",
  "cancelled",
  "failure",
  "neutral",
  "success",
  "skipped",
  "stale",
  "timed_out",
]);
const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Bad credentials",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  422: "Validation Failed",
  500: "Internal Server Error",
  502: "Server Error",
  503: "Service Unavailable",
};

/** ISO time without milliseconds, as GitHub writes it. */
function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

function stableId(text: string): number {
  return parseInt(createHash("sha1").update(text).digest("hex").slice(0, 7), 16);
}

function fakeSha(seed: string): string {
  return createHash("sha1").update(seed).digest("hex");
}

function nodeId(kind: string, id: number): string {
  return Buffer.from(`${kind}${id}`).toString("base64");
}

function folded(role: Role): "none" | "read" | "write" | "admin" {
  if (role === "maintain") return "write";
  if (role === "triage") return "read";
  return role;
}

function errorBody(status: number, message: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { message, ...extra, documentation_url: "https://docs.github.com/rest", status: String(status) };
}

function notFound(): HttpError {
  return new HttpError(404, errorBody(404, "Not Found"));
}

function validationFailed(errors: Array<Record<string, unknown>>): HttpError {
  return new HttpError(422, errorBody(422, "Validation Failed", { errors }));
}

function stringField(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  return typeof value === "string" ? value : undefined;
}

function templateRegex(template: string): { regex: RegExp; keys: string[] } {
  const keys: string[] = [];
  const source = template
    .split("/")
    .map((segment) => {
      const match = /^\{(\w+)(\+?)\}$/.exec(segment);
      if (!match) return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      const [, key = "", greedy] = match;
      keys.push(key);
      if (greedy) return "(.+)";
      return key === "number" || key === "id" || key === "installation_id" ? "(\\d+)" : "([^/]+)";
    })
    .join("/");
  return { regex: new RegExp(`^${source}$`), keys };
}

function matches(rule: RequestMatch, method: string, path: string): boolean {
  if (rule.method && rule.method.toUpperCase() !== method) return false;
  return typeof rule.path === "string" ? rule.path === path : rule.path.test(path);
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

export class GitHubStandIn {
  /** Every request answered, in order (unknown routes and injected failures included). */
  readonly requests: RecordedRequest[] = [];
  /** Installation tokens handed out by `POST /app/installations/{id}/access_tokens`. */
  readonly issuedTokens: string[] = [];
  /** Apps created through the manifest flow (`conversions`), with the manifest they were made from. */
  readonly registeredApps: Array<{ id: number; manifest: Record<string, unknown>; webhookSecret: string; pem: string }> = [];
  private readonly manifestCodes = new Map<string, Record<string, unknown>>();
  /** The App's webhook settings (`GET /app/hook/config`); a manifest's `hook_attributes.url` sets the URL. */
  private hookConfig: { url: string; content_type: string } = { url: "https://pw.example.invalid/api/github/webhooks", content_type: "json" };

  private readonly repos = new Map<string, RepoState>();
  private readonly commentRecords = new Map<number, CommentRecord>();
  private readonly reactionsByComment = new Map<number, ReactionRecord[]>();
  private readonly routes: Route[] = [];
  private readonly rejectedTokens = new Set<string>();
  private failures: Array<ActiveRule<FailureRule>> = [];
  private delays: Array<ActiveRule<DelayRule>> = [];
  private holds: Hold[] = [];
  private waiters: Waiter[] = [];
  private nextId = 1000;
  private readonly appId: number;
  private readonly appSlug: string;
  private readonly appName: string;
  private readonly htmlBase: string;
  private readonly actor: string;

  private constructor(
    private readonly server: Server,
    options: StandInOptions,
  ) {
    this.appId = options.appId ?? 123456;
    this.appSlug = options.appSlug ?? "parallel-workers";
    this.appName = options.appName ?? "parallel-workers";
    this.htmlBase = (options.htmlBaseUrl ?? "https://github.com").replace(/\/$/, "");
    this.actor = options.actorLogin ?? `${this.appSlug}[bot]`;
    this.defineRoutes();
  }

  /** Starts a stand-in on 127.0.0.1 with a random free port. */
  static async start(options: StandInOptions = {}): Promise<GitHubStandIn> {
    const server = createServer();
    const standIn = new GitHubStandIn(server, options);
    server.on("request", (req, res) => void standIn.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return standIn;
  }

  /** `127.0.0.1:PORT`, the value for `GHE_HOST`. */
  get host(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Base URL for Octokit's `baseUrl` (root, like api.github.com). */
  get url(): string {
    return `http://${this.host}`;
  }

  /** Base URL with the GitHub Enterprise prefix, what `GHE_HOST` makes Probot and the runner use. */
  get enterpriseUrl(): string {
    return `${this.url}${GHE_PREFIX}`;
  }

  /** Environment that points Probot and the runner (e.g. `pw serve` as a child process) here. */
  get env(): { GHE_HOST: string; GHE_PROTOCOL: string } {
    return { GHE_HOST: this.host, GHE_PROTOCOL: "http" };
  }

  /** Login that authors whatever the API creates (PRs, comments, reactions, milestones). */
  get actorLogin(): string {
    return this.actor;
  }

  async close(): Promise<void> {
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error("the GitHub stand-in was closed"));
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---------- seeding ----------

  /**
   * What github.com does when someone submits a manifest (the `manifest` form field) on its
   * "new GitHub App" page and presses Create: the code it sends back in the redirect.
   */
  /** Changes the App's webhook settings, as its owner would on GitHub. */
  setAppHookConfig(config: Partial<{ url: string; content_type: string }>): void {
    this.hookConfig = { ...this.hookConfig, ...config };
  }

  submitManifest(manifest: Record<string, unknown>): string {
    const code = randomBytes(20).toString("hex");
    this.manifestCodes.set(code, clone(manifest));
    return code;
  }

  /** Adds a repository ("owner/name"). Requests for repositories not added answer 404. */
  addRepo(fullName: string, options: AddRepoOptions = {}): void {
    const [owner, name, extra] = fullName.split("/");
    if (!owner || !name || extra !== undefined) throw new Error(`repository "${fullName}" must be "owner/name"`);
    if (this.repos.has(fullName.toLowerCase())) throw new Error(`repository "${fullName}" was already added`);
    const defaultBranch = options.defaultBranch ?? "main";
    this.repos.set(fullName.toLowerCase(), {
      id: stableId(`repo:${fullName}`),
      owner,
      name,
      fullName,
      defaultBranch,
      private: options.private ?? false,
      installationId: options.installationId ?? DEFAULT_INSTALLATION_ID,
      archived: options.archived ?? false,
      createdAt: now(),
      nextNumber: options.firstNumber ?? 1,
      nextMilestoneNumber: 1,
      issues: new Map(),
      labels: new Map(),
      milestones: new Map(),
      roles: new Map(),
      branches: new Map([[defaultBranch, fakeSha(`${fullName}:${defaultBranch}`)]]),
      checkRuns: [],
      suites: new Map(),
      protection: new Map(),
      rulesets: new Map(),
      files: new Map(),
      merging: { allowAutoMerge: true, mergeQueue: [], behind: {}, conflicts: [], clean: [], blocked: {} },
    });
  }

  /** Changes how the repository merges (see MergeSettings); what is not given stays. */
  setMerging(repo: string, settings: Partial<MergeSettings>): void {
    const state = this.repo(repo);
    state.merging = { ...state.merging, ...clone(settings) };
  }

  /** Labels a person adds to an issue or PR (the `labeled` webhook is the test's to deliver). */
  addLabels(repo: string, number: number, labels: string[]): void {
    const state = this.repo(repo);
    const issue = this.issue(state, number);
    for (const label of labels) {
      const added = this.ensureLabel(state, label);
      if (!issue.labels.includes(added)) issue.labels.push(added);
    }
  }

  /** Auto-merge of a PR as GraphQL turned it on (null: off), and whether it is in the merge queue. */
  autoMergeOf(repo: string, number: number): { autoMerge: { method: string } | null; queued: boolean } {
    const pull = this.issue(this.repo(repo), number).pull;
    if (!pull) throw new Error(`${repo}#${number} is an issue, not a pull request`);
    return { autoMerge: pull.autoMerge ? { method: pull.autoMerge.method } : null, queued: pull.queued };
  }

  /** Gives `user` a role on the repository (what the collaborator-permission endpoint reports). */
  setPermission(repo: string, user: string, role: Role): void {
    this.repo(repo).roles.set(user.toLowerCase(), role);
  }

  /** Creates or moves a branch (a push); open PRs from it get the new head sha. Returns the sha. */
  pushBranch(repo: string, branch: string, sha?: string): string {
    const state = this.repo(repo);
    const head = sha ?? fakeSha(`${state.fullName}:${branch}:${this.nextId++}`);
    state.branches.set(branch, head);
    for (const issue of state.issues.values()) {
      const pull = issue.pull;
      if (pull && issue.state === "open" && pull.headRef === branch && pull.headRepo.toLowerCase() === state.fullName.toLowerCase()) {
        pull.headSha = head;
      }
    }
    return head;
  }

  /** A pull request opened by someone else (another person, a fork). */
  addPullRequest(repo: string, seed: PullRequestSeed): PullRequestJson {
    const state = this.repo(repo);
    const issue = this.createPull(state, {
      title: seed.title ?? `Change ${seed.head}`,
      body: seed.body ?? null,
      head: seed.head,
      headRepo: seed.headRepo,
      headSha: seed.headSha,
      base: seed.base ?? state.defaultBranch,
      draft: seed.draft ?? false,
      user: seed.user ?? "octocat",
    });
    if (seed.labels) issue.labels = seed.labels.map((label) => this.ensureLabel(state, label));
    if (seed.state === "closed") this.closeIssue(state, issue);
    return this.pullJson(state, issue);
  }

  addIssue(repo: string, seed: IssueSeed): IssueJson {
    const state = this.repo(repo);
    const issue = this.createIssue(state, seed.title, seed.body ?? null, seed.user ?? "octocat");
    if (seed.labels) issue.labels = seed.labels.map((label) => this.ensureLabel(state, label));
    return this.issueJson(state, issue);
  }

  /** A comment written by someone (e.g. a slash command); returns it as the API would. */
  addComment(repo: string, number: number, seed: CommentSeed): CommentJson {
    const state = this.repo(repo);
    const issue = this.issue(state, number);
    return this.commentJson(state, this.createComment(state, issue, seed.body, seed.user));
  }

  /** A review submitted on a PR, with its comments on the diff; returns it as the reviews API lists it. */
  addReview(repo: string, number: number, seed: ReviewSeed): ReviewJson {
    const state = this.repo(repo);
    const issue = this.pullIssue(state, number);
    const pull = issue.pull as PullRecord;
    const id = this.nextId++;
    const html = `${this.htmlBase}/${state.fullName}/pull/${number}`;
    const time = now();
    const user = { ...this.userJson(seed.user), ...(seed.userType ? { type: seed.userType } : {}) };
    const review: ReviewJson = {
      id,
      node_id: nodeId("017:PullRequestReview", id),
      user,
      body: seed.body ?? "",
      state: seed.state ?? "CHANGES_REQUESTED",
      html_url: `${html}#pullrequestreview-${id}`,
      pull_request_url: `${this.apiRepoUrl(state)}/pulls/${number}`,
      commit_id: pull.headSha,
      submitted_at: time,
      author_association: this.associationOf(state, seed.user),
    };
    pull.reviews.push(review);
    for (const comment of seed.comments ?? []) {
      const commentId = this.nextId++;
      pull.reviewComments.push({
        id: commentId,
        pull_request_review_id: id,
        path: comment.path,
        line: comment.line,
        original_line: comment.line,
        start_line: comment.startLine ?? null,
        side: "RIGHT",
        diff_hunk: comment.diffHunk ?? `@@ -${comment.line},1 +${comment.line},1 @@`,
        body: comment.body,
        user,
        commit_id: pull.headSha,
        html_url: `${html}#discussion_r${commentId}`,
        created_at: time,
      });
    }
    return clone(review);
  }

  /** The checks `branch` requires, as its branch protection (or, with `ruleset`, a ruleset) says. */
  setRequiredChecks(repo: string, branch: string, names: string[], options: { ruleset?: boolean } = {}): void {
    const state = this.repo(repo);
    (options.ruleset ? state.rulesets : state.protection).set(branch, [...names]);
  }

  /** A completed check run reported by another App (CI) on a commit, in that App's suite of it. */
  addCheckRun(repo: string, seed: CheckRunSeed): CheckRunJson {
    const state = this.repo(repo);
    const suiteKey = `${seed.app ?? "ci"}@${seed.headSha}`;
    let suiteId = state.suites.get(suiteKey);
    if (suiteId === undefined) {
      suiteId = this.nextId++;
      state.suites.set(suiteKey, suiteId);
    }
    const run: CheckRunRecord = {
      id: this.nextId++,
      suiteId,
      name: seed.name,
      headSha: seed.headSha,
      externalId: null,
      detailsUrl: null,
      status: "completed",
      conclusion: seed.conclusion,
      startedAt: now(),
      completedAt: now(),
      title: seed.title ?? null,
      summary: seed.summary ?? null,
      text: null,
      annotations: [],
    };
    run.annotations = (seed.annotations ?? []).map((a) => this.annotationJson(state, run, a));
    state.checkRuns.push(run);
    return this.checkRunJson(state, run);
  }

  /** A file as the contents API shows it at `ref` (a branch name or sha). */
  setFile(repo: string, ref: string, path: string, content: string): void {
    this.repo(repo).files.set(`${ref}:${path}`, content);
  }

  setPullFiles(repo: string, number: number, files: PullFileSeed[]): void {
    const pull = this.issue(this.repo(repo), number).pull;
    if (!pull) throw new Error(`${repo}#${number} is an issue, not a pull request`);
    pull.files = clone(files);
  }

  /** Merges an open pull request, as a person pressing the button would. */
  mergePullRequest(repo: string, number: number, by = "octocat"): PullRequestJson {
    const state = this.repo(repo);
    const issue = this.issue(state, number);
    const pull = issue.pull;
    if (!pull) throw new Error(`${repo}#${number} is an issue, not a pull request`);
    if (issue.state !== "open") throw new Error(`${repo}#${number} is not open`);
    this.closeIssue(state, issue);
    pull.merged = true;
    pull.mergedAt = issue.closedAt;
    pull.mergedBy = by;
    pull.mergeCommitSha = fakeSha(`merge:${state.fullName}:${number}`);
    return this.pullJson(state, issue);
  }

  closePullRequest(repo: string, number: number): PullRequestJson {
    const state = this.repo(repo);
    const issue = this.issue(state, number);
    if (!issue.pull) throw new Error(`${repo}#${number} is an issue, not a pull request`);
    this.closeIssue(state, issue);
    return this.pullJson(state, issue);
  }

  // ---------- reading state (deep copies, shaped as the API answers) ----------

  pulls(repo: string): PullRequestJson[] {
    const state = this.repo(repo);
    return [...state.issues.values()].filter((issue) => issue.pull).map((issue) => this.pullJson(state, issue));
  }

  pull(repo: string, number: number): PullRequestJson {
    const state = this.repo(repo);
    const issue = this.issue(state, number);
    if (!issue.pull) throw new Error(`${repo}#${number} is an issue, not a pull request`);
    return this.pullJson(state, issue);
  }

  issues(repo: string): IssueJson[] {
    const state = this.repo(repo);
    return [...state.issues.values()].map((issue) => this.issueJson(state, issue));
  }

  milestones(repo: string): MilestoneJson[] {
    const state = this.repo(repo);
    return [...state.milestones.values()].map((milestone) => this.milestoneJson(state, milestone));
  }

  labels(repo: string): LabelJson[] {
    const state = this.repo(repo);
    return [...state.labels.values()].map((label) => this.labelJson(state, label));
  }

  comments(repo: string, number: number): CommentJson[] {
    const state = this.repo(repo);
    return [...this.commentRecords.values()]
      .filter((comment) => comment.repo === state.fullName && comment.issue === number)
      .map((comment) => this.commentJson(state, comment));
  }

  reactions(commentId: number): ReactionJson[] {
    return (this.reactionsByComment.get(commentId) ?? []).map((reaction) => this.reactionJson(reaction));
  }

  reviews(repo: string, number: number): ReviewJson[] {
    return clone((this.pullIssue(this.repo(repo), number).pull as PullRecord).reviews);
  }

  checkRuns(repo: string): CheckRunJson[] {
    const state = this.repo(repo);
    return state.checkRuns.map((run) => this.checkRunJson(state, run));
  }
  /** The annotations on a check run, as GitHub lists them (every one ever sent, in order). */
  checkRunAnnotations(repo: string, checkRunId: number): AnnotationJson[] {
    return this.checkRun(this.repo(repo), checkRunId).annotations.map((annotation) => ({ ...annotation }));
  }


  /** Branch name -> head sha. */
  branches(repo: string): Record<string, string> {
    return Object.fromEntries(this.repo(repo).branches);
  }

  // ---------- requests, failures, latency ----------

  /** Recorded requests matching `method` and `path` (exact or pattern). */
  requestsTo(method: string, path: string | RegExp): RecordedRequest[] {
    return this.requests.filter((request) => matches({ method, path }, request.method, request.path));
  }

  /** Requests no route knew (answered 404 `Not Found`); a passing test usually expects none. */
  unknownRequests(): RecordedRequest[] {
    return this.requests.filter((request) => request.route === null && !request.injected);
  }

  /** `"POST /repos/o/r/pulls"` lines for every request so far, for readable assertions. */
  calls(): string[] {
    return this.requests.map((request) => `${request.method} ${request.path}`);
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  /** Every later request made with `token` (as `token X` or `bearer X`) answers 401 Bad credentials. */
  rejectToken(token: string): void {
    this.rejectedTokens.add(token);
  }

  /** Accepts `token` again after `rejectToken` (a person fixed their credentials). */
  acceptToken(token: string): void {
    this.rejectedTokens.delete(token);
  }

  /** The next matching request(s) answer `status` instead of reaching the route (no state change). */
  failNext(rule: FailureRule): void {
    this.failures.push({ rule, remaining: rule.times ?? 1 });
  }

  /** Matching requests are answered `ms` later (the state change happens after the wait). */
  delay(rule: DelayRule): void {
    this.delays.push({ rule, remaining: rule.times ?? Number.POSITIVE_INFINITY });
  }

  /**
   * Matching requests wait, unanswered and unrecorded, until the returned function is called;
   * then they (and later ones) go on in the order they came. For "answered before GitHub was":
   * hold everything, send deliveries, and see their answers arrive first.
   */
  hold(rule: RequestMatch = { path: /./ }): () => void {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const hold: Hold = { rule, released, release: () => undefined, waiting: 0 };
    hold.release = () => {
      this.holds = this.holds.filter((other) => other !== hold);
      release();
    };
    this.holds.push(hold);
    return hold.release;
  }

  /** How many requests wait on holds now. */
  heldRequests(): number {
    return this.holds.reduce((sum, hold) => sum + hold.waiting, 0);
  }

  /** Resolves with the first request (already recorded or future) that matches; for child processes. */
  waitForRequest(
    match: RequestMatch | ((request: RecordedRequest) => boolean),
    timeoutMs = 10_000,
  ): Promise<RecordedRequest> {
    const test =
      typeof match === "function" ? match : (request: RecordedRequest) => matches(match, request.method, request.path);
    const seen = this.requests.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match: test,
        resolve: (request) => {
          clearTimeout(timer);
          resolve(request);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((other) => other !== waiter);
        const wanted = typeof match === "function" ? "a matching request" : `${match.method ?? "*"} ${String(match.path)}`;
        reject(new Error(`no ${wanted} within ${timeoutMs} ms; saw:\n${this.calls().join("\n")}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  // ---------- HTTP ----------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", this.url);
    const method = (req.method ?? "GET").toUpperCase();
    let prefix = "";
    let rawPath = url.pathname;
    if (rawPath === GHE_PREFIX || rawPath.startsWith(`${GHE_PREFIX}/`)) {
      prefix = GHE_PREFIX;
      rawPath = rawPath.slice(GHE_PREFIX.length) || "/";
    }
    let path = rawPath;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      // A malformed escape stays as sent; no route will match it.
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    const query = Object.fromEntries(url.searchParams);
    const hold = this.holds.find((candidate) => matches(candidate.rule, method, path));
    if (hold) {
      hold.waiting += 1;
      await hold.released;
      hold.waiting -= 1;
    }
    const recorded: RecordedRequest = { method, path, prefix, query, body: undefined, headers, status: 0, route: null, injected: false };

    let reply: Reply;
    let waitMs = 0;
    const failure = this.take(this.failures, method, path);
    const delay = this.take(this.delays, method, path);
    if (delay) waitMs += delay.ms;
    try {
      if (raw.length > 0) {
        try {
          recorded.body = JSON.parse(raw) as unknown;
        } catch {
          recorded.body = raw;
          throw new HttpError(400, errorBody(400, "Problems parsing JSON"));
        }
      }
      const found = this.find(method, path);
      recorded.route = found ? `${found.route.method} ${found.route.template}` : null;
      const credential = /^(?:token|bearer)\s+(\S+)$/i.exec(headers.authorization ?? "")?.[1];
      if (credential !== undefined && this.rejectedTokens.has(credential)) {
        throw new HttpError(401, errorBody(401, "Bad credentials"));
      }
      if (failure) {
        recorded.injected = true;
        waitMs += failure.delayMs ?? 0;
        reply = {
          status: failure.status,
          body: failure.body ?? errorBody(failure.status, STATUS_TEXT[failure.status] ?? "Error"),
          headers: failure.headers ?? {},
        };
      } else if (!found) {
        throw notFound();
      } else {
        if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
        waitMs = 0;
        reply = found.route.handler(this.context(found, recorded, url, prefix, rawPath));
      }
    } catch (error) {
      // A bug in the stand-in itself answers 500 with the reason, so the test shows it.
      reply =
        error instanceof HttpError
          ? { status: error.status, body: error.body }
          : { status: 500, body: errorBody(500, `GitHub stand-in failed: ${error instanceof Error ? error.stack : String(error)}`) };
    }
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    recorded.status = reply.status;
    this.requests.push(recorded);
    this.send(res, reply);
    for (const waiter of this.waiters.filter((candidate) => candidate.match(recorded))) {
      this.waiters = this.waiters.filter((other) => other !== waiter);
      waiter.resolve(recorded);
    }
  }

  private take<R extends RequestMatch & { times?: number }>(rules: Array<ActiveRule<R>>, method: string, path: string): R | undefined {
    const active = rules.find((candidate) => candidate.remaining > 0 && matches(candidate.rule, method, path));
    if (!active) return undefined;
    active.remaining -= 1;
    return active.rule;
  }

  private find(method: string, path: string): { route: Route; params: Record<string, string> } | undefined {
    for (const route of this.routes) {
      if (route.method !== method) continue;
      const match = route.regex.exec(path);
      if (!match) continue;
      const params: Record<string, string> = {};
      route.keys.forEach((key, index) => (params[key] = match[index + 1] ?? ""));
      return { route, params };
    }
    return undefined;
  }

  private context(
    found: { route: Route; params: Record<string, string> },
    recorded: RecordedRequest,
    url: URL,
    prefix: string,
    rawPath: string,
  ): RouteContext {
    const { owner, repo } = found.params;
    let state: RepoState | undefined;
    if (owner !== undefined && repo !== undefined) {
      state = this.repos.get(`${owner}/${repo}`.toLowerCase());
      if (!state) throw notFound();
    }
    const body = recorded.body;
    return {
      params: found.params,
      query: recorded.query,
      body: body !== null && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : {},
      // Routes without {owner}/{repo} never read it.
      repo: state as RepoState,
      selfUrl: `${url.origin}${prefix}${rawPath}`,
      authorization: recorded.headers.authorization,
    };
  }

  private send(res: ServerResponse, reply: Reply): void {
    const headers: Record<string, string> = {
      "x-github-media-type": "github.v3; format=json",
      "x-github-request-id": randomBytes(8).toString("hex").toUpperCase(),
      "x-ratelimit-limit": "5000",
      "x-ratelimit-remaining": "4999",
      "x-ratelimit-used": "1",
      "x-ratelimit-reset": String(Math.floor(Date.now() / 1000) + 3600),
      "x-ratelimit-resource": "core",
      ...reply.headers,
    };
    if (reply.status === 204 || reply.status === 304 || reply.body === undefined) {
      res.writeHead(reply.status, headers);
      res.end();
      return;
    }
    const text = JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      "content-type": "application/json; charset=utf-8",
      "content-length": String(Buffer.byteLength(text)),
      ...headers,
    });
    res.end(text);
  }

  // ---------- routes ----------

  private on(method: string, template: string, handler: Handler): void {
    this.routes.push({ method, template, ...templateRegex(template), handler });
  }

  private defineRoutes(): void {
    const R = "/repos/{owner}/{repo}";

    this.on("GET", "/app", () => ({ status: 200, body: this.appJson() }));
    this.on("GET", "/app/hook/config", () => ({ status: 200, body: { ...this.hookConfig, insecure_ssl: "0", secret: "********" } }));
    this.on("GET", `${R}/installation`, ({ repo }) => ({ status: 200, body: this.installationJson(repo) }));
    this.on("POST", "/app/installations/{installation_id}/access_tokens", ({ params }) => {
      const id = Number(params.installation_id);
      const repos = [...this.repos.values()].filter((repo) => repo.installationId === id);
      if (repos.length === 0) throw notFound();
      const token = `ghs_${randomBytes(18).toString("hex")}`;
      this.issuedTokens.push(token);
      return {
        status: 201,
        body: {
          token,
          expires_at: new Date(Date.now() + 3600_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
          permissions: this.appPermissions(),
          repository_selection: "selected",
        },
      };
    });

    this.on("POST", "/app-manifests/{code}/conversions", ({ params }) => {
      const manifest = this.manifestCodes.get(params.code ?? "");
      if (!manifest) throw notFound();
      this.manifestCodes.delete(params.code ?? "");
      const pem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
      const webhookSecret = randomBytes(20).toString("hex");
      this.registeredApps.push({ id: this.appId, manifest, webhookSecret, pem });
      const hook = manifest.hook_attributes as { url?: unknown } | undefined;
      if (typeof hook?.url === "string") this.hookConfig = { url: hook.url, content_type: "json" };
      return {
        status: 201,
        body: {
          ...this.appJson(),
          name: typeof manifest.name === "string" ? manifest.name : this.appName,
          permissions: manifest.default_permissions ?? {},
          events: manifest.default_events ?? [],
          client_id: `Iv1.${randomBytes(8).toString("hex")}`,
          client_secret: randomBytes(20).toString("hex"),
          webhook_secret: webhookSecret,
          pem,
        },
      };
    });

    this.on("GET", R, ({ repo }) => ({ status: 200, body: this.repoJson(repo) }));

    // GraphQL, as far as the merge flow's mutations go (GitHub answers 200 with `errors` when it refuses)
    const graphql: Handler = ({ body }) => this.graphql(body);
    this.on("POST", "/graphql", graphql);
    this.on("POST", "/api/graphql", graphql);

    // Pull requests
    this.on("POST", `${R}/pulls`, ({ repo, body }) => {
      const title = stringField(body, "title");
      const head = stringField(body, "head");
      const base = stringField(body, "base");
      const missing = [
        ...(head ? [] : ["head"]),
        ...(base ? [] : ["base"]),
        ...(title || body.issue !== undefined ? [] : ["title"]),
      ];
      if (missing.length > 0 || !head || !base) {
        throw validationFailed(missing.map((field) => ({ resource: "PullRequest", field, code: "missing_field" })));
      }
      const issue = this.createPull(repo, {
        title: title ?? "",
        body: stringField(body, "body") ?? null,
        head,
        headRepo: undefined,
        headSha: undefined,
        base,
        draft: body.draft === true,
        user: this.actor,
      });
      return { status: 201, body: this.pullJson(repo, issue) };
    });
    this.on("GET", `${R}/pulls`, ({ repo, query, selfUrl }) => {
      const state = query.state ?? "open";
      let list = [...repo.issues.values()].filter((issue) => issue.pull);
      if (state !== "all") list = list.filter((issue) => issue.state === state);
      // GitHub ignores a head filter without "owner:" (a classic source of wrong matches).
      const head = query.head;
      if (head?.includes(":")) {
        const [owner = "", ...rest] = head.split(":");
        const ref = rest.join(":");
        list = list.filter((issue) => {
          const pull = issue.pull as PullRecord;
          return pull.headRepo.split("/")[0]?.toLowerCase() === owner.toLowerCase() && pull.headRef === ref;
        });
      }
      if (query.base) list = list.filter((issue) => issue.pull?.baseRef === query.base);
      list.sort((a, b) => b.number - a.number);
      if (query.direction === "asc") list.reverse();
      return this.paged(list.map((issue) => this.pullJson(repo, issue)), query, selfUrl);
    });
    this.on("GET", `${R}/pulls/{number}`, ({ repo, params }) => ({
      status: 200,
      body: this.pullJson(repo, this.pullIssue(repo, Number(params.number)), true),
    }));
    this.on("PATCH", `${R}/pulls/{number}`, ({ repo, params, body }) => {
      const issue = this.pullIssue(repo, Number(params.number));
      const pull = issue.pull as PullRecord;
      if (body.title !== undefined) issue.title = String(body.title);
      if (body.body !== undefined) issue.body = body.body === null ? null : String(body.body);
      if (typeof body.base === "string") pull.baseRef = body.base;
      if (body.state !== undefined) this.setState(repo, issue, body.state, body.state_reason);
      issue.updatedAt = now();
      return { status: 200, body: this.pullJson(repo, issue, true) };
    });
    this.on("GET", `${R}/pulls/{number}/files`, ({ repo, params, query, selfUrl }) => {
      const issue = this.pullIssue(repo, Number(params.number));
      const files = (issue.pull as PullRecord).files.map((file) => this.fileJson(repo, issue, file));
      return this.paged(files, query, selfUrl);
    });

    this.on("GET", `${R}/pulls/{number}/reviews`, ({ repo, params, query, selfUrl }) => {
      const pull = this.pullIssue(repo, Number(params.number)).pull as PullRecord;
      return this.paged(clone(pull.reviews), query, selfUrl);
    });
    this.on("GET", `${R}/pulls/{number}/comments`, ({ repo, params, query, selfUrl }) => {
      const pull = this.pullIssue(repo, Number(params.number)).pull as PullRecord;
      return this.paged(clone(pull.reviewComments), query, selfUrl);
    });

    // Issues (a pull request is an issue too)
    this.on("GET", `${R}/issues/{number}`, ({ repo, params }) => ({
      status: 200,
      body: this.issueJson(repo, this.issue(repo, Number(params.number), true)),
    }));
    this.on("PATCH", `${R}/issues/{number}`, ({ repo, params, body }) => {
      const issue = this.issue(repo, Number(params.number), true);
      if (body.milestone !== undefined) {
        const number = body.milestone === null ? null : Number(body.milestone);
        if (number !== null && !repo.milestones.has(number)) {
          throw validationFailed([{ value: body.milestone, resource: "Issue", field: "milestone", code: "invalid" }]);
        }
        issue.milestone = number;
      }
      if (body.labels !== undefined) issue.labels = this.labelNames(body.labels).map((name) => this.ensureLabel(repo, name));
      if (body.title !== undefined) issue.title = String(body.title);
      if (body.body !== undefined) issue.body = body.body === null ? null : String(body.body);
      if (body.state !== undefined) this.setState(repo, issue, body.state, body.state_reason);
      issue.updatedAt = now();
      return { status: 200, body: this.issueJson(repo, issue) };
    });
    this.on("GET", `${R}/issues/{number}/labels`, ({ repo, params, query, selfUrl }) => {
      const issue = this.issue(repo, Number(params.number), true);
      return this.paged(this.issueLabels(repo, issue), query, selfUrl);
    });
    this.on("POST", `${R}/issues/{number}/labels`, ({ repo, params, body }) => {
      const issue = this.issue(repo, Number(params.number), true);
      const names = this.labelNames(body.labels);
      if (names.length === 0) throw validationFailed([{ resource: "Label", field: "labels", code: "missing_field" }]);
      for (const name of names) {
        const key = this.ensureLabel(repo, name);
        if (!issue.labels.includes(key)) issue.labels.push(key);
      }
      issue.updatedAt = now();
      return { status: 200, body: this.issueLabels(repo, issue) };
    });
    this.on("DELETE", `${R}/issues/{number}/labels/{name}`, ({ repo, params }) => {
      const issue = this.issue(repo, Number(params.number), true);
      const key = (params.name ?? "").toLowerCase();
      if (!issue.labels.includes(key)) throw new HttpError(404, errorBody(404, "Label does not exist"));
      issue.labels = issue.labels.filter((label) => label !== key);
      return { status: 200, body: this.issueLabels(repo, issue) };
    });
    this.on("GET", `${R}/issues/{number}/comments`, ({ repo, params, query, selfUrl }) => {
      const issue = this.issue(repo, Number(params.number), true);
      return this.paged(this.comments(repo.fullName, issue.number), query, selfUrl);
    });
    this.on("POST", `${R}/issues/{number}/comments`, ({ repo, params, body }) => {
      const issue = this.issue(repo, Number(params.number), true);
      const text = stringField(body, "body");
      if (!text) throw validationFailed([{ resource: "IssueComment", field: "body", code: "missing_field" }]);
      return { status: 201, body: this.commentJson(repo, this.createComment(repo, issue, text, this.actor)) };
    });
    this.on("GET", `${R}/issues/comments/{id}`, ({ repo, params }) => ({
      status: 200,
      body: this.commentJson(repo, this.comment(repo, Number(params.id))),
    }));
    this.on("PATCH", `${R}/issues/comments/{id}`, ({ repo, params, body }) => {
      const comment = this.comment(repo, Number(params.id));
      const text = stringField(body, "body");
      if (!text) throw validationFailed([{ resource: "IssueComment", field: "body", code: "missing_field" }]);
      comment.body = text;
      comment.updatedAt = now();
      return { status: 200, body: this.commentJson(repo, comment) };
    });
    this.on("GET", `${R}/issues/comments/{id}/reactions`, ({ repo, params, query, selfUrl }) => {
      const comment = this.comment(repo, Number(params.id));
      return this.paged(this.reactions(comment.id), query, selfUrl);
    });
    this.on("POST", `${R}/issues/comments/{id}/reactions`, ({ repo, params, body }) => {
      const comment = this.comment(repo, Number(params.id));
      const content = stringField(body, "content");
      if (!content || !REACTIONS.has(content)) {
        throw validationFailed([{ resource: "Reaction", field: "content", code: "invalid", value: body.content }]);
      }
      const list = this.reactionsByComment.get(comment.id) ?? [];
      this.reactionsByComment.set(comment.id, list);
      // Reacting twice with the same content answers the existing reaction with 200, as GitHub does.
      const existing = list.find((reaction) => reaction.content === content && reaction.user === this.actor);
      if (existing) return { status: 200, body: this.reactionJson(existing) };
      const reaction: ReactionRecord = { id: this.nextId++, content, user: this.actor, createdAt: now() };
      list.push(reaction);
      return { status: 201, body: this.reactionJson(reaction) };
    });

    // Labels and milestones
    this.on("GET", `${R}/labels`, ({ repo, query, selfUrl }) => this.paged(this.labels(repo.fullName), query, selfUrl));
    this.on("POST", `${R}/labels`, ({ repo, body }) => {
      const name = stringField(body, "name");
      if (!name) throw validationFailed([{ resource: "Label", field: "name", code: "missing_field" }]);
      if (repo.labels.has(name.toLowerCase())) {
        throw validationFailed([{ resource: "Label", code: "already_exists", field: "name" }]);
      }
      const key = this.ensureLabel(repo, name, stringField(body, "color"), stringField(body, "description"));
      return { status: 201, body: this.labelJson(repo, repo.labels.get(key) as LabelRecord) };
    });
    this.on("GET", `${R}/milestones`, ({ repo, query, selfUrl }) => {
      const state = query.state ?? "open";
      let list = [...repo.milestones.values()];
      if (state !== "all") list = list.filter((milestone) => milestone.state === state);
      if (query.direction === "desc") list.reverse();
      return this.paged(list.map((milestone) => this.milestoneJson(repo, milestone)), query, selfUrl);
    });
    this.on("GET", `${R}/milestones/{number}`, ({ repo, params }) => {
      const milestone = repo.milestones.get(Number(params.number));
      if (!milestone) throw notFound();
      return { status: 200, body: this.milestoneJson(repo, milestone) };
    });
    this.on("POST", `${R}/milestones`, ({ repo, body }) => {
      const title = stringField(body, "title");
      if (!title) throw validationFailed([{ resource: "Milestone", field: "title", code: "missing_field" }]);
      if ([...repo.milestones.values()].some((milestone) => milestone.title === title)) {
        throw validationFailed([{ resource: "Milestone", code: "already_exists", field: "title" }]);
      }
      const time = now();
      const state = body.state === "closed" ? "closed" : "open";
      const milestone: MilestoneRecord = {
        id: this.nextId++,
        number: repo.nextMilestoneNumber++,
        title,
        description: stringField(body, "description") ?? null,
        state,
        creator: this.actor,
        dueOn: stringField(body, "due_on") ?? null,
        createdAt: time,
        updatedAt: time,
        closedAt: state === "closed" ? time : null,
      };
      repo.milestones.set(milestone.number, milestone);
      return { status: 201, body: this.milestoneJson(repo, milestone) };
    });

    // Permissions
    this.on("GET", `${R}/collaborators/{username}/permission`, ({ repo, params }) => {
      const login = params.username ?? "";
      const role = repo.roles.get(login.toLowerCase()) ?? (repo.private ? "none" : "read");
      const permission = folded(role);
      return {
        status: 200,
        body: {
          permission,
          role_name: role === "none" ? "" : role,
          user: { ...this.userJson(login), permissions: this.permissionFlags(role), role_name: role === "none" ? "" : role },
        },
      };
    });

    // Check runs
    this.on("POST", `${R}/check-runs`, ({ repo, body }) => {
      const name = stringField(body, "name");
      const headSha = stringField(body, "head_sha");
      const missing = [...(name ? [] : ["name"]), ...(headSha ? [] : ["head_sha"])];
      if (missing.length > 0 || !name || !headSha) {
        throw validationFailed(missing.map((field) => ({ resource: "CheckRun", field, code: "missing_field" })));
      }
      let suiteId = repo.suites.get(headSha);
      if (suiteId === undefined) {
        suiteId = this.nextId++;
        repo.suites.set(headSha, suiteId);
      }
      const run: CheckRunRecord = {
        id: this.nextId++,
        suiteId,
        name,
        headSha,
        externalId: null,
        detailsUrl: null,
        status: "queued",
        conclusion: null,
        startedAt: now(),
        completedAt: null,
        title: null,
        summary: null,
        text: null,
        annotations: [],
      };
      this.applyCheckRun(repo, run, body);
      repo.checkRuns.push(run);
      return { status: 201, body: this.checkRunJson(repo, run) };
    });
    this.on("PATCH", `${R}/check-runs/{id}`, ({ repo, params, body }) => {
      const run = this.checkRun(repo, Number(params.id));
      if (typeof body.name === "string") run.name = body.name;
      this.applyCheckRun(repo, run, body);
      return { status: 200, body: this.checkRunJson(repo, run) };
    });
    this.on("GET", `${R}/check-runs/{id}`, ({ repo, params }) => ({
      status: 200,
      body: this.checkRunJson(repo, this.checkRun(repo, Number(params.id))),
    }));
    this.on("GET", `${R}/check-runs/{id}/annotations`, ({ repo, params, query, selfUrl }) =>
      this.paged(this.checkRun(repo, Number(params.id)).annotations, query, selfUrl),
    );
    this.on("GET", `${R}/commits/{ref+}/check-runs`, ({ repo, params, query, selfUrl }) => {
      const sha = this.resolveRef(repo, params.ref ?? "");
      let runs = repo.checkRuns.filter((run) => run.headSha === sha);
      if (query.check_name) runs = runs.filter((run) => run.name === query.check_name);
      if (query.status) runs = runs.filter((run) => run.status === query.status);
      if ((query.filter ?? "latest") === "latest") {
        const latest = new Map<string, CheckRunRecord>();
        for (const run of runs) latest.set(run.name, run);
        runs = [...latest.values()];
      }
      runs = [...runs].sort((a, b) => b.id - a.id);
      const page = this.paged(runs.map((run) => this.checkRunJson(repo, run)), query, selfUrl);
      return { ...page, body: { total_count: runs.length, check_runs: page.body } };
    });

    // Branches
    this.on("GET", `${R}/branches/{branch+}`, ({ repo, params }) => {
      const branch = params.branch ?? "";
      const sha = repo.branches.get(branch);
      if (!sha) throw new HttpError(404, errorBody(404, "Branch not found"));
      const required = repo.protection.get(branch);
      return {
        status: 200,
        body: {
          name: branch,
          commit: { sha, url: `${this.apiRepoUrl(repo)}/commits/${sha}` },
          protected: required !== undefined,
          protection: {
            enabled: required !== undefined,
            required_status_checks: {
              enforcement_level: required ? "non_admins" : "off",
              contexts: required ?? [],
              checks: (required ?? []).map((context) => ({ context, app_id: null })),
            },
          },
          protection_url: `${this.apiRepoUrl(repo)}/branches/${branch}/protection`,
        },
      };
    });
    this.on("GET", `${R}/rules/branches/{branch+}`, ({ repo, params }) => {
      const required = repo.rulesets.get(params.branch ?? "");
      const rules: Array<Record<string, unknown>> = required
        ? [{ type: "required_status_checks", ruleset_source_type: "Repository", ruleset_source: repo.fullName, ruleset_id: 1, parameters: { strict_required_status_checks_policy: false, required_status_checks: required.map((context) => ({ context })) } }]
        : [];
      if (repo.merging.mergeQueue.includes(params.branch ?? "")) {
        rules.push({
          type: "merge_queue",
          ruleset_source_type: "Repository",
          ruleset_source: repo.fullName,
          ruleset_id: 2,
          parameters: { merge_method: "SQUASH", grouping_strategy: "ALLGREEN", max_entries_to_build: 5, max_entries_to_merge: 5, min_entries_to_merge: 1, min_entries_to_merge_wait_minutes: 5, check_response_timeout_minutes: 60 },
        });
      }
      return { status: 200, body: rules };
    });

    // The merge flow: how far a PR is behind its base, update-branch, REST merges
    this.on("GET", `${R}/compare/{basehead+}`, ({ repo, params }) => {
      const [base = "", head = ""] = (params.basehead ?? "").split("...");
      const pull = [...repo.issues.values()].find((issue) => issue.pull && (issue.pull.headSha === head || issue.pull.headRef === head));
      const behind = pull ? (repo.merging.behind[pull.number] ?? 1) : 0;
      const baseSha = repo.branches.get(base) ?? base;
      return {
        status: 200,
        body: {
          url: `${this.apiRepoUrl(repo)}/compare/${base}...${head}`,
          status: behind > 0 ? "diverged" : "ahead",
          ahead_by: 1,
          behind_by: behind,
          total_commits: 1,
          base_commit: { sha: baseSha },
          merge_base_commit: { sha: baseSha },
          commits: [],
          files: pull ? pull.pull!.files.map((file) => this.fileJson(repo, pull, file)) : [],
        },
      };
    });
    this.on("PUT", `${R}/pulls/{number}/update-branch`, ({ repo, params, body }) => {
      const issue = this.pullIssue(repo, Number(params.number));
      const pull = issue.pull as PullRecord;
      const expected = stringField(body, "expected_head_sha");
      if (issue.state !== "open") throw new HttpError(422, errorBody(422, "Pull request is closed"));
      if (expected && expected !== pull.headSha) throw new HttpError(422, errorBody(422, "expected head sha didn't match current head ref."));
      if (repo.merging.conflicts.includes(issue.number)) throw new HttpError(422, errorBody(422, "merge conflict between base and head"));
      // the base merged in: a new head commit, nothing behind any more
      pull.headSha = fakeSha(`update:${pull.headSha}:${repo.branches.get(pull.baseRef) ?? pull.baseRef}`);
      repo.branches.set(pull.headRef, pull.headSha);
      repo.merging.behind[issue.number] = 0;
      pull.autoMerge = null;
      issue.updatedAt = now();
      return { status: 202, body: { message: "Updating pull request branch.", url: `${this.htmlBase}/${repo.fullName}/pull/${issue.number}` } };
    });
    this.on("PUT", `${R}/pulls/{number}/merge`, ({ repo, params, body }) => {
      const issue = this.pullIssue(repo, Number(params.number));
      const pull = issue.pull as PullRecord;
      if (issue.state !== "open") throw new HttpError(405, errorBody(405, "Pull Request is not mergeable"));
      const sha = stringField(body, "sha");
      if (sha && sha !== pull.headSha) throw new HttpError(409, errorBody(409, "Head branch was modified. Review and try the merge again."));
      const blocked = repo.merging.blocked[issue.number];
      if (blocked) throw new HttpError(405, errorBody(405, blocked));
      const merged = this.mergePullRequest(repo.fullName, issue.number, this.actor);
      return { status: 200, body: { sha: merged.merge_commit_sha, merged: true, message: "Pull Request successfully merged" } };
    });
    this.on("GET", `${R}/check-suites/{id}/check-runs`, ({ repo, params, query, selfUrl }) => {
      const suiteId = Number(params.id);
      let runs = repo.checkRuns.filter((run) => run.suiteId === suiteId);
      if ((query.filter ?? "latest") === "latest") {
        const latest = new Map<string, CheckRunRecord>();
        for (const run of runs) latest.set(run.name, run);
        runs = [...latest.values()];
      }
      const page = this.paged(runs.map((run) => this.checkRunJson(repo, run)), query, selfUrl);
      return { ...page, body: { total_count: runs.length, check_runs: page.body } };
    });
    this.on("GET", `${R}/contents/{path+}`, ({ repo, params, query }) => {
      const ref = query.ref ?? repo.defaultBranch;
      const path = params.path ?? "";
      const content = repo.files.get(`${ref}:${path}`);
      if (content === undefined) throw notFound();
      const sha = createHash("sha1").update(`blob ${Buffer.byteLength(content)}\0${content}`).digest("hex");
      return {
        status: 200,
        body: {
          type: "file",
          encoding: "base64",
          size: Buffer.byteLength(content),
          name: path.split("/").pop(),
          path,
          sha,
          content: Buffer.from(content).toString("base64"),
          url: `${this.apiRepoUrl(repo)}/contents/${path}?ref=${ref}`,
        },
      };
    });
    this.on("GET", `${R}/git/ref/{ref+}`, ({ repo, params }) => {
      const ref = params.ref ?? "";
      const sha = ref.startsWith("heads/") ? repo.branches.get(ref.slice("heads/".length)) : undefined;
      if (!sha) throw notFound();
      return {
        status: 200,
        body: {
          ref: `refs/${ref}`,
          node_id: nodeId("03:Ref", stableId(`${repo.fullName}:${ref}`)),
          url: `${this.apiRepoUrl(repo)}/git/refs/${ref}`,
          object: { sha, type: "commit", url: `${this.apiRepoUrl(repo)}/git/commits/${sha}` },
        },
      };
    });
    this.on("DELETE", `${R}/git/refs/{ref+}`, ({ repo, params }) => {
      const ref = params.ref ?? "";
      const branch = ref.startsWith("heads/") ? ref.slice("heads/".length) : undefined;
      if (!branch || !repo.branches.has(branch)) throw new HttpError(422, errorBody(422, "Reference does not exist"));
      repo.branches.delete(branch);
      return { status: 204 };
    });
  }

  /** The merge flow's GraphQL mutations: auto-merge on and off, and the merge queue. */
  private graphql(body: Record<string, unknown>): Reply {
    const query = stringField(body, "query") ?? "";
    const variables = (body.variables ?? {}) as Record<string, unknown>;
    const name = /\bmutation\s+([A-Za-z]+)/.exec(query)?.[1];
    const refused = (message: string, type = "UNPROCESSABLE") => ({ status: 200, body: { data: { [name ?? "unknown"]: null }, errors: [{ type, path: [name], message }] } });
    const found = [...this.repos.values()].flatMap((repo) => [...repo.issues.values()].map((issue) => ({ repo, issue }))).find(
      ({ issue }) => issue.pull && nodeId("011:PullRequest", issue.pull.id) === variables.pullRequestId,
    );
    if (!name || !found) return refused(`Could not resolve to a node with the global id of '${String(variables.pullRequestId)}'`, "NOT_FOUND");
    const { repo, issue } = found;
    const pull = issue.pull as PullRecord;
    const expected = typeof variables.expectedHeadOid === "string" ? variables.expectedHeadOid : undefined;
    if (expected && expected !== pull.headSha) return refused("Head sha didn't match expected head oid");
    switch (name) {
      case "enablePullRequestAutoMerge":
        if (!repo.merging.allowAutoMerge) return refused("Pull request Auto merge is not allowed for this repository");
        if (issue.state !== "open") return refused("Pull request is closed");
        if (repo.merging.clean.includes(issue.number)) return refused("Pull request is in clean status");
        pull.autoMerge = { method: String(variables.mergeMethod ?? "MERGE").toLowerCase(), enabledAt: now() };
        return { status: 200, body: { data: { enablePullRequestAutoMerge: { pullRequest: { number: issue.number } } } } };
      case "disablePullRequestAutoMerge":
        pull.autoMerge = null;
        return { status: 200, body: { data: { disablePullRequestAutoMerge: { pullRequest: { number: issue.number } } } } };
      case "enqueuePullRequest":
        if (!repo.merging.mergeQueue.includes(pull.baseRef)) return refused(`${pull.baseRef} does not use a merge queue`);
        pull.queued = true;
        return { status: 200, body: { data: { enqueuePullRequest: { mergeQueueEntry: { position: 1 } } } } };
      default:
        return refused(`the stand-in does not know the mutation ${name}`);
    }
  }

  // ---------- state helpers ----------

  private repo(fullName: string): RepoState {
    const state = this.repos.get(fullName.toLowerCase());
    if (!state) throw new Error(`repository "${fullName}" is not in the stand-in: call addRepo("${fullName}") first`);
    return state;
  }

  private issue(repo: RepoState, number: number, http = false): IssueRecord {
    const issue = repo.issues.get(number);
    if (issue) return issue;
    if (http) throw notFound();
    throw new Error(`${repo.fullName}#${number} does not exist in the stand-in`);
  }

  private pullIssue(repo: RepoState, number: number): IssueRecord {
    const issue = repo.issues.get(number);
    if (!issue?.pull) throw notFound();
    return issue;
  }

  private comment(repo: RepoState, id: number): CommentRecord {
    const comment = this.commentRecords.get(id);
    if (!comment || comment.repo !== repo.fullName) throw notFound();
    return comment;
  }

  private checkRun(repo: RepoState, id: number): CheckRunRecord {
    const run = repo.checkRuns.find((candidate) => candidate.id === id);
    if (!run) throw notFound();
    return run;
  }

  private createIssue(repo: RepoState, title: string, body: string | null, user: string): IssueRecord {
    const time = now();
    const issue: IssueRecord = {
      id: this.nextId++,
      number: repo.nextNumber++,
      title,
      body,
      user,
      state: "open",
      stateReason: null,
      labels: [],
      milestone: null,
      createdAt: time,
      updatedAt: time,
      closedAt: null,
    };
    repo.issues.set(issue.number, issue);
    return issue;
  }

  private createPull(
    repo: RepoState,
    input: {
      title: string;
      body: string | null;
      head: string;
      headRepo: string | undefined;
      headSha: string | undefined;
      base: string;
      draft: boolean;
      user: string;
    },
  ): IssueRecord {
    const colon = input.head.indexOf(":");
    const headOwner = colon >= 0 ? input.head.slice(0, colon) : repo.owner;
    const headRef = colon >= 0 ? input.head.slice(colon + 1) : input.head;
    const headRepo = input.headRepo ?? `${headOwner}/${repo.name}`;
    const sameRepo = headRepo.toLowerCase() === repo.fullName.toLowerCase();
    const duplicate = [...repo.issues.values()].some(
      (issue) =>
        issue.state === "open" &&
        issue.pull?.headRef === headRef &&
        issue.pull.headRepo.toLowerCase() === headRepo.toLowerCase() &&
        issue.pull.baseRef === input.base,
    );
    if (duplicate) {
      throw validationFailed([
        { resource: "PullRequest", code: "custom", message: `A pull request already exists for ${headOwner}:${headRef}.` },
      ]);
    }
    let headSha = input.headSha;
    if (sameRepo) {
      // The branch was pushed before the PR was opened; remember it so it can be deleted later.
      headSha ??= repo.branches.get(headRef);
      headSha ??= this.pushBranch(repo.fullName, headRef);
      repo.branches.set(headRef, headSha);
    }
    const issue = this.createIssue(repo, input.title, input.body, input.user);
    issue.pull = {
      id: this.nextId++,
      headRef,
      headSha: headSha ?? fakeSha(`${headRepo}:${headRef}`),
      headRepo,
      baseRef: input.base,
      draft: input.draft,
      merged: false,
      mergedAt: null,
      mergedBy: null,
      mergeCommitSha: null,
      autoMerge: null,
      queued: false,
      files: [],
      reviews: [],
      reviewComments: [],
    };
    return issue;
  }

  private createComment(repo: RepoState, issue: IssueRecord, body: string, user: string): CommentRecord {
    const time = now();
    const comment: CommentRecord = { id: this.nextId++, repo: repo.fullName, issue: issue.number, body, user, createdAt: time, updatedAt: time };
    this.commentRecords.set(comment.id, comment);
    return comment;
  }

  private closeIssue(repo: RepoState, issue: IssueRecord): void {
    this.setState(repo, issue, "closed", undefined);
  }

  private setState(repo: RepoState, issue: IssueRecord, state: unknown, reason: unknown): void {
    if (state !== "open" && state !== "closed") {
      throw validationFailed([{ resource: "Issue", field: "state", code: "invalid", value: state }]);
    }
    if (state === issue.state) return;
    if (state === "open") {
      if (issue.pull?.merged) throw validationFailed([{ resource: "PullRequest", code: "custom", message: "Cannot reopen a merged pull request." }]);
      const pull = issue.pull;
      if (
        pull &&
        [...repo.issues.values()].some(
          (other) =>
            other !== issue &&
            other.state === "open" &&
            other.pull?.headRef === pull.headRef &&
            other.pull.headRepo === pull.headRepo &&
            other.pull.baseRef === pull.baseRef,
        )
      ) {
        throw validationFailed([
          { resource: "PullRequest", code: "custom", message: `A pull request already exists for ${pull.headRepo.split("/")[0]}:${pull.headRef}.` },
        ]);
      }
      issue.state = "open";
      issue.closedAt = null;
      issue.stateReason = "reopened";
    } else {
      issue.state = "closed";
      issue.closedAt = now();
      issue.stateReason = issue.pull ? null : typeof reason === "string" ? reason : "completed";
    }
    issue.updatedAt = now();
  }

  private labelNames(value: unknown): string[] {
    if (!Array.isArray(value)) return [];
    return value
      .map((entry: unknown) => (typeof entry === "string" ? entry : (entry as { name?: unknown } | null)?.name))
      .filter((name): name is string => typeof name === "string" && name.length > 0);
  }

  /** The key of the repository label named `name`, created (grey, as GitHub does) when missing. */
  private ensureLabel(repo: RepoState, name: string, color?: string, description?: string): string {
    const key = name.toLowerCase();
    if (!repo.labels.has(key)) {
      repo.labels.set(key, { id: this.nextId++, name, color: color ?? "ededed", description: description ?? null });
    }
    return key;
  }

  /** An annotation as sent, in GitHub's listed shape; one without a required field is refused (422). */
  private annotationJson(repo: RepoState, run: CheckRunRecord, annotation: unknown): AnnotationJson {
    const a = (typeof annotation === "object" && annotation !== null ? annotation : {}) as Record<string, unknown>;
    const missing = ["path", "start_line", "end_line", "annotation_level", "message"].filter((field) => a[field] === undefined);
    const invalid =
      (a.path !== undefined && typeof a.path !== "string") ||
      (a.start_line !== undefined && !Number.isInteger(a.start_line)) ||
      (a.end_line !== undefined && !Number.isInteger(a.end_line)) ||
      (a.annotation_level !== undefined && !ANNOTATION_LEVELS.has(String(a.annotation_level))) ||
      (a.message !== undefined && typeof a.message !== "string");
    if (missing.length > 0 || invalid) {
      throw validationFailed([{ resource: "CheckRun", field: `output.annotations${missing.length > 0 ? `.${missing[0]}` : ""}`, code: missing.length > 0 ? "missing_field" : "invalid" }]);
    }
    const path = a.path as string;
    return {
      path,
      blob_href: `${this.htmlBase}/${repo.fullName}/blob/${run.headSha}/${path}`,
      start_line: a.start_line as number,
      end_line: a.end_line as number,
      start_column: typeof a.start_column === "number" ? a.start_column : null,
      end_column: typeof a.end_column === "number" ? a.end_column : null,
      annotation_level: a.annotation_level as string,
      title: typeof a.title === "string" ? a.title : null,
      message: a.message as string,
      raw_details: typeof a.raw_details === "string" ? a.raw_details : null,
    };
  }

  private applyCheckRun(repo: RepoState, run: CheckRunRecord, body: Record<string, unknown>): void {
    const status = body.status;
    const conclusion = body.conclusion;
    if (status !== undefined && (typeof status !== "string" || !CHECK_STATUSES.has(status))) {
      throw validationFailed([{ resource: "CheckRun", field: "status", code: "invalid", value: status }]);
    }
    if (conclusion !== undefined && conclusion !== null && (typeof conclusion !== "string" || !CHECK_CONCLUSIONS.has(conclusion))) {
      throw validationFailed([{ resource: "CheckRun", field: "conclusion", code: "invalid", value: conclusion }]);
    }
    if (status === "completed" && (conclusion === undefined || conclusion === null) && run.conclusion === null) {
      throw new HttpError(422, errorBody(422, "Invalid request.\n\n\"conclusion\" wasn't supplied."));
    }
    const output = body.output as Record<string, unknown> | undefined;
    if (output !== undefined) {
      if (typeof output !== "object" || output === null || typeof output.title !== "string" || typeof output.summary !== "string") {
        throw new HttpError(422, errorBody(422, "Invalid request.\n\n\"title\" and \"summary\" are required in \"output\"."));
      }
      const annotations = Array.isArray(output.annotations) ? output.annotations : [];
      if (annotations.length > 50) throw new HttpError(422, errorBody(422, "Invalid request.\n\nOnly 50 annotations are allowed per request."));
      const added = annotations.map((annotation: unknown) => this.annotationJson(repo, run, annotation));
      run.title = output.title;
      run.summary = output.summary;
      if (typeof output.text === "string") run.text = output.text;
      // GitHub: "annotations are appended to the list of annotations that already exist"
      run.annotations.push(...added);
    }
    if (typeof status === "string") run.status = status;
    if (typeof conclusion === "string") {
      // Giving a conclusion completes the run, as on GitHub.
      run.conclusion = conclusion;
      run.status = "completed";
    }
    if (typeof body.started_at === "string") run.startedAt = body.started_at;
    if (run.status === "completed") run.completedAt = typeof body.completed_at === "string" ? body.completed_at : (run.completedAt ?? now());
    if (typeof body.details_url === "string") run.detailsUrl = body.details_url;
    if (typeof body.external_id === "string") run.externalId = body.external_id;
  }

  private resolveRef(repo: RepoState, ref: string): string {
    const branch = ref.replace(/^refs\//, "").replace(/^heads\//, "");
    const sha = repo.branches.get(branch);
    if (sha) return sha;
    if (/^[0-9a-f]{40}$/i.test(ref)) return ref.toLowerCase();
    throw new HttpError(422, errorBody(422, `No commit found for SHA: ${ref}`));
  }

  private paged<T>(items: T[], query: Record<string, string>, selfUrl: string): Reply {
    const perPage = Math.min(100, Math.max(1, Number(query.per_page) || 30));
    const page = Math.max(1, Number(query.page) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const link = (target: number, rel: string): string => {
      const params = new URLSearchParams({ ...query, per_page: String(perPage), page: String(target) });
      return `<${selfUrl}?${params}>; rel="${rel}"`;
    };
    const links = [
      ...(page > 1 ? [link(page - 1, "prev")] : []),
      ...(page < last ? [link(page + 1, "next"), link(last, "last")] : []),
      ...(page > 1 ? [link(1, "first")] : []),
    ];
    return {
      status: 200,
      body: items.slice((page - 1) * perPage, page * perPage),
      headers: links.length > 0 ? { link: links.join(", ") } : {},
    };
  }

  // ---------- JSON rendering ----------

  private apiRepoUrl(repo: { fullName: string }): string {
    return `${this.url}/repos/${repo.fullName}`;
  }

  private userJson(login: string): UserJson {
    const id = stableId(`user:${login.toLowerCase()}`);
    return {
      login,
      id,
      node_id: nodeId("04:User", id),
      type: login.endsWith("[bot]") ? "Bot" : "User",
      site_admin: false,
      url: `${this.url}/users/${login}`,
      html_url: `${this.htmlBase}/${login.endsWith("[bot]") ? `apps/${login.slice(0, -5)}` : login}`,
    };
  }

  private associationOf(repo: RepoState, login: string): string {
    if (login.toLowerCase() === repo.owner.toLowerCase()) return "OWNER";
    const role = repo.roles.get(login.toLowerCase());
    return role && role !== "none" ? "COLLABORATOR" : "NONE";
  }

  private permissionFlags(role: Role): Record<string, boolean> {
    const order: Role[] = ["none", "read", "triage", "write", "maintain", "admin"];
    const level = order.indexOf(role);
    return { admin: level >= 5, maintain: level >= 4, push: level >= 3, triage: level >= 2, pull: level >= 1 };
  }

  private repoJson(repo: RepoState): RepoJson {
    return this.repoRefJson(repo.fullName, repo);
  }

  /** A repository as embedded in other objects; forks that the stand-in does not hold get defaults. */
  private repoRefJson(fullName: string, state?: RepoState): RepoJson {
    const [owner = "", name = ""] = fullName.split("/");
    const time = state?.createdAt ?? "2024-01-01T00:00:00Z";
    const id = state?.id ?? stableId(`repo:${fullName}`);
    const isPrivate = state?.private ?? false;
    return {
      id,
      node_id: nodeId("010:Repository", id),
      name,
      full_name: fullName,
      private: isPrivate,
      visibility: isPrivate ? "private" : "public",
      owner: this.userJson(owner),
      html_url: `${this.htmlBase}/${fullName}`,
      url: this.apiRepoUrl({ fullName }),
      description: null,
      fork: !state,
      default_branch: state?.defaultBranch ?? "main",
      archived: state?.archived ?? false,
      disabled: false,
      created_at: time,
      updated_at: time,
      pushed_at: time,
    };
  }

  private labelJson(repo: RepoState, label: LabelRecord): LabelJson {
    return {
      id: label.id,
      node_id: nodeId("05:Label", label.id),
      url: `${this.apiRepoUrl(repo)}/labels/${encodeURIComponent(label.name)}`,
      name: label.name,
      color: label.color,
      default: false,
      description: label.description,
    };
  }

  private issueLabels(repo: RepoState, issue: IssueRecord): LabelJson[] {
    return issue.labels.map((key) => this.labelJson(repo, repo.labels.get(key) as LabelRecord));
  }

  private milestoneJson(repo: RepoState, milestone: MilestoneRecord): MilestoneJson {
    const issues = [...repo.issues.values()].filter((issue) => issue.milestone === milestone.number);
    return {
      url: `${this.apiRepoUrl(repo)}/milestones/${milestone.number}`,
      html_url: `${this.htmlBase}/${repo.fullName}/milestone/${milestone.number}`,
      labels_url: `${this.apiRepoUrl(repo)}/milestones/${milestone.number}/labels`,
      id: milestone.id,
      node_id: nodeId("09:Milestone", milestone.id),
      number: milestone.number,
      title: milestone.title,
      description: milestone.description,
      creator: this.userJson(milestone.creator),
      open_issues: issues.filter((issue) => issue.state === "open").length,
      closed_issues: issues.filter((issue) => issue.state === "closed").length,
      state: milestone.state,
      created_at: milestone.createdAt,
      updated_at: milestone.updatedAt,
      due_on: milestone.dueOn,
      closed_at: milestone.closedAt,
    };
  }

  private issueMilestone(repo: RepoState, issue: IssueRecord): MilestoneJson | null {
    const milestone = issue.milestone === null ? undefined : repo.milestones.get(issue.milestone);
    return milestone ? this.milestoneJson(repo, milestone) : null;
  }

  private issueJson(repo: RepoState, issue: IssueRecord): IssueJson {
    const api = this.apiRepoUrl(repo);
    const html = `${this.htmlBase}/${repo.fullName}`;
    const json: IssueJson = {
      url: `${api}/issues/${issue.number}`,
      repository_url: api,
      html_url: `${html}/${issue.pull ? "pull" : "issues"}/${issue.number}`,
      id: issue.id,
      node_id: nodeId("05:Issue", issue.id),
      number: issue.number,
      title: issue.title,
      user: this.userJson(issue.user),
      labels: this.issueLabels(repo, issue),
      state: issue.state,
      state_reason: issue.stateReason,
      locked: false,
      assignee: null,
      assignees: [],
      milestone: this.issueMilestone(repo, issue),
      comments: [...this.commentRecords.values()].filter((comment) => comment.repo === repo.fullName && comment.issue === issue.number).length,
      created_at: issue.createdAt,
      updated_at: issue.updatedAt,
      closed_at: issue.closedAt,
      author_association: this.associationOf(repo, issue.user),
      body: issue.body,
    };
    if (issue.pull) {
      json.draft = issue.pull.draft;
      json.pull_request = {
        url: `${api}/pulls/${issue.number}`,
        html_url: `${html}/pull/${issue.number}`,
        diff_url: `${html}/pull/${issue.number}.diff`,
        patch_url: `${html}/pull/${issue.number}.patch`,
        merged_at: issue.pull.mergedAt,
      };
    }
    return json;
  }

  private branchJson(repo: RepoState, fullName: string, ref: string, sha: string): BranchJson {
    const owner = fullName.split("/")[0] ?? "";
    const state = this.repos.get(fullName.toLowerCase());
    return { label: `${owner}:${ref}`, ref, sha, user: this.userJson(owner), repo: this.repoRefJson(fullName, state) };
  }

  private pullJson(repo: RepoState, issue: IssueRecord, single = false): PullRequestJson {
    const pull = issue.pull as PullRecord;
    const api = this.apiRepoUrl(repo);
    const html = `${this.htmlBase}/${repo.fullName}`;
    const baseSha = repo.branches.get(pull.baseRef) ?? fakeSha(`${repo.fullName}:${pull.baseRef}`);
    const json: PullRequestJson = {
      url: `${api}/pulls/${issue.number}`,
      id: pull.id,
      node_id: nodeId("011:PullRequest", pull.id),
      html_url: `${html}/pull/${issue.number}`,
      diff_url: `${html}/pull/${issue.number}.diff`,
      patch_url: `${html}/pull/${issue.number}.patch`,
      issue_url: `${api}/issues/${issue.number}`,
      number: issue.number,
      state: issue.state,
      locked: false,
      title: issue.title,
      user: this.userJson(issue.user),
      body: issue.body,
      labels: this.issueLabels(repo, issue),
      milestone: this.issueMilestone(repo, issue),
      created_at: issue.createdAt,
      updated_at: issue.updatedAt,
      closed_at: issue.closedAt,
      merged_at: pull.mergedAt,
      merge_commit_sha: pull.mergeCommitSha,
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      draft: pull.draft,
      merged: pull.merged,
      // GitHub computes mergeability lazily: only the single-PR endpoint reports it.
      mergeable: single && issue.state === "open" ? true : null,
      merged_by: pull.mergedBy ? this.userJson(pull.mergedBy) : null,
      author_association: this.associationOf(repo, issue.user),
      auto_merge: pull.autoMerge
        ? { enabled_by: this.userJson(this.actor), merge_method: pull.autoMerge.method, commit_title: issue.title, commit_message: "" }
        : null,
      head: this.branchJson(repo, pull.headRepo, pull.headRef, pull.headSha),
      base: this.branchJson(repo, repo.fullName, pull.baseRef, baseSha),
    };
    return json;
  }

  private fileJson(repo: RepoState, issue: IssueRecord, file: PullFileSeed): PullFileJson {
    const pull = issue.pull as PullRecord;
    const additions = file.additions ?? (file.patch ?? "").split("\n").filter((line) => line.startsWith("+")).length;
    const deletions = file.deletions ?? (file.patch ?? "").split("\n").filter((line) => line.startsWith("-")).length;
    const json: PullFileJson = {
      sha: fakeSha(`blob:${file.filename}:${file.patch ?? ""}`),
      filename: file.filename,
      status: file.status ?? "modified",
      additions,
      deletions,
      changes: additions + deletions,
      blob_url: `${this.htmlBase}/${repo.fullName}/blob/${pull.headSha}/${file.filename}`,
      raw_url: `${this.htmlBase}/${repo.fullName}/raw/${pull.headSha}/${file.filename}`,
      contents_url: `${this.apiRepoUrl(repo)}/contents/${file.filename}?ref=${pull.headSha}`,
    };
    if (file.patch !== undefined) json.patch = file.patch;
    if (file.previous_filename !== undefined) json.previous_filename = file.previous_filename;
    return json;
  }

  private commentJson(repo: RepoState, comment: CommentRecord): CommentJson {
    const issue = repo.issues.get(comment.issue);
    const html = `${this.htmlBase}/${repo.fullName}/${issue?.pull ? "pull" : "issues"}/${comment.issue}`;
    return {
      url: `${this.apiRepoUrl(repo)}/issues/comments/${comment.id}`,
      html_url: `${html}#issuecomment-${comment.id}`,
      issue_url: `${this.apiRepoUrl(repo)}/issues/${comment.issue}`,
      id: comment.id,
      node_id: nodeId("012:IssueComment", comment.id),
      user: this.userJson(comment.user),
      created_at: comment.createdAt,
      updated_at: comment.updatedAt,
      author_association: this.associationOf(repo, comment.user),
      body: comment.body,
    };
  }

  private reactionJson(reaction: ReactionRecord): ReactionJson {
    return {
      id: reaction.id,
      node_id: nodeId("08:Reaction", reaction.id),
      user: this.userJson(reaction.user),
      content: reaction.content,
      created_at: reaction.createdAt,
    };
  }

  private checkRunJson(repo: RepoState, run: CheckRunRecord): CheckRunJson {
    const api = this.apiRepoUrl(repo);
    const pullRef = (fullName: string) => {
      const state = this.repos.get(fullName.toLowerCase());
      return { id: state?.id ?? stableId(`repo:${fullName}`), url: `${this.url}/repos/${fullName}`, name: fullName.split("/")[1] ?? "" };
    };
    return {
      id: run.id,
      node_id: nodeId("08:CheckRun", run.id),
      name: run.name,
      head_sha: run.headSha,
      external_id: run.externalId,
      url: `${api}/check-runs/${run.id}`,
      html_url: `${this.htmlBase}/${repo.fullName}/runs/${run.id}`,
      details_url: run.detailsUrl,
      status: run.status,
      conclusion: run.conclusion,
      started_at: run.startedAt,
      completed_at: run.completedAt,
      output: {
        title: run.title,
        summary: run.summary,
        text: run.text,
        annotations_count: run.annotations.length,
        annotations_url: `${api}/check-runs/${run.id}/annotations`,
      },
      check_suite: { id: run.suiteId },
      app: this.appJson(),
      // Like GitHub: the open PRs of this repository whose head is the run's commit (never forks).
      pull_requests: [...repo.issues.values()]
        .filter((issue) => issue.state === "open" && issue.pull?.headSha === run.headSha && issue.pull.headRepo === repo.fullName)
        .map((issue) => {
          const pull = issue.pull as PullRecord;
          return {
            url: `${api}/pulls/${issue.number}`,
            id: pull.id,
            number: issue.number,
            head: { ref: pull.headRef, sha: pull.headSha, repo: pullRef(pull.headRepo) },
            base: {
              ref: pull.baseRef,
              sha: repo.branches.get(pull.baseRef) ?? fakeSha(`${repo.fullName}:${pull.baseRef}`),
              repo: pullRef(repo.fullName),
            },
          };
        }),
    };
  }

  private appPermissions(): Record<string, string> {
    return { checks: "write", contents: "write", issues: "write", metadata: "read", pull_requests: "write" };
  }

  private appJson(): AppJson {
    return {
      id: this.appId,
      slug: this.appSlug,
      node_id: nodeId("03:Integration", this.appId),
      name: this.appName,
      owner: this.userJson("parallel-workers-org"),
      description: "Runs coding-agent workers in parallel (test stand-in)",
      external_url: "https://example.invalid/parallel-workers",
      html_url: `${this.htmlBase}/apps/${this.appSlug}`,
      created_at: "2024-01-01T00:00:00Z",
      updated_at: "2024-01-01T00:00:00Z",
      permissions: this.appPermissions(),
      events: ["check_run", "check_suite", "issue_comment", "pull_request"],
    };
  }

  private installationJson(repo: RepoState): Record<string, unknown> {
    const id = repo.installationId;
    return {
      id,
      account: this.userJson(repo.owner),
      repository_selection: "selected",
      access_tokens_url: `${this.url}/app/installations/${id}/access_tokens`,
      repositories_url: `${this.url}/installation/repositories`,
      html_url: `${this.htmlBase}/settings/installations/${id}`,
      app_id: this.appId,
      app_slug: this.appSlug,
      target_id: stableId(`user:${repo.owner.toLowerCase()}`),
      target_type: "User",
      permissions: this.appPermissions(),
      events: this.appJson().events,
      created_at: "2024-01-01T00:00:00Z",
      updated_at: "2024-01-01T00:00:00Z",
      single_file_name: null,
      suspended_at: null,
    };
  }
}
