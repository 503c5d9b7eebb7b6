import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildLogModules, runNode } from "./child.js";
import { closedPort, startFakeLoki, type FakeLoki } from "./fake-loki.js";

/**
 * How much longer than the same process without Loki a short CLI process may take, whatever
 * Loki does (the cli push timeout is 1 s), and an absolute cap. The relative bound keeps the
 * test honest on a busy machine, where starting node alone can take a second.
 */
const EXTRA_BOUND_MS = 2000;
const EXIT_CAP_MS = 5000;

// A short CLI command: log two lines, maybe flush, maybe process.exit.
const SCRIPT = `
import { createLogger, flushLogger, workerLogger } from "./log/logger.js";
const logger = createLogger({ component: "cli", destination: process.env.DEST ?? "stdout" });
const log = workerLogger(logger, { workerId: "worker-abc123", taskId: "task-001" });
log.info("line one");
log.error("line two");
if (process.env.FLUSH === "yes") await flushLogger(logger);
if (process.env.EXIT_CODE) process.exit(Number(process.env.EXIT_CODE));
`;

let dir: string;
let slowLoki: FakeLoki;
let downUrl: string;
let baselineMs: number;

beforeAll(async () => {
  dir = buildLogModules();
  slowLoki = await startFakeLoki("hang");
  downUrl = `http://127.0.0.1:${await closedPort()}`;
  const baseline = await runNode(dir, SCRIPT, { FLUSH: "yes" });
  expect(messages(baseline.stdout)).toEqual(["line one", "line two"]);
  baselineMs = baseline.elapsedMs;
});

function expectPrompt(elapsedMs: number): void {
  expect(elapsedMs).toBeLessThan(EXIT_CAP_MS);
  expect(elapsedMs - baselineMs).toBeLessThan(EXTRA_BOUND_MS);
}

afterAll(async () => {
  await slowLoki.close();
  rmSync(dir, { recursive: true, force: true });
});

function messages(text: string): string[] {
  return text
    .trim()
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => (JSON.parse(line) as { msg: string }).msg);
}

// Sequential on purpose: the bound is about the logger, not about a contended machine.
describe("a short-lived process exits promptly whatever Loki does", () => {
  it.each([
    { loki: "down", flush: "yes", exitCode: undefined, dest: "stdout" },
    { loki: "slow", flush: "yes", exitCode: undefined, dest: "stdout" },
    { loki: "slow", flush: "no", exitCode: undefined, dest: "file" },
    { loki: "slow", flush: "no", exitCode: "3", dest: "stdout" },
    { loki: "down", flush: "yes", exitCode: "0", dest: "file" },
  ])("Loki $loki, flush $flush, process.exit $exitCode, lines to $dest", async ({ loki, flush, exitCode, dest }) => {
    const file = join(dir, `out-${loki}-${flush}-${exitCode ?? "none"}.log`);
    const env: NodeJS.ProcessEnv = { LOKI_URL: loki === "down" ? downUrl : slowLoki.url, FLUSH: flush, DEST: dest === "file" ? file : "stdout" };
    if (exitCode) env.EXIT_CODE = exitCode;
    const result = await runNode(dir, SCRIPT, env);

    expect(result.stderr).toBe("");
    expect(result.signal).toBeNull();
    expect(result.code).toBe(Number(exitCode ?? 0));
    expectPrompt(result.elapsedMs);
    const written = dest === "file" ? readFileSync(file, "utf8") : result.stdout;
    expect(messages(written)).toEqual(["line one", "line two"]);
  });

  it("without an explicit flush, the last lines still reach a healthy Loki at exit", async () => {
    const loki = await startFakeLoki();
    try {
      const result = await runNode(dir, SCRIPT, { LOKI_URL: loki.url, FLUSH: "no" });
      expect(result.code).toBe(0);
      expectPrompt(result.elapsedMs);
      await loki.waitFor((pushes) => pushes.length > 0);
      expect(loki.entries().map((entry) => entry.line.msg)).toEqual(["line one", "line two"]);
      expect(loki.entries().map((entry) => entry.labels.level)).toEqual(["info", "error"]);
    } finally {
      await loki.close();
    }
  });
});
