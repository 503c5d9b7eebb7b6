/**
 * The status page end to end in headless Chromium (Debian's package, driven by playwright-core):
 * a store with workers in every state, the page opened with the token, counts and rows checked,
 * a state change followed within 2 s, screenshots into test-output/; without the token, 401.
 * The same scenario runs against the handler on a plain node:http server and against the built
 * `pw serve`.
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import { SqliteAsyncWorkerStore } from "../../src/store/sqlite-async.js";
import { PW_BIN } from "../helpers/cli.js";
import { git, makeRepo, removeTempDirs, tempDir } from "../helpers/git.js";
import { chromiumForTests, ensureTestOutput, FIXTURE, fillStore, fixtureCounts, launchChromium, mountStatusPage, TOKEN, until, type Mounted } from "./harness.js";

/** Every test here drives Chromium: without one they all skip. */
const CHROMIUM = chromiumForTests();
let browser: Browser;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

beforeAll(async () => {
  if (CHROMIUM) browser = await launchChromium(CHROMIUM);
});

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  removeTempDirs();
});

function storeFile(): string {
  const file = join(tempDir("pw-web-home-"), "state.db");
  fillStore(file);
  return file;
}

function openStore(file: string): SqliteAsyncWorkerStore {
  const store = new SqliteAsyncWorkerStore(new SqliteWorkerStore(file));
  cleanups.push(() => store.close());
  return store;
}

async function newContext(options: Parameters<Browser["newContext"]>[0] = {}): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext(options);
  cleanups.push(() => context.close());
  const page = await context.newPage();
  // a CSP violation or a script error shows up here (refused requests are expected: 401s, favicon)
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(error.message));
  return { context, page, problems };
}

function rowOf(page: Page, workerId: string) {
  return page.locator("table.workers tbody tr", { has: page.locator("code", { hasText: workerId }) });
}

