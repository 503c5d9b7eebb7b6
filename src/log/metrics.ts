import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ReworkCause } from "../core/rework.js";
import { WORKER_STATES, type WorkerState } from "../core/states.js";
import type { TransitionSource } from "../core/worker.js";

/** The metric names this module exports (histograms add `_bucket`, `_sum` and `_count`). */
export const METRIC_NAMES = {
  workers: "pw_workers",
  transitions: "pw_transitions_total",
  webhookDuration: "pw_webhook_duration_seconds",
  agentRunDuration: "pw_agent_run_duration_seconds",
  githubRequests: "pw_github_api_requests_total",
  githubErrors: "pw_github_api_errors_total",
  followUpDepth: "pw_follow_up_queue_depth",
  followUpOldest: "pw_follow_up_queue_oldest_age_seconds",
  followUps: "pw_follow_ups_total",
  reworkRounds: "pw_rework_rounds_total",
} as const;

/** How a webhook delivery ended: acted on, not for us, seen before, or failed. */
export type WebhookOutcome = "handled" | "ignored" | "duplicate" | "error";
/** How an agent run ended: exit 0, non-zero exit, killed by its time limit, or terminated on request. */
export type AgentRunOutcome = "success" | "failure" | "timeout" | "terminated";

/** How a follow-up try ended: done, failed and due again later, or failed for the last time. */
export type FollowUpOutcome = "done" | "retried" | "gave_up";

/** The follow-up queue as the store holds it: effects not finished yet, and when the oldest was added (ISO). */
export interface FollowUpBacklogSample {
  unfinished: number;
  oldestCreatedAt: string | null;
}

/** Workers per state, as the store counts them; missing states count 0. */
export type WorkerCounts = Partial<Record<WorkerState, number>>;

export interface MetricsOptions {
  /** Called at every scrape to fill `pw_workers{state}`; without it the gauge has no samples. */
  workersByState?: () => WorkerCounts | Promise<WorkerCounts>;
  /** Called at every scrape to fill the follow-up queue's depth and age; without it those gauges have no samples. */
  followUpBacklog?: () => FollowUpBacklogSample | Promise<FollowUpBacklogSample>;
  /** The clock the queue's age is measured with (tests). */
  now?: () => number;
  /** Node process metrics (`process_*`, `nodejs_*`) in the same registry; default true. */
  defaultMetrics?: boolean;
}

export interface RenderedMetrics {
  contentType: string;
  body: string;
}

export interface Metrics {
  /** This instance's own registry (never prom-client's global one). */
  readonly registry: Registry;
  /** One state change; `from` is null when the move created the worker. */
  transition(from: WorkerState | null, to: WorkerState, source: TransitionSource): void;
  observeWebhook(event: string, outcome: WebhookOutcome, seconds: number): void;
  observeAgentRun(agent: string, outcome: AgentRunOutcome, seconds: number): void;
  /** One GitHub API call; `status` null when no response came (network error, timeout). */
  githubRequest(method: string, status: number | null): void;
  /** One try of a follow-up, by its kind (a closed set: `react`, `reply`, `gates`...). */
  followUp(kind: string, outcome: FollowUpOutcome): void;
  /** One rework round started, by what started it (review, check, comment, cli). */
  reworkRound(cause: ReworkCause): void;
  /** The Prometheus text exposition, for `GET /metrics`. Rejects if `workersByState` throws. */
  render(): Promise<RenderedMetrics>;
}

const WEBHOOK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// Agent runs take minutes to hours.
const AGENT_RUN_BUCKETS = [10, 30, 60, 120, 300, 600, 900, 1800, 2700, 3600, 5400, 7200, 10800];
const HTTP_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);

/** A duration that cannot be observed (NaN, infinite) is dropped; metrics never throw at callers. */
function seconds(value: number): number | undefined {
  if (!Number.isFinite(value)) return undefined;
  return Math.max(0, value);
}

