import { describe, expect, it } from "vitest";
import {
  checkFeedback,
  DEFAULT_REWORK,
  FEEDBACK_TEXT_LIMIT,
  feedbackText,
  isAutomaticRound,
  needsHumanComment,
  requestFeedback,
  reviewFeedback,
  reworkCommitMessage,
  roundCause,
  roundComment,
  roundDecision,
  roundPrompt,
  type PendingFeedback,
  type FeedbackCause,
} from "../../src/core/rework.js";

const NOW = Date.parse("2026-03-01T12:00:00.000Z");
const at = (secondsAgo: number) => new Date(NOW - secondsAgo * 1000).toISOString();
const pending = (cause: FeedbackCause, secondsAgo: number): PendingFeedback => ({ cause, receivedAt: at(secondsAgo) });

describe("roundDecision", () => {
  const settings = { ...DEFAULT_REWORK, debounceMs: 30_000, maxRounds: 3 };
  it.each([
    ["nothing waits", 0, [], false],
    ["a review 31 s old", 0, [pending("review", 31)], true],
    ["a review 10 s old waits for more", 0, [pending("review", 10)], false],
    ["three reviews, the last 5 s old, wait as one", 0, [pending("review", 50), pending("review", 40), pending("review", 5)], false],
    ["three reviews, the last 30 s old, go as one", 0, [pending("review", 90), pending("check", 60), pending("review", 30)], true],
    ["a person's request goes at once", 0, [pending("comment", 0)], true],
    ["a steady trickle goes 4 debounces after its first", 0, [pending("review", 120), pending("review", 90), pending("check", 60), pending("review", 30), pending("review", 5)], true],
    ["a trickle younger than that waits", 0, [pending("review", 110), pending("review", 80), pending("review", 5)], false],
    ["a request takes waiting automatic feedback along", 0, [pending("review", 1), pending("cli", 0)], true],
    ["automatic feedback past max_rounds waits for a person", 3, [pending("review", 100)], false],
    ["a person's request past max_rounds goes", 3, [pending("review", 100), pending("comment", 0)], true],
    ["feedback held by needs-human waits for a person", 0, [{ ...pending("review", 100), held: true }], false],
    ["held feedback does not hold back feedback that is not", 0, [{ ...pending("review", 100), held: true }, pending("check", 40)], true],
    ["held feedback joins a person's request", 0, [{ ...pending("review", 100), held: true }, pending("cli", 0)], true],
    ["a moved base is no round: the runner rebases", 0, [pending("base", 100)], false],
    ["a conflict with the base goes at once", 0, [pending("conflict", 0)], true],
    ["a conflict takes a fresh review along", 0, [pending("review", 1), pending("conflict", 0)], true],
    ["a conflict past max_rounds waits for a person", 3, [pending("conflict", 100)], false],
    ["a conflict held by needs-human waits for a person", 0, [{ ...pending("conflict", 100), held: true }], false],
  ] as const)("%s", (_name, rounds, list, due) => {
    expect(roundDecision({ automaticReworkRounds: rounds }, list, settings, NOW).due).toBe(due);
  });

  it("says when a waiting round may start, and why one past the cap will not by itself", () => {
    expect(roundDecision({ automaticReworkRounds: 0 }, [pending("review", 10)], settings, NOW)).toEqual({
      due: false,
      at: NOW + 20_000,
      reason: "waiting for more feedback (rework.debounce)",
    });
    const held = roundDecision({ automaticReworkRounds: 3 }, [pending("check", 100)], settings, NOW);
    expect(held).toMatchObject({ due: false, at: undefined });
    expect(held.due === false && held.reason).toContain("/worker rework starts another");
  });

  it("with max_rounds 0 no automatic feedback ever starts a round", () => {
    expect(roundDecision({ automaticReworkRounds: 0 }, [pending("review", 1000)], { ...settings, maxRounds: 0 }, NOW).due).toBe(false);
  });
});

describe("a round's cause", () => {
  it.each([
    [["review"], "review", true],
    [["check", "review"], "check", true],
    [["review", "comment"], "comment", false],
    [["check", "cli"], "cli", false],
    [["base", "conflict"], "conflict", true],
    [["base", "review", "conflict"], "review", true],
    [["base", "conflict", "comment"], "comment", false],
  ] as const)("%j: %s, automatic %s", (causes, cause, automatic) => {
    const list = causes.map((c) => ({ cause: c }));
    expect(roundCause(list)).toBe(cause);
    expect(isAutomaticRound(list)).toBe(automatic);
  });
});

