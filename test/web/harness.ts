/**
 * What the status-page tests share: a real SQLite store filled with workers in every state (with
 * histories spread over the last hours), the page mounted on a real node:http server, and
 * headless Chromium (Debian's package, found or installed by test/setup/chromium.ts) driven by
 * playwright-core.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { inject } from "vitest";
import type { WorkerState } from "../../src/core/states.js";
import type { TransitionSource } from "../../src/core/worker.js";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import type { NewWorker } from "../../src/store/store.js";
import { createStatusPage, type StatusPage, type StatusPageOptions } from "../../src/web/index.js";

export const TOKEN = "s3cr3t-status-token-0123456789abcdef";
export const TEST_OUTPUT = fileURLToPath(new URL("../../test-output/", import.meta.url));
/** Not the served checkout: `pw serve`'s runner must leave these workers alone. */
const ELSEWHERE = "/srv/checkouts/elsewhere";

export interface FixtureWorker extends NewWorker {
  /** States after the first, with how long ago each move happened (minutes). */
  moves: { to: WorkerState; minutesAgo: number; source?: TransitionSource; detail?: string }[];
  /** When it was created (minutes ago). */
  createdMinutesAgo: number;
}

function worker(id: string, fields: Partial<NewWorker>, createdMinutesAgo: number, moves: FixtureWorker["moves"]): FixtureWorker {
  return { id, repoPath: ELSEWHERE, project: "widgets", agent: "claude", ...fields, createdMinutesAgo, moves };
}

/** Two repositories, every state, the histories a real week would leave. */
export const FIXTURE: FixtureWorker[] = [
  worker("worker-q1aaaa", { taskId: "T-101", repo: "acme/widgets", description: "Add rate limiting to the public API" }, 3, []),
  worker(
    "worker-w1aaaa",
    { taskId: "T-102", repo: "acme/widgets", description: "Move the settings page to the new form library", agent: "codex", owner: "build-01:4242:k3v9qa" },
    50,
    [{ to: "WORKING", minutesAgo: 48, source: "runner" }],
  ),
  worker(
    "worker-w2aaaa",
    { taskId: "T-103", repo: "acme/gadgets", description: "Render invoices as PDF", owner: "build-02:977:p0x1zz" },
    20,
    [{ to: "WORKING", minutesAgo: 19, source: "runner" }],
  ),
  worker(
    "worker-p1aaaa",
    { taskId: "T-104", repo: "acme/widgets", description: "Fix the flaky checkout test", prNumber: 12, prUrl: "https://github.com/acme/widgets/pull/12", owner: "build-01:4242:k3v9qa" },
    180,
    [
      { to: "WORKING", minutesAgo: 175, source: "runner" },
      { to: "PR_OPEN", minutesAgo: 140, source: "runner", detail: "opened #12" },
    ],
  ),
  worker(
    "worker-p2aaaa",
    { taskId: "T-105", repo: "acme/gadgets", description: "Document the export API", prNumber: 7, prUrl: "https://github.com/acme/gadgets/pull/7" },
    90,
    [
      { to: "WORKING", minutesAgo: 88, source: "runner" },
      { to: "PR_OPEN", minutesAgo: 60, source: "runner" },
    ],
  ),
  worker(
    "worker-m1aaaa",
    { taskId: "T-106", repo: "acme/widgets", description: "Upgrade to Node 22", prNumber: 9, prUrl: "https://github.com/acme/widgets/pull/9" },
    600,
    [
      { to: "WORKING", minutesAgo: 598, source: "runner" },
      { to: "PR_OPEN", minutesAgo: 560, source: "runner" },
      { to: "MERGED", minutesAgo: 300, source: "webhook" },
    ],
  ),
  worker(
    "worker-a1aaaa",
    { taskId: "T-107", repo: "acme/widgets", description: "Try a new cache layer", prNumber: 10, prUrl: "https://github.com/acme/widgets/pull/10" },
    400,
    [
      { to: "WORKING", minutesAgo: 399, source: "runner" },
      { to: "PR_OPEN", minutesAgo: 380, source: "runner" },
      { to: "ABANDONED", minutesAgo: 200, source: "webhook", detail: "PR closed unmerged" },
    ],
  ),
  worker(
    "worker-u1aaaa",
    { taskId: "T-108", repo: "acme/gadgets", description: "Speed up the search index", owner: "build-02:977:p0x1zz" },
    70,
    [
      { to: "WORKING", minutesAgo: 69, source: "runner" },
      { to: "UNKNOWN", minutesAgo: 30, source: "runner", detail: "agent exited with code 1" },
    ],
  ),
];

