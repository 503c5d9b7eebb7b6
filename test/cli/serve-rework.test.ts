/**
 * The rework loop end to end: `pw serve` (the built CLI) receives a review that asks for changes
 * and then a failed required check over real HTTP, and its runner sends the worker's PR back to
 * the agent each time: a new commit on the same branch and PR, the feedback in the agent's prompt.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import { git, removeTempDirs } from "../helpers/git.js";
import { fakeAgent, REPOSITORY, runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";
import { serveEnv, SERVE_SECRET, startServe, until, type Served } from "../helpers/serve.js";
import { deliver, loadPayload, retarget, withCheckRun, withReview } from "../helpers/webhooks.js";

const running: Served[] = [];
let sandbox: RunnerSandbox | undefined;
const stores: SqliteWorkerStore[] = [];

afterEach(async () => {
  for (const served of running.splice(0)) await served.stop();
  for (const store of stores.splice(0)) store.close();
  if (sandbox) {
    expect(sandbox.github.unknownRequests()).toEqual([]);
    await sandbox.close();
  }
  sandbox = undefined;
  removeTempDirs();
});

describe("pw serve: the rework loop", () => {
  it("a review asking for changes, then a failed required check: each a round on the same branch and PR", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    const record = join(sb.out, "record");
    mkdirSync(record);
    sb.configure({ agents: { "code-author": fakeAgent("rework.mjs", record, "{prompt}") }, rework: { debounce: 0 } });
    sb.github.setPermission(REPOSITORY, "alice", "write");
    sb.github.setRequiredChecks(REPOSITORY, "main", ["ci / test"]);
    expect((await sb.pw(["worker", "spawn", "--task-id", "T-1", "--description", "Build the frobnicator"])).code).toBe(0);
    const served = await startServe(serveEnv(sb), sb.repo, [], (s) => running.push(s));
    const store = new SqliteWorkerStore(join(sb.home, "state.db"));
    stores.push(store);
    const opened = await until(() => {
      const w = store.listWorkers()[0];
      return w?.state === "PR_OPEN" ? w : undefined;
    }, 20_000, "worker in PR_OPEN");
    const firstHead = git(sb.origin, "rev-parse", "feature/t-1").trim();

    // a review with two comments on the diff
    const pr = sb.github.pull(REPOSITORY, opened.prNumber!);
    const review = sb.github.addReview(REPOSITORY, pr.number, {
      user: "alice",
      body: "Please call it a widget.",
      comments: [
        { path: "T-1.txt", line: 1, diffHunk: "@@ -0,0 +1 @@\n+Build the frobnicator", body: "Rename here." },
        { path: "shared.txt", line: 1, body: "And here." },
      ],
    });
    const payload = withReview(retarget(loadPayload("pull_request_review.submitted"), { repo: REPOSITORY, number: pr.number, headRef: pr.head.ref, headSha: pr.head.sha, body: pr.body }), {
      id: review.id,
      state: "changes_requested",
      user: "alice",
      body: "Please call it a widget.",
    });
    const id = randomUUID();
    const first = await deliver(served.url, { event: "pull_request_review", payload, secret: SERVE_SECRET, id });
    expect(first.status).toBe(200);
    // GitHub's redelivery of it, and the same review under another delivery id
    expect((await deliver(served.url, { event: "pull_request_review", payload, secret: SERVE_SECRET, id })).status).toBe(200);
    expect((await deliver(served.url, { event: "pull_request_review", payload, secret: SERVE_SECRET })).status).toBe(200);

    const afterReview = await until(() => {
      const w = store.requireWorker(opened.id);
      return w.state === "PR_OPEN" && w.reworkRounds === 1 ? w : undefined;
    }, 20_000, "round 1 done");
    expect(afterReview).toMatchObject({ reworkCause: "review", automaticReworkRounds: 1, prNumber: pr.number });
    const text = readFileSync(join(record, "prompt-1.txt"), "utf8");
    expect(text).toContain("Task: Build the frobnicator");
    expect(text).toContain("## Review by @alice: changes requested\n\nPlease call it a widget.");
    expect(text).toContain("### T-1.txt, line 1 (@alice)\n\n```diff\n@@ -0,0 +1 @@\n+Build the frobnicator\n```\n\nRename here.");
    expect(text).toContain("### shared.txt, line 1 (@alice)");
    expect(text).toContain("And here.");
    const log = git(sb.origin, "log", "--format=%H %s", "feature/t-1").trim().split("\n");
    expect(log[0]).toMatch(/ fix\(T-1\): address review, round 1$/);
    expect(log[1]!.split(" ")[0]).toBe(firstHead);
    expect(sb.github.pulls(REPOSITORY)).toHaveLength(1);

    // a failing required check on the PR's head starts the next round
    const headSha = sb.github.pull(REPOSITORY, pr.number).head.sha;
    const run = sb.github.addCheckRun(REPOSITORY, { name: "ci / test", headSha, conclusion: "failure", title: "1 test failed", summary: "widget.test.ts" });
    const unrelated = sb.github.addCheckRun(REPOSITORY, { name: "docs / spelling", headSha, conclusion: "failure", app: "other" });
    const checkPayload = (r: typeof run) => {
      const p = withCheckRun(retarget(loadPayload("check_run.completed"), { repo: REPOSITORY }), {
        id: r.id,
        name: r.name,
        conclusion: "failure",
        headSha,
        pullRequests: [{ number: pr.number, headRef: "feature/t-1", headSha, baseRef: "main" }],
      });
      p.check_run.check_suite.id = r.check_suite.id;
      return p;
    };
    expect((await deliver(served.url, { event: "check_run", payload: checkPayload(unrelated), secret: SERVE_SECRET })).status).toBe(200);
    expect((await deliver(served.url, { event: "check_run", payload: checkPayload(run), secret: SERVE_SECRET })).status).toBe(200);
    const afterCheck = await until(() => {
      const w = store.requireWorker(opened.id);
      return w.state === "PR_OPEN" && w.reworkRounds === 2 ? w : undefined;
    }, 20_000, "round 2 done");
    expect(afterCheck).toMatchObject({ reworkCause: "check", automaticReworkRounds: 2 });
    const second = readFileSync(join(record, "prompt-2.txt"), "utf8");
    expect(second).toContain("## Failed check: ci / test (failure)\n\nTitle: 1 test failed\n\nwidget.test.ts");
    expect(second).not.toContain("docs / spelling");
    expect(existsSync(join(record, "prompt-3.txt"))).toBe(false);

    // what shows it: history, the PR's comments, metrics
    const history = store.history(opened.id).map((t) => `${t.from}->${t.to} ${t.detail}`);
    expect(history.slice(-4)).toEqual([
      "PR_OPEN->WORKING rework round 1: review by @alice",
      "WORKING->PR_OPEN rework round 1 pushed 1 commit(s), 1 file(s)",
      "PR_OPEN->WORKING rework round 2: failed check ci / test",
      "WORKING->PR_OPEN rework round 2 pushed 1 commit(s), 1 file(s)",
    ]);
    await until(() => sb.github.comments(REPOSITORY, pr.number).filter((c) => c.body.includes("parallel-workers:round")).length === 2, 5000, "two round comments");
    const metrics = await (await fetch(`${served.base}/metrics`)).text();
    expect(metrics).toMatch(/pw_rework_rounds_total\{cause="review"\} 1/);
    expect(metrics).toMatch(/pw_rework_rounds_total\{cause="check"\} 1/);
    expect(metrics).toMatch(/pw_transitions_total\{from="PR_OPEN",to="WORKING",source="runner"\} 2/);

    expect(await served.stop()).toBe(0);
    const output = served.output();
    const finished = output.split("\n").filter((l) => l.includes('"msg":"rework round pushed"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(finished.map((l) => [l.worker_id, l.task_id, l.round, l.cause, l.outcome])).toEqual([
      [opened.id, "T-1", 1, "review", "pushed"],
      [opened.id, "T-1", 2, "check", "pushed"],
    ]);
    // feedback text is never logged
    expect(output).not.toContain("Please call it a widget");
    expect(output).not.toContain("Rename here");
  });
});

