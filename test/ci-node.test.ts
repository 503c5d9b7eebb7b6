/**
 * `.ci/node.sh`, which `.ci/run` sources: the machine's node when it meets package.json's
 * engines.node, otherwise the registry's node-linux-<arch> binary (here already in the cache, so
 * nothing is fetched) first on PATH with npm_config_nodedir at its headers; a clear failure when
 * neither can be had. Fake `node` binaries print the versions; the tools the script needs are
 * the only other things on PATH.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { findProgram } from "../src/runner/process.js";
import { removeTempDirs, tempDir } from "./helpers/git.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const ENGINES_MIN = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { engines: { node: string } }).engines.node.replace(/^>=/, "");

afterEach(() => removeTempDirs());

function fakeNode(dir: string, version: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "node"), `#!/bin/sh\necho v${version}\n`);
  chmodSync(join(dir, "node"), 0o755);
}

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  cache: string;
}

/** Sources .ci/node.sh with `machine` as the machine's node (or none) and `cached` in the cache. */
function useNode(machine: string | undefined, cached: string | undefined): Outcome {
  const scratch = tempDir("pw-ci-node-");
  const bin = join(scratch, "bin");
  mkdirSync(bin);
  for (const tool of ["sed", "sort", "head", "uname"]) symlinkSync(findProgram(tool, process.env.PATH, ROOT)!, join(bin, tool));
  if (machine) fakeNode(bin, machine);
  const cache = join(scratch, "cache");
  // both architectures, so the test holds on x64 and arm64 alike
  if (cached) for (const arch of ["x64", "arm64"]) fakeNode(join(cache, "node_modules", `node-linux-${arch}`, "bin"), cached);
  const result = spawnSync("/bin/bash", ["-c", 'set -eu; . .ci/node.sh; pw_ci_use_node; echo "node=$(command -v node) $(node --version)"; echo "nodedir=${npm_config_nodedir:-}"'], {
    cwd: ROOT,
    env: { PATH: bin, HOME: scratch, PW_CI_NODE_CACHE: cache },
    encoding: "utf8",
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, cache };
}

describe(".ci/node.sh", () => {
  it("reads the minimum from package.json's engines.node", () => {
    expect(ENGINES_MIN).toMatch(/^\d+\.\d+(\.\d+)?$/);
  });

  it.each([
    ["the minimum itself", ENGINES_MIN],
    ["a newer minor", `${ENGINES_MIN.split(".")[0]}.${Number(ENGINES_MIN.split(".")[1]) + 1}.0`],
    ["a newer major", "26.0.0"],
  ])("keeps the machine's node when it is %s", (_name, version) => {
    const outcome = useNode(version, "24.9.0");
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.stdout).toContain(`node=${outcome.cache.replace(/cache$/, "bin")}/node v${version}`);
    expect(outcome.stdout).toContain("nodedir=\n");
  });

  it.each([
    ["too old a minor", `${ENGINES_MIN.split(".")[0]}.${Number(ENGINES_MIN.split(".")[1]) - 1}.9`],
    ["the last major", "20.20.2"],
  ])("puts the registry's node first on PATH when the machine's is %s", (_name, version) => {
    const outcome = useNode(version, "24.9.0");
    expect(outcome.code, outcome.stderr).toBe(0);
    const home = outcome.stdout.match(/node=(.*)\/bin\/node v24\.9\.0/)?.[1];
    expect(home, outcome.stdout).toMatch(/\/node_modules\/node-linux-(x64|arm64)$/);
    expect(home!.startsWith(outcome.cache)).toBe(true);
    expect(outcome.stdout).toContain(`nodedir=${home}\n`);
    expect(outcome.stdout).toContain("CI: using node v24.9.0");
  });

  it("uses the registry's node when the machine has none", () => {
    const outcome = useNode(undefined, "24.9.0");
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.stdout).toMatch(/node=.*node-linux-(x64|arm64)\/bin\/node v24\.9\.0/);
  });

  it("fails with one clear line when there is no npm to fetch a node with", () => {
    const outcome = useNode("20.20.2", undefined);
    expect(outcome.code).not.toBe(0);
    expect(outcome.stderr.trim()).toBe(`CI: Node.js ${ENGINES_MIN} or newer is needed; the machine has v20.20.2 and no npm to fetch one with`);
  });

  it("fails when the cached node is itself too old", () => {
    const outcome = useNode("20.20.2", "22.1.0");
    expect(outcome.code).not.toBe(0);
    expect(outcome.stderr).toMatch(new RegExp(`bin/node is v22\\.1\\.0, not ${ENGINES_MIN.replace(/\./g, "\\.")} or newer`));
  });
});
