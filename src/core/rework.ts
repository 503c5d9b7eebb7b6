/**
 * The rework loop's rules, pure: what feedback is (a review, failed checks, a `/worker rework`
 * comment, `pw worker rework`), when a round is due (debounce, `rework.max_rounds`), what a
 * round's agent is told, and what the round says on its pull request. No I/O, the clock is
 * passed in.
 */
import type { CheckAnnotationFeedback, ConflictFile, FeedbackDetail } from "./feedback.js";
import { safeLine, safeText } from "./text.js";

/**
 * What starts a rework round. Reviews, failed checks and a rebase onto the base branch that
 * conflicts (`conflict`) are automatic; the other two are a person asking.
 */
export const REWORK_CAUSES = ["review", "check", "comment", "cli", "conflict"] as const;
export type ReworkCause = (typeof REWORK_CAUSES)[number];

/**
 * What the store keeps for a worker's PR to answer: a round's causes, and `base` (its base
 * branch moved: the runner rebases the PR onto it without a round, unless it conflicts).
 */
export const FEEDBACK_CAUSES = [...REWORK_CAUSES, "base"] as const;
export type FeedbackCause = (typeof FEEDBACK_CAUSES)[number];

/** The causes `rework.max_rounds` counts and the label `needs-human` stops. */
export const AUTOMATIC_CAUSES: readonly FeedbackCause[] = ["review", "check", "conflict", "base"];

export function isAutomaticCause(cause: FeedbackCause): boolean {
  return AUTOMATIC_CAUSES.includes(cause);
}

/** Which failed checks start a round. */
export const FAILED_CHECK_POLICIES = ["required", "all", "none"] as const;
export type FailedCheckPolicy = (typeof FAILED_CHECK_POLICIES)[number];

/** `rework:` of `.parallel-workers.yml`, resolved. */
export interface ReworkSettings {
  /** Automatic rounds per worker; 0 turns the automatic loop off. */
  maxRounds: number;
  onFailedChecks: FailedCheckPolicy;
  /** How long feedback waits for more before its round starts. */
  debounceMs: number;
}

export const DEFAULT_REWORK: ReworkSettings = { maxRounds: 3, onFailedChecks: "required", debounceMs: 30_000 };

/** The label that stops automatic rounds; the app adds it once `max_rounds` is used up. */
export const NEEDS_HUMAN_LABEL = "needs-human";

/** Conclusions of a check that count as failed. */
export const FAILED_CONCLUSIONS: readonly string[] = ["failure", "timed_out"];

// ---------------------------------------------------------------------------------------------
// Feedback, as stored (validated again when read back: the row may come from another release)

/** The most feedback text one round's prompt holds; the rest is cut with a note. */
export const FEEDBACK_TEXT_LIMIT = 64 * 1024;

/** Limits per piece, applied when feedback is recorded, so a row stays small. */
export const FEEDBACK_LIMITS = {
  body: 32_000,
  commentBody: 4000,
  diffHunk: 2000,
  comments: 100,
  runs: 20,
  summary: 4000,
  annotations: 50,
  annotationMessage: 1000,
} as const;

export type { CheckAnnotationFeedback, CheckRunFeedback, ConflictFile, FeedbackDetail, ReviewCommentFeedback } from "./feedback.js";
export type ReviewFeedback = Extract<FeedbackDetail, { cause: "review" }>;
export type CheckFeedback = Extract<FeedbackDetail, { cause: "check" }>;

/** Text cut to `max` characters, with a note of what was cut added to `notes`. */
function capped(value: string, max: number, what: string, notes: string[]): string {
  if (value.length <= max) return value;
  notes.push(`${what} cut at ${max} characters (${value.length - max} more)`);
  return `${value.slice(0, max)}...`;
}

/** A diff hunk keeps its end: the commented line is its last. */
function cappedHunk(hunk: string, max: number): string {
  if (hunk.length <= max) return hunk;
  return `...\n${hunk.slice(hunk.length - max)}`;
}

