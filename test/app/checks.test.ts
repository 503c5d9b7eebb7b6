import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { repositoryGitHub, type CheckRunAnnotation } from "../../src/app/github.js";
import { loadPayload, retarget, withCheckRun, withCheckSuite } from "../helpers/webhooks.js";
import { harnessPerTest, REPO, restOctokit, type Harness } from "./harness.js";

const open = harnessPerTest();

const BRANCH = "feature/task-1";
const SECURITY_FILE = ".parallel-workers/gates/security-gate.yml";
const QUALITY_FILE = ".parallel-workers/gates/phase-5-to-6.yml";

/** An AWS access key id made at run time, so no file of this repository holds one. */
function awsKeyId(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  return ["AK", "IA", ...Array.from(randomBytes(16), (b) => alphabet[b % alphabet.length])].join("");
}

async function workerPullRequest(app: Harness, files: Parameters<Harness["github"]["setPullFiles"]>[2]) {
  const pr = app.github.addPullRequest(REPO, { head: BRANCH });
  app.github.setPullFiles(REPO, pr.number, files);
  await app.addWorker({ id: "worker-ccccc1", state: "PR_OPEN", prNumber: pr.number, prUrl: pr.html_url });
  return pr;
}

function synchronize(number: number, headSha: string) {
  const payload = retarget(loadPayload("pull_request.synchronize"), { repo: REPO, number, headRef: BRANCH, headSha, baseRef: "main" });
  return payload;
}

/** Each run's annotations on the stand-in (which appends them, as GitHub does), by run name. */
function annotationsByRun(app: Harness): Record<string, string[]> {
  return Object.fromEntries(
    app.github.checkRuns(REPO).map((run) => [run.name, app.github.checkRunAnnotations(REPO, run.id).map((a) => `${a.path}:${a.start_line} ${a.title}`)]),
  );
}

function runs(app: Harness) {
  return app.github.checkRuns(REPO).map((r) => ({ name: r.name, sha: r.head_sha, conclusion: r.conclusion }));
}