/** The scenario both variants run: `base` serves the page, `store` is the same file it reads. */
async function exercise(base: string, store: SqliteAsyncWorkerStore, label: string): Promise<void> {
  const { context, page, problems } = await newContext({ viewport: { width: 1280, height: 900 } });

  // without the token: 401, and the page says how to get in without echoing anything
  const refused = await page.goto(`${base}/workers`);
  expect(refused?.status()).toBe(401);
  await expect(page.locator("h1").textContent()).resolves.toBe("Token needed");

  // with the token once: redirected to an address without it, holding an HttpOnly cookie
  const opened = await page.goto(`${base}/workers?token=${encodeURIComponent(TOKEN)}`);
  expect(opened?.status()).toBe(200);
  expect(page.url()).toBe(`${base}/workers`);
  const cookies = await context.cookies();
  expect(cookies).toEqual([expect.objectContaining({ name: "pw_status", httpOnly: true, sameSite: "Strict", path: "/", secure: false })]);
  expect(cookies[0]!.value).not.toContain(TOKEN);
  expect(await page.content()).not.toContain(TOKEN);

  // counts by state (the legend) and one row per worker, state by text
  const counts = fixtureCounts();
  for (const [state, count] of Object.entries(counts)) {
    await expect(page.locator(`b[data-count="${state}"]`).textContent(), state).resolves.toBe(String(count));
  }
  await expect(page.locator("svg.bar").getAttribute("aria-label")).resolves.toBe(
    "Workers by state: NEEDS_INIT 1, WORKING 2, PR_OPEN 2, MERGED 1, ABANDONED 1, UNKNOWN 1",
  );
  expect(await page.locator("table.workers tbody tr").count()).toBe(FIXTURE.length);
  for (const w of FIXTURE) {
    const row = rowOf(page, w.id);
    const cells = await row.locator("td").allInnerTexts();
    expect(cells[0], w.id).toContain(w.taskId!);
    expect(cells[0], w.id).toContain(w.description!);
    expect(cells[1], w.id).toBe(w.repo);
    expect(cells[2], w.id).toBe(w.moves.at(-1)?.to ?? "NEEDS_INIT");
    expect(cells[5], w.id).toBe(w.owner ?? "");
    // one timeline segment per recorded state
    expect(await row.locator("svg rect").count(), w.id).toBe(w.moves.length + 1);
  }
  await expect(rowOf(page, "worker-p1aaaa").locator("a").getAttribute("href")).resolves.toBe("https://github.com/acme/widgets/pull/12");
  await expect(rowOf(page, "worker-u1aaaa").locator("td").nth(7).innerText()).resolves.toBe(
    "agent exited with code 1: 3 tests failed in src/search/index.test.ts",
  );
  await expect(rowOf(page, "worker-p1aaaa").locator("td").nth(6).innerText()).resolves.toMatch(/^2h20m$|^2h21m$/);
  await expect(rowOf(page, "worker-m1aaaa").locator("svg title").textContent()).resolves.toBe("NEEDS_INIT 2m00s, WORKING 38m00s, PR_OPEN 4h20m, MERGED");
  await expect(page.locator("#heard-age").innerText()).resolves.toMatch(/^\(\d+s ago\)$/);
  const heardBefore = await page.locator("#heard").getAttribute("datetime");

  // a state change reaches the open page within 2 s, without a reload
  const navigations: string[] = [];
  page.on("framenavigated", (frame) => navigations.push(frame.url()));
  const moved = Date.now();
  await store.transition("worker-w1aaaa", "WORKING", "PR_OPEN", {
    source: "webhook",
    patch: { prNumber: 13, prUrl: "https://github.com/acme/widgets/pull/13" },
  });
  // (in-page code as a string: this project's TypeScript has no DOM types; polled from here
  // because waitForFunction would eval it in the page, which the page's CSP forbids)
  const followed = `(() => {
    const row = [...document.querySelectorAll("table.workers tbody tr")].find((tr) => tr.querySelector("code")?.textContent === "worker-w1aaaa");
    return row?.querySelectorAll("td")[2]?.textContent === "PR_OPEN" && document.querySelector('b[data-count="WORKING"]')?.textContent === "1";
  })()`;
  await until(() => page.evaluate<boolean>(followed), 2000, "the page shows worker-w1aaaa in PR_OPEN");
  const followedMs = Date.now() - moved;
  expect(followedMs).toBeLessThan(2000);
  expect(navigations).toEqual([]);
  await expect(page.locator('b[data-count="PR_OPEN"]').textContent()).resolves.toBe("3");
  await expect(rowOf(page, "worker-w1aaaa").locator("a").getAttribute("href")).resolves.toBe("https://github.com/acme/widgets/pull/13");
  await expect(rowOf(page, "worker-w1aaaa").locator("td").nth(6).innerText()).resolves.toMatch(/^\ds$/);
  expect(await page.locator("#heard").getAttribute("datetime")).not.toBe(heardBefore);

  const out = ensureTestOutput();
  const wide = join(out, `status-page-${label}.png`);
  await page.screenshot({ path: wide, fullPage: true });
  expectPng(wide);

  // filters: labelled selects; choosing one shows only that state
  await page.getByLabel("State", { exact: true }).selectOption("PR_OPEN");
  await page.waitForURL(`${base}/workers?state=PR_OPEN`);
  const states = await page.locator("table.workers tbody tr td:nth-child(3)").allInnerTexts();
  expect(states).toEqual(["PR_OPEN", "PR_OPEN", "PR_OPEN"]);
  await page.getByLabel("Repository", { exact: true }).selectOption("acme/gadgets");
  await page.waitForURL(`${base}/workers?state=PR_OPEN&repo=acme%2Fgadgets`);
  expect(await page.locator("table.workers tbody tr").count()).toBe(1);

  // on a phone the rows become cards and nothing scrolls sideways
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/workers`);
  const layout = await page.evaluate<{ rowDisplay: string; overflow: number }>(`({
    rowDisplay: getComputedStyle(document.querySelector("table.workers tbody tr")).display,
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  })`);
  expect(layout).toEqual({ rowDisplay: "block", overflow: 0 });
  const phone = join(out, `status-page-${label}-phone.png`);
  await page.screenshot({ path: phone, fullPage: true });
  expectPng(phone);

  expect(problems).toEqual([]);
}

function expectPng(file: string): void {
  const bytes = readFileSync(file);
  expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  expect(bytes.length).toBeGreaterThan(5000);
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

describe.runIf(CHROMIUM)("status page in Chromium, on a plain node:http server", () => {
  let mounted: Mounted;

  it("shows every state, follows a change within 2 s, fits a phone; 401 without the token", async () => {
    const file = storeFile();
    const store = openStore(file);
    mounted = await mountStatusPage({ store: openStore(file), token: TOKEN });
    cleanups.push(() => mounted.close());
    await exercise(mounted.base, store, "handler");
  });

  it("opens from a link on another site: the SameSite=Strict cookie is picked up by a same-site reload", async () => {
    const file = storeFile();
    mounted = await mountStatusPage({ store: openStore(file), token: TOKEN });
    cleanups.push(() => mounted.close());
    // "chat" lives on another site (localhost is not 127.0.0.1) and links to the page with the token
    const chat = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<a id="go" href="${mounted.base}/workers?token=${TOKEN}">status</a>`);
    });
    const port = await listen(chat);
    cleanups.push(() => new Promise((resolve) => chat.close(resolve)));
    const { page, problems } = await newContext();
    const answers: string[] = [];
    page.on("response", (response) => {
      if (response.url().startsWith(`${mounted.base}/workers`) && response.request().resourceType() === "document") {
        answers.push(`${response.status()} ${response.url().slice(mounted.base.length)}`);
      }
    });
    await page.goto(`http://localhost:${port}/`);
    await page.click("#go");
    await page.waitForSelector("table.workers", { timeout: 5000 });
    expect(page.url()).toBe(`${mounted.base}/workers`);
    // the redirect's request started on the other site, so the browser held the cookie back once
    expect(answers).toEqual([`303 /workers?token=${TOKEN}`, "401 /workers", "200 /workers"]);
    expect(await page.locator("table.workers tbody tr").count()).toBe(FIXTURE.length);
    expect(problems).toEqual([]);
  });
});