describe("feedback as the agent reads it", () => {
  const review = reviewFeedback({
    reviewId: 9,
    author: "alice",
    body: "Please handle the empty list.",
    url: "https://github.com/acme/widgets/pull/1#pullrequestreview-9",
    comments: [
      { path: "src/list.ts", line: 12, startLine: null, diffHunk: "@@ -10,3 +10,3 @@\n-old\n+new", body: "What if `items` is empty?", author: "alice" },
      { path: "src/b.ts", line: 4, startLine: 2, diffHunk: "@@ -1 +1 @@\n```\n+x", body: "range comment", author: "alice" },
      { path: "src/c.ts", line: null, startLine: null, diffHunk: "@@", body: "outdated", author: "alice" },
    ],
  });

  it("holds the review's text and each comment's file, line, diff hunk and text", () => {
    const text = feedbackText([review]);
    expect(text).toContain("## Review by @alice: changes requested");
    expect(text).toContain("Please handle the empty list.");
    expect(text).toContain("### src/list.ts, line 12 (@alice)");
    expect(text).toContain("@@ -10,3 +10,3 @@\n-old\n+new");
    expect(text).toContain("What if `items` is empty?");
    expect(text).toContain("### src/b.ts, lines 2-4");
    expect(text).toContain("### src/c.ts, outdated");
  });

  it("fences a diff hunk longer than any backticks inside it", () => {
    const text = feedbackText([review]);
    expect(text).toContain("````diff\n@@ -1 +1 @@\n```\n+x\n````");
  });

  it("holds failed checks' names, titles, summaries and annotations, and says what was left out", () => {
    const annotations = Array.from({ length: 60 }, (_, i) => ({ path: "src/a.ts", startLine: i + 1, endLine: i + 1, level: "failure", title: "lint", message: `problem ${i}` }));
    const checks = checkFeedback({
      suiteId: 5,
      headSha: "b".repeat(40),
      runs: [{ name: "ci / test", conclusion: "failure", title: "2 tests failed", summary: "see below", annotations, annotationsTotal: 75 }],
    });
    expect(checks.runs[0]!.annotations).toHaveLength(50);
    expect(checks.runs[0]!.moreAnnotations).toBe(25);
    const text = feedbackText([checks]);
    expect(text).toContain("## Failed check: ci / test (failure)");
    expect(text).toContain("Title: 2 tests failed");
    expect(text).toContain("see below");
    expect(text).toContain("- src/a.ts:1 (failure) lint: problem 0");
    expect(text).toContain("(25 more annotations not shown)");
  });

  it("cuts feedback past 64 KB with a note, and each piece when recorded", () => {
    const long = reviewFeedback({ reviewId: 1, author: "a", body: "x".repeat(20_000), url: null, comments: [] });
    expect(long.body.length).toBe(20_000);
    const longer = reviewFeedback({ reviewId: 1, author: "a", body: "x".repeat(40_000), url: null, comments: [] });
    expect(longer.body.length).toBeLessThan(32_100);
    expect(longer.omitted[0]).toContain("the review's text cut at 32000 characters (8000 more)");
    const many = Array.from({ length: 10 }, (_, i) => requestFeedback("cli", `${i}`.repeat(15_000)));
    expect(long.omitted).toEqual([]);
    const text = feedbackText(many);
    expect(text.length).toBeLessThanOrEqual(FEEDBACK_TEXT_LIMIT);
    expect(text).toMatch(/\(Feedback cut at 64 KB: \d+ more characters are not shown; read them on the pull request\.\)$/);
  });

  it("drops control characters from text that came from GitHub", () => {
    const request = requestFeedback("comment", "do \u001b[31mthis\u0000 now", { id: 3, author: "bob\u202e" });
    expect(feedbackText([request])).toBe("## Asked with /worker rework by @bob\n\ndo [31mthis now");
  });

  it("a round's prompt is the task's prompt, then what the round is for, then the feedback", () => {
    const prompt = roundPrompt({ taskPrompt: "Implement T-1.", round: 2, prUrl: "https://github.com/acme/widgets/pull/1", branch: "feature/t-1", feedback: [review] });
    expect(prompt.startsWith("Implement T-1.\n\n---\n\nRework round 2: pull request https://github.com/acme/widgets/pull/1 (branch feature/t-1)")).toBe(true);
    expect(prompt).toContain("Do not push");
    expect(prompt.endsWith(feedbackText([review]))).toBe(true);
  });
});

describe("what a round says", () => {
  it("names its commit", () => {
    expect(reworkCommitMessage("T-1", 2)).toBe("fix(T-1): address review, round 2");
  });

  it.each([
    [{ kind: "pushed", commits: [{ sha: "abcdef1234", subject: "fix(T-1): address review, round 1" }], files: ["src/a.ts", "b`c.md"] }, ["Pushed 1 commit to `feature/t-1`:", "- abcdef1 fix(T-1): address review, round 1", "Files changed: `src/a.ts`, `b'c.md`."]],
    [{ kind: "unchanged" }, ["The agent changed nothing, so nothing was pushed"]],
    [{ kind: "failed", reason: "agent exited with code 1\nmore", keptAs: "refs/pw/rework/worker-aaaaaa/round-1" }, ["The round failed, so nothing was pushed: the pull request is as it was. agent exited with code 1", "`git log refs/pw/rework/worker-aaaaaa/round-1`"]],
  ] as const)("%j", (outcome, expected) => {
    const text = roundComment({ workerId: "worker-aaaaaa", round: 1, branch: "feature/t-1", why: "review by @alice", outcome });
    expect(text.startsWith("**parallel-workers**: rework round 1 of worker `worker-aaaaaa`, for review by @alice.")).toBe(true);
    for (const part of expected) expect(text).toContain(part);
    expect(text.endsWith("<!-- parallel-workers:round worker=worker-aaaaaa round=1 -->")).toBe(true);
  });

  it("says why automatic rounds stopped and how a person starts one", () => {
    const text = needsHumanComment("worker-aaaaaa", 3, "a review by @alice");
    expect(text).toContain("has had its 3 automatic rework rounds (`rework.max_rounds`), so a review by @alice does not start another: label `needs-human` added.");
    expect(text).toContain("`/worker rework [what to do]`");
    expect(text).toContain("`pw worker rework worker-aaaaaa --message TEXT`");
  });
});
