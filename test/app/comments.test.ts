import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { IssueJson, Role } from "../helpers/github-stand-in.js";
import { loadPayload, retarget, withComment } from "../helpers/webhooks.js";
import { defaultServed, harnessPerTest, REPO, type Harness } from "./harness.js";

const open = harnessPerTest();

interface CommentOptions {
  user?: string;
  role?: Role;
  userType?: "User" | "Bot";
  repo?: string;
  onPullRequest?: boolean;
  id?: string;
}

/** Someone writes `body` on `issue`; the app receives the delivery. Returns the comment's id. */
async function say(app: Harness, issue: IssueJson, body: string, options: CommentOptions = {}): Promise<number> {
  const user = options.user ?? "alice";
  if (options.role) app.github.setPermission(REPO, user, options.role);
  const comment = app.github.addComment(REPO, issue.number, { body, user });
  let payload = retarget(loadPayload("issue_comment.created"), {
    repo: options.repo ?? REPO,
    number: issue.number,
    title: issue.title,
    body: issue.body,
    sender: { login: user, type: options.userType ?? "User" },
    onPullRequest: options.onPullRequest ?? false,
  });
  payload = withComment(payload, { id: comment.id, body, user, userType: options.userType ?? "User" });
  await app.receive("issue_comment.created", payload, options.id);
  return comment.id;
}

function reactions(app: Harness, commentId: number): string[] {
  return app.github.reactions(commentId).map((r) => r.content);
}

/** Comments the app wrote on the issue (not the person's own), without the hidden marker a reply ends with. */
function replies(app: Harness, issue: IssueJson): string[] {
  return app.github
    .comments(REPO, issue.number)
    .filter((c) => c.user.login === app.github.actorLogin)
    .map((c) => c.body.replace(/\n\n<!-- parallel-workers:reply [0-9a-f]{16} -->$/, ""));
}

describe("/worker spawn", () => {
  it("queues a worker for the issue and posts its one status comment", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Add a widget", body: "It should spin." });
    const commentId = await say(app, issue, "Please do this.\n/worker spawn", { role: "write", id: "delivery-spawn" });

    const [worker] = (await app.store.listWorkers());
    expect(worker).toMatchObject({
      state: "NEEDS_INIT",
      repo: REPO,
      taskId: `issue-${issue.number}`,
      issueNumber: issue.number,
      agent: "code-author",
      baseBranch: "master",
      description: "Add a widget\n\nIt should spin.",
      repoPath: null,
      worktreePath: null,
      branch: null,
    });
    expect((await app.store.history(worker!.id))[0]).toMatchObject({ source: "command", correlationId: "delivery-spawn", detail: "/worker spawn by @alice" });
    const [status] = replies(app, issue);
    expect(replies(app, issue)).toHaveLength(1);
    expect(status).toContain(`<!-- parallel-workers:status worker=${worker!.id} -->`);
    expect(status).toContain("is **NEEDS_INIT**");
    expect(worker!.statusCommentId).toBe(app.github.comments(REPO, issue.number).find((c) => c.body === status)?.id);
    expect(reactions(app, commentId)).toEqual(["eyes", "rocket"]);
    expect(app.github.calls()).toEqual([
      `POST /repos/${REPO}/issues/comments/${commentId}/reactions`,
      `GET /repos/${REPO}/collaborators/alice/permission`,
      `POST /repos/${REPO}/issues/${issue.number}/comments`,
      `POST /repos/${REPO}/issues/comments/${commentId}/reactions`,
    ]);
  });

  it("takes an agent and a base branch; maintain and admin may use it too (role_name, not the folded permission)", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Tests for the widget" });
    await say(app, issue, "/WORKER Spawn test-author --base develop", { user: "mona", role: "maintain" });
    expect((await app.store.listWorkers())[0]).toMatchObject({ agent: "test-author", baseBranch: "develop", description: "Tests for the widget" });

    const other = app.github.addIssue(REPO, { title: "Another" });
    await say(app, other, "/worker spawn --base=release/2.0", { user: "root", role: "admin" });
    expect((await app.store.listWorkers({ issueNumber: other.number }))[0]?.baseBranch).toBe("release/2.0");
  });

  it("refuses a second worker for an issue that has an unfinished one, naming it", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Once" });
    await say(app, issue, "/worker spawn", { role: "write" });
    const [first] = (await app.store.listWorkers());
    const again = await say(app, issue, "/worker spawn");
    expect((await app.store.listWorkers())).toHaveLength(1);
    expect(replies(app, issue).at(-1)).toContain(`already has worker \`${first!.id}\` (NEEDS_INIT)`);
    expect(reactions(app, again)).toEqual(["eyes", "confused"]);
  });

  it("answers a spawn for a repository no runner serves, and records nothing", async () => {
    const app = await open({ served: [] });
    const issue = app.github.addIssue(REPO, { title: "Elsewhere" });
    const id = await say(app, issue, "/worker spawn", { role: "admin" });
    expect((await app.store.listWorkers())).toEqual([]);
    expect(replies(app, issue)[0]).toBe(
      `> /worker spawn\n\nNo runner serves ${REPO} here: start \`pw serve --repo DIR\` with a checkout of it. Nothing was queued.`,
    );
    expect(reactions(app, id)).toEqual(["eyes", "confused"]);
  });

  it("refuses unknown agents, bad base branches and pull requests", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Bad input" });
    await say(app, issue, "/worker spawn ghost-writer", { role: "write" });
    expect(replies(app, issue).at(-1)).toContain("Unknown agent `ghost-writer`: use one of `code-author`, `test-author`.");
    await say(app, issue, "/worker spawn --base ../etc");
    expect(replies(app, issue).at(-1)).toContain("base branch `../etc` is not a branch name");
    await say(app, issue, "/worker spawn --base -x");
    expect(replies(app, issue).at(-1)).toContain("base branch `-x` is not a branch name");
    const pr = app.github.addPullRequest(REPO, { head: "feature/x" });
    await say(app, { ...issue, number: pr.number }, "/worker spawn", { onPullRequest: true });
    expect(app.github.comments(REPO, pr.number).at(-1)?.body).toContain("`/worker spawn` works on issues, not on pull requests.");
    expect((await app.store.listWorkers())).toEqual([]);
  });
});

