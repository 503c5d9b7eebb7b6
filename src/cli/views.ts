/**
 * How workers are shown: the tables of `pw state list` and `pw worker list`, and `pw worker get`.
 * Kept light (no commander, no zod), so the fast path of those commands (`fast.ts`) and the
 * full program print exactly the same.
 */
import { formatDuration } from "../core/duration.js";
import { mergeFlowLines } from "../core/merge-flow.js";
import { composeProjectName, databaseName } from "../core/ports.js";
import type { ReworkCause } from "../core/rework.js";
import type { TransitionRecord, Worker } from "../core/worker.js";
import { print, printTable } from "./output.js";

function workerRows(workers: Worker[]): string[][] {
  return workers.map((w) => [w.id, w.state, w.taskId ?? "-", w.repo ?? "-", w.prNumber ? `#${w.prNumber}` : "-", w.error ?? ""]);
}

/** `pw state list`. */
export function printWorkers(workers: Worker[]): void {
  if (workers.length === 0) {
    print("no workers");
    return;
  }
  printTable(["WORKER", "STATE", "TASK", "REPO", "PR", "ERROR"], workerRows(workers));
}

/** Which runners are stale, by id (`listRunners`), for showing the runner that holds each worker. */
export type RunnerStaleness = ReadonlyMap<string, boolean>;

export function runnerStaleness(runners: ReadonlyArray<{ id: string; stale: boolean }>): RunnerStaleness {
  return new Map(runners.map((r) => [r.id, r.stale]));
}

/** The runner holding a worker's worktree, marked when it is stale (no heartbeat within the limit) or unknown to the store. */
function runnerCell(worker: Worker, runners: RunnerStaleness): string {
  if (!worker.runnerId) return "-";
  const stale = runners.get(worker.runnerId);
  return stale === false ? worker.runnerId : `${worker.runnerId} (stale)`;
}

/** `pw worker list`; a RUNNER column once runners hold workers (a store shared by runners). */
export function printWorkerList(workers: Worker[], runners: RunnerStaleness = new Map(), now = Date.now()): void {
  if (workers.length === 0) {
    print("no workers");
    return;
  }
  const withRunner = workers.some((w) => w.runnerId);
  printTable(
    ["WORKER", "TASK", "STATE", "AGENT", ...(withRunner ? ["RUNNER"] : []), "AGE", "PR / ERROR"],
    workers.map((w) => [
      w.id,
      w.taskId ?? "-",
      w.state,
      w.agent ?? "-",
      ...(withRunner ? [runnerCell(w, runners)] : []),
      formatDuration(now - Date.parse(w.createdAt)),
      w.prUrl ?? w.error?.split("\n")[0] ?? "",
    ]),
  );
}

export function printHistory(history: TransitionRecord[]): void {
  printTable(
    ["WHEN", "FROM", "TO", "SOURCE", "DETAIL"],
    history.map((t) => [t.at, t.from ?? "(new)", t.to, t.source, t.detail ?? ""]),
  );
}

/** What to run next for a failed worker. */
export function failureHint(id: string): string {
  return `\`pw worker logs ${id}\` shows why; \`pw worker retry ${id}\` runs it again`;
}

/** The variables of its own a worker's agent gets (PW_PORT while it holds ports). */
function workerEnvironment(worker: Worker): Record<string, string> {
  return {
    ...(worker.port === null ? {} : { PW_PORT: String(worker.port) }),
    COMPOSE_PROJECT_NAME: composeProjectName(worker.id),
    PW_DB_NAME: databaseName(worker.id),
  };
}

/** `pw worker get --json`: the worker, its own environment and its history. */
export function workerJson(worker: Worker, history: TransitionRecord[]): unknown {
  return { ...worker, environment: workerEnvironment(worker), history };
}

const REWORK_CAUSE_WORDS: Record<ReworkCause, string> = {
  review: "a review",
  check: "a failed check",
  comment: "/worker rework",
  cli: "pw worker rework",
  conflict: "a conflict with its base",
};

/** `pw worker get`. */
export function printWorker(worker: Worker, history: TransitionRecord[]): void {
  const rows: Array<[string, string | number | null]> = [
    ["worker", worker.id],
    ["task", worker.taskId],
    ["state", worker.state],
    ["description", worker.description],
    ["agent", worker.agent],
    ["repository", worker.repo],
    ["checkout", worker.repoPath],
    ["branch", worker.branch ? `${worker.branch} from ${worker.baseBranch}` : null],
    ["worktree", worker.worktreePath],
    ["runner", worker.runnerId],
    ["port", worker.port === null ? null : `${worker.port} (PW_PORT)`],
    ["compose", `${composeProjectName(worker.id)} (COMPOSE_PROJECT_NAME)`],
    ["database", `${databaseName(worker.id)} (PW_DB_NAME)`],
    ["pull request", worker.prUrl],
    ["merge flow", mergeFlowLines(worker.mergeFlow).join("; ") || null],
    ["rework", worker.reworkRounds > 0 ? `${worker.reworkRounds} round(s), the last for ${REWORK_CAUSE_WORDS[worker.reworkCause ?? "cli"]}` : null],
    ["labels", worker.labels.join(", ") || null],
    ["milestone", worker.milestone],
    ["depends on", worker.dependsOn.join(", ") || null],
    ["issue", worker.issueNumber ? `#${worker.issueNumber}` : null],
    ["error", worker.error],
    ["next", worker.state === "UNKNOWN" ? failureHint(worker.id) : null],
  ];
  for (const [name, value] of rows) if (value !== null && value !== "") print(`${name.padEnd(13)}${value}`);
  print();
  printHistory(history);
}
