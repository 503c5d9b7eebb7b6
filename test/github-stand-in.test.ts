import { generateKeyPairSync } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createAppAuth } from "@octokit/auth-app";
import { Octokit } from "@octokit/rest";
import { Probot, ProbotOctokit } from "probot";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GHE_PREFIX, GitHubStandIn, type Role } from "./helpers/github-stand-in.js";
import { deliver, loadPayload, retarget, withComment } from "./helpers/webhooks.js";

const REPO = "acme/widgets";
const R = { owner: "acme", repo: "widgets" };

let standIn: GitHubStandIn;
let octokit: Octokit;

beforeEach(async () => {
  standIn = await GitHubStandIn.start();
  standIn.addRepo(REPO);
  octokit = new Octokit({ auth: "test", baseUrl: standIn.url, request: { retries: 0 } });
});

afterEach(async () => {
  await standIn.close();
});

/** The error Octokit threw, for asserting GitHub's error shape. */
async function failure(promise: Promise<unknown>): Promise<{ status: number; data: unknown }> {
  try {
    await promise;
  } catch (error) {
    const { status, response } = error as { status: number; response?: { data: unknown } };
    return { status, data: response?.data };
  }
  throw new Error("expected the request to fail");
}

describe("pull requests", () => {
  it("opens a labelled, milestoned PR the way the runner does, and records every call", async () => {
    const created = await octokit.rest.pulls.create({
      ...R,
      title: "[task-1] Add a widget",
      head: "feature/task-1",
      base: "main",
      body: "Add a widget\n\n<!-- parallel-workers: worker=worker-abc123 task=task-1 -->",
      draft: false,
    });
    expect(created.status).toBe(201);
    expect(created.data).toMatchObject({
      number: 1,
      state: "open",
      draft: false,
      merged: false,
      merged_at: null,
      html_url: "https://github.com/acme/widgets/pull/1",
      user: { login: "parallel-workers[bot]", type: "Bot" },
      head: { ref: "feature/task-1", label: "acme:feature/task-1", repo: { full_name: "acme/widgets", owner: { login: "acme" } } },
      base: { ref: "main", repo: { full_name: "acme/widgets" } },
      labels: [],
      milestone: null,
    });
    expect(created.data.head.sha).toMatch(/^[0-9a-f]{40}$/);

    const labels = await octokit.rest.issues.addLabels({ ...R, issue_number: 1, labels: ["phase:5", "type:task"] });
    expect(labels.data.map((label) => label.name)).toEqual(["phase:5", "type:task"]);

    const open = await octokit.rest.issues.listMilestones({ ...R, state: "all", per_page: 100 });
    expect(open.data).toEqual([]);
    const milestone = await octokit.rest.issues.createMilestone({ ...R, title: "Sprint 1" });
    expect(milestone.status).toBe(201);
    expect(milestone.data).toMatchObject({ number: 1, title: "Sprint 1", state: "open" });
    await octokit.rest.issues.update({ ...R, issue_number: 1, milestone: milestone.data.number });

    const pull = await octokit.rest.pulls.get({ ...R, pull_number: 1 });
    expect(pull.data.labels.map((label) => label.name)).toEqual(["phase:5", "type:task"]);
    expect(pull.data.milestone).toMatchObject({ number: 1, title: "Sprint 1", open_issues: 1 });
    expect(standIn.pulls(REPO)).toHaveLength(1);
    expect(standIn.labels(REPO).map((label) => label.name)).toEqual(["phase:5", "type:task"]);

    expect(standIn.calls()).toEqual([
      "POST /repos/acme/widgets/pulls",
      "POST /repos/acme/widgets/issues/1/labels",
      "GET /repos/acme/widgets/milestones",
      "POST /repos/acme/widgets/milestones",
      "PATCH /repos/acme/widgets/issues/1",
      "GET /repos/acme/widgets/pulls/1",
    ]);
    const first = standIn.requests[0];
    expect(first).toMatchObject({
      method: "POST",
      path: "/repos/acme/widgets/pulls",
      prefix: "",
      status: 201,
      route: "POST /repos/{owner}/{repo}/pulls",
      injected: false,
      body: { title: "[task-1] Add a widget", head: "feature/task-1", base: "main", draft: false },
    });
    expect(first?.headers.authorization).toBe("token test");
    expect(standIn.requests[2]?.query).toEqual({ state: "all", per_page: "100" });
    expect(standIn.unknownRequests()).toEqual([]);
  });

  it("shares one number counter between issues and pull requests", async () => {
    standIn.addIssue(REPO, { title: "Spawn a worker", user: "alice" });
    const pull = await octokit.rest.pulls.create({ ...R, title: "t", head: "feature/a", base: "main" });
    expect(pull.data.number).toBe(2);
    const issue = await octokit.rest.issues.get({ ...R, issue_number: 2 });
    expect(issue.data.pull_request?.html_url).toBe("https://github.com/acme/widgets/pull/2");
    expect((await failure(octokit.rest.pulls.get({ ...R, pull_number: 1 }))).status).toBe(404);
  });

  it("answers a second open PR from the same head with GitHub's 422, and allows it after a close", async () => {
    await octokit.rest.pulls.create({ ...R, title: "t", head: "feature/x", base: "main" });
    const duplicate = await failure(octokit.rest.pulls.create({ ...R, title: "t", head: "feature/x", base: "main" }));
    expect(duplicate).toEqual({
      status: 422,
      data: expect.objectContaining({
        message: "Validation Failed",
        errors: [{ resource: "PullRequest", code: "custom", message: "A pull request already exists for acme:feature/x." }],
      }) as unknown,
    });

    const closed = await octokit.rest.pulls.update({ ...R, pull_number: 1, state: "closed" });
    expect(closed.data).toMatchObject({ state: "closed", merged: false });
    expect(closed.data.closed_at).not.toBeNull();
    const again = await octokit.rest.pulls.create({ ...R, title: "t", head: "acme:feature/x", base: "main" });
    expect(again.data.number).toBe(2);
    expect((await failure(octokit.rest.pulls.update({ ...R, pull_number: 1, state: "open" }))).status).toBe(422);
  });

  it("lists by state, base and owner:branch head, and ignores a head without owner like GitHub", async () => {
    standIn.addPullRequest(REPO, { head: "feature/a", title: "a" });
    standIn.addPullRequest(REPO, { head: "feature/b", title: "b", base: "develop" });
    standIn.addPullRequest(REPO, { head: "feature/c", title: "c", state: "closed" });
    standIn.addPullRequest(REPO, { head: "forker:feature/a", title: "fork" });

    const titles = async (query: { state?: "open" | "closed" | "all"; head?: string; base?: string }) =>
      (await octokit.rest.pulls.list({ ...R, ...query })).data.map((pull) => pull.title);
    expect(await titles({})).toEqual(["fork", "b", "a"]);
    expect(await titles({ head: "acme:feature/a" })).toEqual(["a"]);
    expect(await titles({ head: "forker:feature/a" })).toEqual(["fork"]);
    expect(await titles({ head: "feature/a" })).toEqual(["fork", "b", "a"]);
    expect(await titles({ state: "closed" })).toEqual(["c"]);
    expect(await titles({ state: "all", head: "acme:feature/c" })).toEqual(["c"]);
    expect(await titles({ base: "develop" })).toEqual(["b"]);
  });

  it("describes a fork's head repository", async () => {
    const fork = standIn.addPullRequest(REPO, { head: "forker:patch-1", user: "forker" });
    const { data } = await octokit.rest.pulls.get({ ...R, pull_number: fork.number });
    expect(data.head).toMatchObject({ label: "forker:patch-1", ref: "patch-1", repo: { full_name: "forker/widgets", fork: true } });
    expect(data.base.repo.full_name).toBe("acme/widgets");
  });

  it("paginates with link headers, at the root and under /api/v3", async () => {
    for (const name of ["a", "b", "c", "d", "e"]) standIn.addPullRequest(REPO, { head: `feature/${name}`, title: name });
    const page = await octokit.rest.pulls.list({ ...R, per_page: 2 });
    expect(page.data).toHaveLength(2);
    expect(page.headers.link).toContain('rel="next"');
    expect(await octokit.paginate(octokit.rest.pulls.list, { ...R, per_page: 2 })).toHaveLength(5);

    const enterprise = new Octokit({ auth: "test", baseUrl: standIn.enterpriseUrl, request: { retries: 0 } });
    standIn.clearRequests();
    expect(await enterprise.paginate(enterprise.rest.pulls.list, { ...R, per_page: 2 })).toHaveLength(5);
    expect(standIn.requests.map((request) => [request.prefix, request.query.page])).toEqual([
      [GHE_PREFIX, undefined],
      [GHE_PREFIX, "2"],
      [GHE_PREFIX, "3"],
    ]);
  });

  it("serves the files the test seeded, with their patches", async () => {
    const pull = standIn.addPullRequest(REPO, { head: "feature/secret" });
    standIn.setPullFiles(REPO, pull.number, [
      { filename: "config/.env", status: "added", patch: "@@ -0,0 +1,2 @@\n+AWS_SECRET=abc\n+B=2" },
      { filename: "README.md", patch: "@@ -1 +1 @@\n-old\n+new" },
    ]);
    const { data } = await octokit.rest.pulls.listFiles({ ...R, pull_number: pull.number });
    expect(data).toMatchObject([
      { filename: "config/.env", status: "added", additions: 2, deletions: 0, changes: 2, patch: "@@ -0,0 +1,2 @@\n+AWS_SECRET=abc\n+B=2" },
      { filename: "README.md", status: "modified", additions: 1, deletions: 1 },
    ]);
  });

  it("merges and closes as a person would; a merged PR cannot be reopened", async () => {
    const pull = standIn.addPullRequest(REPO, { head: "feature/m" });
    const merged = standIn.mergePullRequest(REPO, pull.number, "alice");
    expect(merged).toMatchObject({ state: "closed", merged: true, merged_by: { login: "alice" } });
    const { data } = await octokit.rest.pulls.get({ ...R, pull_number: pull.number });
    expect(data).toMatchObject({ state: "closed", merged: true });
    expect(data.merged_at).toBe(data.closed_at);
    expect(data.merge_commit_sha).toMatch(/^[0-9a-f]{40}$/);
    expect((await failure(octokit.rest.pulls.update({ ...R, pull_number: pull.number, state: "open" }))).status).toBe(422);

    const other = standIn.addPullRequest(REPO, { head: "feature/n" });
    expect(standIn.closePullRequest(REPO, other.number)).toMatchObject({ state: "closed", merged: false });
  });

  it("moves an open PR's head when its branch is pushed", async () => {
    const pull = await octokit.rest.pulls.create({ ...R, title: "t", head: "feature/p", base: "main" });
    const sha = standIn.pushBranch(REPO, "feature/p", "a".repeat(40));
    expect(sha).toBe("a".repeat(40));
    expect(standIn.pull(REPO, pull.data.number).head.sha).toBe(sha);
  });
});