describe("/worker spawn without an agent", () => {
  it("takes the repository's default agent", async () => {
    const app = await open({ served: [defaultServed({ defaultAgent: "test-author", configuredAgents: ["test-author"] })] });
    const issue = app.github.addIssue(REPO, { title: "Default" });
    await say(app, issue, "/worker spawn", { role: "write" });
    expect((await app.store.listWorkers())[0]?.agent).toBe("test-author");
  });

  it("asks which when several agents are configured and none is the default, queuing nothing", async () => {
    const served = defaultServed({ agents: ["code-author", "fixer", "reviewer"], configuredAgents: ["fixer", "reviewer"], defaultAgent: null });
    const app = await open({ served: [served] });
    const issue = app.github.addIssue(REPO, { title: "Which" });
    const id = await say(app, issue, "/worker spawn", { role: "write" });
    expect((await app.store.listWorkers())).toEqual([]);
    expect(replies(app, issue)).toEqual([
      `> /worker spawn\n\nWhich agent? ${REPO} configures \`fixer\`, \`reviewer\` and none is the default: name one (\`/worker spawn AGENT\`), or set \`default_agent\` in .parallel-workers.yml. Nothing was queued.`,
    ]);
    expect(reactions(app, id)).toEqual(["eyes", "confused"]);
    // naming one still works
    const other = app.github.addIssue(REPO, { title: "Named" });
    await say(app, other, "/worker spawn reviewer");
    expect((await app.store.listWorkers())[0]?.agent).toBe("reviewer");
  });
});