/** A review as the prompt will hold it: text made safe, pieces capped, what was cut noted. */
export function reviewFeedback(input: {
  reviewId: number;
  author: string;
  body: string;
  url: string | null;
  comments: ReadonlyArray<{ path: string; line: number | null; startLine: number | null; diffHunk: string; body: string; author: string }>;
}): ReviewFeedback {
  const notes: string[] = [];
  const kept = input.comments.slice(0, FEEDBACK_LIMITS.comments);
  if (input.comments.length > kept.length) notes.push(`${input.comments.length - kept.length} review comments not shown`);
  return {
    cause: "review",
    reviewId: input.reviewId,
    author: safeLine(input.author).slice(0, 100),
    body: capped(safeText(input.body), FEEDBACK_LIMITS.body, "the review's text", notes),
    url: input.url,
    comments: kept.map((c) => ({
      path: safeLine(c.path).slice(0, 400),
      line: c.line,
      startLine: c.startLine,
      diffHunk: cappedHunk(safeText(c.diffHunk), FEEDBACK_LIMITS.diffHunk),
      body: capped(safeText(c.body), FEEDBACK_LIMITS.commentBody, `the comment on ${safeLine(c.path)}`, notes),
      author: safeLine(c.author).slice(0, 100),
    })),
    omitted: notes.slice(0, 20),
  };
}

/** Failed check runs as the prompt will hold them. */
export function checkFeedback(input: {
  suiteId: number | null;
  headSha: string;
  runs: ReadonlyArray<{
    name: string;
    conclusion: string;
    title: string | null;
    summary: string | null;
    annotations: ReadonlyArray<CheckAnnotationFeedback>;
    annotationsTotal: number;
  }>;
}): CheckFeedback {
  const notes: string[] = [];
  const kept = input.runs.slice(0, FEEDBACK_LIMITS.runs);
  if (input.runs.length > kept.length) notes.push(`${input.runs.length - kept.length} more failed checks not shown`);
  return {
    cause: "check",
    suiteId: input.suiteId,
    headSha: input.headSha,
    runs: kept.map((run) => {
      const annotations = run.annotations.slice(0, FEEDBACK_LIMITS.annotations).map((a) => ({
        path: safeLine(a.path).slice(0, 400),
        startLine: a.startLine,
        endLine: a.endLine,
        level: safeLine(a.level).slice(0, 20),
        title: a.title === null ? null : safeLine(a.title).slice(0, 400),
        message: capped(safeText(a.message), FEEDBACK_LIMITS.annotationMessage, `an annotation of ${safeLine(run.name)}`, notes),
      }));
      return {
        name: safeLine(run.name).slice(0, 255),
        conclusion: safeLine(run.conclusion).slice(0, 40),
        title: run.title === null ? null : safeLine(run.title).slice(0, 400),
        summary: run.summary === null ? null : capped(safeText(run.summary), FEEDBACK_LIMITS.summary, `the summary of ${safeLine(run.name)}`, notes),
        annotations,
        moreAnnotations: Math.max(0, run.annotationsTotal - annotations.length),
      };
    }),
    omitted: notes.slice(0, 20),
  };
}

/** `/worker rework [text]`, or `pw worker rework --message TEXT`. */
export function requestFeedback(cause: "comment", text: string, comment: { id: number; author: string }): FeedbackDetail;
export function requestFeedback(cause: "cli", text: string): FeedbackDetail;
export function requestFeedback(cause: "comment" | "cli", text: string, comment?: { id: number; author: string }): FeedbackDetail {
  const notes: string[] = [];
  const body = capped(safeText(text).trim(), FEEDBACK_LIMITS.body, "the request's text", notes);
  return cause === "comment"
    ? { cause, commentId: comment!.id, author: safeLine(comment!.author).slice(0, 100), text: body, omitted: notes }
    : { cause, text: body, omitted: notes };
}

// ---------------------------------------------------------------------------------------------
// When a round is due

/** Feedback waiting for a round, as far as the rules need it. */
export interface PendingFeedback {
  cause: FeedbackCause;
  /** ISO time it was recorded. */
  receivedAt: string;
  /**
   * Recorded while automatic rounds were stopped (the PR's `needs-human` label, or `max_rounds`
   * used up): it starts no round by itself, and joins the next one a person starts.
   */
  held?: boolean;
}

/** Feedback that keeps coming starts its round at most this many debounces after the first of it. */
export const DEBOUNCE_LIMIT = 4;

export type RoundDecision =
  | { due: true }
  /** Not yet: `at` (epoch ms) is when it may be, or undefined when only a person can start it. */
  | { due: false; at: number | undefined; reason: string };

/**
 * Whether a worker's pending feedback makes a round now. A person asking (`/worker rework`,
 * `pw worker rework`) starts one at once, with whatever else waits. Automatic feedback waits
 * until none has come for `debounceMs` (so three reviews in a row make one round; at most
 * DEBOUNCE_LIMIT debounces after the first), and never starts a round once the worker has had
 * `maxRounds` automatic ones.
 */
