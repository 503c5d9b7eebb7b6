/**
 * What the status page and its JSON API show, computed from the store's workers and their
 * transition histories. Pure: no I/O, the clock is passed in.
 */
import { isTerminal, WORKER_STATES, type WorkerState } from "../core/states.js";
import { mergeFlowLines } from "../core/merge-flow.js";
import type { ReworkCause } from "../core/rework.js";
import type { TransitionRecord, TransitionSource, Worker } from "../core/worker.js";

/** States in the order a worker usually lives them; the error state last. */
export const DISPLAY_ORDER: readonly WorkerState[] = ["NEEDS_INIT", "WORKING", "PR_OPEN", "MERGED", "ABANDONED", "UNKNOWN"];

/** One line a person reads next to a state name. */
export const STATE_HINTS: Readonly<Record<WorkerState, string>> = {
  NEEDS_INIT: "queued",
  WORKING: "agent running",
  PR_OPEN: "waiting for review",
  MERGED: "done",
  ABANDONED: "closed or terminated",
  UNKNOWN: "failed",
};

export interface Filters {
  state?: WorkerState;
  repo?: string;
}

export interface HistoryEntry {
  from: WorkerState | null;
  to: WorkerState;
  at: string;
  source: TransitionSource;
  correlationId: string | null;
  detail: string | null;
}

/**
 * A worker as the page and the API show it. Local paths, process ids and leases stay out: the
 * page is for people who look, not for the runner.
 */
export interface WorkerView {
  id: string;
  taskId: string | null;
  description: string | null;
  repo: string | null;
  project: string | null;
  state: WorkerState;
  agent: string | null;
  branch: string | null;
  baseBranch: string | null;
  prNumber: number | null;
  prUrl: string | null;
  issueNumber: number | null;
  /** The runner holding its worktree (`runnerId`), else the process that claimed it (`owner`). */
  runner: string | null;
  /** The runner holding its worktree, when one does (`pw runners`). */
  runnerId: string | null;
  /** That runner has not been heard from within the stale limit, or is not known to the store. */
  runnerStale: boolean;
  error: string | null;
  labels: string[];
  milestone: string | null;
  dependsOn: string[];
  /** Rework rounds on its PR so far, and what started the last one. */
  reworkRounds: number;
  reworkCause: ReworkCause | null;
  /** What the merge flow did for it (stacked on, base update, merge), a line each. */
  mergeFlow: string[];
  createdAt: string;
  updatedAt: string;
  /** When it entered its current state: the last transition's time. */
  stateSince: string;
  history: HistoryEntry[];
}

export type StateCounts = Record<WorkerState, number>;

export interface WorkersView {
  /** The last successful store read (ISO time). */
  heardAt: string;
  filters: Filters;
  /** Workers per state over the repository filter (the state filter does not narrow counts). */
  counts: StateCounts;
  total: number;
  /** Every repository the store knows, for the filter. */
  repositories: string[];
  /** Changes whenever any worker changes; the event stream's id. */
  version: string;
  workers: WorkerView[];
}

export function toWorkerView(worker: Worker, history: readonly TransitionRecord[]): WorkerView {
  const last = history.at(-1);
  return {
    id: worker.id,
    taskId: worker.taskId,
    description: worker.description,
    repo: worker.repo,
    project: worker.project,
    state: worker.state,
    agent: worker.agent,
    branch: worker.branch,
    baseBranch: worker.baseBranch,
    prNumber: worker.prNumber,
    prUrl: worker.prUrl,
    issueNumber: worker.issueNumber,
    runner: worker.runnerId ?? worker.owner,
    runnerId: worker.runnerId,
    runnerStale: false,
    error: worker.error,
    labels: worker.labels,
    milestone: worker.milestone,
    dependsOn: worker.dependsOn,
    reworkRounds: worker.reworkRounds,
    reworkCause: worker.reworkCause,
    mergeFlow: mergeFlowLines(worker.mergeFlow).map((line) => line.replace(/`/g, "")),
    createdAt: worker.createdAt,
    updatedAt: worker.updatedAt,
    // an override recorded without history (older stores) still has a time
    stateSince: last && last.to === worker.state ? last.at : worker.updatedAt,
    history: history.map((t) => ({ from: t.from, to: t.to, at: t.at, source: t.source, correlationId: t.correlationId, detail: t.detail })),
  };
}

export function countByState(workers: readonly { state: WorkerState }[]): StateCounts {
  const counts = Object.fromEntries(WORKER_STATES.map((s) => [s, 0])) as StateCounts;
  for (const w of workers) counts[w.state] += 1;
  return counts;
}

export function matches(worker: { state: WorkerState; repo: string | null }, filters: Filters): boolean {
  return (!filters.state || worker.state === filters.state) && (!filters.repo || worker.repo === filters.repo);
}

/** One phase of a worker's life, for its timeline. */
export interface Segment {
  state: WorkerState;
  startMs: number;
  /** Equal to `startMs` for the final state of a finished worker (drawn as an end mark). */
  endMs: number;
  /** The phase the worker is in now (its end is "now"). */
  current: boolean;
}

/**
 * The phases from the history: each transition starts one, the next ends it. A worker that has
 * not finished is in its last phase until `nowMs`; a finished one ends at its final transition.
 */
export function timelineSegments(view: Pick<WorkerView, "history" | "state" | "stateSince">, nowMs: number): Segment[] {
  const points = view.history.map((t) => ({ state: t.to, at: Date.parse(t.at) })).filter((p) => Number.isFinite(p.at));
  if (points.length === 0 || points.at(-1)!.state !== view.state) points.push({ state: view.state, at: Date.parse(view.stateSince) });
  const segments: Segment[] = [];
  for (let i = 0; i < points.length; i++) {
    const point = points[i]!;
    const next = points[i + 1];
    const last = next === undefined;
    const end = last ? (isTerminal(point.state) ? point.at : Math.max(point.at, nowMs)) : Math.max(point.at, next.at);
    segments.push({ state: point.state, startMs: point.at, endMs: end, current: last && !isTerminal(point.state) });
  }
  return segments;
}
