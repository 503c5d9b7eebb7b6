/**
 * Text from outside (task ids, descriptions, repositories, errors, runner ids, PR URLs) shows as
 * text, in the served HTML and in the live updates. The Content-Security-Policy would stop an
 * injected inline script anyway, so the checks that matter are on the markup and the DOM: no
 * element, attribute or link came from the data, and the hostile text is visible literally.
 */
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import { SqliteAsyncWorkerStore } from "../../src/store/sqlite-async.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";
import { chromiumForTests, fillStore, launchChromium, mountStatusPage, TOKEN, until, type FixtureWorker, type Mounted } from "./harness.js";

const SCRIPT = "<script>alert(1)</script>";
const IMG = '"><img src=x onerror=alert(1)>';
const CELL = "</td>";
const SVG = "</td></tr></table><svg onload=alert(1)>";
const ATTR = "' onmouseover='alert(1)";

const HOSTILE: FixtureWorker[] = [
  {
    id: "worker-h1aaaa",
    taskId: SCRIPT,
    description: SCRIPT,
    repo: IMG,
    agent: CELL,
    owner: "<b>runner</b>",
    prNumber: 5,
    prUrl: "javascript:alert(1)",
    createdMinutesAgo: 30,
    moves: [
      { to: "WORKING", minutesAgo: 29 },
      { to: "UNKNOWN", minutesAgo: 10, detail: SCRIPT },
    ],
    error: `${SVG} ${SCRIPT}`,
  },
  {
    id: "worker-h2aaaa",
    taskId: CELL,
    description: IMG,
    repo: "acme/widgets",
    prNumber: 6,
    prUrl: "JaVaScRiPt:alert(document.cookie)",
    createdMinutesAgo: 20,
    moves: [
      { to: "WORKING", minutesAgo: 19 },
      { to: "PR_OPEN", minutesAgo: 5 },
    ],
  },
  {
    id: "worker-h3aaaa",
    taskId: "T-3",
    description: SVG,
    repo: "acme/widgets",
    agent: ATTR,
    prNumber: 7,
    prUrl: "data:text/html,<script>alert(1)</script>",
    createdMinutesAgo: 10,
    moves: [{ to: "WORKING", minutesAgo: 9 }],
  },
  {
    id: "worker-h4aaaa",
    taskId: "T-4",
    description: "a link with quotes in it",
    repo: "acme/widgets",
    prNumber: 8,
    prUrl: 'https://github.com/acme/widgets/pull/8?x="><script>alert(1)</script>',
    createdMinutesAgo: 5,
    moves: [],
  },
];

/** Only the test in Chromium needs it; the others run without a browser. */
const CHROMIUM = chromiumForTests();
let browser: Browser;
let mounted: Mounted | undefined;
let store: SqliteAsyncWorkerStore | undefined;

beforeAll(async () => {
  if (CHROMIUM) browser = await launchChromium(CHROMIUM);
});

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  await mounted?.close();
  await store?.close();
  mounted = undefined;
  store = undefined;
  removeTempDirs();
});

async function serveHostile(): Promise<Mounted> {
  const file = join(tempDir("pw-web-hostile-"), "state.db");
  fillStore(file, HOSTILE);
  store = new SqliteAsyncWorkerStore(new SqliteWorkerStore(file));
  mounted = await mountStatusPage({ store, token: TOKEN, pollIntervalMs: 100 });
  return mounted;
}

/** Every element the page is made of; anything else in the markup came from the data. */
const OUR_TAGS = new Set(
  "html head meta title link script body header h1 h2 small p time form label select option button a main section svg rect ul li i b div table thead tr th tbody td code br span".split(" "),
);

/**
 * Markup holds data only as text: every tag is one of ours and none carries an event handler or
 * a script link. (Text cannot hold a raw "<", so every "<x" is a real tag.)
 */