describe("gates as check runs", () => {
  it("a secret on an added line: security-gate fails with a redacted annotation; each gate gets one run", async () => {
    const app = await open();
    const key = awsKeyId();
    const pr = await workerPullRequest(app, [
      { filename: "src/config.ts", status: "modified", patch: `@@ -1,1 +1,2 @@\n const region = "eu-west-1";\n+const accessKeyId = "${key}";` },
      { filename: "test/config.test.ts", status: "added", patch: "@@ -0,0 +1 @@\n+it('works', () => {});" },
    ]);
    const sha = app.github.pushBranch(REPO, BRANCH);
    await app.receive("pull_request.synchronize", synchronize(pr.number, sha));

    expect(runs(app)).toEqual([
      { name: "security-gate", sha, conclusion: "failure" },
      { name: "phase-5-to-6", sha, conclusion: "success" },
    ]);
    const created = app.github.requestsTo("POST", `/repos/${REPO}/check-runs`).map((r) => r.body as { name: string; output: { annotations: unknown[] } });
    expect(created.find((b) => b.name === "security-gate")?.output.annotations).toEqual([
      expect.objectContaining({ path: "src/config.ts", start_line: 2, end_line: 2, annotation_level: "failure" }),
    ]);
    const shown = JSON.stringify(app.github.requests.map((r) => r.body)) + JSON.stringify(app.logLines());
    expect(shown).toContain(key.slice(0, 4));
    expect(shown).not.toContain(key);
    expect(shown).not.toContain(key.slice(0, 8));
  });

  it("the same commit again updates both runs in place; a new commit gets its own", async () => {
    const app = await open();
    const pr = await workerPullRequest(app, [{ filename: "README.md", status: "modified", patch: "@@ -1 +1 @@\n-a\n+b" }]);
    const first = app.github.pushBranch(REPO, BRANCH);
    await app.receive("pull_request.synchronize", synchronize(pr.number, first));
    app.github.clearRequests();
    await app.receive("pull_request.synchronize", synchronize(pr.number, first));
    expect(app.github.calls().filter((c) => !c.startsWith("GET"))).toEqual([
      `PATCH /repos/${REPO}/check-runs/${app.github.checkRuns(REPO)[0]!.id}`,
      `PATCH /repos/${REPO}/check-runs/${app.github.checkRuns(REPO)[1]!.id}`,
    ]);
    expect(runs(app)).toHaveLength(2);

    const second = app.github.pushBranch(REPO, BRANCH);
    await app.receive("pull_request.synchronize", synchronize(pr.number, second));
    expect(runs(app).map((r) => `${r.name}@${r.sha === first ? "first" : "second"}`)).toEqual([
      "security-gate@first",
      "phase-5-to-6@first",
      "security-gate@second",
      "phase-5-to-6@second",
    ]);
  });

  it("reads the gate files of the base branch, and reports a broken one as a failed check", async () => {
    const app = await open();
    // the base branch says a change without tests blocks; the head branch's own edit to relax it does not count
    app.github.setFile(REPO, "main", QUALITY_FILE, "rules:\n  tests-changed: { blocking: true }\n");
    app.github.setFile(REPO, BRANCH, QUALITY_FILE, "rules:\n  tests-changed: { enabled: false }\n");
    app.github.setFile(REPO, "main", SECURITY_FILE, "rules:\n  no-secrets: { blockng: true }\n");
    const pr = await workerPullRequest(app, [{ filename: "src/feature.ts", status: "added", patch: "@@ -0,0 +1 @@\n+export const x = 1;" }]);
    const sha = app.github.pushBranch(REPO, BRANCH);
    await app.receive("pull_request.synchronize", synchronize(pr.number, sha));
    const [security, quality] = app.github.checkRuns(REPO);
    expect(security).toMatchObject({ conclusion: "failure", output: { title: "security-gate could not run" } });
    expect(security!.output.summary).toContain("blockng");
    expect(quality).toMatchObject({ name: "phase-5-to-6", conclusion: "failure" });
    expect(app.github.requestsTo("GET", new RegExp(`/contents/`)).map((r) => r.query.ref)).toEqual(["main", "main"]);
  });

  it("phase-5-to-6 waits for its required checks and passes when another check run completes", async () => {
    const app = await open();
    app.github.setFile(REPO, "main", QUALITY_FILE, "rules:\n  required-checks: { checks: [build], blocking: true }\n");
    const pr = await workerPullRequest(app, [{ filename: "docs/x.md", status: "added", patch: "@@ -0,0 +1 @@\n+docs" }]);
    const sha = app.github.pushBranch(REPO, BRANCH);
    await app.receive("pull_request.synchronize", synchronize(pr.number, sha));
    expect(runs(app).find((r) => r.name === "phase-5-to-6")?.conclusion).toBe("failure");

    // CI reports: the build check completes on the same head commit
    const octokit = (await import("./harness.js")).restOctokit(app.github);
    await octokit.rest.checks.create({ owner: "acme", repo: "widgets", name: "build", head_sha: sha, status: "completed", conclusion: "success" });
    app.github.clearRequests();
    /** A successful check run named `name` completing on the PR's head commit. */
    const completed = (name: string) =>
      withCheckRun(retarget(loadPayload("check_run.completed"), { repo: REPO }), {
        name,
        headSha: sha,
        status: "completed",
        conclusion: "success",
        pullRequests: [{ number: pr.number, headRef: BRANCH, headSha: sha, baseRef: "main" }],
      });
    await app.receive("check_run.completed", completed("build"));
    expect(runs(app).find((r) => r.name === "phase-5-to-6")?.conclusion).toBe("success");
    // only phase-5-to-6 was evaluated again
    expect(app.github.requestsTo("GET", /contents/).map((r) => r.path)).toEqual([`/repos/${REPO}/contents/${QUALITY_FILE}`]);

    // our own run completing triggers nothing (no loop)
    app.github.clearRequests();
    await app.receive("check_run.completed", completed("phase-5-to-6"));
    expect(app.github.calls()).toEqual([]);
  });

  it("re-run requests: check_run.rerequested re-runs that gate, check_suite.rerequested both", async () => {
    const app = await open();
    const pr = await workerPullRequest(app, [{ filename: "a.txt", status: "added", patch: "@@ -0,0 +1 @@\n+a" }]);
    const sha = app.github.pushBranch(REPO, BRANCH);
    const prs = [{ number: pr.number, headRef: BRANCH, headSha: sha, baseRef: "main" }];
    await app.receive(
      "check_run.rerequested",
      withCheckRun(retarget(loadPayload("check_run.rerequested"), { repo: REPO }), { name: "security-gate", headSha: sha, pullRequests: prs }),
    );
    expect(runs(app).map((r) => r.name)).toEqual(["security-gate"]);
    await app.receive(
      "check_suite.rerequested",
      withCheckSuite(retarget(loadPayload("check_suite.rerequested"), { repo: REPO }), { headSha: sha, pullRequests: prs }),
    );
    expect(runs(app).map((r) => r.name)).toEqual(["security-gate", "phase-5-to-6"]);
  });

  it("two deliveries for one head commit leave each annotation once; a new finding later is appended alone", async () => {
    const app = await open();
    // the base branch's security gate leaves forbidden paths alone, for now
    app.github.setFile(REPO, "main", SECURITY_FILE, "rules:\n  no-secrets:\n  forbidden-paths: { enabled: false }\n");
    const key = awsKeyId();
    const pr = await workerPullRequest(app, [
      { filename: "src/config.ts", status: "modified", patch: `@@ -1,1 +1,2 @@\n const region = "eu-west-1";\n+const accessKeyId = "${key}";` },
      { filename: "deploy/.env", status: "added", patch: "@@ -0,0 +1 @@\n+LOG_LEVEL=debug" },
    ]);
    const sha = app.github.pushBranch(REPO, BRANCH);
    const target = { repo: REPO, number: pr.number, headRef: BRANCH, headSha: sha, baseRef: "main" };
    await app.receive("pull_request.opened", retarget(loadPayload("pull_request.opened"), target));
    const first = annotationsByRun(app);
    expect(first["security-gate"]).toEqual(["src/config.ts:2 no-secrets: aws-access-key-id"]);
    await app.receive("pull_request.synchronize", synchronize(pr.number, sha));
    expect(annotationsByRun(app)).toEqual(first);
    expect(runs(app)).toHaveLength(2);

    // the base's gate now forbids .env files: a re-run finds one more thing on the same commit
    app.github.setFile(REPO, "main", SECURITY_FILE, "rules:\n  no-secrets:\n  forbidden-paths:\n");
    app.github.clearRequests();
    await app.receive(
      "check_suite.rerequested",
      withCheckSuite(retarget(loadPayload("check_suite.rerequested"), { repo: REPO }), { headSha: sha, pullRequests: [{ number: pr.number, headRef: BRANCH, headSha: sha, baseRef: "main" }] }),
    );
    expect(annotationsByRun(app)).toEqual({ ...first, "security-gate": ["src/config.ts:2 no-secrets: aws-access-key-id", "deploy/.env:1 forbidden-paths"] });
    const security = app.github.checkRuns(REPO).find((run) => run.name === "security-gate")!;
    const patches = app.github.requestsTo("PATCH", `/repos/${REPO}/check-runs/${security.id}`).map((r) => r.body as { output: { title: string; annotations?: Array<{ path: string }> } });
    expect(patches.map((body) => body.output.annotations?.map((a) => a.path))).toEqual([["deploy/.env"]]);
    expect(security.output.title).toBe(patches[0]!.output.title);
  });

  it("no gates for a PR that belongs to no worker, or comes from a fork", async () => {
    const app = await open();
    const other = app.github.addPullRequest(REPO, { head: "someone/else" });
    const sha = app.github.pushBranch(REPO, "someone/else");
    await app.receive("pull_request.synchronize", retarget(loadPayload("pull_request.synchronize"), { repo: REPO, number: other.number, headRef: "someone/else", headSha: sha }));
    await app.addWorker({ id: "worker-ccccc2", state: "PR_OPEN", prNumber: 9 });
    await app.receive("pull_request.synchronize", retarget(loadPayload("pull_request.synchronize"), { repo: REPO, number: 9, headRef: BRANCH, headRepo: "forker/widgets" }));
    expect(app.github.calls()).toEqual([]);
  });
});

