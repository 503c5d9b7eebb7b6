import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parser } from "@grafana/lezer-logql";
import { describe, expect, it } from "vitest";
import { LOKI_STREAM_LABELS } from "../../src/log/loki.js";
import { BUILTIN_VARIABLES, expressions, interpolate, loadDashboard } from "./dashboard-model.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The queries the original design documents; they must keep working. */
const DESIGN_QUERIES = [
  '{skill="parallel-workers"}',
  '{skill="parallel-workers", level="error"}',
  '{skill="parallel-workers", state="MERGED"}',
  '{skill="parallel-workers"} | json | worker_id="worker-abc123"',
];

interface Checked {
  /** Where each syntax error is, as "at <offset>: <text around it>". */
  errors: string[];
  /** Label names used in stream selectors `{...}` (not in filters after `| json`). */
  streamLabels: string[];
}

function checkLogql(query: string): Checked {
  const tree = parser.parse(query);
  const errors: string[] = [];
  const selectors: [number, number][] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) errors.push(`at ${node.from}: ${JSON.stringify(query.slice(Math.max(0, node.from - 10), node.to + 10))}`);
      if (node.name === "Selector") selectors.push([node.from, node.to]);
    },
  });
  const streamLabels: string[] = [];
  tree.iterate({
    enter(node) {
      if (node.name !== "Matcher" || !selectors.some(([from, to]) => node.from >= from && node.to <= to)) return;
      const identifier = node.node.getChild("Identifier");
      if (identifier) streamLabels.push(query.slice(identifier.from, identifier.to));
    },
  });
  if (tree.length !== query.length) errors.push(`parsed ${tree.length} of ${query.length} characters`);
  return { errors, streamLabels };
}

/** Every ```logql block of README.md and docs/*.md. */
function markdownQueries(): { file: string; query: string }[] {
  const files = ["README.md", ...readdirSync(join(ROOT, "docs")).filter((name) => name.endsWith(".md")).map((name) => join("docs", name))];
  return files.flatMap((file) =>
    [...readFileSync(join(ROOT, file), "utf8").matchAll(/^```logql[ \t]*\r?\n([\s\S]*?)^```/gm)].map((match) => ({
      file,
      query: match[1]!.trim(),
    })),
  );
}

const dashboard = loadDashboard();
const dashboardValues = {
  ...BUILTIN_VARIABLES,
  ...Object.fromEntries(dashboard.templating.list.map((variable) => [variable.name, variable.name === "worker_id" ? "worker-abc123" : "x"])),
};
const dashboardQueries = expressions(dashboard, "loki").map(({ panel, expr }) => ({ where: `dashboard panel "${panel}"`, query: interpolate(expr, dashboardValues) }));
const documentedQueries = markdownQueries().map(({ file, query }) => ({ where: file, query }));

describe("the LogQL checker", () => {
  it("reports broken queries, so the checks below can fail", () => {
    for (const broken of ['{skill="parallel-workers"', '{skill="parallel-workers" | json', '{skill="parallel-workers"} | json | worker_id=', 'sum(count_over_time({skill="x"}))']) {
      expect(checkLogql(broken).errors, broken).not.toEqual([]);
    }
  });

  it("accepts the design's queries and sees their stream labels", () => {
    for (const query of DESIGN_QUERIES) expect(checkLogql(query).errors, query).toEqual([]);
    expect(checkLogql('{skill="parallel-workers"} | json | worker_id="worker-abc123"').streamLabels).toEqual(["skill"]);
    expect(checkLogql('{skill="parallel-workers", state="MERGED"}').streamLabels).toEqual(["skill", "state"]);
  });
});

describe("every LogQL query we ship", () => {
  it("finds the queries to check", () => {
    expect(dashboardQueries.length).toBeGreaterThanOrEqual(5);
    expect(documentedQueries.filter(({ where }) => where === join("docs", "observability.md")).length).toBeGreaterThanOrEqual(4);
  });

  it.each([...dashboardQueries, ...documentedQueries])("$where: $query parses and selects streams by real labels only", ({ query }) => {
    const { errors, streamLabels } = checkLogql(query);
    expect(errors).toEqual([]);
    expect(streamLabels.length).toBeGreaterThan(0);
    for (const label of streamLabels) expect(LOKI_STREAM_LABELS).toContain(label);
  });

  it("includes the design's queries in the docs and the dashboard", () => {
    const documented = documentedQueries.map(({ query }) => query);
    const onDashboard = dashboardQueries.map(({ query }) => query);
    for (const query of DESIGN_QUERIES) {
      expect(documented, query).toContain(query);
      expect(onDashboard, query).toContain(query);
    }
  });
});
