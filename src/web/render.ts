/**
 * The status page's markup, rendered on the server: the counts bar, the filters, the table of
 * workers with a timeline each, and the small pages for refusals. Everything from the store goes
 * through `html`, which escapes it. The live part (counts and table) is also what the event
 * stream sends when something changes, so the page and its updates come from one function.
 */
import { formatDuration } from "../core/duration.js";
import { repositorySlugSchema } from "../core/repository.js";
import type { WorkerState } from "../core/states.js";
import { html, safeHttpUrl, type Html } from "./html.js";
import { filterQuery } from "./query.js";
import { PAGE_PATH, SCRIPT_PATH, STYLE_PATH } from "./routes.js";
import { DISPLAY_ORDER, STATE_HINTS, timelineSegments, type WorkersView, type WorkerView } from "./view.js";

/** Errors can be long (a stack, a log tail): the page shows the start, the API has all of it. */
const MAX_ERROR_CHARS = 300;

/** "2026-11-28 09:00:01 UTC": readable before the script turns it into local time. */
function utc(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

function pct(value: number): string {
  return `${Math.round(value * 10) / 10}%`;
}

/**
 * Widths in percent for parts of a bar: proportional, but each visible part at least `min`
 * percent so a short phase or a single worker is still seen.
 */
function widths(parts: readonly number[], total: number, min: number): number[] {
  if (parts.length === 0) return [];
  const sum = parts.reduce((a, b) => a + b, 0);
  const raw = parts.map((p) => (sum > 0 ? Math.max(min, (p / sum) * total) : total / parts.length));
  const scale = total / raw.reduce((a, b) => a + b, 0);
  return raw.map((w) => w * scale);
}

function stateBadge(state: WorkerState): Html {
  return html`<span class="s-${state}">${state}</span>`;
}

/** One-letter classes for timeline segments: a hundred timelines must stay small. */
const SEGMENT_CLASS: Readonly<Record<WorkerState, string>> = {
  NEEDS_INIT: "q",
  WORKING: "w",
  PR_OPEN: "r",
  MERGED: "m",
  ABANDONED: "a",
  UNKNOWN: "u",
};

function countsBar(view: WorkersView): Html {
  const present = DISPLAY_ORDER.filter((s) => view.counts[s] > 0);
  const summary = present.map((s) => `${s} ${view.counts[s]}`).join(", ") || "no workers";
  const parts = widths(
    present.map((s) => view.counts[s]),
    100,
    0.5,
  );
  let x = 0;
  const rects = present.map((state, i) => {
    const rect = html`<rect x="${pct(x)}" width="${pct(parts[i]!)}" class="s-${state}"><title>${state}: ${view.counts[state]}</title></rect>`;
    x += parts[i]!;
    return rect;
  });
  const legend = DISPLAY_ORDER.map((state) => {
    const query = filterQuery({ ...view.filters, state: view.filters.state === state ? undefined : state });
    return html`<li><a href="${PAGE_PATH}${query}" class="s-${state}"${view.filters.state === state ? html` aria-current="true"` : ""}><i></i>${state} <b data-count="${state}">${view.counts[state]}</b> <small>${STATE_HINTS[state]}</small></a></li>`;
  });
  return html`<section class="counts" aria-labelledby="h-counts"><h2 id="h-counts">By state <small>${view.total} worker${view.total === 1 ? "" : "s"}${view.filters.repo ? ` in ${view.filters.repo}` : ""}</small></h2>
<svg class="bar" role="img" aria-label="Workers by state: ${summary}">${rects.length ? rects : html`<rect x="0" width="100%" class="empty"></rect>`}</svg>
<ul class="legend">${legend}</ul></section>`;
}

/**
 * Phases as proportional segments; the one title lists them all (the tooltip and the accessible
 * name), which keeps a row small enough for a hundred of them on a phone.
 */
function timeline(worker: WorkerView, nowMs: number): Html {
  const segments = timelineSegments(worker, nowMs);
  // a finished worker's final state is a short end mark, not a phase that lasts forever
  const isMark = segments.map((s) => s.endMs === s.startMs && !s.current);
  const phases = segments.map((s, i) => (isMark[i] ? 0 : s.endMs - s.startMs));
  const markWidth = 3;
  const phaseWidths = widths(
    phases.filter((_, i) => !isMark[i]),
    100 - isMark.filter(Boolean).length * markWidth,
    2,
  );
  // whole percents on rounded edges: no gaps, and a few bytes less per segment
  let edge = 0;
  let p = 0;
  const labels: string[] = [];
  const rects = segments.map((segment, i) => {
    const width = isMark[i] ? markWidth : phaseWidths[p++]!;
    labels.push(isMark[i] ? segment.state : `${segment.state} ${formatDuration(phases[i]!)}${segment.current ? " so far" : ""}`);
    const x = Math.round(edge);
    edge += width;
    return html`<rect${x > 0 ? html` x="${x}%"` : ""} width="${Math.round(edge) - x}%" class="${SEGMENT_CLASS[segment.state]}"/>`;
  });
  return html`<svg><title>${labels.join(", ")}</title>${rects}</svg>`;
}

function prCell(worker: WorkerView): Html | string {
  const href = safeHttpUrl(worker.prUrl);
  const label = worker.prNumber !== null ? `#${worker.prNumber}` : "PR";
  if (href) return html`<a href="${href}">${label}</a>`;
  // not an http(s) URL: shown as text, never as a link
  if (worker.prUrl) return html`<span class="raw">${worker.prNumber !== null ? `${label} ` : ""}${worker.prUrl}</span>`;
  return worker.prNumber !== null ? label : "";
}

/** "round 2 (review)": how many rework rounds the PR has had, next to the state. */
function reworkBadge(worker: WorkerView): Html | string {
  if (worker.reworkRounds === 0) return "";
  const cause = worker.reworkCause ? ` (${worker.reworkCause})` : "";
  return html` <small class="rework" title="rework rounds on its pull request; the last started by ${worker.reworkCause ?? "?"}">round ${worker.reworkRounds}${cause}</small>`;
}

function errorText(error: string | null): string {
  if (!error) return "";
  return error.length > MAX_ERROR_CHARS ? `${error.slice(0, MAX_ERROR_CHARS)}…` : error;
}

function row(worker: WorkerView, nowMs: number): Html {
  const since = Date.parse(worker.stateSince);
  // data-since (epoch ms) lets the page's script keep the duration current
  const inState = Number.isFinite(since) ? html`<td data-since="${since}">${formatDuration(Math.max(0, nowMs - since))}</td>` : html`<td></td>`;
  return html`<tr><td><b>${worker.taskId ?? "(no task)"}</b> <code>${worker.id}</code>${worker.description ? html`<br>${worker.description}` : ""}</td><td>${worker.repo ?? ""}</td><td>${stateBadge(worker.state)}${reworkBadge(worker)}</td><td>${worker.agent ?? ""}</td><td>${prCell(worker)}${worker.mergeFlow.map((line) => html`<br><small class="merge-flow">${line}</small>`)}</td><td>${worker.runner ?? ""}${worker.runnerStale ? html` <small class="stale" title="no heartbeat from this runner within the stale limit: pw runners">stale</small>` : ""}</td>${inState}<td>${errorText(worker.error)}</td><td>${timeline(worker, nowMs)}</td></tr>
`;
}

function table(view: WorkersView, nowMs: number): Html {
  const rows = view.workers.length
    ? view.workers.map((w) => row(w, nowMs))
    : html`<tr><td colspan="9" class="none">No workers${view.filters.state || view.filters.repo ? " match these filters" : " yet"}.</td></tr>`;
  return html`<section aria-labelledby="h-list"><h2 id="h-list">Workers <small>${view.workers.length} shown</small></h2>
<div class="scroll"><table class="workers"><thead><tr><th scope="col">Task</th><th scope="col">Repository</th><th scope="col">State</th><th scope="col">Agent</th><th scope="col">PR</th><th scope="col">Runner</th><th scope="col">In state</th><th scope="col">Error</th><th scope="col">Timeline</th></tr></thead>
<tbody>
${rows}</tbody></table></div></section>`;
}

/** The part of the page the event stream replaces: counts and table. */
export function renderLive(view: WorkersView, nowMs: number): Html {
  return html`${countsBar(view)}
${table(view, nowMs)}`;
}

function filtersForm(view: WorkersView): Html {
  const stateOptions = DISPLAY_ORDER.map(
    (s) => html`<option value="${s}"${view.filters.state === s ? html` selected` : ""}>${s}</option>`,
  );
  // only names that can come back as a valid filter
  const repositories = view.repositories.filter((r) => repositorySlugSchema.safeParse(r).success);
  const repoOptions = repositories.map((r) => html`<option value="${r}"${view.filters.repo === r ? html` selected` : ""}>${r}</option>`);
  return html`<form id="filters" class="filters" method="get" action="${PAGE_PATH}">
<label for="f-state">State</label> <select id="f-state" name="state"><option value="">all states</option>${stateOptions}</select>
<label for="f-repo">Repository</label> <select id="f-repo" name="repo"><option value="">all repositories</option>${repoOptions}</select>
<button type="submit">Show</button>${view.filters.state || view.filters.repo ? html` <a href="${PAGE_PATH}">clear</a>` : ""}
</form>`;
}

function layout(title: string, body: Html, extra: { script?: boolean; head?: Html } = {}): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<link rel="stylesheet" href="${STYLE_PATH}">
${extra.script ? html`<script src="${SCRIPT_PATH}" defer></script>\n` : ""}${extra.head ?? ""}</head>
<body>
${body}
</body>
</html>
`.text;
}

/** The whole page. */
export function renderPage(view: WorkersView, nowMs: number): string {
  const title = view.filters.state || view.filters.repo ? `Workers (${[view.filters.state, view.filters.repo].filter(Boolean).join(", ")})` : "Workers";
  const body = html`<header><h1>Workers <small>parallel-workers</small></h1>
<p class="heard">Last heard from the store: <time id="heard" datetime="${view.heardAt}">${utc(view.heardAt)}</time> <span id="heard-age"></span></p></header>
<p id="banner" class="banner" role="status" aria-live="polite" hidden></p>
${filtersForm(view)}
<main id="live" data-version="${view.version}" data-now="${nowMs}">
${renderLive(view, nowMs)}
</main>`;
  return layout(`${title} · parallel-workers`, body, { script: true });
}

/** A short page for a refusal or an error (401, 400, 404, 503); `head` adds e.g. a refresh. */
export function renderMessagePage(title: string, lines: readonly (string | Html)[], head?: Html): string {
  const body = html`<main class="message"><h1>${title}</h1>${lines.map((l) => html`<p>${l}</p>`)}</main>`;
  return layout(`${title} · parallel-workers`, body, head ? { head } : {});
}