describe("issues, comments and reactions", () => {
  it("creates unknown labels when adding them, reuses known ones case-insensitively, and replaces on update", async () => {
    const issue = standIn.addIssue(REPO, { title: "x", labels: ["bug"] });
    const added = await octokit.rest.issues.addLabels({ ...R, issue_number: issue.number, labels: ["BUG", "phase:5"] });
    expect(added.data.map((label) => label.name)).toEqual(["bug", "phase:5"]);
    expect(added.data[1]).toMatchObject({ color: "ededed", default: false });
    const updated = await octokit.rest.issues.update({ ...R, issue_number: issue.number, labels: ["type:task"], state: "closed" });
    expect(updated.data).toMatchObject({ state: "closed", state_reason: "completed", labels: [{ name: "type:task" }] });
    expect(standIn.labels(REPO).map((label) => label.name)).toEqual(["bug", "phase:5", "type:task"]);
  });

  it("refuses an unknown milestone and clears one with null", async () => {
    const issue = standIn.addIssue(REPO, { title: "x" });
    const refused = await failure(octokit.rest.issues.update({ ...R, issue_number: issue.number, milestone: 9 }));
    expect(refused.status).toBe(422);
    await octokit.rest.issues.createMilestone({ ...R, title: "M" });
    await octokit.rest.issues.update({ ...R, issue_number: issue.number, milestone: 1 });
    const cleared = await octokit.rest.issues.update({ ...R, issue_number: issue.number, milestone: null });
    expect(cleared.data.milestone).toBeNull();
  });

  it("serves a slash-command comment, records reactions and the bot's replies", async () => {
    standIn.setPermission(REPO, "alice", "write");
    const issue = standIn.addIssue(REPO, { title: "Work", user: "alice" });
    const command = standIn.addComment(REPO, issue.number, { body: "/worker status", user: "alice" });
    expect(command.author_association).toBe("COLLABORATOR");

    const got = await octokit.rest.issues.getComment({ ...R, comment_id: command.id });
    expect(got.data).toMatchObject({ id: command.id, body: "/worker status", user: { login: "alice" } });

    const eyes = await octokit.rest.reactions.createForIssueComment({ ...R, comment_id: command.id, content: "eyes" });
    expect(eyes.status).toBe(201);
    expect(eyes.data).toMatchObject({ content: "eyes", user: { login: "parallel-workers[bot]" } });
    const again = await octokit.rest.reactions.createForIssueComment({ ...R, comment_id: command.id, content: "eyes" });
    expect(again.status).toBe(200);
    expect(again.data.id).toBe(eyes.data.id);
    await octokit.rest.reactions.createForIssueComment({ ...R, comment_id: command.id, content: "rocket" });
    expect(standIn.reactions(command.id).map((reaction) => reaction.content)).toEqual(["eyes", "rocket"]);
    const bad = await failure(octokit.request(`POST /repos/acme/widgets/issues/comments/${command.id}/reactions`, { content: "party" }));
    expect(bad.status).toBe(422);

    const reply = await octokit.rest.issues.createComment({ ...R, issue_number: issue.number, body: "> /worker status\n\nNo workers." });
    expect(reply.status).toBe(201);
    expect(reply.data.html_url).toBe(`https://github.com/acme/widgets/issues/${issue.number}#issuecomment-${reply.data.id}`);
    await octokit.rest.issues.updateComment({ ...R, comment_id: reply.data.id, body: "edited" });
    const listed = await octokit.rest.issues.listComments({ ...R, issue_number: issue.number });
    expect(listed.data.map((comment) => comment.body)).toEqual(["/worker status", "edited"]);
    expect(standIn.comments(REPO, issue.number).map((comment) => comment.user.login)).toEqual(["alice", "parallel-workers[bot]"]);
    expect((await failure(octokit.rest.issues.getComment({ ...R, comment_id: 1 }))).status).toBe(404);
  });
});

