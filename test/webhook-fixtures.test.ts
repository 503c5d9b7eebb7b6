import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { createNodeMiddleware, Webhooks, type EmitterWebhookEvent } from "@octokit/webhooks";
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  deliver,
  loadPayload,
  retarget,
  signPayload,
  toEvent,
  WEBHOOK_FIXTURES,
  WEBHOOK_FIXTURES_DIR,
  withCheckRun,
  withComment,
  withInstallation,
  withIssue,
  withPullRequest,
  withRepository,
  withSender,
  type FixtureName,
} from "./helpers/webhooks.js";

interface Manifest {
  source: string;
  fixtures: Array<{
    file: string;
    event: string;
    action: string;
    example: number;
    adjustments: Array<{ path: string; value: unknown; why: string }>;
  }>;
}

interface ExampleDefinition {
  name: string;
  examples: Array<Record<string, unknown>>;
}

const manifest = JSON.parse(readFileSync(`${WEBHOOK_FIXTURES_DIR}manifest.json`, "utf8")) as Manifest;
const examples = createRequire(import.meta.url)("@octokit/webhooks-examples") as ExampleDefinition[];
const names = Object.keys(WEBHOOK_FIXTURES) as FixtureName[];

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  node[keys.at(-1) as string] = structuredClone(value);
}

