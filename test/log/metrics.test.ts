import { register as globalRegistry } from "prom-client";
import { describe, expect, it } from "vitest";
import { WORKER_STATES } from "../../src/core/states.js";
import { createMetrics, METRIC_NAMES, type WorkerCounts } from "../../src/log/metrics.js";
import { parsePrometheusText, sampleValue, type Family } from "./prometheus-text.js";

async function scrape(metrics: ReturnType<typeof createMetrics>): Promise<Map<string, Family>> {
  const { contentType, body } = await metrics.render();
  expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(body);
}

describe("the Prometheus text reader used below", () => {
  it("accepts good exposition and refuses broken lines, so these tests can fail", () => {
    const good = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1",y="q\\"uote"} 3\n';
    expect(sampleValue(parsePrometheusText(good), "a_total", { y: 'q"uote' })).toBe(3);
    expect(() => parsePrometheusText("# TYPE a counter\na{x=1} 3\n")).toThrow(/not a sample line/);
    expect(() => parsePrometheusText("b 1\n")).toThrow(/no TYPE line/);
    expect(() => parsePrometheusText("# HELP a A.\n# TYPE a gauge\na one\n")).toThrow(/not a sample line/);
    expect(() => parsePrometheusText("# HELP a A.\n# TYPE a gauge\na 1")).toThrow(/newline/);
  });
});

