/** The status page's pure parts: timeline phases, escaping, which URLs become links. */
import { describe, expect, it } from "vitest";
import type { WorkerState } from "../../src/core/states.js";
import { escapeHtml, html, safeHttpUrl, trusted } from "../../src/web/html.js";
import { renderLive } from "../../src/web/render.js";
import { timelineSegments, toWorkerView, type HistoryEntry } from "../../src/web/view.js";
import { workerRecord } from "../helpers/workers.js";

const T0 = Date.parse("2026-01-01T10:00:00.000Z");
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

function history(...moves: [WorkerState, number][]): HistoryEntry[] {
  return moves.map(([to, minutes], i) => ({ from: i === 0 ? null : moves[i - 1]![0], to, at: at(minutes), source: "runner", correlationId: null, detail: null }));
}

describe("timelineSegments", () => {
  it.each<[string, HistoryEntry[], WorkerState, number, [WorkerState, number, number, boolean][]]>([
    ["queued: one phase until now", history(["NEEDS_INIT", 0]), "NEEDS_INIT", 5, [["NEEDS_INIT", 0, 5, true]]],
    [
      "running: the last phase runs to now",
      history(["NEEDS_INIT", 0], ["WORKING", 2]),
      "WORKING",
      10,
      [
        ["NEEDS_INIT", 0, 2, false],
        ["WORKING", 2, 10, true],
      ],
    ],
    [
      "merged: ends at the merge, as a mark",
      history(["NEEDS_INIT", 0], ["WORKING", 1], ["PR_OPEN", 30], ["MERGED", 90]),
      "MERGED",
      600,
      [
        ["NEEDS_INIT", 0, 1, false],
        ["WORKING", 1, 30, false],
        ["PR_OPEN", 30, 90, false],
        ["MERGED", 90, 90, false],
      ],
    ],
    [
      "a retry after ABANDONED runs again",
      history(["NEEDS_INIT", 0], ["ABANDONED", 3], ["NEEDS_INIT", 4]),
      "NEEDS_INIT",
      6,
      [
        ["NEEDS_INIT", 0, 3, false],
        ["ABANDONED", 3, 4, false],
        ["NEEDS_INIT", 4, 6, true],
      ],
    ],
    ["no history: the current state since it was last updated", [], "WORKING", 3, [["WORKING", 1, 3, true]]],
    ["a clock behind the store never gives a negative phase", history(["WORKING", 10]), "WORKING", 5, [["WORKING", 10, 10, true]]],
  ])("%s", (_, entries, state, nowMinutes, expected) => {
    const segments = timelineSegments({ history: entries, state, stateSince: entries.at(-1)?.at ?? at(1) }, T0 + nowMinutes * 60_000);
    expect(segments.map((s) => [s.state, (s.startMs - T0) / 60_000, (s.endMs - T0) / 60_000, s.current])).toEqual(expected);
  });
});

describe("html", () => {
  it("escapes every interpolation unless it is markup made by html itself", () => {
    const hostile = `<script>alert("x")</script> & 'y'`;
    expect(escapeHtml(hostile)).toBe("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;");
    expect(html`<td title="${hostile}">${hostile}</td>`.text).toBe(
      `<td title="${escapeHtml(hostile)}">${escapeHtml(hostile)}</td>`,
    );
    expect(html`<ul>${["<a>", html`<li>${"<b>"}</li>`, null, undefined, false, 3]}</ul>`.text).toBe("<ul>&lt;a&gt;<li>&lt;b&gt;</li>3</ul>");
    expect(html`${trusted("<br>")}`.text).toBe("<br>");
    // text from outside shows no control character: no NUL, no terminal escape, no bidi override
    expect(html`<td>${"agent \u001b[31mfailed\u0000 \u202eexe.txt\u202c\nline two"}</td>`.text).toBe("<td>agent [31mfailed exe.txt\nline two</td>");
  });

  it.each([
    ["https://github.com/acme/web/pull/1", "https://github.com/acme/web/pull/1"],
    ["http://ghe.local/acme/web/pull/2", "http://ghe.local/acme/web/pull/2"],
    ['https://x.test/p?q="><script>', "https://x.test/p?q=%22%3E%3Cscript%3E"],
    ["javascript:alert(1)", undefined],
    [" JavaScript:alert(1)", undefined],
    ["data:text/html,<script>alert(1)</script>", undefined],
    ["vbscript:msgbox(1)", undefined],
    ["//evil.test/x", undefined],
    ["not a url", undefined],
    [null, undefined],
  ])("links %j as %j", (url, expected) => {
    expect(safeHttpUrl(url)).toBe(expected);
  });
});

describe("rework rounds on the page", () => {
  it("a worker's view carries its rounds, and its row shows them next to the state", () => {
    const worker = workerRecord({ id: "worker-aaaaaa", taskId: "T-1", state: "WORKING", reworkRounds: 2, automaticReworkRounds: 1, reworkCause: "review" });
    const moves = history(["NEEDS_INIT", 0], ["WORKING", 1], ["PR_OPEN", 5], ["WORKING", 9]).map((h) => ({ ...h, workerId: worker.id }));
    const view = toWorkerView(worker, moves);
    expect(view).toMatchObject({ reworkRounds: 2, reworkCause: "review" });
    const counts = { UNKNOWN: 0, NEEDS_INIT: 0, WORKING: 1, PR_OPEN: 0, MERGED: 0, ABANDONED: 0 };
    const live = renderLive({ heardAt: at(10), filters: {}, counts, total: 1, repositories: [], version: "1", workers: [view] }, T0 + 10 * 60_000).text;
    expect(live).toContain('<span class="s-WORKING">WORKING</span> <small class="rework"');
    expect(live).toContain(">round 2 (review)</small>");
    const fresh = renderLive({ heardAt: at(10), filters: {}, counts, total: 1, repositories: [], version: "1", workers: [toWorkerView(workerRecord({ id: "worker-bbbbbb" }), [])] }, T0).text;
    expect(fresh).not.toContain("class=\"rework\"");
  });
});
