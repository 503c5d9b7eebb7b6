/**
 * The GitHub App permissions parallel-workers needs, from every REST call it makes (the app's
 * port `github.ts`, the runner's `github/pulls.ts` and `github/octokit.ts`), every GraphQL
 * mutation it sends, and every webhook event it handles. Each call's permission is GitHub's own ("Permissions required for GitHub
 * Apps", https://docs.github.com/rest/authentication/permissions-required-for-github-apps).
 * A test finds every call in src/ and checks that it is listed here and that app.yml asks for
 * exactly what these need: a new call cannot leave the manifest behind.
 */

export type AppPermission = "checks" | "contents" | "issues" | "merge_queues" | "metadata" | "pull_requests";
export type PermissionAccess = "read" | "write";

export interface CallPermission {
  permission: AppPermission;
  access: PermissionAccess;
}

/**
 * Every REST call made, as Octokit's route: the permission an installation token needs for it,
 * or null when the App's own JWT authenticates it (no installation permission).
 */
export const REST_CALL_PERMISSIONS: Readonly<Record<string, CallPermission | null>> = {
  "GET /repos/{owner}/{repo}/installation": null,
  "GET /app/hook/config": null,
  // the runner's check before an agent starts: the repository can be read, and its default branch
  "GET /repos/{owner}/{repo}": { permission: "metadata", access: "read" },
  "GET /repos/{owner}/{repo}/pulls": { permission: "pull_requests", access: "read" },
  "GET /repos/{owner}/{repo}/pulls/{pull_number}": { permission: "pull_requests", access: "read" },
  "GET /repos/{owner}/{repo}/pulls/{pull_number}/files": { permission: "pull_requests", access: "read" },
  // a review's comments on the diff (with lines), and the reviews reconcile looks at
  "GET /repos/{owner}/{repo}/pulls/{pull_number}/comments": { permission: "pull_requests", access: "read" },
  "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews": { permission: "pull_requests", access: "read" },
  "POST /repos/{owner}/{repo}/pulls": { permission: "pull_requests", access: "write" },
  // a PR's labels and milestone (issues or pull_requests write would do)
  "PATCH /repos/{owner}/{repo}/issues/{issue_number}": { permission: "issues", access: "write" },
  "GET /repos/{owner}/{repo}/milestones": { permission: "issues", access: "read" },
  "POST /repos/{owner}/{repo}/milestones": { permission: "issues", access: "write" },
  "GET /repos/{owner}/{repo}/issues/{issue_number}/comments": { permission: "issues", access: "read" },
  "POST /repos/{owner}/{repo}/issues/{issue_number}/comments": { permission: "issues", access: "write" },
  "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}": { permission: "issues", access: "write" },
  "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions": { permission: "issues", access: "write" },
  // `needs-human` on a PR whose automatic rework rounds are used up (issues or pull_requests write would do)
  "POST /repos/{owner}/{repo}/issues/{issue_number}/labels": { permission: "issues", access: "write" },
  "GET /repos/{owner}/{repo}/collaborators/{username}/permission": { permission: "metadata", access: "read" },
  // the gate files, read from the PR's base branch
  "GET /repos/{owner}/{repo}/contents/{path}": { permission: "contents", access: "read" },
  // github.delete_branch_on_merge; pushes go through the checkout's own git credentials
  "DELETE /repos/{owner}/{repo}/git/refs/{ref}": { permission: "contents", access: "write" },
  "GET /repos/{owner}/{repo}/commits/{ref}/check-runs": { permission: "checks", access: "read" },
  // a failed check's output and annotations, for a rework round
  "GET /repos/{owner}/{repo}/check-runs/{check_run_id}": { permission: "checks", access: "read" },
  "GET /repos/{owner}/{repo}/check-suites/{check_suite_id}/check-runs": { permission: "checks", access: "read" },
  // the checks a branch requires: branch protection as "get a branch" sums it up, and rulesets
  "GET /repos/{owner}/{repo}/branches/{branch}": { permission: "contents", access: "read" },
  "GET /repos/{owner}/{repo}/rules/branches/{branch}": { permission: "metadata", access: "read" },
  "POST /repos/{owner}/{repo}/check-runs": { permission: "checks", access: "write" },
  "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}": { permission: "checks", access: "write" },
  "GET /repos/{owner}/{repo}/check-runs/{check_run_id}/annotations": { permission: "checks", access: "read" },
  // the merge flow: is a PR behind its base (and a merge group's changed files), GitHub's
  // update-branch, a stacked PR moved to its merged parent's base, a merge where auto-merge and
  // the merge queue are not allowed
  "GET /repos/{owner}/{repo}/compare/{basehead}": { permission: "contents", access: "read" },
  "PUT /repos/{owner}/{repo}/pulls/{pull_number}/update-branch": { permission: "pull_requests", access: "write" },
  "PATCH /repos/{owner}/{repo}/pulls/{pull_number}": { permission: "pull_requests", access: "write" },
  "PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge": { permission: "contents", access: "write" },
};

