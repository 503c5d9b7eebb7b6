import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The parts of a Grafana dashboard model these tests read. */
export interface DataSourceRef {
  type: string;
  uid: string;
}

export interface Target {
  refId: string;
  datasource?: DataSourceRef;
  expr: string;
  legendFormat?: string;
}

export interface Panel {
  id: number;
  title: string;
  type: string;
  datasource?: DataSourceRef;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
}

export interface Variable {
  name: string;
  type: string;
  query?: unknown;
  /** What Grafana selects when the dashboard opens. */
  current?: { text?: unknown; value?: unknown };
}

export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

export const DASHBOARD_FILE = fileURLToPath(new URL("../../dashboards/sdlc-overview.json", import.meta.url));

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")) as Dashboard;
}

/** Every panel, rows' children included. */
export function allPanels(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

/** The query expressions sent to data sources of `type` ("loki" or "prometheus"). */
export function expressions(dashboard: Dashboard, type: "loki" | "prometheus"): { panel: string; expr: string }[] {
  const uids = new Set(dashboard.templating.list.filter((v) => v.type === "datasource" && v.query === type).map((v) => `\${${v.name}}`));
  return allPanels(dashboard).flatMap((panel) =>
    (panel.targets ?? [])
      .filter((target) => {
        const source = target.datasource ?? panel.datasource;
        return source?.type === type || (source !== undefined && uids.has(source.uid));
      })
      .map((target) => ({ panel: panel.title, expr: target.expr })),
  );
}

/** Grafana's own variables, with values that stand in for them when a query is checked. */
export const BUILTIN_VARIABLES: Readonly<Record<string, string>> = {
  __interval: "1m",
  __rate_interval: "1m",
  __auto: "1m",
  __range: "1h",
};

/** Replaces `$name` and `${name}`; an unknown variable is an error, not a silent pass. */
export function interpolate(expr: string, values: Readonly<Record<string, string>>): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (_match, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    const value = values[name];
    if (value === undefined) throw new Error(`variable $${name} in ${JSON.stringify(expr)} is not defined`);
    return value;
  });
}
