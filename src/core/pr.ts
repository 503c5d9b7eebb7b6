/** The pull request a worker opens: its title, its body, and the hidden marker that ties it back. */
import { stackedBodyLines, type StackRecord } from "./merge-flow.js";

const MARKER = /<!--\s*parallel-workers:\s*worker=(worker-[a-z0-9]{6})\s+task=([A-Za-z0-9][A-Za-z0-9._-]{0,63})\s*-->/;
const TITLE_MAX = 120;

export function pullRequestMarker(workerId: string, taskId: string): string {
  return `<!-- parallel-workers: worker=${workerId} task=${taskId} -->`;
}

/** The worker and task a PR body's marker names, if it has one. */
export function parsePullRequestMarker(body: string | null | undefined): { workerId: string; taskId: string } | undefined {
  const match = body ? MARKER.exec(body) : null;
  return match ? { workerId: match[1]!, taskId: match[2]! } : undefined;
}

/** `[<task-id>] <description>`, from the description's first line, kept to a readable length. */
export function pullRequestTitle(taskId: string, description: string): string {
  const firstLine = description.trim().split("\n")[0]!.trim();
  const title = `[${taskId}] ${firstLine}`;
  return title.length > TITLE_MAX ? `${title.slice(0, TITLE_MAX - 3)}...` : title;
}

export interface PullRequestBodyInput {
  workerId: string;
  taskId: string;
  description: string;
  agent: string | null;
  issueNumber: number | null;
  /** The task whose PR this one is stacked on (its description says so and links it). */
  stackedOn?: StackRecord | null;
}

export function pullRequestBody(input: PullRequestBodyInput): string {
  const lines = [input.description.trim(), ""];
  lines.push(`Task \`${input.taskId}\`${input.agent ? `, done by the \`${input.agent}\` agent` : ""} (worker \`${input.workerId}\`).`);
  if (input.stackedOn) lines.push("", ...stackedBodyLines(input.stackedOn));
  if (input.issueNumber !== null) lines.push("", `Closes #${input.issueNumber}`);
  lines.push("", pullRequestMarker(input.workerId, input.taskId));
  return lines.join("\n");
}

/** The commit message for what an agent left uncommitted. */
export function leftoverCommitMessage(taskId: string, description: string): string {
  const firstLine = description.trim().split("\n")[0]!.trim();
  return `feat(${taskId}): ${firstLine}`;
}