export function roundDecision(
  worker: { automaticReworkRounds: number },
  pending: readonly PendingFeedback[],
  settings: ReworkSettings,
  nowMs: number,
): RoundDecision {
  // a moved base is the runner's to rebase onto, without a round (a conflict is recorded apart)
  const answered = pending.filter((f) => f.cause !== "base");
  if (answered.length === 0) return { due: false, at: undefined, reason: "no feedback" };
  if (answered.some((f) => !isAutomaticCause(f.cause))) return { due: true };
  if (worker.automaticReworkRounds >= settings.maxRounds) {
    return { due: false, at: undefined, reason: `${settings.maxRounds} automatic rounds used (rework.max_rounds): /worker rework starts another` };
  }
  const live = answered.filter((f) => !f.held);
  if (live.length === 0) return { due: false, at: undefined, reason: `automatic rounds are stopped (${NEEDS_HUMAN_LABEL}): /worker rework starts one` };
  // a conflict leaves the PR behind its base: nothing more to wait for
  if (live.some((f) => f.cause === "conflict")) return { due: true };
  const times = live.map((f) => Date.parse(f.receivedAt)).filter(Number.isFinite);
  const first = times.length ? Math.min(...times) : nowMs;
  const last = times.length ? Math.max(...times) : nowMs;
  // quiet for a debounce, but a steady trickle of feedback does not hold a round back for ever
  const at = Math.min(last + settings.debounceMs, first + DEBOUNCE_LIMIT * settings.debounceMs);
  return at <= nowMs ? { due: true } : { due: false, at, reason: "waiting for more feedback (rework.debounce)" };
}

/** What a round answers, said once: a person's request when there is one, else the first feedback's cause (a moved base is never one: its conflict is). */
export function roundCause(feedback: readonly { cause: FeedbackCause }[]): ReworkCause {
  const causes = feedback.map((f) => f.cause).filter((cause): cause is ReworkCause => cause !== "base");
  return causes.find((cause) => !isAutomaticCause(cause)) ?? causes[0] ?? (feedback.length > 0 ? "conflict" : "cli");
}

/** A round counts against `max_rounds` only when nobody asked for it. */
export function isAutomaticRound(feedback: readonly { cause: FeedbackCause }[]): boolean {
  return feedback.length > 0 && feedback.every((f) => isAutomaticCause(f.cause));
}

/** One line for the history and the logs: why round N started. */
export function describeFeedback(feedback: readonly FeedbackDetail[]): string {
  const parts = feedback.map((f) => {
    switch (f.cause) {
      case "review":
        return `review by @${f.author}`;
      case "check":
        return `failed check ${f.runs.map((r) => r.name).join(", ") || "(none listed)"}`;
      case "comment":
        return `/worker rework by @${f.author}`;
      case "cli":
        return "pw worker rework";
      case "base":
        return `${f.base} moved`;
      case "conflict":
        return `a conflict with ${f.base} in ${f.files.map((file) => file.path).slice(0, 3).join(", ") || "some files"}${f.files.length > 3 ? ` and ${f.files.length - 3} more` : ""}`;
    }
  });
  const unique = [...new Set(parts)];
  return unique.length > 3 ? `${unique.slice(0, 3).join("; ")}; and ${unique.length - 3} more` : unique.join("; ");
}

// ---------------------------------------------------------------------------------------------
// What the agent is told