describe("milestones", () => {
  it("creates once and answers GitHub's already_exists error for a taken title", async () => {
    await octokit.rest.issues.createMilestone({ ...R, title: "v1" });
    const taken = await failure(octokit.rest.issues.createMilestone({ ...R, title: "v1" }));
    expect(taken).toEqual({
      status: 422,
      data: expect.objectContaining({
        message: "Validation Failed",
        errors: [{ resource: "Milestone", code: "already_exists", field: "title" }],
      }) as unknown,
    });
    await octokit.rest.issues.createMilestone({ ...R, title: "old", state: "closed" });
    const list = async (state?: "open" | "closed" | "all") =>
      (await octokit.rest.issues.listMilestones({ ...R, ...(state && { state }) })).data.map((m) => m.title);
    expect(await list()).toEqual(["v1"]);
    expect(await list("closed")).toEqual(["old"]);
    expect(await list("all")).toEqual(["v1", "old"]);
    expect(standIn.milestones(REPO).map((m) => m.number)).toEqual([1, 2]);
  });
});

describe("collaborator permission", () => {
  it.each<[Role | undefined, string, string]>([
    ["admin", "admin", "admin"],
    ["maintain", "write", "maintain"],
    ["write", "write", "write"],
    ["triage", "read", "triage"],
    ["read", "read", "read"],
    [undefined, "read", "read"],
  ])("role %s reads as permission %s, role_name %s on a public repository", async (role, permission, roleName) => {
    if (role) standIn.setPermission(REPO, "bob", role);
    const { data } = await octokit.rest.repos.getCollaboratorPermissionLevel({ ...R, username: "bob" });
    expect(data).toMatchObject({ permission, role_name: roleName, user: { login: "bob" } });
  });

  it("gives a user without a role none on a private repository, and decodes [bot] logins", async () => {
    standIn.addRepo("acme/secret", { private: true });
    const none = await octokit.rest.repos.getCollaboratorPermissionLevel({ owner: "acme", repo: "secret", username: "eve" });
    expect(none.data).toMatchObject({ permission: "none", role_name: "" });
    standIn.setPermission(REPO, "dependabot[bot]", "write");
    const bot = await octokit.rest.repos.getCollaboratorPermissionLevel({ ...R, username: "dependabot[bot]" });
    expect(bot.data).toMatchObject({ permission: "write", user: { login: "dependabot[bot]", type: "Bot" } });
  });
});