describe.runIf(CHROMIUM)("status page in Chromium, through the built pw serve", () => {
  it("shows every state, follows a change within 2 s, fits a phone; 401 without the token; the token is never logged", async () => {
    const home = join(tempDir("pw-web-serve-"), "home");
    const file = join(home, "state.db");
    fillStore(file);
    const store = openStore(file);
    const { dir: repo } = makeRepo();
    writeFileSync(join(repo, ".parallel-workers.yml"), "github:\n  repository: acme/widgets\n");
    git(repo, "add", ".parallel-workers.yml");
    git(repo, "commit", "--quiet", "-m", "configure parallel-workers");

    const probe = createServer();
    const port = await listen(probe);
    await new Promise((resolve) => probe.close(resolve));
    const child = spawn(process.execPath, [PW_BIN, "serve", "--no-reconcile"], {
      cwd: repo,
      env: {
        ...process.env,
        PW_HOME: home,
        PW_WORKTREES_ROOT: join(tempDir("pw-web-wt-"), "worktrees"),
        PW_DASHBOARD_TOKEN: TOKEN,
        PORT: String(port),
        HOST: "127.0.0.1",
        GITHUB_TOKEN: "test",
        WEBHOOK_SECRET: "test",
        LOG_LEVEL: "debug",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise((resolve) => child.on("exit", resolve));
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    });
    const base = `http://127.0.0.1:${port}`;
    await until(
      async () => {
        if (child.exitCode !== null) throw new Error(`pw serve exited with ${child.exitCode}:\n${output}`);
        return (await fetch(`${base}/healthz`).catch(() => undefined))?.ok;
      },
      15_000,
      "pw serve answers /healthz",
    );

    await exercise(base, store, "serve");
    child.kill("SIGTERM");
    await exited;
    expect(output).not.toContain(TOKEN);
  });
});
