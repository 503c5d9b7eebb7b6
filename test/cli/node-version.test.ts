/**
 * `pw` on a Node.js older than package.json's engines.node says so in one line and exits 1,
 * before loading anything that would fail in a less helpful way (on Node 20 the first failure
 * would be a missing `enableCompileCache` export).
 */
import { spawnSync } from "node:child_process";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { nodeVersionProblem } from "../../src/cli/node-version.js";
import { PW_BIN } from "../helpers/cli.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";

afterEach(() => removeTempDirs());

describe("nodeVersionProblem", () => {
  it.each([
    ["22.13.0", ">=22.13", undefined],
    ["22.13.1", ">=22.13", undefined],
    ["22.14.0", ">=22.13", undefined],
    ["24.0.0", ">=22.13", undefined],
    ["v26.1.0", ">=22.13", undefined],
    ["22.12.9", ">=22.13", "needs Node.js 22.13 or newer, this is v22.12.9: install a current LTS release and run pw with it"],
    ["20.20.2", ">=22.13", "needs Node.js 22.13 or newer, this is v20.20.2: install a current LTS release and run pw with it"],
    ["22.13.0", ">=22.13.1", "needs Node.js 22.13.1 or newer, this is v22.13.0: install a current LTS release and run pw with it"],
    ["9.0.0", ">=10", "needs Node.js 10 or newer, this is v9.0.0: install a current LTS release and run pw with it"],
    // a range it cannot read is not a reason to refuse
    ["20.0.0", "^22.13 || >=24", undefined],
  ])("node %s with engines %s", (running, engines, expected) => {
    expect(nodeVersionProblem(running, engines)).toBe(expected);
  });
});

describe("pw on a Node.js older than engines.node", () => {
  it("prints one line and exits 1 before loading the program", () => {
    // the built CLI beside a package.json whose minimum is above the running Node.js
    const root = tempDir("pw-old-node-");
    cpSync(join(PW_BIN, "..", ".."), join(root, "dist"), { recursive: true });
    const pkg = JSON.parse(readFileSync(join(PW_BIN, "..", "..", "..", "package.json"), "utf8")) as { engines: { node: string } };
    writeFileSync(join(root, "package.json"), JSON.stringify({ ...pkg, engines: { node: ">=999.1" } }));
    // no node_modules here: a run that got past the check would fail to import commander
    const result = spawnSync(process.execPath, [join(root, "dist", "cli", "main.js"), "state", "list"], { encoding: "utf8", env: { ...process.env, PW_HOME: join(root, "home") } });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(`pw: needs Node.js 999.1 or newer, this is ${process.version}: install a current LTS release and run pw with it\n`);
  });
});