describe("who may run commands", () => {
  it("anyone without write access gets a reply quoting the command and saying who may; nothing happens", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Drive-by" });
    const id = await say(app, issue, "/worker spawn", { user: "stranger", role: "triage" });
    expect((await app.store.listWorkers())).toEqual([]);
    expect(replies(app, issue)).toEqual([
      `> /worker spawn\n\n@stranger: \`/worker spawn\` may be used only by people with write, maintain or admin access to the repository (${REPO}); you have triage access. Nothing was done.`,
    ]);
    expect(reactions(app, id)).toEqual(["eyes", "confused"]);
    expect(app.github.requestsTo("GET", `/repos/${REPO}/collaborators/stranger/permission`)).toHaveLength(1);
  });

  it("checks the permission through the API on every command comment", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Twice" });
    await say(app, issue, "/worker help", { role: "write" });
    app.github.setPermission(REPO, "alice", "read");
    await say(app, issue, "/worker help");
    expect(app.github.requestsTo("GET", `/repos/${REPO}/collaborators/alice/permission`)).toHaveLength(2);
    expect(replies(app, issue).at(-1)).toContain("you have read access");
  });

  it("ignores comments from bots, the app itself included: no reaction, no call", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Bots" });
    await say(app, issue, "/worker spawn", { user: "dependabot[bot]", userType: "Bot" });
    await say(app, issue, "/worker spawn", { user: app.github.actorLogin, userType: "Bot" });
    expect((await app.store.listWorkers())).toEqual([]);
    expect(app.github.calls()).toEqual([]);
  });

  it("ignores comments without a command, and quoted or fenced commands", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Chatter" });
    await say(app, issue, "Looks good to me", { role: "admin" });
    await say(app, issue, "> /worker spawn\n\nShould we?");
    await say(app, issue, "Run this:\n```\n/worker spawn\n```");
    await say(app, issue, "please /worker spawn");
    expect((await app.store.listWorkers())).toEqual([]);
    expect(app.github.calls()).toEqual([]);
  });

  it("the same delivery twice runs its command once", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Redelivered" });
    const id = randomUUID();
    const comment = app.github.addComment(REPO, issue.number, { body: "/worker spawn", user: "alice" });
    app.github.setPermission(REPO, "alice", "write");
    const payload = withComment(retarget(loadPayload("issue_comment.created"), { repo: REPO, number: issue.number, title: issue.title, sender: "alice" }), {
      id: comment.id,
      body: "/worker spawn",
      user: "alice",
    });
    await app.receive("issue_comment.created", payload, id);
    await app.receive("issue_comment.created", payload, id);
    expect((await app.store.listWorkers())).toHaveLength(1);
    expect(replies(app, issue)).toHaveLength(1);
  });

  it("a redelivery after a half-finished spawn finishes it instead of refusing it", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Half done" });
    // what the failed first attempt left: the worker, no status comment, the delivery id forgotten
    await app.store.createWorker(
      { id: "worker-half01", repo: REPO, taskId: `issue-${issue.number}`, issueNumber: issue.number, agent: "code-author", baseBranch: "main" },
      { source: "command", correlationId: "delivery-half" },
    );
    const id = await say(app, issue, "/worker spawn", { role: "write", id: "delivery-half" });
    expect((await app.store.listWorkers())).toHaveLength(1);
    expect(reactions(app, id)).toEqual(["eyes", "rocket"]);
    expect(replies(app, issue)).toEqual([expect.stringContaining("worker `worker-half01` is **NEEDS_INIT**")]);
  });
});

