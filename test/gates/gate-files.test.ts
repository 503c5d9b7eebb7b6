import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { InvalidInputError, NotFoundError, PwError } from "../../src/core/errors.js";
import {
  DEFAULT_GATE_FILES,
  GATE_NAMES,
  GATE_RULE_IDS,
  defaultGate,
  gateFilePath,
  initGates,
  loadGates,
  resolveGate,
} from "../../src/gates/gate-files.js";
import { removeTempDirs, tempDir, tree } from "../helpers/git.js";

afterEach(removeTempDirs);

function enabled(name: (typeof GATE_NAMES)[number]) {
  const gate = defaultGate(name);
  return GATE_RULE_IDS.filter((id) => gate.rules[id].enabled).map((id) => [id, gate.rules[id].blocking]);
}

function writeGate(dir: string, name: string, text: string): string {
  const path = join(dir, ".parallel-workers/gates", name);
  mkdirSync(join(dir, ".parallel-workers/gates"), { recursive: true });
  writeFileSync(path, text);
  return path;
}

describe("default gates", () => {
  it("security-gate runs no-secrets and forbidden-paths, both blocking", () => {
    expect(enabled("security-gate")).toEqual([
      ["no-secrets", true],
      ["forbidden-paths", true],
    ]);
  });

  it("phase-5-to-6 runs max-changed-lines, required-checks and tests-changed, none blocking", () => {
    expect(enabled("phase-5-to-6")).toEqual([
      ["max-changed-lines", false],
      ["required-checks", false],
      ["tests-changed", false],
    ]);
  });

  it.each(GATE_NAMES)("the file `init` writes for %s reads back as exactly the default", (name) => {
    expect(resolveGate(name, DEFAULT_GATE_FILES[name]).rules).toEqual(defaultGate(name).rules);
  });

  it("hands out copies: changing one gate leaves the defaults alone", () => {
    defaultGate("security-gate").rules["forbidden-paths"].paths.push("x");
    expect(defaultGate("security-gate").rules["forbidden-paths"].paths).not.toContain("x");
  });
});