/**
 * Every GraphQL mutation the app sends, by the name `github.ts` gives it: the permissions an
 * installation token needs for it. Auto-merge and the merge queue merge the PR in the end, so
 * they need what a merge needs; adding to the queue manages it.
 */
export const GRAPHQL_MUTATION_PERMISSIONS: Readonly<Record<string, readonly CallPermission[]>> = {
  enablePullRequestAutoMerge: [
    { permission: "pull_requests", access: "write" },
    { permission: "contents", access: "write" },
  ],
  disablePullRequestAutoMerge: [{ permission: "pull_requests", access: "write" }],
  enqueuePullRequest: [
    { permission: "pull_requests", access: "write" },
    { permission: "contents", access: "write" },
    { permission: "merge_queues", access: "write" },
  ],
};

/** The webhook events the app handles, with the permission without which GitHub does not send them. */
export const EVENT_PERMISSIONS: Readonly<Record<string, AppPermission>> = {
  pull_request: "pull_requests",
  pull_request_review: "pull_requests",
  issue_comment: "issues",
  check_run: "checks",
  check_suite: "checks",
  // a base branch moved (merge_flow.update)
  push: "contents",
  // a merge queue asks for the required checks of a merge group
  merge_group: "merge_queues",
};

/** The most access each permission needs over these calls, events and mutations (metadata: read, always). */
export function requiredPermissions(
  calls: Iterable<string> = Object.keys(REST_CALL_PERMISSIONS),
  events: Iterable<string> = Object.keys(EVENT_PERMISSIONS),
  mutations: Iterable<string> = Object.keys(GRAPHQL_MUTATION_PERMISSIONS),
): Partial<Record<AppPermission, PermissionAccess>> {
  const required: Partial<Record<AppPermission, PermissionAccess>> = { metadata: "read" };
  const need = (permission: AppPermission, access: PermissionAccess) => {
    if (required[permission] !== "write") required[permission] = access;
  };
  for (const call of calls) {
    const needed = REST_CALL_PERMISSIONS[call];
    if (needed === undefined) throw new Error(`${call}: not in REST_CALL_PERMISSIONS; add it with the permission GitHub requires`);
    if (needed) need(needed.permission, needed.access);
  }
  for (const event of events) {
    const permission = EVENT_PERMISSIONS[event];
    if (permission === undefined) throw new Error(`${event}: not in EVENT_PERMISSIONS; add it with the permission GitHub requires`);
    need(permission, "read");
  }
  for (const mutation of mutations) {
    const needed = GRAPHQL_MUTATION_PERMISSIONS[mutation];
    if (needed === undefined) throw new Error(`${mutation}: not in GRAPHQL_MUTATION_PERMISSIONS; add it with the permissions GitHub requires`);
    for (const each of needed) need(each.permission, each.access);
  }
  return required;
}
