import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/log/metrics.js";
import { allPanels, BUILTIN_VARIABLES, expressions, interpolate, loadDashboard } from "./dashboard-model.js";
import { parsePrometheusText } from "./prometheus-text.js";

const dashboard = loadDashboard();
const panels = allPanels(dashboard);

/** Sample names and their label names, from a registry where every metric has samples. */
async function exportedSeries(): Promise<Map<string, Set<string>>> {
  const metrics = createMetrics({ workersByState: () => ({ WORKING: 1 }) });
  metrics.transition("WORKING", "PR_OPEN", "runner");
  metrics.observeWebhook("pull_request.closed", "handled", 0.1);
  metrics.observeAgentRun("claude", "success", 60);
  metrics.githubRequest("GET", 500);
  const series = new Map<string, Set<string>>();
  for (const family of parsePrometheusText((await metrics.render()).body).values()) {
    for (const sample of family.samples) {
      const labels = series.get(sample.name) ?? new Set<string>();
      for (const label of Object.keys(sample.labels)) labels.add(label);
      series.set(sample.name, labels);
    }
  }
  return series;
}

/** Checks brackets pair up and strings close: the cheap half of a PromQL syntax check. */
function bracketProblem(expr: string): string | undefined {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  let inString = false;
  for (let i = 0; i < expr.length; i++) {
    const char = expr[i]!;
    if (inString) {
      if (char === "\\") i++;
      else if (char === '"') inString = false;
      continue;
    }
    if (char === '"') inString = true;
    else if ("([{".includes(char)) stack.push(char);
    else if (char in pairs && stack.pop() !== pairs[char]) return `unbalanced ${char} at ${i}`;
  }
  if (inString) return "unclosed string";
  if (stack.length > 0) return `unclosed ${stack.join("")}`;
  return undefined;
}

/** Metric names exist, label matchers and groupings use labels those metrics have. */
function checkPromql(expr: string, where: string, series: Map<string, Set<string>>): void {
  const context = `${where}: ${expr}`;
  expect(bracketProblem(expr), context).toBeUndefined();
  const names = [...expr.matchAll(/\b((?:pw|process|nodejs)_[a-z0-9_]+)\b/g)].map((match) => match[1]!);
  expect(names.length, context).toBeGreaterThan(0);
  const labelsOfExpr = new Set<string>();
  for (const name of names) {
    expect([...series.keys()], context).toContain(name);
    for (const label of series.get(name) ?? []) labelsOfExpr.add(label);
  }
  for (const match of expr.matchAll(/\b((?:pw|process|nodejs)_[a-z0-9_]+)\{([^}]*)\}/g)) {
    for (const matcher of match[2]!.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)) {
      expect([...(series.get(match[1]!) ?? [])], `${context}: label ${matcher[1]}`).toContain(matcher[1]);
    }
  }
  for (const grouping of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
    for (const label of grouping[1]!.split(",").map((part) => part.trim())) {
      expect([...labelsOfExpr], `${context}: grouping label ${label}`).toContain(label);
    }
  }
}

/** Each line of every ```promql block in docs/*.md is one expression. */
function documentedPromql(): { file: string; expr: string }[] {
  const docs = fileURLToPath(new URL("../../docs/", import.meta.url));
  return readdirSync(docs)
    .filter((name) => name.endsWith(".md"))
    .flatMap((name) =>
      [...readFileSync(join(docs, name), "utf8").matchAll(/^```promql[ \t]*\r?\n([\s\S]*?)^```/gm)].flatMap((match) =>
        match[1]!
          .split("\n")
          .map((line) => line.trim())
          .filter((line) => line.length > 0)
          .map((expr) => ({ file: join("docs", name), expr })),
      ),
    );
}

/** The `level` stream labels pino-loki writes (pino's fatal becomes critical). */
const LOKI_LEVELS = ["debug", "info", "warning", "error", "critical"];

/** The levels a LogQL stream selector lets through by its `level` matcher (all without one). */
function levelsSelected(expr: string): string[] {
  const matcher = /\blevel\s*(=~|!~|!=|=)\s*"([^"]*)"/.exec(expr);
  if (!matcher) return LOKI_LEVELS;
  const [, op, value] = matcher as unknown as [string, string, string];
  const matches = (level: string) => (op.endsWith("~") ? new RegExp(`^(?:${value})$`).test(level) : level === value);
  return LOKI_LEVELS.filter((level) => (op.startsWith("!") ? !matches(level) : matches(level)));
}

