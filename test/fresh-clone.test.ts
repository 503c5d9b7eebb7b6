/**
 * The README's two commands in a fresh copy of this checkout, on a machine without Chromium:
 * `npm test` limited to the Chromium test files and one ordinary file (the whole suite inside
 * the suite would take minutes), then the rest of `npm ci && npm run build && npm link && pw --help`
 * (node_modules linked in for `npm ci`, `npm link` into a scratch prefix). The Chromium tests
 * skip with one line naming the install command, every other test runs and passes; under
 * CI=true the same machine fails the run.
 */
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { git, removeTempDirs, tempDir } from "./helpers/git.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CHROMIUM_FILES = ["test/web/browser.test.ts", "test/web/escaping.test.ts"];
const ORDINARY_FILE = "test/core/states.test.ts";

interface Run {
  code: number | null;
  output: string;
}

function run(argv: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  const [file, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

/** The files a clone of this checkout would have: tracked and new ones, nothing ignored (no dist). */
function copyCheckout(target: string): void {
  const files = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0").filter(Boolean);
  for (const file of files) {
    if (!existsSync(join(ROOT, file))) continue; // deleted in the work tree, not yet committed
    mkdirSync(dirname(join(target, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(target, file));
  }
}

let clone: string;
let prefix: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  const scratch = tempDir("pw-fresh-clone-");
  clone = join(scratch, "parallel-workers");
  prefix = join(scratch, "npm-prefix");
  copyCheckout(clone);
  // stands in for `npm ci`: the same lockfile's packages
  symlinkSync(join(ROOT, "node_modules"), join(clone, "node_modules"), "dir");
  // a person's shell, not this test run's (vitest marks its workers), without a browser
  env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(VITEST|TEST$|NODE_ENV$|CI$|npm_)/.test(name)));
  Object.assign(env, {
    PATH: `${join(prefix, "bin")}:${process.env.PATH ?? ""}`,
    PW_TEST_CHROMIUM: join(scratch, "no-chromium-here"),
    PW_TEST_BROWSER_INSTALL: "0",
    npm_config_prefix: prefix,
    npm_config_audit: "false",
    npm_config_fund: "false",
    npm_config_update_notifier: "false",
  });
});

afterAll(() => removeTempDirs());

describe("a fresh clone, the README's two commands, no Chromium", () => {
  it("npm test skips the Chromium tests with one line and runs every other test; pw links and runs", async () => {
    const results = join(clone, "test-output", "results.json");
    const test = await run(["npm", "test", "--", ...CHROMIUM_FILES, ORDINARY_FILE, "--reporter=default", "--reporter=json", `--outputFile.json=${results}`], clone, env);
    expect(test.code, test.output).toBe(0);
    const skipLines = test.output.split("\n").filter((line) => line.includes("Chromium tests skipped"));
    expect(skipLines, test.output).toHaveLength(1);
    expect(skipLines[0]).toMatch(/^Chromium tests skipped: .*install it with `(sudo )?apt-get install -y chromium`/);

    const report = JSON.parse(readFileSync(results, "utf8")) as {
      numFailedTests: number;
      testResults: { name: string; assertionResults: { title: string; status: string }[] }[];
    };
    expect(report.numFailedTests).toBe(0);
    const statuses = (file: string) => report.testResults.find((result) => result.name === join(clone, file))?.assertionResults ?? [];
    // every ordinary test ran and passed
    expect(statuses(ORDINARY_FILE).length).toBeGreaterThan(10);
    for (const test of statuses(ORDINARY_FILE)) expect(test.status, test.title).toBe("passed");
    // the Chromium tests skipped; the escaping tests that need no browser ran
    expect(statuses(CHROMIUM_FILES[0]!).length).toBeGreaterThan(0);
    for (const test of statuses(CHROMIUM_FILES[0]!)) expect(test.status, test.title).toBe("skipped");
    const escaping = statuses(CHROMIUM_FILES[1]!);
    expect(escaping.filter((test) => test.status === "passed").length).toBeGreaterThanOrEqual(2);
    for (const test of escaping) expect(test.status, test.title).toBe(test.title.includes("Chromium") ? "skipped" : "passed");

    // the first command; its `npm run build` already ran as npm test's first step
    const link = await run(["npm", "link"], clone, env);
    expect(link.code, link.output).toBe(0);
    const help = await run(["pw", "--help"], clone, env);
    expect(help.code, help.output).toBe(0);
    expect(help.output).toMatch(/^Usage: pw /);
  }, 300_000);

  it("under CI=true the missing browser fails the run, with the same install command", async () => {
    const ci = await run(["npx", "vitest", "run", CHROMIUM_FILES[1]!], clone, { ...env, CI: "true" });
    expect(ci.code).not.toBe(0);
    expect(ci.output).toMatch(/the Chromium tests need a browser under CI=true: .*install it with `(sudo )?apt-get install -y chromium`/);
    expect(ci.output).not.toContain("Chromium tests skipped");
  }, 60_000);
});
