import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { InvalidInputError } from "../../src/core/errors.js";
import { defaultRunnerId, hostPart, parseRunnerId, resolveRunnerId, runnerIdProblem } from "../../src/runner/runner-id.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";

afterEach(() => removeTempDirs());

describe("runner ids", () => {
  it.each([
    ["build-1", undefined],
    ["host.example.com-a1b2c3", undefined],
    ["a", undefined],
    ["Build-1", "lowercase"],
    ["-lead", "starting with a letter or digit"],
    ["a/b", "lowercase letters"],
    ["a..b", "'..'"],
    ["", "1 to 63"],
    ["x".repeat(64), "1 to 63"],
    ["a b", "lowercase letters"],
  ])("%j: %s", (value, problem) => {
    if (problem === undefined) {
      expect(runnerIdProblem(value)).toBeUndefined();
      expect(parseRunnerId(value)).toBe(value);
    } else {
      expect(runnerIdProblem(value)).toContain(problem);
      expect(() => parseRunnerId(value)).toThrow(InvalidInputError);
    }
  });

  it.each([
    ["Build-Box.local", "build-box.local"],
    ["my_host", "my-host"],
    ["--odd--", "odd"],
    ["???", "runner"],
    ["a..b", "a.b"],
    ["h".repeat(80), "h".repeat(48)],
  ])("the host %j becomes %j", (host, part) => {
    expect(hostPart(host)).toBe(part);
    expect(runnerIdProblem(`${part}-abc123`)).toBeUndefined();
  });

  it("is this host's name and a suffix kept in $PW_HOME, the same on every start", () => {
    const home = join(tempDir("pw-runner-id-"), "home");
    const first = defaultRunnerId(home, "Build-Box");
    expect(first).toMatch(/^build-box-[0-9a-f]{6}$/);
    expect(readFileSync(join(home, "runner-id"), "utf8").trim()).toBe(first.slice("build-box-".length));
    expect(defaultRunnerId(home, "Build-Box")).toBe(first);
    // another $PW_HOME is another runner
    expect(defaultRunnerId(join(tempDir("pw-runner-id-"), "home"), "Build-Box")).not.toBe(first);
  });

  it("makes a damaged suffix file afresh", () => {
    const home = tempDir("pw-runner-id-");
    writeFileSync(join(home, "runner-id"), "not a suffix!\n");
    const id = defaultRunnerId(home, "box");
    expect(id).toMatch(/^box-[0-9a-f]{6}$/);
    expect(defaultRunnerId(home, "box")).toBe(id);
  });

  it("a given id is checked, and leaves $PW_HOME alone", () => {
    const home = join(tempDir("pw-runner-id-"), "home");
    expect(resolveRunnerId(home, "ci-7")).toBe("ci-7");
    expect(existsSync(home)).toBe(false);
    expect(() => resolveRunnerId(home, "CI 7")).toThrow(/runner id "CI 7" is not allowed/);
  });

  it("runners started at once on one $PW_HOME agree on it", async () => {
    const home = tempDir("pw-runner-id-");
    // the built module (the tests run after `npm run build`), in processes of their own
    const module = new URL("../../dist/runner/runner-id.js", import.meta.url).pathname;
    const script = `import { defaultRunnerId } from ${JSON.stringify(module)}; process.stdout.write(defaultRunnerId(${JSON.stringify(home)}, "box"));`;
    const ids = await Promise.all(
      Array.from({ length: 6 }, () =>
        new Promise<string>((resolve, reject) => {
          const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
          let out = "";
          child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
          child.on("error", reject);
          child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}`))));
        }),
      ),
    );
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toBe(defaultRunnerId(home, "box"));
  });
});