describe("other commands", () => {
  it("unknown commands and bad arguments get a reply and a confused reaction", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Typos" });
    const id = await say(app, issue, "/worker spwan\n/worker retry nobody", { role: "write" });
    const [reply] = replies(app, issue);
    expect(reply).toContain("> /worker spwan\n\nunknown command `spwan`: use one of `spawn`, `status`, `retry`, `terminate`, `rework`, `help`");
    expect(reply).toContain('> /worker retry nobody\n\nworker id "nobody" is not valid');
    expect(reactions(app, id)).toEqual(["eyes", "confused"]);
  });

  it("/worker help is generated from the command definitions", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Help" });
    const id = await say(app, issue, "/worker help", { role: "write" });
    const [reply] = replies(app, issue);
    for (const usage of ["/worker spawn [AGENT] [--base BRANCH]", "/worker status", "/worker retry ID", "/worker terminate ID", "/worker help"]) {
      expect(reply).toContain(`\`${usage}\``);
    }
    expect(reactions(app, id)).toEqual(["eyes", "rocket"]);
  });

  it("/worker status lists the repository's workers", async () => {
    const app = await open();
    await app.addWorker({ id: "worker-aaaaa1", taskId: "T-1", state: "PR_OPEN", prNumber: 4, prUrl: "https://github.com/acme/widgets/pull/4" });
    await app.addWorker({ id: "worker-aaaaa2", taskId: "T-2", state: "WORKING" });
    await app.store.createWorker({ id: "worker-other1", repo: "acme/other", taskId: "X" }, { source: "cli" });
    const issue = app.github.addIssue(REPO, { title: "Status" });
    await say(app, issue, "/worker status", { role: "write" });
    const [reply] = replies(app, issue);
    expect(reply).toContain("| worker | task | state | PR | age |");
    expect(reply).toMatch(/\| `worker-aaaaa1` \| `T-1` \| PR_OPEN \| \[#4\]\(https:\/\/github.com\/acme\/widgets\/pull\/4\) \| \d+s \|/);
    expect(reply).toContain("| `worker-aaaaa2` | `T-2` | WORKING | - |");
    expect(reply).not.toContain("worker-other1");
  });

  it("/worker retry queues an UNKNOWN or ABANDONED worker again, and refuses others", async () => {
    const app = await open();
    await app.addWorker({ id: "worker-aaaaa3", state: "UNKNOWN", error: "agent failed", owner: "host:1:abc", pid: 4242 });
    await app.addWorker({ id: "worker-aaaaa4", taskId: "T-4", branch: "feature/t-4", state: "PR_OPEN" });
    const issue = app.github.addIssue(REPO, { title: "Retry" });
    const ok = await say(app, issue, "/worker retry worker-aaaaa3", { role: "write" });
    expect((await app.store.requireWorker("worker-aaaaa3"))).toMatchObject({ state: "NEEDS_INIT", error: null, owner: null, pid: null });
    expect((await app.store.history("worker-aaaaa3")).at(-1)).toMatchObject({ source: "command", to: "NEEDS_INIT" });
    expect(reactions(app, ok)).toEqual(["eyes", "rocket"]);
    const refused = await say(app, issue, "/worker retry worker-aaaaa4");
    expect(replies(app, issue).at(-1)).toContain("Worker `worker-aaaaa4` is PR_OPEN: only UNKNOWN or ABANDONED workers can be retried.");
    expect(reactions(app, refused)).toEqual(["eyes", "confused"]);
  });

  it("/worker terminate asks the runner to stop a WORKING worker, and ends a queued one at once", async () => {
    const app = await open();
    await app.addWorker({ id: "worker-aaaaa5", state: "WORKING", pid: 4242 });
    await app.addWorker({ id: "worker-aaaaa6", taskId: "T-6", branch: "feature/t-6", state: "NEEDS_INIT" });
    const issue = app.github.addIssue(REPO, { title: "Stop" });
    await say(app, issue, "/worker terminate worker-aaaaa5\n/worker terminate worker-aaaaa6", { role: "write" });
    expect((await app.store.requireWorker("worker-aaaaa5"))).toMatchObject({ state: "WORKING", request: "terminate" });
    expect((await app.store.requireWorker("worker-aaaaa6"))).toMatchObject({ state: "ABANDONED", request: null });
    const [reply] = replies(app, issue);
    expect(reply).toContain("its runner stops the agent");
    expect(reply).toContain("Worker `worker-aaaaa6` is ABANDONED.");
  });

  it("never touches a worker of another repository", async () => {
    const app = await open();
    await app.store.createWorker({ id: "worker-other2", repo: "acme/other", taskId: "X", state: "UNKNOWN" }, { source: "cli" });
    const issue = app.github.addIssue(REPO, { title: "Cross-repo" });
    await say(app, issue, "/worker retry worker-other2\n/worker terminate worker-other2", { role: "admin" });
    expect((await app.store.requireWorker("worker-other2")).state).toBe("UNKNOWN");
    expect(replies(app, issue)[0]).toContain(`There is no worker \`worker-other2\` in ${REPO}`);
  });

  it("never logs a comment body", async () => {
    const app = await open();
    const issue = app.github.addIssue(REPO, { title: "Secret plans", body: "the launch code is 0000" });
    await say(app, issue, "/worker spawn\nmy private note xyzzy", { role: "write" });
    await say(app, issue, "/worker nonsense xyzzy");
    const text = JSON.stringify(app.logLines());
    expect(text).not.toContain("xyzzy");
    expect(text).not.toContain("launch code");
  });
});