/** A fence longer than any run of backticks in `body`, so the body cannot close it. */
function fenced(body: string, info = ""): string {
  const longest = Math.max(2, ...[...body.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = "`".repeat(longest + 1);
  return `${fence}${info}\n${body}\n${fence}`;
}

function quoted(body: string): string {
  return body.trim() ? body.trim() : "(no text)";
}

function lines(start: number | null, end: number | null): string {
  if (end === null) return "outdated (the line is no longer in the diff)";
  return start !== null && start !== end ? `lines ${start}-${end}` : `line ${end}`;
}

function renderFeedback(f: FeedbackDetail): string {
  const notes = f.omitted.length > 0 ? `\n\n(Cut when recorded: ${f.omitted.join("; ")}.)` : "";
  switch (f.cause) {
    case "review": {
      const comments = f.comments.map(
        (c) => `### ${c.path}, ${lines(c.startLine, c.line)} (@${c.author})\n\n${fenced(c.diffHunk, "diff")}\n\n${quoted(c.body)}`,
      );
      return [`## Review by @${f.author}: changes requested`, "", quoted(f.body), ...comments.flatMap((c) => ["", c])].join("\n") + notes;
    }
    case "check": {
      const runs = f.runs.map((run) => {
        const out = [`## Failed check: ${run.name} (${run.conclusion})`];
        if (run.title) out.push("", `Title: ${run.title}`);
        if (run.summary) out.push("", run.summary.trim());
        if (run.annotations.length > 0) {
          out.push("", "Annotations:");
          for (const a of run.annotations) {
            const where = a.startLine === a.endLine ? `${a.path}:${a.startLine}` : `${a.path}:${a.startLine}-${a.endLine}`;
            out.push(`- ${where} (${a.level})${a.title ? ` ${a.title}:` : ""} ${a.message.replace(/\s*\n\s*/g, " ")}`);
          }
        }
        if (run.moreAnnotations > 0) out.push(`(${run.moreAnnotations} more annotations not shown)`);
        return out.join("\n");
      });
      return (runs.length > 0 ? runs.join("\n\n") : `## Failed checks on ${f.headSha.slice(0, 7)}`) + notes;
    }
    case "comment":
      return `## Asked with /worker rework by @${f.author}\n\n${quoted(f.text)}${notes}`;
    case "cli":
      return `## Asked with pw worker rework\n\n${quoted(f.text)}${notes}`;
    case "base":
      return `## \`${f.base}\` moved to ${f.baseSha.slice(0, 7)}${notes}`;
    case "conflict":
      return `## Rebasing onto \`${f.base}\` (${f.onto.slice(0, 7)}) conflicts\n\n${conflictList(f.files)}${notes}`;
  }
}

/** The conflicting files, each with the base commits that changed it. */
export function conflictList(files: readonly ConflictFile[]): string {
  if (files.length === 0) return "(git named no file)";
  return files
    .map((file) => {
      const commits = file.commits.map((c) => `  - ${c.sha.slice(0, 7)} ${c.subject}`);
      return [`- \`${file.path}\`${commits.length > 0 ? ", changed on the base by:" : ""}`, ...commits].join("\n");
    })
    .join("\n");
}

/** The feedback part of a round's prompt, at most FEEDBACK_TEXT_LIMIT characters, with a note of what was cut. */
export function feedbackText(feedback: readonly FeedbackDetail[], limit = FEEDBACK_TEXT_LIMIT): string {
  const all = feedback.map(renderFeedback).join("\n\n");
  if (all.length <= limit) return all;
  const note = `\n\n(Feedback cut at ${Math.round(limit / 1024)} KB: ${all.length - limit} more characters are not shown; read them on the pull request.)`;
  return all.slice(0, limit - note.length) + note;
}

export interface RoundPromptInput {
  /** The prompt of the worker's first run (its agent's, with the task filled in). */
  taskPrompt: string;
  round: number;
  prUrl: string | null;
  branch: string;
  feedback: readonly FeedbackDetail[];
}

/** The whole prompt of a rework round: the original task, then the feedback the round answers. */
export function roundPrompt(input: RoundPromptInput): string {
  const where = input.prUrl ? `pull request ${input.prUrl}` : "this worker's pull request";
  return [
    input.taskPrompt.trim(),
    "",
    "---",
    "",
    `Rework round ${input.round}: ${where} (branch ${input.branch}) got the feedback below. ` +
      "This worktree holds the pull request as it is now. Change what the feedback asks for, and commit your work. " +
      "Do not push and do not open a pull request: parallel-workers pushes this branch to the same pull request.",
    "",
    feedbackText(input.feedback),
  ].join("\n");
}

/** Where a rebase onto the base branch stopped: the PR's commit it was replaying and the files in conflict. */
export interface ConflictStop {
  base: string;
  onto: string;
  /** The PR's commit being put on the base when it stopped, when git says. */
  commit: { sha: string; subject: string } | null;
  files: readonly ConflictFile[];
}

/**
 * The prompt of a round's agent at a stop of the rebase onto the base branch: the original
 * task, then the files in conflict with the base's commits that changed each, and what to do.
 */
export function conflictPrompt(input: { taskPrompt: string; round: number; prUrl: string | null; branch: string; stop: ConflictStop }): string {
  const where = input.prUrl ? `pull request ${input.prUrl}` : "this worker's pull request";
  const { stop } = input;
  const replaying = stop.commit ? ` while putting its commit ${stop.commit.sha.slice(0, 7)} "${safeLine(stop.commit.subject)}" on top` : "";
  return [
    input.taskPrompt.trim(),
    "",
    "---",
    "",
    `Rework round ${input.round}: ${where} (branch ${input.branch}) is being rebased onto \`${stop.base}\` (${stop.onto.slice(0, 7)}), ` +
      `and the rebase stopped on conflicts${replaying}. The files in conflict, each with the commits of \`${stop.base}\` that changed it:`,
    "",
    conflictList(stop.files),
    "",
    "Resolve every conflict in these files: remove the conflict markers (<<<<<<<, =======, >>>>>>>) and keep what both sides meant, " +
      "so the pull request's change works on top of the base's. " +
      "Do not commit, do not run `git rebase --continue`, `--abort` or `--skip`, and do not push: parallel-workers continues the rebase when you are done, " +
      "and pushes the branch to the same pull request.",
  ].join("\n");
}

/** The commit message of what a round's agent left uncommitted. */
export function reworkCommitMessage(taskId: string, round: number): string {
  return `fix(${taskId}): address review, round ${round}`;
}

// ---------------------------------------------------------------------------------------------
// What a round says on its pull request

/** The hidden line of a round's comment, so a second try finds the first rather than repeating it. */
export function roundCommentMarker(workerId: string, round: number): string {
  return `<!-- parallel-workers:round worker=${workerId} round=${round} -->`;
}

export type RoundOutcome =
  | { kind: "pushed"; commits: ReadonlyArray<{ sha: string; subject: string }>; files: readonly string[] }
  | { kind: "unchanged" }
  /** `keptAs`: the ref that holds what the agent left, when it left anything. */
  | { kind: "failed"; reason: string; keptAs: string | null };

const SHOWN_FILES = 30;
const SHOWN_COMMITS = 20;

/** The one PR comment a round leaves: what it was for and what changed. */
export function roundComment(input: { workerId: string; round: number; branch: string; why: string; outcome: RoundOutcome }): string {
  const head = `**parallel-workers**: rework round ${input.round} of worker \`${input.workerId}\`, for ${safeLine(input.why)}.`;
  const body: string[] = [];
  const outcome = input.outcome;
  if (outcome.kind === "pushed") {
    const commits = outcome.commits.slice(0, SHOWN_COMMITS).map((c) => `- ${c.sha.slice(0, 7)} ${safeLine(c.subject)}`);
    if (outcome.commits.length > SHOWN_COMMITS) commits.push(`- and ${outcome.commits.length - SHOWN_COMMITS} more`);
    const files = outcome.files.slice(0, SHOWN_FILES).map((f) => `\`${safeLine(f).replace(/`/g, "'")}\``);
    const more = outcome.files.length > SHOWN_FILES ? `, and ${outcome.files.length - SHOWN_FILES} more` : "";
    body.push(`Pushed ${outcome.commits.length} commit${outcome.commits.length === 1 ? "" : "s"} to \`${input.branch}\`:`, "", ...commits);
    body.push("", `Files changed: ${files.join(", ")}${more}.`);
  } else if (outcome.kind === "unchanged") {
    body.push("The agent changed nothing, so nothing was pushed: the pull request is as it was.");
  } else {
    const reason = safeText(outcome.reason).split("\n")[0]!.slice(0, 500);
    body.push(`The round failed, so nothing was pushed: the pull request is as it was. ${reason}`);
    if (outcome.keptAs) body.push("", `What the agent left is kept, not pushed: \`git log ${outcome.keptAs}\` in the worktree.`);
  }
  body.push("", "Another round: `/worker rework [what to do]`.");
  return [head, "", ...body, "", roundCommentMarker(input.workerId, input.round)].join("\n");
}

/** The comment that goes with the label `needs-human` once automatic rounds are used up. */
export function needsHumanComment(workerId: string, maxRounds: number, why: string): string {
  return [
    `**parallel-workers**: worker \`${workerId}\` has had its ${maxRounds} automatic rework round${maxRounds === 1 ? "" : "s"} ` +
      `(\`rework.max_rounds\`), so ${safeLine(why)} does not start another: label \`${NEEDS_HUMAN_LABEL}\` added.`,
    "",
    `A person can still start one: \`/worker rework [what to do]\` here, or \`pw worker rework ${workerId} --message TEXT\`.`,
  ].join("\n");
}