/**
 * Metrics in a registry of their own. Label values stay few: states, sources and outcomes are
 * closed sets, methods are folded to the HTTP verbs (else OTHER), statuses to the number.
 */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  const workersByState = options.workersByState;
  new Gauge({
    name: METRIC_NAMES.workers,
    help: "Workers in each state, as the store holds them at scrape time.",
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      if (!workersByState) return;
      const counts = await workersByState();
      for (const state of WORKER_STATES) this.set({ state }, counts[state] ?? 0);
    },
  });
  const transitions = new Counter({
    name: METRIC_NAMES.transitions,
    help: "Worker state transitions, by from state (none when created), to state and source.",
    labelNames: ["from", "to", "source"] as const,
    registers: [registry],
  });
  const webhookDuration = new Histogram({
    name: METRIC_NAMES.webhookDuration,
    help: "Time to handle one webhook delivery, by event and outcome.",
    labelNames: ["event", "outcome"] as const,
    buckets: WEBHOOK_BUCKETS,
    registers: [registry],
  });
  const agentRunDuration = new Histogram({
    name: METRIC_NAMES.agentRunDuration,
    help: "Time one agent run took, by agent and outcome.",
    labelNames: ["agent", "outcome"] as const,
    buckets: AGENT_RUN_BUCKETS,
    registers: [registry],
  });
  const githubRequests = new Counter({
    name: METRIC_NAMES.githubRequests,
    help: "GitHub API requests, by HTTP method and response status (none when no response came).",
    labelNames: ["method", "status"] as const,
    registers: [registry],
  });
  const backlog = options.followUpBacklog;
  const now = options.now ?? Date.now;
  new Gauge({
    name: METRIC_NAMES.followUpDepth,
    help: "GitHub effects of deliveries (replies, reactions, status comments, check runs, re-reads) queued and not finished yet.",
    registers: [registry],
    async collect() {
      if (backlog) this.set((await backlog()).unfinished);
    },
  });
  new Gauge({
    name: METRIC_NAMES.followUpOldest,
    help: "Age of the oldest unfinished follow-up in the queue (0 when it is empty).",
    registers: [registry],
    async collect() {
      if (!backlog) return;
      const { oldestCreatedAt } = await backlog();
      const oldest = oldestCreatedAt === null ? NaN : Date.parse(oldestCreatedAt);
      this.set(Number.isFinite(oldest) ? Math.max(0, (now() - oldest) / 1000) : 0);
    },
  });
  const followUps = new Counter({
    name: METRIC_NAMES.followUps,
    help: "Tries of follow-ups, by kind and outcome (done, retried, gave_up).",
    labelNames: ["kind", "outcome"] as const,
    registers: [registry],
  });
  const reworkRounds = new Counter({
    name: METRIC_NAMES.reworkRounds,
    help: "Rework rounds started on workers' pull requests, by cause (review, check, comment, cli).",
    labelNames: ["cause"] as const,
    registers: [registry],
  });
  const githubErrors = new Counter({
    name: METRIC_NAMES.githubErrors,
    help: "GitHub API requests that failed: status 400 or more, or no response.",
    labelNames: ["method", "status"] as const,
    registers: [registry],
  });

  return {
    registry,
    transition(from, to, source) {
      transitions.inc({ from: from ?? "none", to, source });
    },
    observeWebhook(event, outcome, value) {
      const observed = seconds(value);
      if (observed !== undefined) webhookDuration.observe({ event, outcome }, observed);
    },
    observeAgentRun(agent, outcome, value) {
      const observed = seconds(value);
      if (observed !== undefined) agentRunDuration.observe({ agent, outcome }, observed);
    },
    githubRequest(method, status) {
      const verb = method.toUpperCase();
      const labels = {
        method: HTTP_METHODS.has(verb) ? verb : "OTHER",
        status: status === null || !Number.isInteger(status) ? "none" : String(status),
      };
      githubRequests.inc(labels);
      if (labels.status === "none" || (status !== null && status >= 400)) githubErrors.inc(labels);
    },
    followUp(kind, outcome) {
      followUps.inc({ kind, outcome });
    },
    reworkRound(cause) {
      reworkRounds.inc({ cause });
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
