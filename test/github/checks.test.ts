import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ensureCheckRun, listCheckRunsForRef, listPullRequestFiles, readFileAt } from "../../src/github/checks.js";
import { clientForRepository, type GitHubClient } from "../../src/github/octokit.js";
import { GitHubStandIn } from "../helpers/github-stand-in.js";

const REPO = "acme/widgets";
let github: GitHubStandIn;
let client: GitHubClient;

beforeEach(async () => {
  github = await GitHubStandIn.start();
  github.addRepo(REPO);
  client = await clientForRepository(REPO, { kind: "token", token: "t" }, { baseUrl: github.url, retries: 0, writeIntervalMs: 0 });
});
afterEach(() => github.close());

const output = { title: "ok", summary: "all good" };

describe("check runs", () => {
  it("creates a run once, then updates it in place", async () => {
    const sha = github.pushBranch(REPO, "feature/x");
    const first = await ensureCheckRun(client, REPO, { name: "security-gate", headSha: sha, conclusion: "failure", output });
    const second = await ensureCheckRun(client, REPO, { name: "security-gate", headSha: sha, conclusion: "success", output });
    expect(first.created).toBe(true);
    expect(second).toEqual({ id: first.id, created: false });
    const runs = github.checkRuns(REPO);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ name: "security-gate", conclusion: "success", status: "completed" });
    expect(github.calls()).toEqual([
      `GET /repos/acme/widgets/commits/${sha}/check-runs`,
      "POST /repos/acme/widgets/check-runs",
      `GET /repos/acme/widgets/commits/${sha}/check-runs`,
      `PATCH /repos/acme/widgets/check-runs/${first.id}`,
    ]);
  });

  it("never duplicates a run when two deliveries race on one commit", async () => {
    const sha = github.pushBranch(REPO, "feature/y");
    await Promise.all([1, 2, 3].map(() => ensureCheckRun(client, REPO, { name: "phase-5-to-6", headSha: sha, conclusion: "neutral", output })));
    expect(github.checkRuns(REPO)).toHaveLength(1);
  });

  it("keeps one run per commit: a new head commit gets its own", async () => {
    const a = github.pushBranch(REPO, "feature/z");
    await ensureCheckRun(client, REPO, { name: "security-gate", headSha: a, conclusion: "success", output });
    const b = github.pushBranch(REPO, "feature/z");
    await ensureCheckRun(client, REPO, { name: "security-gate", headSha: b, conclusion: "success", output });
    expect(github.checkRuns(REPO).map((r) => r.head_sha)).toEqual([a, b]);
    expect((await listCheckRunsForRef(client, REPO, b)).map((r) => [r.name, r.conclusion])).toEqual([["security-gate", "success"]]);
  });
});

describe("reading a PR and files", () => {
  it("lists a PR's files with patches and reads a file at a ref", async () => {
    const pr = github.addPullRequest(REPO, { head: "feature/f" });
    github.setPullFiles(REPO, pr.number, [{ filename: "a.ts", status: "added", patch: "@@ -0,0 +1 @@\n+x" }]);
    expect(await listPullRequestFiles(client, REPO, pr.number)).toEqual([expect.objectContaining({ filename: "a.ts", patch: "@@ -0,0 +1 @@\n+x" })]);
    github.setFile(REPO, "main", ".parallel-workers/gates/security-gate.yml", "rules: {}\n");
    expect(await readFileAt(client, REPO, ".parallel-workers/gates/security-gate.yml", "main")).toBe("rules: {}\n");
    expect(await readFileAt(client, REPO, ".parallel-workers/gates/phase-5-to-6.yml", "main")).toBeUndefined();
  });
});