describe("dashboards/sdlc-overview.json", () => {
  it("is a dashboard model with data source variables and a worker_id box", () => {
    expect(dashboard.uid).toBe("pw-sdlc-overview");
    expect(dashboard.title).toMatch(/parallel-workers/);
    expect(typeof dashboard.schemaVersion).toBe("number");
    const variables = dashboard.templating.list;
    expect(variables.find((v) => v.name === "prometheus")).toMatchObject({ type: "datasource", query: "prometheus" });
    expect(variables.find((v) => v.name === "loki")).toMatchObject({ type: "datasource", query: "loki" });
    expect(variables.find((v) => v.name === "worker_id")).toMatchObject({ type: "textbox" });
  });

  it("selects a data source for each data source variable when opened (current text and value)", () => {
    const sources = dashboard.templating.list.filter((v) => v.type === "datasource");
    expect(sources.map((v) => v.name).sort()).toEqual(["loki", "prometheus"]);
    for (const variable of sources) {
      expect(typeof variable.current?.text, variable.name).toBe("string");
      expect(typeof variable.current?.value, variable.name).toBe("string");
      expect(String(variable.current?.value).length, variable.name).toBeGreaterThan(0);
    }
  });

  it("shows fatal lines (Loki's critical) with the errors, in the log panel and the count", () => {
    for (const title of ["Error Logs", "Error Log Lines"]) {
      const panel = panels.find((p) => p.title === title);
      const levels = new Set((panel?.targets ?? []).flatMap((target) => levelsSelected(target.expr)));
      expect([...levels].sort(), title).toEqual(["critical", "error"]);
    }
    // the check itself can tell
    expect(levelsSelected('{skill="parallel-workers", level="error"}')).toEqual(["error"]);
    expect(levelsSelected('{skill="parallel-workers", level=~"error|critical"}')).toEqual(["error", "critical"]);
    expect(levelsSelected('{skill="parallel-workers"}')).toEqual(LOKI_LEVELS);
  });

  it("has the required panels, each placed on the grid without overlap", () => {
    const titles = panels.map((panel) => panel.title);
    for (const title of ["Active Workers", "Worker State Distribution", "Task Completion Rate", "Worker Errors"]) expect(titles).toContain(title);
    expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
    for (const panel of panels) {
      const { x, y, w, h } = panel.gridPos;
      for (const value of [x, y, w, h]) expect(Number.isInteger(value) && value >= 0, panel.title).toBe(true);
      expect(w > 0 && h > 0 && x + w <= 24, panel.title).toBe(true);
    }
    for (const a of panels) {
      for (const b of panels) {
        if (a === b) continue;
        const overlap =
          a.gridPos.x < b.gridPos.x + b.gridPos.w &&
          b.gridPos.x < a.gridPos.x + a.gridPos.w &&
          a.gridPos.y < b.gridPos.y + b.gridPos.h &&
          b.gridPos.y < a.gridPos.y + a.gridPos.h;
        expect(overlap, `${a.title} overlaps ${b.title}`).toBe(false);
      }
    }
  });

  it("queries a templated data source from every target, and one worker's timeline from Loki", () => {
    for (const panel of panels.filter((panel) => panel.type !== "row")) {
      expect(["${prometheus}", "${loki}"], panel.title).toContain(panel.datasource?.uid);
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        expect(target.datasource, panel.title).toEqual(panel.datasource);
        expect(target.expr.trim().length, panel.title).toBeGreaterThan(0);
      }
    }
    const timeline = panels.find((panel) => panel.targets?.some((target) => target.expr === '{skill="parallel-workers"} | json | worker_id="$worker_id"'));
    expect(timeline?.type).toBe("logs");
    expect(timeline?.datasource?.uid).toBe("${loki}");
  });

  it("uses only variables it defines", () => {
    const values = { ...BUILTIN_VARIABLES, ...Object.fromEntries(dashboard.templating.list.map((v) => [v.name, "x"])) };
    for (const panel of panels) {
      expect(() => interpolate(panel.title, values)).not.toThrow();
      for (const target of panel.targets ?? []) expect(() => interpolate(target.expr, values), target.expr).not.toThrow();
    }
  });

  it("asks Prometheus only for metrics and labels the registry exports", async () => {
    const series = await exportedSeries();
    const promql = expressions(dashboard, "prometheus");
    expect(promql.length).toBeGreaterThanOrEqual(5);
    for (const { panel, expr } of promql) checkPromql(interpolate(expr, BUILTIN_VARIABLES), panel, series);
  });

  it("so do the PromQL examples in the docs", async () => {
    const series = await exportedSeries();
    const documented = documentedPromql();
    expect(documented.length).toBeGreaterThanOrEqual(3);
    for (const { file, expr } of documented) checkPromql(expr, file, series);
  });

  it("the PromQL check can fail: an unknown metric or label is caught", async () => {
    const series = await exportedSeries();
    expect(series.has("pw_worker")).toBe(false);
    expect(series.get("pw_transitions_total")?.has("state")).toBe(false);
    expect(bracketProblem('sum(rate(pw_transitions_total{to="MERGED"}[5m])')).toBeDefined();
  });
});
