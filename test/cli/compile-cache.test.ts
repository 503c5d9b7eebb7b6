/**
 * `pw` turns on Node's module compile cache before it loads the program: a run leaves the
 * compiled code of the CLI (and its dependencies) under `$TMPDIR/node-compile-cache`, and the
 * next run reads it and prints the same. (How much faster that is: bench/cli-start.mjs.)
 */
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { pw } from "../helpers/cli.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";

afterEach(() => removeTempDirs());

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((entry) => statSync(join(dir, entry)).isFile());
}

describe("the compile cache", () => {
  it("is written by the first run of pw and used by the next", async () => {
    const tmp = tempDir("pw-compile-cache-");
    // NODE_COMPILE_CACHE would turn the cache on by itself: without it, only main.ts can
    const env = { TMPDIR: tmp, PW_HOME: join(tmp, "home"), NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined };
    const first = await pw(["state", "list"], { env });
    expect(first).toMatchObject({ code: 0, stderr: "" });
    const cache = join(tmp, "node-compile-cache");
    const entries = filesUnder(cache);
    // the CLI's own modules and commander, pino, zod... : far more than main.ts alone
    expect(entries.length, entries.map((entry) => relative(tmp, join(cache, entry))).join("\n")).toBeGreaterThan(20);

    const second = await pw(["state", "list"], { env });
    expect(second).toEqual(first);
    expect(filesUnder(cache).length).toBeGreaterThanOrEqual(entries.length);
  });

  it("is left alone when NODE_DISABLE_COMPILE_CACHE is set", async () => {
    const tmp = tempDir("pw-compile-cache-off-");
    const result = await pw(["--help"], { env: { TMPDIR: tmp, NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: "1" } });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Usage: pw");
    expect(readdirSync(tmp)).not.toContain("node-compile-cache");
  });
});