function expectInert(markup: string): void {
  const tags = markup.match(/<[a-zA-Z][^>]*>/g) ?? [];
  for (const tag of tags) {
    expect(OUR_TAGS.has(/^<([a-zA-Z0-9]+)/.exec(tag)![1]!.toLowerCase()), tag).toBe(true);
    expect(tag, tag).not.toMatch(/\son[a-z]+\s*=/i);
    expect(tag, tag).not.toMatch(/(href|src)\s*=\s*["']?\s*(javascript|data):/i);
  }
  expect(markup.match(/<script/g) ?? [], "scripts").toHaveLength(markup.includes("<head>") ? 1 : 0);
  // every row still has its nine cells: no "</td>" in the data closed one early
  const rows = markup.split("<tbody>")[1]!.split("</tbody>")[0]!.split("<tr>").slice(1);
  expect(rows).toHaveLength(HOSTILE.length);
  for (const row of rows) expect(row.match(/<td[ >]/g)).toHaveLength(9);
}

describe("escaping on the status page", () => {
  it("serves hostile text escaped; only http(s) PR URLs become links", async () => {
    const m = await serveHostile();
    const res = await fetch(`${m.base}/workers`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const markup = await res.text();
    expectInert(markup);
    for (const escaped of [
      "&lt;script&gt;alert(1)&lt;/script&gt;",
      "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;",
      "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;svg onload=alert(1)&gt;",
      "&#39; onmouseover=&#39;alert(1)",
      "&lt;b&gt;runner&lt;/b&gt;",
    ]) {
      expect(markup).toContain(escaped);
    }
    expect(markup).toContain('<a href="https://github.com/acme/widgets/pull/8?x=%22%3E%3Cscript%3Ealert(1)%3C/script%3E">#8</a>');
    expect(markup.match(/<a href="http/g)).toHaveLength(1);
    // a repository name that is not owner/name is never offered as a filter
    expect(markup).toContain('<option value="acme/widgets">acme/widgets</option>');
    expect(markup).not.toMatch(/<option value="&quot;/);
  });

  it.runIf(CHROMIUM)("shows hostile text literally in Chromium, fires no dialog, and stays inert through a live update", async () => {
    const m = await serveHostile();
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const dialogs: string[] = [];
      page.on("dialog", (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      await page.goto(`${m.base}/workers?token=${TOKEN}`);
      // (in-page code as a string: this project's TypeScript has no DOM types)
      const inspect = () =>
        page.evaluate<{ text: string; injected: number; links: (string | null)[]; rows: number }>(`(() => {
          const table = document.querySelector("table.workers");
          return {
            text: table.innerText,
            injected: table.querySelectorAll("script, img, b:not(td > b), table table, [onerror], [onload], [onmouseover]").length,
            links: [...table.querySelectorAll("a")].map((a) => a.getAttribute("href")),
            rows: table.querySelectorAll("tbody tr").length,
          };
        })()`);
      const check = async () => {
        const seen = await inspect();
        expect(seen.injected).toBe(0);
        expect(seen.rows).toBe(HOSTILE.length);
        for (const text of [SCRIPT, IMG, CELL, SVG, ATTR, "<b>runner</b>", "javascript:alert(1)", "JaVaScRiPt:alert(document.cookie)"]) {
          expect(seen.text, text).toContain(text);
        }
        expect(seen.links).toEqual(["https://github.com/acme/widgets/pull/8?x=%22%3E%3Cscript%3Ealert(1)%3C/script%3E"]);
      };
      await check();
      // the hostile worker's description is a visible cell text, not markup
      expect(await page.getByText(SCRIPT, { exact: true }).count()).toBeGreaterThan(0);

      // a change arrives through the event stream and is put in with innerHTML: still text
      const version = await page.locator("#live").getAttribute("data-version");
      await store!.transition("worker-h3aaaa", "WORKING", "UNKNOWN", { source: "runner", patch: { error: `${SCRIPT}${IMG}` } });
      await until(async () => (await page.locator("#live").getAttribute("data-version")) !== version, 2000, "the live update");
      await check();
      expectInert(await page.locator("#live").innerHTML());
      expect((await inspect()).text).toContain(`${SCRIPT}${IMG}`);
      await page.waitForTimeout(200);
      expect(dialogs).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("returns hostile text unchanged in the JSON API, served as JSON that browsers do not sniff", async () => {
    const m = await serveHostile();
    const res = await fetch(`${m.base}/api/workers/worker-h1aaaa`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const { worker } = (await res.json()) as { worker: { description: string; repo: string; history: { detail: string | null }[] } };
    expect(worker.description).toBe(SCRIPT);
    expect(worker.repo).toBe(IMG);
    expect(worker.history.at(-1)!.detail).toBe(SCRIPT);
  });
});