describe("check runs", () => {
  it("creates, updates, finds the latest by name for a sha or branch, and links the PR", async () => {
    const pull = await octokit.rest.pulls.create({ ...R, title: "t", head: "feature/gate", base: "main" });
    const sha = pull.data.head.sha;
    const created = await octokit.rest.checks.create({ ...R, name: "security-gate", head_sha: sha, status: "in_progress" });
    expect(created.status).toBe(201);
    expect(created.data).toMatchObject({
      name: "security-gate",
      head_sha: sha,
      status: "in_progress",
      conclusion: null,
      app: { slug: "parallel-workers" },
      pull_requests: [{ number: pull.data.number, head: { ref: "feature/gate", sha } }],
    });

    const done = await octokit.rest.checks.update({
      ...R,
      check_run_id: created.data.id,
      conclusion: "failure",
      output: { title: "1 secret found", summary: "config/.env: AWS secret" },
    });
    expect(done.data).toMatchObject({ status: "completed", conclusion: "failure", output: { title: "1 secret found" } });
    expect(done.data.completed_at).not.toBeNull();

    const output = { title: "ok", summary: "ok" };
    await octokit.rest.checks.create({ ...R, name: "security-gate", head_sha: sha, conclusion: "success", output });
    await octokit.rest.checks.create({ ...R, name: "phase-5-to-6", head_sha: sha, status: "queued" });

    const latest = await octokit.rest.checks.listForRef({ ...R, ref: sha, check_name: "security-gate" });
    expect(latest.data.total_count).toBe(1);
    expect(latest.data.check_runs[0]).toMatchObject({ conclusion: "success" });
    const all = await octokit.rest.checks.listForRef({ ...R, ref: sha, check_name: "security-gate", filter: "all" });
    expect(all.data.check_runs.map((run) => run.conclusion)).toEqual(["success", "failure"]);
    const byBranch = await octokit.rest.checks.listForRef({ ...R, ref: "feature/gate" });
    expect(byBranch.data.check_runs.map((run) => run.name).sort()).toEqual(["phase-5-to-6", "security-gate"]);
    expect(standIn.requests.at(-1)?.path).toBe("/repos/acme/widgets/commits/feature/gate/check-runs");

    const one = await octokit.rest.checks.get({ ...R, check_run_id: created.data.id });
    expect(one.data.conclusion).toBe("failure");
    expect(standIn.checkRuns(REPO)).toHaveLength(3);
  });

  it("appends annotations on every POST and PATCH, as GitHub does, and lists them", async () => {
    const sha = "c".repeat(40);
    const note = (line: number) => ({ path: "src/a.ts", start_line: line, end_line: line, annotation_level: "warning" as const, message: `line ${line}` });
    const created = await octokit.rest.checks.create({ ...R, name: "g", head_sha: sha, output: { title: "t", summary: "s", annotations: [note(1), note(2)] } });
    await octokit.rest.checks.update({ ...R, check_run_id: created.data.id, output: { title: "t", summary: "s", annotations: [note(2), note(3)] } });
    await octokit.rest.checks.update({ ...R, check_run_id: created.data.id, conclusion: "success", output: { title: "t2", summary: "s2" } });
    const listed = await octokit.paginate(octokit.rest.checks.listAnnotations, { ...R, check_run_id: created.data.id, per_page: 2 });
    expect(listed.map((a) => a.start_line)).toEqual([1, 2, 2, 3]);
    expect(listed[0]).toEqual({
      path: "src/a.ts",
      blob_href: `https://github.com/acme/widgets/blob/${sha}/src/a.ts`,
      start_line: 1,
      end_line: 1,
      start_column: null,
      end_column: null,
      annotation_level: "warning",
      title: null,
      message: "line 1",
      raw_details: null,
    });
    expect((await octokit.rest.checks.get({ ...R, check_run_id: created.data.id })).data.output).toMatchObject({ title: "t2", annotations_count: 4 });
    expect(standIn.checkRunAnnotations(REPO, created.data.id)).toHaveLength(4);

    const fiftyOne = Array.from({ length: 51 }, (_, i) => note(i + 1));
    expect((await failure(octokit.rest.checks.update({ ...R, check_run_id: created.data.id, output: { title: "t", summary: "s", annotations: fiftyOne } }))).status).toBe(422);
    const noMessage = octokit.request("PATCH /repos/acme/widgets/check-runs/{check_run_id}", {
      check_run_id: created.data.id,
      output: { title: "t", summary: "s", annotations: [{ path: "a", start_line: 1, end_line: 1, annotation_level: "warning" }] },
    });
    expect((await failure(noMessage)).status).toBe(422);
    expect(standIn.checkRunAnnotations(REPO, created.data.id)).toHaveLength(4);
  });

  it("refuses what GitHub refuses", async () => {
    const sha = "b".repeat(40);
    expect((await failure(octokit.rest.checks.create({ ...R, name: "g", head_sha: sha, status: "completed" }))).status).toBe(422);
    // Literal routes skip Octokit's parameter types, to send what GitHub would refuse.
    expect((await failure(octokit.request("POST /repos/acme/widgets/check-runs", { head_sha: sha }))).status).toBe(422);
    expect((await failure(octokit.request("POST /repos/acme/widgets/check-runs", { name: "g", head_sha: sha, output: { title: "only" } }))).status).toBe(422);
    expect((await failure(octokit.rest.checks.listForRef({ ...R, ref: "no-such-branch" }))).status).toBe(422);
    expect((await failure(octokit.rest.checks.get({ ...R, check_run_id: 1 }))).status).toBe(404);
  });
});

