import { describe, expect, it } from "vitest";
import { fillCommand, unknownPlaceholders } from "../../src/core/agents.js";
import { formatDuration, parseDuration } from "../../src/core/duration.js";
import { leftoverCommitMessage, parsePullRequestMarker, pullRequestBody, pullRequestTitle } from "../../src/core/pr.js";
import { repositoryFromRemoteUrl } from "../../src/core/repository.js";

describe("durations", () => {
  it.each([
    ["45m", 45 * 60_000],
    ["1h30m", 90 * 60_000],
    ["90s", 90_000],
    ["500ms", 500],
    [30, 30_000],
  ] as const)("%s", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(["", "45", "m", "-5m", "5 m", "1d", 0, -1])("refuses %j", (text) => expect(parseDuration(text)).toBeUndefined());

  it("formats", () => {
    expect(formatDuration(4_000)).toBe("4s");
    expect(formatDuration(65_000)).toBe("1m05s");
    expect(formatDuration(3_720_000)).toBe("1h02m");
  });
});

describe("remote URLs", () => {
  it.each([
    ["git@github.com:acme/web.git", "acme/web"],
    ["https://github.com/acme/web", "acme/web"],
    ["https://github.com/acme/web.git", "acme/web"],
    ["ssh://git@ghe.example.com/acme/web.git", "acme/web"],
    ["https://user@github.com/acme/web.js.git", "acme/web.js"],
  ])("%s -> %s", (url, slug) => expect(repositoryFromRemoteUrl(url)).toBe(slug));

  it.each(["/srv/git/web.git", "file:///srv/git/web.git", "https://github.com/acme", "git@github.com:a/b/c.git", "nonsense"])(
    "knows no repository in %s",
    (url) => expect(repositoryFromRemoteUrl(url)).toBeUndefined(),
  );
});

describe("agent commands", () => {
  it("fills placeholders inside argv elements without splitting them", () => {
    const values = { prompt: "do it; rm -rf /", task_id: "T-1", worker_id: "worker-abc123", description: "a b", worktree: "/w" };
    expect(fillCommand(["agent", "-p", "{prompt}", "--id={task_id}", "{worktree}/x", "{other}"], values)).toEqual([
      "agent",
      "-p",
      "do it; rm -rf /",
      "--id=T-1",
      "/w/x",
      "{other}",
    ]);
    expect(unknownPlaceholders("{prompt} {nope} {task_id}")).toEqual(["nope"]);
  });
});

describe("pull request text", () => {
  it("titles from the first line and marks the body", () => {
    expect(pullRequestTitle("T-1", "Fix login\n\nlong details")).toBe("[T-1] Fix login");
    expect(pullRequestTitle("T-1", "x".repeat(300))).toHaveLength(120);
    const body = pullRequestBody({ workerId: "worker-abc123", taskId: "T-1", description: "Fix login", agent: "code-author", issueNumber: 7 });
    expect(body).toContain("Closes #7");
    expect(body).toContain("<!-- parallel-workers: worker=worker-abc123 task=T-1 -->");
    expect(parsePullRequestMarker(body)).toEqual({ workerId: "worker-abc123", taskId: "T-1" });
    expect(parsePullRequestMarker("no marker")).toBeUndefined();
    expect(leftoverCommitMessage("T-1", "Fix login\nmore")).toBe("feat(T-1): Fix login");
  });
});