describe("ensureCheckRun", () => {
  const annotation = (line: number): CheckRunAnnotation => ({
    path: `src/file-${Math.floor(line / 100)}.ts`,
    start_line: line,
    end_line: line,
    annotation_level: "warning",
    title: "rule",
    message: `finding on line ${line}`,
  });

  it("sends more than 50 annotations in batches of 50, and on a later update only those not on the run yet", async () => {
    const app = await open();
    const github = repositoryGitHub(restOctokit(app.github), REPO);
    const sha = app.github.pushBranch(REPO, BRANCH);
    const many = Array.from({ length: 120 }, (_, i) => annotation(i + 1));
    const output = { title: "120 findings", summary: "see the annotations", annotations: many };
    const { id } = await github.ensureCheckRun({ name: "security-gate", headSha: sha, conclusion: "failure", output });
    const sent = () => app.github.requests.filter((r) => r.method !== "GET").map((r) => `${r.method} ${(r.body as { output: { annotations?: unknown[] } }).output.annotations?.length ?? 0}`);
    expect(sent()).toEqual(["POST 50", "PATCH 50", "PATCH 20"]);
    expect(app.github.checkRunAnnotations(REPO, id).map((a) => a.start_line)).toEqual(many.map((a) => a.start_line));

    // the same result again, then one more finding (and a repeated one in the same result)
    app.github.clearRequests();
    await github.ensureCheckRun({ name: "security-gate", headSha: sha, conclusion: "failure", output });
    const more = [...many, annotation(121), annotation(121)];
    await github.ensureCheckRun({ name: "security-gate", headSha: sha, conclusion: "failure", output: { ...output, title: "121 findings", annotations: more } });
    expect(sent()).toEqual(["PATCH 0", "PATCH 1"]);
    const keys = app.github.checkRunAnnotations(REPO, id).map((a) => `${a.path}:${a.start_line}:${a.message}`);
    expect(keys).toHaveLength(121);
    expect(new Set(keys).size).toBe(121);
    expect(app.github.checkRuns(REPO)).toEqual([expect.objectContaining({ id, conclusion: "failure", output: expect.objectContaining({ title: "121 findings", annotations_count: 121 }) })]);
  });
});