describe("the App manifest flow", () => {
  it("exchanges a submitted manifest's code once for the App, its key and secret, and takes its webhook URL", async () => {
    const manifest = { name: "pw-test", url: "https://example.com", hook_attributes: { url: "https://pw.example.com/api/github/webhooks" } };
    const code = standIn.submitManifest(manifest);
    const app = await octokit.rest.apps.createFromManifest({ code });
    expect(app.data).toMatchObject({ id: 123456, name: "pw-test", webhook_secret: standIn.registeredApps[0]!.webhookSecret });
    expect(app.data.pem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect((await failure(octokit.rest.apps.createFromManifest({ code }))).status).toBe(404);
    expect((await octokit.rest.apps.getWebhookConfigForApp()).data).toMatchObject({ url: "https://pw.example.com/api/github/webhooks", content_type: "json" });
  });
});

describe("branches", () => {
  it("deletes a branch with slashes once, then answers 422 Reference does not exist", async () => {
    await octokit.rest.pulls.create({ ...R, title: "t", head: "feature/task-1", base: "main" });
    expect(Object.keys(standIn.branches(REPO))).toEqual(["main", "feature/task-1"]);
    const deleted = await octokit.rest.git.deleteRef({ ...R, ref: "heads/feature/task-1" });
    expect(deleted.status).toBe(204);
    expect(standIn.requests.at(-1)).toMatchObject({ method: "DELETE", path: "/repos/acme/widgets/git/refs/heads/feature/task-1", status: 204 });
    const again = await failure(octokit.rest.git.deleteRef({ ...R, ref: "heads/feature/task-1" }));
    expect(again).toEqual({ status: 422, data: expect.objectContaining({ message: "Reference does not exist" }) as unknown });
    expect(Object.keys(standIn.branches(REPO))).toEqual(["main"]);
  });

  it("looks a branch up by ref", async () => {
    const sha = standIn.pushBranch(REPO, "feature/look");
    const { data } = await octokit.rest.git.getRef({ ...R, ref: "heads/feature/look" });
    expect(data).toMatchObject({ ref: "refs/heads/feature/look", object: { sha, type: "commit" } });
    expect((await failure(octokit.rest.git.getRef({ ...R, ref: "heads/feature/none" }))).status).toBe(404);
  });
});

describe("repository and App authentication", () => {
  it("describes the repository, its installation and the App", async () => {
    const repo = await octokit.rest.repos.get(R);
    expect(repo.data).toMatchObject({ full_name: "acme/widgets", name: "widgets", owner: { login: "acme" }, default_branch: "main", private: false });
    const installation = await octokit.rest.apps.getRepoInstallation(R);
    expect(installation.data).toMatchObject({ id: 1, account: { login: "acme" }, app_id: 123456 });
    const app = await octokit.rest.apps.getAuthenticated();
    expect(app.data).toMatchObject({ id: 123456, slug: "parallel-workers", name: "parallel-workers" });
    expect((await failure(octokit.rest.repos.get({ owner: "acme", repo: "missing" }))).status).toBe(404);
    expect(() => standIn.addRepo(REPO)).toThrow('"acme/widgets" was already added');
    expect(() => standIn.pulls("acme/missing")).toThrow('call addRepo("acme/missing") first');
  });

  it("answers 401 Bad credentials to a rejected token until it is accepted again, and reports an archived repository", async () => {
    standIn.rejectToken("test");
    expect(await failure(octokit.rest.repos.get(R))).toEqual({ status: 401, data: expect.objectContaining({ message: "Bad credentials" }) as unknown });
    const other = new Octokit({ auth: "another", baseUrl: standIn.url, request: { retries: 0 } });
    expect((await other.rest.repos.get(R)).status).toBe(200);
    standIn.acceptToken("test");
    expect((await octokit.rest.repos.get(R)).data.archived).toBe(false);
    standIn.addRepo("acme/old", { archived: true, defaultBranch: "master" });
    expect((await octokit.rest.repos.get({ owner: "acme", repo: "old" })).data).toMatchObject({ archived: true, default_branch: "master" });
  });

  it("mints installation tokens for @octokit/auth-app (a JWT first, then the token)", async () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const app = new Octokit({
      authStrategy: createAppAuth,
      auth: { appId: 123456, privateKey: privateKey.export({ type: "pkcs1", format: "pem" }).toString(), installationId: 1 },
      baseUrl: standIn.enterpriseUrl,
      request: { retries: 0 },
    });
    await app.rest.pulls.create({ ...R, title: "t", head: "feature/app", base: "main" });
    expect(standIn.calls()).toEqual(["POST /app/installations/1/access_tokens", "POST /repos/acme/widgets/pulls"]);
    const [mint, create] = standIn.requests;
    expect(mint?.headers.authorization).toMatch(/^bearer \S+\.\S+\.\S+$/i);
    expect(create?.headers.authorization).toBe(`token ${standIn.issuedTokens[0]}`);
    expect(mint?.status).toBe(201);
    const unknown = await failure(octokit.request("POST /app/installations/{installation_id}/access_tokens", { installation_id: 99 }));
    expect(unknown.status).toBe(404);
  });

  it("lets Probot 14 with App auth and a GHE-style baseUrl handle a signed delivery and write back", async () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    standIn.setPermission(REPO, "alice", "write");
    const issue = standIn.addIssue(REPO, { title: "Work", user: "alice" });
    const command = standIn.addComment(REPO, issue.number, { body: "/worker status", user: "alice" });
    const probot = new Probot({
      appId: 123456,
      privateKey: privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
      secret: "webhook-secret",
      baseUrl: standIn.enterpriseUrl,
      logLevel: "fatal",
      Octokit: ProbotOctokit.defaults((options: object) => ({ ...options, retry: { enabled: false }, throttle: { enabled: false } })),
    });
    await probot.load((app) => {
      app.on("issue_comment.created", async (context) => {
        const permission = await context.octokit.rest.repos.getCollaboratorPermissionLevel(
          context.repo({ username: context.payload.comment.user?.login ?? "" }),
        );
        await context.octokit.rest.reactions.createForIssueComment(context.repo({ comment_id: context.payload.comment.id, content: "eyes" }));
        await context.octokit.rest.issues.createComment(context.issue({ body: `permission: ${permission.data.permission}` }));
      });
    });
    const server = await listen(await probot.getNodeMiddleware());
    try {
      const payload = withComment(retarget(loadPayload("issue_comment.created"), { repo: REPO, number: issue.number, sender: "alice" }), {
        id: command.id,
        body: command.body,
        user: "alice",
      });
      const result = await deliver(`${server.url}/api/github/webhooks`, { event: "issue_comment", payload, secret: "webhook-secret" });
      expect(result.status).toBe(200);
    } finally {
      await server.close();
    }
    expect(standIn.reactions(command.id).map((reaction) => reaction.content)).toEqual(["eyes"]);
    expect(standIn.comments(REPO, issue.number).at(-1)?.body).toBe("permission: write");
    expect(standIn.requests.every((request) => request.prefix === GHE_PREFIX)).toBe(true);
    expect(standIn.calls()[0]).toBe("POST /app/installations/1/access_tokens");
    expect(standIn.unknownRequests()).toEqual([]);
  });
});