/** Every state appears in FIXTURE at least once: these are its counts. */
export function fixtureCounts(workers: FixtureWorker[] = FIXTURE): Record<WorkerState, number> {
  const counts: Record<WorkerState, number> = { UNKNOWN: 0, NEEDS_INIT: 0, WORKING: 0, PR_OPEN: 0, MERGED: 0, ABANDONED: 0 };
  for (const w of workers) counts[w.moves.at(-1)?.to ?? "NEEDS_INIT"] += 1;
  return counts;
}

const ERRORS: Partial<Record<string, string>> = {
  "worker-u1aaaa": "agent exited with code 1: 3 tests failed in src/search/index.test.ts",
};

/**
 * Writes the workers through the store (so their histories are real), then moves the recorded
 * times into the past with a second connection: the store stamps every move "now".
 */
export function fillStore(file: string, workers: FixtureWorker[] = FIXTURE): void {
  mkdirSync(join(file, ".."), { recursive: true });
  const store = new SqliteWorkerStore(file);
  try {
    for (const w of workers) {
      const { moves, createdMinutesAgo: _created, ...fields } = w;
      store.createWorker({ ...fields }, { source: "cli" });
      let from: WorkerState = "NEEDS_INIT";
      for (const move of moves) {
        const patch = move.to === "UNKNOWN" ? { error: w.error ?? ERRORS[w.id] ?? "failed" } : {};
        store.transition(w.id, from, move.to, { source: move.source ?? "runner", detail: move.detail ?? null, patch });
        from = move.to;
      }
    }
  } finally {
    store.close();
  }
  const db = new Database(file);
  try {
    const now = Date.now();
    const ago = (minutes: number) => new Date(now - minutes * 60_000).toISOString();
    const seqs = db.prepare("SELECT seq FROM transitions WHERE worker_id = ? ORDER BY seq");
    const setAt = db.prepare("UPDATE transitions SET at = ? WHERE seq = ?");
    const setTimes = db.prepare("UPDATE workers SET created_at = ?, updated_at = ? WHERE id = ?");
    db.transaction(() => {
      for (const w of workers) {
        const times = [w.createdMinutesAgo, ...w.moves.map((m) => m.minutesAgo)].map(ago);
        const rows = seqs.all(w.id) as { seq: number }[];
        rows.forEach((row, i) => setAt.run(times[i], row.seq));
        setTimes.run(times[0], times.at(-1), w.id);
      }
    })();
  } finally {
    db.close();
  }
}

export interface Mounted {
  base: string;
  page: StatusPage;
  server: Server;
  close(): Promise<void>;
}

/** The status page on a plain node:http server (127.0.0.1, a free port); other paths get "not ours". */
export async function mountStatusPage(options: StatusPageOptions): Promise<Mounted> {
  const page = createStatusPage(options);
  const server = createServer((req, res) => {
    page.handle(req, res).then(
      (answered) => {
        if (!answered) {
          res.writeHead(404, { "content-type": "text/plain" });
          res.end("not the status page\n");
        }
      },
      () => res.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    page,
    server,
    close: async () => {
      page.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The Chromium binary this run drives, as the `chromium` project's setup found it; null when the
 * Chromium tests skip (setup has said why, in one line). Never a downloaded browser.
 */
export function chromiumForTests(): string | null {
  return inject("chromium") ?? null;
}

/** Headless Chromium from `executablePath`. */
export async function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    args: ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
}

/** Polls until `probe` holds or `timeoutMs` passes. */
export async function until<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function ensureTestOutput(): string {
  mkdirSync(TEST_OUTPUT, { recursive: true });
  return TEST_OUTPUT;
}