describe("webhook fixtures", () => {
  it("are exactly the files the loader knows, each listed in the manifest", () => {
    const files = readdirSync(WEBHOOK_FIXTURES_DIR).filter((file) => file.endsWith(".json") && file !== "manifest.json");
    expect(files.sort()).toEqual(names.map((name) => `${name}.json`).sort());
    expect(manifest.fixtures.map((fixture) => fixture.file).sort()).toEqual(files.sort());
    expect(manifest.source).toMatch(/^@octokit\/webhooks-examples@\d+\.\d+\.\d+/);
  });

  it.each(manifest.fixtures)("$file is example #$example of $event, plus only the listed adjustments", (fixture) => {
    const definition = examples.find((candidate) => candidate.name === fixture.event);
    const original = structuredClone(definition?.examples[fixture.example]);
    expect(original?.action).toBe(fixture.action);
    for (const adjustment of fixture.adjustments) setPath(original as Record<string, unknown>, adjustment.path, adjustment.value);
    expect(loadPayload(fixture.file.replace(/\.json$/, "") as FixtureName)).toEqual(original);
  });

  it.each(names)("%s has the action its name says, a repository or account, and an installation", (name) => {
    const payload = loadPayload(name) as unknown as { action: string; installation?: { id: number }; repository?: unknown };
    // a push is the one event without an action
    expect(payload.action).toBe(WEBHOOK_FIXTURES[name].split(".")[1]);
    expect(payload.installation?.id).toEqual(expect.any(Number));
    if (!name.startsWith("installation.")) expect(payload.repository).toBeDefined();
  });

  it("has the event shapes our handlers read", () => {
    const opened = loadPayload("pull_request.opened");
    expect(opened.pull_request).toMatchObject({ number: opened.number, head: { ref: "changes" }, merged: false });
    expect(opened.pull_request.head.repo?.full_name).toBe(opened.repository.full_name);
    expect(loadPayload("pull_request.closed").pull_request).toMatchObject({ state: "closed", merged: false, merged_at: null });
    const merged = loadPayload("pull_request.closed.merged").pull_request;
    expect(merged).toMatchObject({ state: "closed", merged: true, merged_by: { login: "Codertocat" } });
    expect(merged.merged_at).toBe(merged.closed_at);
    expect(loadPayload("pull_request.synchronize").after).toBe(loadPayload("pull_request.synchronize").pull_request.head.sha);
    const comment = loadPayload("issue_comment.created");
    expect(comment.comment.body).toEqual(expect.any(String));
    expect(comment.issue.pull_request).toBeUndefined();
    expect(loadPayload("check_run.completed").check_run).toMatchObject({
      status: "completed",
      head_sha: expect.stringMatching(/^[0-9a-f]{40}$/) as unknown,
    });
    expect(loadPayload("check_run.rerequested").check_run.name).toEqual(expect.any(String));
    expect(loadPayload("check_suite.completed").check_suite.head_sha).toMatch(/^[0-9a-f]{40}$/);
    expect(loadPayload("installation.created").repositories).toEqual(expect.any(Array));
    expect(loadPayload("push")).toMatchObject({ ref: expect.stringMatching(/^refs\/heads\//) as unknown, after: expect.stringMatching(/^[0-9a-f]{40}$/) as unknown });
    expect(loadPayload("merge_group.checks_requested").merge_group.base_ref).toMatch(/^refs\/heads\//);
  });

  it("loads a typed deep copy every time", () => {
    const first = loadPayload("pull_request.closed.merged");
    expectTypeOf(first).toEqualTypeOf<EmitterWebhookEvent<"pull_request.closed">["payload"]>();
    expectTypeOf(loadPayload("issue_comment.created")).toEqualTypeOf<EmitterWebhookEvent<"issue_comment.created">["payload"]>();
    first.pull_request.title = "changed";
    expect(loadPayload("pull_request.closed.merged").pull_request.title).not.toBe("changed");
    const event = toEvent("pull_request.closed.merged", first, "delivery-1");
    expect(event).toMatchObject({ id: "delivery-1", name: "pull_request", payload: { action: "closed" } });
    expect(toEvent("check_run.rerequested").name).toBe("check_run");
  });
});

describe("signPayload", () => {
  it("matches GitHub's documented example", () => {
    expect(signPayload("Hello, World!", "It's a Secret to Everybody")).toBe(
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    );
  });

  it("agrees with @octokit/webhooks' sign and verify", async () => {
    const webhooks = new Webhooks({ secret: "s3cret" });
    const body = JSON.stringify(loadPayload("pull_request.opened"));
    expect(signPayload(body, "s3cret")).toBe(await webhooks.sign(body));
    expect(await webhooks.verify(body, signPayload(body, "s3cret"))).toBe(true);
    expect(await webhooks.verify(body, signPayload(body, "other"))).toBe(false);
  });
});

describe("deliver", () => {
  it("POSTs a signed delivery that @octokit/webhooks' middleware accepts, and a forged one it refuses", async () => {
    const webhooks = new Webhooks({ secret: "s3cret" });
    const received: Array<{ id: string; name: string; action: string }> = [];
    webhooks.on("pull_request.closed", ({ id, name, payload }) => {
      received.push({ id, name, action: payload.action });
    });
    const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
    const middleware = createNodeMiddleware(webhooks, { log: quiet });
    const server = createServer((req, res) => void middleware(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/github/webhooks`;
    try {
      const payload = loadPayload("pull_request.closed.merged");
      const ok = await deliver(url, { event: "pull_request.closed", id: "d-1", payload, secret: "s3cret" });
      expect(ok).toMatchObject({ status: 200, id: "d-1" });
      expect(received).toEqual([{ id: "d-1", name: "pull_request", action: "closed" }]);

      const forged = await deliver(url, { event: "pull_request", payload, secret: "wrong" });
      expect(forged.status).toBe(400);
      const raw = await deliver(url, { event: "pull_request", payload: JSON.stringify(payload), secret: "s3cret" });
      expect(raw.status).toBe(200);
      expect(received).toHaveLength(2);
      expect(raw.id).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  });
});

describe("retargeting", () => {
  it("points a merged-PR delivery at a worker's repository, number and branch without touching the original", () => {
    const original = loadPayload("pull_request.closed.merged");
    const payload = retarget(original, {
      repo: "acme/widgets",
      number: 7,
      headRef: "feature/task-1",
      headSha: "c".repeat(40),
      body: "<!-- parallel-workers: worker=worker-abc123 task=task-1 -->",
      sender: "alice",
      installationId: 42,
    });
    expect(payload.repository).toMatchObject({
      full_name: "acme/widgets",
      name: "widgets",
      owner: { login: "acme" },
      html_url: "https://github.com/acme/widgets",
    });
    expect(payload.number).toBe(7);
    expect(payload.pull_request).toMatchObject({
      number: 7,
      html_url: "https://github.com/acme/widgets/pull/7",
      body: "<!-- parallel-workers: worker=worker-abc123 task=task-1 -->",
      merged: true,
      head: { ref: "feature/task-1", sha: "c".repeat(40), label: "acme:feature/task-1", repo: { full_name: "acme/widgets" } },
      base: { label: "acme:master", repo: { full_name: "acme/widgets" } },
    });
    expect(payload.sender).toMatchObject({ login: "alice", type: "User" });
    expect(payload.installation?.id).toBe(42);
    expect(original).toEqual(loadPayload("pull_request.closed.merged"));
    expect(retarget(original, {})).not.toBe(original);
  });

  it("makes a fork's pull request", () => {
    const payload = withPullRequest(withRepository(loadPayload("pull_request.opened"), "acme/widgets"), {
      headRepo: "mallory/widgets",
      headRef: "feature/task-1",
    });
    expect(payload.pull_request.head).toMatchObject({
      label: "mallory:feature/task-1",
      repo: { full_name: "mallory/widgets", fork: true, owner: { login: "mallory" } },
    });
    expect(payload.pull_request.head.repo?.id).not.toBe(payload.repository.id);
    expect(payload.pull_request.base.repo.full_name).toBe("acme/widgets");
    // Renaming the base repository afterwards leaves the fork alone.
    expect(withRepository(payload, "acme/other").pull_request.head.repo?.full_name).toBe("mallory/widgets");
  });

  it("turns a comment into a slash command on a pull request, sent by a bot or a person", () => {
    const payload = withSender(
      withComment(withIssue(withRepository(loadPayload("issue_comment.created"), "acme/widgets"), { number: 3, pullRequest: true }), {
        id: 99,
        body: "/worker spawn --task-id t1",
        user: "renovate[bot]",
        userType: "Bot",
      }),
      "renovate[bot]",
    );
    expect(payload.issue).toMatchObject({
      number: 3,
      html_url: "https://github.com/acme/widgets/pull/3",
      pull_request: { html_url: "https://github.com/acme/widgets/pull/3" },
    });
    expect(payload.comment).toMatchObject({
      id: 99,
      body: "/worker spawn --task-id t1",
      user: { login: "renovate[bot]", type: "Bot" },
      html_url: "https://github.com/acme/widgets/pull/3#issuecomment-99",
    });
    expect(payload.sender).toMatchObject({ login: "renovate[bot]", type: "Bot" });
    expect(retarget(payload, { onPullRequest: false, commentBody: "/worker status" })).toMatchObject({
      issue: { html_url: "https://github.com/acme/widgets/issues/3" },
      comment: { body: "/worker status" },
    });
    expect(retarget(payload, { onPullRequest: false }).issue.pull_request).toBeUndefined();
  });

  it("points a check run at our gate on a PR's head", () => {
    const payload = withCheckRun(withInstallation(withRepository(loadPayload("check_run.rerequested"), "acme/widgets"), 5), {
      name: "security-gate",
      headSha: "d".repeat(40),
      app: { id: 123456, slug: "parallel-workers" },
      pullRequests: [{ number: 7, headRef: "feature/task-1" }],
    });
    expect(payload.check_run).toMatchObject({
      name: "security-gate",
      head_sha: "d".repeat(40),
      app: { id: 123456, slug: "parallel-workers" },
      check_suite: { head_sha: "d".repeat(40) },
      pull_requests: [
        {
          number: 7,
          url: "https://api.github.com/repos/acme/widgets/pulls/7",
          head: { ref: "feature/task-1", sha: "d".repeat(40), repo: { name: "widgets" } },
        },
      ],
    });
    expect(payload.installation).toMatchObject({ id: 5 });
  });

  it("says what is missing when a helper does not fit the payload", () => {
    expect(() => withPullRequest(loadPayload("issue_comment.created"), { number: 1 })).toThrow("no pull_request");
    expect(() => withRepository(loadPayload("pull_request.opened"), "no-slash")).toThrow('"no-slash" must be "owner/name"');
  });
});