describe("GitHub Enterprise prefix", () => {
  it("answers under /api/v3 and records the path without the prefix", async () => {
    expect(standIn.env).toEqual({ GHE_HOST: standIn.host, GHE_PROTOCOL: "http" });
    const baseUrl = `${standIn.env.GHE_PROTOCOL}://${standIn.env.GHE_HOST}/api/v3`;
    const enterprise = new Octokit({ auth: "test", baseUrl, request: { retries: 0 } });
    const { data } = await enterprise.rest.pulls.create({ ...R, title: "t", head: "feature/ghe", base: "main" });
    expect(data.number).toBe(1);
    expect(standIn.requests[0]).toMatchObject({ prefix: "/api/v3", path: "/repos/acme/widgets/pulls", status: 201 });
  });
});

describe("failure injection, latency and recording", () => {
  it("fails the next matching request once, without changing state, then behaves", async () => {
    standIn.failNext({ method: "POST", path: "/repos/acme/widgets/pulls", status: 502 });
    const failed = await failure(octokit.rest.pulls.create({ ...R, title: "t", head: "feature/f", base: "main" }));
    expect(failed).toEqual({ status: 502, data: expect.objectContaining({ message: "Server Error" }) as unknown });
    expect(standIn.pulls(REPO)).toEqual([]);
    const created = await octokit.rest.pulls.create({ ...R, title: "t", head: "feature/f", base: "main" });
    expect(created.data.number).toBe(1);
    expect(standIn.requests.map((request) => [request.status, request.injected])).toEqual([
      [502, true],
      [201, false],
    ]);
  });

  it("matches a pattern, any method, a number of times, with a custom body", async () => {
    standIn.failNext({ path: /\/labels$/, status: 500, times: 2, body: { message: "boom" } });
    const issue = standIn.addIssue(REPO, { title: "x" });
    for (let i = 0; i < 2; i++) {
      expect(await failure(octokit.rest.issues.addLabels({ ...R, issue_number: issue.number, labels: ["a"] }))).toEqual({
        status: 500,
        data: { message: "boom" },
      });
    }
    expect((await octokit.rest.issues.addLabels({ ...R, issue_number: issue.number, labels: ["a"] })).status).toBe(200);
  });

  it("delays a route", async () => {
    standIn.delay({ method: "GET", path: "/repos/acme/widgets", ms: 150, times: 1 });
    const started = Date.now();
    await octokit.rest.repos.get(R);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    const quick = Date.now();
    await octokit.rest.repos.get(R);
    expect(Date.now() - quick).toBeLessThan(140);
  });

  it("speaks HTTP like GitHub: JSON with charset, empty 204s, 400 for a broken JSON body", async () => {
    const json = await fetch(`${standIn.url}/repos/acme/widgets`);
    expect(json.headers.get("content-type")).toBe("application/json; charset=utf-8");
    standIn.pushBranch(REPO, "feature/raw");
    const empty = await fetch(`${standIn.url}/repos/acme/widgets/git/refs/heads%2Ffeature%2Fraw`, { method: "DELETE" });
    expect([empty.status, empty.headers.get("content-type"), await empty.text()]).toEqual([204, null, ""]);
    const headers = { "content-type": "application/json" };
    const broken = await fetch(`${standIn.url}/repos/acme/widgets/pulls`, { method: "POST", body: "{", headers });
    expect([broken.status, ((await broken.json()) as { message: string }).message]).toEqual([400, "Problems parsing JSON"]);
    expect(standIn.requests.at(-1)).toMatchObject({ status: 400, body: "{" });
  });

  it("answers unknown routes 404 Not Found and records them", async () => {
    const unknown = await failure(octokit.request("GET /repos/{owner}/{repo}/deployments", R));
    expect(unknown).toEqual({ status: 404, data: expect.objectContaining({ message: "Not Found" }) as unknown });
    expect(standIn.unknownRequests()).toMatchObject([{ method: "GET", path: "/repos/acme/widgets/deployments", route: null }]);
    expect(standIn.requestsTo("GET", /deployments/)).toHaveLength(1);
  });

  it("waits for a request that has not happened yet, with a helpful timeout", async () => {
    const waiting = standIn.waitForRequest({ method: "POST", path: /\/pulls$/ });
    setTimeout(() => void octokit.rest.pulls.create({ ...R, title: "t", head: "feature/w", base: "main" }), 20);
    expect(await waiting).toMatchObject({ status: 201, body: { head: "feature/w" } });
    await expect(standIn.waitForRequest({ method: "DELETE", path: "/nothing" }, 50)).rejects.toThrow(/no DELETE \/nothing within 50 ms/);
  });
});