describe("createMetrics", () => {
  it("renders valid text with every family declared, in its own registry", async () => {
    const metrics = createMetrics({ workersByState: () => ({}) });
    const families = await scrape(metrics);
    expect(families.get(METRIC_NAMES.workers)?.type).toBe("gauge");
    expect(families.get(METRIC_NAMES.transitions)?.type).toBe("counter");
    expect(families.get(METRIC_NAMES.webhookDuration)?.type).toBe("histogram");
    expect(families.get(METRIC_NAMES.agentRunDuration)?.type).toBe("histogram");
    expect(families.get(METRIC_NAMES.githubRequests)?.type).toBe("counter");
    expect(families.get(METRIC_NAMES.githubErrors)?.type).toBe("counter");
    // Node process metrics come along by default.
    expect(families.has("process_cpu_user_seconds_total")).toBe(true);
    expect(families.has("nodejs_eventloop_lag_seconds")).toBe(true);
    // Never the global registry; a second instance does not collide with the first.
    expect((await globalRegistry.metrics()).includes("pw_")).toBe(false);
    expect(() => createMetrics()).not.toThrow();
    expect(metrics.registry).not.toBe(globalRegistry);
  });

  it("can leave out the Node process metrics", async () => {
    const families = await scrape(createMetrics({ defaultMetrics: false }));
    expect([...families.keys()].filter((name) => !name.startsWith("pw_"))).toEqual([]);
  });

  it("fills pw_workers{state} from the callback at each scrape, every state present", async () => {
    let counts: WorkerCounts = { WORKING: 2, PR_OPEN: 1 };
    const metrics = createMetrics({ workersByState: async () => counts, defaultMetrics: false });
    let families = await scrape(metrics);
    expect(families.get("pw_workers")?.samples.map((sample) => sample.labels.state).sort()).toEqual([...WORKER_STATES].sort());
    expect(sampleValue(families, "pw_workers", { state: "WORKING" })).toBe(2);
    expect(sampleValue(families, "pw_workers", { state: "PR_OPEN" })).toBe(1);
    expect(sampleValue(families, "pw_workers", { state: "MERGED" })).toBe(0);

    counts = { WORKING: 0, MERGED: 3 };
    families = await scrape(metrics);
    expect(sampleValue(families, "pw_workers", { state: "WORKING" })).toBe(0);
    expect(sampleValue(families, "pw_workers", { state: "MERGED" })).toBe(3);
  });

  it("counts transitions by from, to and source", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    expect((await scrape(metrics)).get("pw_transitions_total")?.samples).toEqual([]);
    metrics.transition(null, "NEEDS_INIT", "cli");
    metrics.transition(null, "NEEDS_INIT", "cli");
    metrics.transition("PR_OPEN", "MERGED", "webhook");
    const families = await scrape(metrics);
    expect(sampleValue(families, "pw_transitions_total", { from: "none", to: "NEEDS_INIT", source: "cli" })).toBe(2);
    expect(sampleValue(families, "pw_transitions_total", { from: "PR_OPEN", to: "MERGED", source: "webhook" })).toBe(1);
  });

  it("observes webhook and agent run durations into cumulative buckets", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.observeWebhook("pull_request.closed", "handled", 0.2);
    metrics.observeWebhook("pull_request.closed", "handled", 3);
    metrics.observeWebhook("issue_comment.created", "ignored", Number.NaN);
    metrics.observeAgentRun("claude", "success", 400);
    metrics.observeAgentRun("claude", "failure", -1);
    const families = await scrape(metrics);
    const webhook = { event: "pull_request.closed", outcome: "handled" };
    expect(sampleValue(families, "pw_webhook_duration_seconds_count", webhook)).toBe(2);
    expect(sampleValue(families, "pw_webhook_duration_seconds_sum", webhook)).toBeCloseTo(3.2);
    expect(sampleValue(families, "pw_webhook_duration_seconds_bucket", { ...webhook, le: "0.25" })).toBe(1);
    expect(sampleValue(families, "pw_webhook_duration_seconds_bucket", { ...webhook, le: "5" })).toBe(2);
    expect(sampleValue(families, "pw_webhook_duration_seconds_bucket", { ...webhook, le: "+Inf" })).toBe(2);
    // NaN is dropped, not thrown at the caller; a negative duration counts as 0.
    expect(sampleValue(families, "pw_webhook_duration_seconds_count", { event: "issue_comment.created" })).toBeUndefined();
    expect(sampleValue(families, "pw_agent_run_duration_seconds_bucket", { agent: "claude", outcome: "success", le: "300" })).toBe(0);
    expect(sampleValue(families, "pw_agent_run_duration_seconds_bucket", { agent: "claude", outcome: "success", le: "600" })).toBe(1);
    expect(sampleValue(families, "pw_agent_run_duration_seconds_sum", { agent: "claude", outcome: "failure" })).toBe(0);

    const buckets = families.get("pw_webhook_duration_seconds")!.samples.filter(
      (sample) => sample.name.endsWith("_bucket") && sample.labels.event === "pull_request.closed",
    );
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
  });

  it("counts GitHub API requests, and errors for 4xx/5xx and missing responses", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.githubRequest("post", 201);
    metrics.githubRequest("GET", 200);
    metrics.githubRequest("GET", 404);
    metrics.githubRequest("get", null);
    metrics.githubRequest("PROPFIND", 500);
    const families = await scrape(metrics);
    expect(sampleValue(families, "pw_github_api_requests_total", { method: "POST", status: "201" })).toBe(1);
    expect(sampleValue(families, "pw_github_api_requests_total", { method: "GET", status: "200" })).toBe(1);
    expect(sampleValue(families, "pw_github_api_requests_total", { method: "GET", status: "none" })).toBe(1);
    expect(sampleValue(families, "pw_github_api_requests_total", { method: "OTHER", status: "500" })).toBe(1);
    expect(families.get("pw_github_api_errors_total")?.samples.map((sample) => sample.labels)).toEqual([
      { method: "GET", status: "404" },
      { method: "GET", status: "none" },
      { method: "OTHER", status: "500" },
    ]);
  });

  it("render rejects when the store cannot be counted, so a scrape fails visibly", async () => {
    const metrics = createMetrics({
      defaultMetrics: false,
      workersByState: () => {
        throw new Error("store is closed");
      },
    });
    await expect(metrics.render()).rejects.toThrow("store is closed");
  });

  it("shows the follow-up queue's depth and the age of its oldest effect at each scrape, and counts tries", async () => {
    let backlog = { unfinished: 0, oldestCreatedAt: null as string | null };
    const now = Date.parse("2026-06-01T12:00:00.000Z");
    const metrics = createMetrics({ defaultMetrics: false, followUpBacklog: () => backlog, now: () => now });
    let families = await scrape(metrics);
    expect(families.get(METRIC_NAMES.followUpDepth)?.type).toBe("gauge");
    expect(sampleValue(families, METRIC_NAMES.followUpDepth)).toBe(0);
    expect(sampleValue(families, METRIC_NAMES.followUpOldest)).toBe(0);
    backlog = { unfinished: 7, oldestCreatedAt: "2026-06-01T11:59:30.000Z" };
    metrics.followUp("reply", "done");
    metrics.followUp("reply", "retried");
    metrics.followUp("reply", "done");
    families = await scrape(metrics);
    expect(sampleValue(families, METRIC_NAMES.followUpDepth)).toBe(7);
    expect(sampleValue(families, METRIC_NAMES.followUpOldest)).toBe(30);
    expect(sampleValue(families, METRIC_NAMES.followUps, { kind: "reply", outcome: "done" })).toBe(2);
    expect(sampleValue(families, METRIC_NAMES.followUps, { kind: "reply", outcome: "retried" })).toBe(1);
  });
});
