/**
 * What the app writes on GitHub about workers: the one status comment per issue, the
 * `/worker status` table, and command replies. Pure text from workers; no I/O.
 */
import { formatDuration } from "../core/duration.js";
import { mergeFlowLines } from "../core/merge-flow.js";
import { composeProjectName, databaseName } from "../core/ports.js";
import type { WorkerState } from "../core/states.js";
import { safeLine, safeText } from "../core/text.js";
import type { Worker } from "../core/worker.js";

const STATUS_MARKER = /<!--\s*parallel-workers:status\s+worker=(worker-[a-z0-9]{6})\s*-->/;

/** The hidden line that ties a status comment to its worker, so it is found again rather than repeated. */
export function statusCommentMarker(workerId: string): string {
  return `<!-- parallel-workers:status worker=${workerId} -->`;
}

export function parseStatusCommentMarker(body: string | null | undefined): string | undefined {
  return body ? STATUS_MARKER.exec(body)?.[1] : undefined;
}

const MEANING: Record<WorkerState, string> = {
  NEEDS_INIT: "queued: a runner will start it",
  WORKING: "the agent is working on it",
  PR_OPEN: "its pull request is open for review",
  MERGED: "its pull request was merged",
  ABANDONED: "stopped: its pull request was closed unmerged, or it was terminated",
  UNKNOWN: "failed",
};

/** The first lines of an error, safe inside a fenced block (no fence can be closed early). */
function errorBlock(error: string): string {
  const lines = safeText(error).replace(/`{3,}/g, "'''").split("\n").slice(0, 12);
  const text = lines.join("\n");
  return ["```", text.length > 1500 ? `${text.slice(0, 1500)}...` : text, "```"].join("\n");
}

/** What the status comment shows, as one string: when it changes, the comment is edited. */
export function statusCommentKey(worker: Worker): string {
  const key = [worker.state, worker.prUrl ?? "", worker.state === "UNKNOWN" ? (worker.error?.split("\n")[0] ?? "") : ""];
  // rounds only when there were some, so comments written before the rework loop stay as they are
  if (worker.reworkRounds > 0) key.push(`round ${worker.reworkRounds}`);
  // only when there is one, so the keys of comments written before ports existed still match
  if (worker.port !== null) key.push(String(worker.port));
  // only when the merge flow did something, for the same reason
  const flow = mergeFlowLines(worker.mergeFlow);
  if (flow.length > 0) key.push(...flow);
  return key.join("|");
}

const CAUSE_WORDS = { review: "a review", check: "a failed check", comment: "`/worker rework`", cli: "`pw worker rework`", conflict: "a conflict with its base" } as const;

/** What the rework rounds so far say, or undefined when there were none. */
function reworkLine(worker: Worker): string | undefined {
  if (worker.reworkRounds === 0) return undefined;
  const cause = worker.reworkCause ? `, the last for ${CAUSE_WORDS[worker.reworkCause]}` : "";
  const now = worker.state === "WORKING" ? `The agent is working on rework round ${worker.reworkRounds}` : `Rework rounds: ${worker.reworkRounds}`;
  return `${now}${cause}.`;
}

/** The status comment of a worker that came from an issue. */
export function renderStatusComment(worker: Worker): string {
  const lines = [
    statusCommentMarker(worker.id),
    `**parallel-workers**: worker \`${worker.id}\` is **${worker.state}**: ${MEANING[worker.state]}.`,
    "",
    `Task \`${worker.taskId ?? "-"}\`${worker.agent ? `, agent \`${worker.agent}\`` : ""}${worker.baseBranch ? `, base \`${worker.baseBranch}\`` : ""}.`,
  ];
  if (worker.port !== null) {
    lines.push(
      "",
      `Its own environment: port \`${worker.port}\` (\`PW_PORT\`), Compose project \`${composeProjectName(worker.id)}\`, database \`${databaseName(worker.id)}\`.`,
    );
  }
  if (worker.prUrl) lines.push("", `Pull request: ${worker.prUrl}`);
  const rework = reworkLine(worker);
  if (rework) lines.push("", rework);
  const flow = mergeFlowLines(worker.mergeFlow);
  if (flow.length > 0) lines.push("", ...flow.map((line) => `- ${safeLine(line)}`));
  if (worker.state === "UNKNOWN" && worker.error) {
    lines.push("", errorBlock(worker.error), "", `Retry with \`/worker retry ${worker.id}\`.`);
  }
  if (worker.state === "NEEDS_INIT" || worker.state === "WORKING") {
    lines.push("", `Stop it with \`/worker terminate ${worker.id}\`.`);
  }
  lines.push("", "<sub>This comment is edited as the worker moves.</sub>");
  return lines.join("\n");
}

/** Markdown table cells must not break the table. */
function cell(text: string): string {
  return safeLine(text).replace(/\|/g, "\\|");
}

/** At most this many workers are listed by `/worker status` (the newest), so a reply stays short. */
export const STATUS_ROWS = 50;

/** `/worker status`: the repository's workers, newest first. */
export function renderStatusTable(repository: string, workers: readonly Worker[], now: number = Date.now()): string {
  if (workers.length === 0) return `No workers in ${repository} yet.`;
  const newest = [...workers].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const shown = newest.slice(0, STATUS_ROWS);
  const rows = shown.map((w) =>
    [
      `\`${w.id}\``,
      w.taskId ? `\`${cell(w.taskId)}\`` : "-",
      w.state,
      w.prNumber ? (w.prUrl ? `[#${w.prNumber}](${w.prUrl})` : `#${w.prNumber}`) : "-",
      formatDuration(Math.max(0, now - Date.parse(w.createdAt))),
    ].join(" | "),
  );
  const lines = [
    `Workers of ${repository}:`,
    "",
    "| worker | task | state | PR | age |",
    "| --- | --- | --- | --- | --- |",
    ...rows.map((row) => `| ${row} |`),
  ];
  if (newest.length > shown.length) lines.push("", `(${newest.length - shown.length} older workers not shown)`);
  return lines.join("\n");
}

/** A reply section: the command line quoted, then what became of it. */
export function replySection(line: string, text: string): string {
  return `> ${line}\n\n${text}`;
}