/** Serves a Node middleware on a random local port. */
async function listen(handler: (req: IncomingMessage, res: ServerResponse) => unknown): Promise<{
  url: string;
  close: () => Promise<void>;
}> {
  const server: Server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe("reviews and required checks (the rework loop)", () => {
  it("lists a PR's reviews in the API's capitals and their comments on the diff with lines", async () => {
    const pr = standIn.addPullRequest(REPO, { head: "feature/t-1" });
    const review = standIn.addReview(REPO, pr.number, { user: "alice", body: "no", comments: [{ path: "a.ts", line: 4, startLine: 2, body: "here" }] });
    const reviews = await octokit.rest.pulls.listReviews({ ...R, pull_number: pr.number });
    expect(reviews.data).toEqual([expect.objectContaining({ id: review.id, state: "CHANGES_REQUESTED", body: "no", user: expect.objectContaining({ login: "alice" }) })]);
    const comments = await octokit.rest.pulls.listReviewComments({ ...R, pull_number: pr.number });
    expect(comments.data).toEqual([expect.objectContaining({ pull_request_review_id: review.id, path: "a.ts", line: 4, start_line: 2, body: "here", diff_hunk: "@@ -4,1 +4,1 @@" })]);
  });

  it("sums a branch's protection up in `get a branch`, and lists rulesets' required checks", async () => {
    standIn.setRequiredChecks(REPO, "main", ["ci"]);
    standIn.setRequiredChecks(REPO, "main", ["lint"], { ruleset: true });
    const branch = await octokit.rest.repos.getBranch({ ...R, branch: "main" });
    expect(branch.data.protection.required_status_checks?.contexts).toEqual(["ci"]);
    const rules = await octokit.rest.repos.getBranchRules({ ...R, branch: "main" });
    expect(rules.data).toEqual([expect.objectContaining({ type: "required_status_checks", parameters: expect.objectContaining({ required_status_checks: [{ context: "lint" }] }) })]);
    expect((await failure(octokit.rest.repos.getBranch({ ...R, branch: "nope" }))).status).toBe(404);
  });

  it("keeps another App's check runs in that App's suite of the commit", async () => {
    const sha = "a".repeat(40);
    const a = standIn.addCheckRun(REPO, { name: "unit", headSha: sha, conclusion: "failure", annotations: [{ path: "x.ts", start_line: 1, end_line: 1, annotation_level: "failure", message: "boom" }] });
    standIn.addCheckRun(REPO, { name: "e2e", headSha: sha, conclusion: "success" });
    standIn.addCheckRun(REPO, { name: "other", headSha: sha, conclusion: "success", app: "another" });
    const suite = await octokit.rest.checks.listForSuite({ ...R, check_suite_id: a.check_suite.id });
    expect(suite.data.check_runs.map((r) => r.name).sort()).toEqual(["e2e", "unit"]);
    expect((await octokit.rest.checks.listAnnotations({ ...R, check_run_id: a.id })).data).toEqual([expect.objectContaining({ message: "boom" })]);
  });
});