describe("loadGates", () => {
  it("gives the defaults for a repository without gate files", () => {
    const gates = loadGates(tempDir());
    expect(gates["security-gate"]).toEqual(defaultGate("security-gate"));
    expect(gates["phase-5-to-6"]).toEqual(defaultGate("phase-5-to-6"));
    expect(gates["security-gate"].source).toBeUndefined();
  });

  it("merges a file over the defaults: named rules run, settings given replace, the rest stay", () => {
    const dir = tempDir();
    const path = writeGate(
      dir,
      "phase-5-to-6.yml",
      ["rules:", "  tests-changed:", "    blocking: true", "  required-checks:", "    checks: [build, test, build]", "  no-secrets:", ""].join("\n"),
    );
    const gate = loadGates(dir)["phase-5-to-6"];
    expect(gate.source).toBe(path);
    expect(gate.rules["tests-changed"]).toMatchObject({ enabled: true, blocking: true });
    expect(gate.rules["tests-changed"].tests).toEqual(defaultGate("phase-5-to-6").rules["tests-changed"].tests);
    expect(gate.rules["required-checks"]).toMatchObject({ enabled: true, blocking: false, checks: ["build", "test"] });
    // A rule named with no settings runs with its own defaults (no-secrets blocks).
    expect(gate.rules["no-secrets"]).toMatchObject({ enabled: true, blocking: true });
    expect(gate.rules["max-changed-lines"]).toEqual(defaultGate("phase-5-to-6").rules["max-changed-lines"]);
  });

  it("turns a rule off with enabled: false", () => {
    const dir = tempDir();
    writeGate(dir, "security-gate.yml", "rules:\n  forbidden-paths:\n    enabled: false\n");
    expect(loadGates(dir)["security-gate"].rules["forbidden-paths"].enabled).toBe(false);
  });

  it("reads an empty file as the defaults", () => {
    const dir = tempDir();
    writeGate(dir, "security-gate.yml", "# nothing yet\n");
    expect(loadGates(dir)["security-gate"].rules).toEqual(defaultGate("security-gate").rules);
  });

  it.each([
    ["a value of the wrong type", "rules:\n  no-secrets:\n    blocking: yes\n", 'rules.no-secrets.blocking: expected true or false, got "yes"'],
    ["a misspelt key", "rules:\n  no-secrets:\n    blockng: true\n", "rules.no-secrets.blockng: unknown key: use enabled, blocking, exclude"],
    ["an unknown rule", "rules:\n  no-secret: {}\n", "rules.no-secret: unknown rule: use no-secrets, forbidden-paths,"],
    ["an unknown top-level key", "rule:\n  no-secrets: {}\n", "rule: unknown key: use rules"],
    ["a bad list item", "rules:\n  forbidden-paths:\n    paths: ['**/*.pem', 3]\n", "rules.forbidden-paths.paths[1]: expected a glob pattern (a string), got 3"],
    ["a list where a mapping goes", "rules: [no-secrets]\n", "rules: expected a mapping of settings"],
    ["a limit below 1", "rules:\n  max-changed-lines:\n    max: 0\n", "rules.max-changed-lines.max: expected a whole number above 0, got 0"],
    ["an empty check name", "rules:\n  required-checks:\n    checks: ['  ']\n", "rules.required-checks.checks[0]: a check run name must not be empty"],
    ["a gate requiring itself", "rules:\n  required-checks:\n    checks: [phase-5-to-6]\n", "rules.required-checks.checks: phase-5-to-6 cannot require its own check run"],
  ])("refuses %s, naming file, key path and problem", (_what, text, message) => {
    const dir = tempDir();
    const path = writeGate(dir, "phase-5-to-6.yml", text);
    let error: unknown;
    try {
      loadGates(dir);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toContain(`${path}: ${message}`);
    expect((error as Error).message).not.toContain("\n");
  });

  it("refuses YAML that does not parse, with line and column", () => {
    const dir = tempDir();
    const path = writeGate(dir, "security-gate.yml", "rules:\n  no-secrets:\n    blocking: true\n   exclude: [\n");
    expect(() => loadGates(dir)).toThrow(InvalidInputError);
    expect(() => loadGates(dir)).toThrow(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+:\\d+: not valid YAML: [^\\n]+$`));
  });

  it("refuses duplicate keys", () => {
    const dir = tempDir();
    writeGate(dir, "security-gate.yml", "rules:\n  no-secrets: {}\n  no-secrets: {}\n");
    expect(() => loadGates(dir)).toThrow(/security-gate\.yml:3:3: not valid YAML: Map keys must be unique/);
  });

  it("says so when a gate file has the .yaml extension", () => {
    const dir = tempDir();
    writeGate(dir, "security-gate.yaml", "rules: {}\n");
    expect(() => loadGates(dir)).toThrow("is not read: rename it to security-gate.yml");
  });

  it("names the source the app gives for text read from GitHub", () => {
    expect(() => resolveGate("security-gate", "rules:\n  no-secrets: 1\n", ".parallel-workers/gates/security-gate.yml@main")).toThrow(
      ".parallel-workers/gates/security-gate.yml@main: rules.no-secrets: expected a mapping of settings (enabled, blocking, exclude), got 1",
    );
  });
});

describe("initGates", () => {
  it("writes both default files and returns them", () => {
    const dir = tempDir();
    const written = initGates(dir);
    expect(written).toEqual(
      GATE_NAMES.map((name) => ({ name, path: join(dir, gateFilePath(name)), replaced: false })),
    );
    for (const { name, path } of written) expect(readFileSync(path, "utf8")).toBe(DEFAULT_GATE_FILES[name]);
    expect(loadGates(dir)["security-gate"].rules).toEqual(defaultGate("security-gate").rules);
  });

  it("refuses to overwrite an existing file and writes nothing", () => {
    const dir = tempDir();
    const path = writeGate(dir, "phase-5-to-6.yml", "rules: {}\n");
    const before = tree(dir);
    expect(() => initGates(dir)).toThrow(PwError);
    expect(() => initGates(dir)).toThrow(`gate file ${path} already exists: edit it, or pass --force to overwrite with the defaults`);
    expect(tree(dir)).toEqual(before);
    expect(readFileSync(path, "utf8")).toBe("rules: {}\n");
  });

  it("overwrites with force and says which it replaced", () => {
    const dir = tempDir();
    writeGate(dir, "phase-5-to-6.yml", "rules: {}\n");
    const written = initGates(dir, { force: true });
    expect(written.map((file) => [file.name, file.replaced])).toEqual([
      ["security-gate", false],
      ["phase-5-to-6", true],
    ]);
    expect(readFileSync(join(dir, gateFilePath("phase-5-to-6")), "utf8")).toBe(DEFAULT_GATE_FILES["phase-5-to-6"]);
  });

  it("refuses a directory that does not exist", () => {
    expect(() => initGates(join(tempDir(), "nope"))).toThrow(NotFoundError);
  });
});
