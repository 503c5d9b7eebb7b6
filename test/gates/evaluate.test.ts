import { describe, expect, it } from "vitest";
import type { DiffFile } from "../../src/gates/diff.js";
import {
  MAX_ANNOTATIONS,
  checkRunOutput,
  evaluateGate,
  evaluateGates,
  formatGateResult,
  type CheckRunInfo,
} from "../../src/gates/evaluate.js";
import { defaultGate, resolveGate, type Gate, type GateName } from "../../src/gates/gate-files.js";
import { tokenMaker } from "./tokens.js";

const t = tokenMaker(11);

/** A changed file; `lines` become its added lines, numbered from 1. */
function file(path: string, lines: string[] = ["x"], extra: Partial<DiffFile> = {}): DiffFile {
  return {
    path,
    status: "modified",
    additions: lines.length,
    deletions: 0,
    binary: false,
    patchMissing: false,
    addedLines: lines.map((text, i) => ({ line: i + 1, text })),
    ...extra,
  };
}

/** A gate from gate-file YAML (the way users configure it). */
function gate(name: GateName, yaml: string): Gate {
  return resolveGate(name, yaml, "test.yml");
}

const check = (name: string, status: string, conclusion: string | null, id?: number): CheckRunInfo => ({ name, status, conclusion, ...(id ? { id } : {}) });

describe("security-gate by default", () => {
  const security = defaultGate("security-gate");

  it("passes a clean change", () => {
    const result = evaluateGate(security, { files: [file("src/a.ts", ["export const a = 1;"])] });
    expect(result).toMatchObject({ name: "security-gate", conclusion: "success", blocking: false, annotations: [], title: "All 2 rules passed" });
    expect(result.rules.map((rule) => [rule.rule, rule.status])).toEqual([
      ["no-secrets", "passed"],
      ["forbidden-paths", "passed"],
    ]);
  });

  it("fails, blocking, on a secret and annotates its line without the secret", () => {
    const token = t.github("ghp");
    const result = evaluateGate(security, { files: [file("src/config.ts", ["// settings", `export const token = "${token}";`])] });
    expect(result).toMatchObject({ conclusion: "failure", blocking: true });
    expect(result.title).toBe("Blocked: no-secrets: 1 possible secret in 1 file");
    expect(result.annotations).toEqual([
      {
        path: "src/config.ts",
        startLine: 2,
        endLine: 2,
        level: "failure",
        title: "no-secrets: github-token",
        message: 'Possible GitHub token (ghp_…). Remove it and rotate it; if it is not a secret, add a "pw:allow-secret" comment on this line.',
      },
    ]);
    expect(result.findings).toEqual([{ rule: "github-token", path: "src/config.ts", line: 2, column: 23, preview: "ghp_…" }]);
    expect(result.summary).toContain("`src/config.ts:2` GitHub token (`github-token`), starts `ghp_…`");
    const everything = JSON.stringify(result) + formatGateResult(result) + JSON.stringify(checkRunOutput(result));
    expect(everything).not.toContain(token);
    expect(everything).not.toContain(token.slice(4, 12));
  });

  it.each([
    [".env", true],
    ["config/.env", true],
    [".env.production", true],
    [".env.example", false],
    ["certs/server.pem", true],
    ["certs/SERVER.PEM", true],
    ["deploy/id_rsa", true],
    ["deploy/id_rsa.pub", false],
    ["home/.aws/credentials", true],
    ["src/environment.ts", false],
  ])("forbidden-paths: %s forbidden=%s", (path, forbidden) => {
    const result = evaluateGate(security, { files: [file(path, ["A=1"])] });
    const outcome = result.rules.find((rule) => rule.rule === "forbidden-paths")!;
    expect(outcome.status).toBe(forbidden ? "failed" : "passed");
    expect(result.conclusion).toBe(forbidden ? "failure" : "success");
    if (forbidden) expect(result.annotations).toMatchObject([{ path, startLine: 1, level: "failure", title: "forbidden-paths" }]);
  });

  it("does not hold a removed forbidden file against the change", () => {
    const result = evaluateGate(security, { files: [file("certs/old.pem", [], { status: "removed", additions: 0, deletions: 30 })] });
    expect(result.conclusion).toBe("success");
  });

  it("says which files it could not scan, without failing", () => {
    const result = evaluateGate(security, {
      files: [file("data/huge.sql", [], { additions: 20_000, patchMissing: true }), file("logo.png", [], { binary: true, additions: 0 })],
    });
    expect(result.conclusion).toBe("success");
    expect(result.rules[0]!.summary).toBe("no secrets in added lines (1 file not scanned)");
    expect(result.annotations).toMatchObject([{ path: "data/huge.sql", level: "notice", title: "no-secrets: not scanned" }]);
    expect(result.summary).toContain("1 binary file not scanned.");
  });

  it("respects no-secrets exclude", () => {
    const excluded = gate("security-gate", "rules:\n  no-secrets:\n    exclude: ['fixtures/secrets/**']\n");
    const files = [file("fixtures/secrets/corpus.txt", [`TOKEN=${t.github("ghp")}`])];
    expect(evaluateGate(defaultGate("security-gate"), { files }).conclusion).toBe("failure");
    expect(evaluateGate(excluded, { files }).conclusion).toBe("success");
  });
});

describe("blocking and not blocking", () => {
  it("a non-blocking rule that fails gives neutral, with warnings", () => {
    const soft = gate("security-gate", "rules:\n  no-secrets:\n    blocking: false\n");
    const result = evaluateGate(soft, { files: [file(".env", [`NPM_TOKEN=${t.npm()}`])] });
    // forbidden-paths (.env) still blocks
    expect(result.conclusion).toBe("failure");
    const onlySecrets = evaluateGate(soft, { files: [file("src/a.ts", [`NPM_TOKEN=${t.npm()}`])] });
    expect(onlySecrets).toMatchObject({ conclusion: "neutral", blocking: false });
    expect(onlySecrets.annotations.map((a) => a.level)).toEqual(["warning"]);
    expect(onlySecrets.title).toBe("Not blocking: no-secrets: 1 possible secret in 1 file");
    expect(onlySecrets.summary).toContain("does not block");
  });

  it("a rule turned blocking by the gate file fails the gate", () => {
    const strict = gate("phase-5-to-6", "rules:\n  tests-changed:\n    blocking: true\n");
    const files = [file("src/feature.ts")];
    expect(evaluateGate(defaultGate("phase-5-to-6"), { files }).conclusion).toBe("neutral");
    expect(evaluateGate(strict, { files })).toMatchObject({ conclusion: "failure", blocking: true, title: "Blocked: tests-changed: 1 source file changed, no test file" });
  });

  it("a gate with no rules enabled succeeds and says so", () => {
    const empty = gate("security-gate", "rules:\n  no-secrets: { enabled: false }\n  forbidden-paths: { enabled: false }\n");
    expect(evaluateGate(empty, { files: [file(".env")] })).toMatchObject({ conclusion: "success", title: "No rules enabled", rules: [] });
  });
});

describe("max-changed-lines", () => {
  const big = (path: string, additions: number, deletions = 0) => file(path, [], { additions, deletions });

  it("passes at the limit and fails above it, not counting excluded files", () => {
    const phase = gate("phase-5-to-6", "rules:\n  max-changed-lines:\n    max: 100\n");
    const at = evaluateGate(phase, { files: [big("src/a.ts", 60, 40), big("package-lock.json", 5000)] });
    expect(at.rules.find((rule) => rule.rule === "max-changed-lines")).toMatchObject({ status: "passed", summary: "100 lines changed, limit 100" });
    const over = evaluateGate(phase, { files: [big("src/a.ts", 60, 41), big("test/a.test.ts", 1)] });
    const outcome = over.rules.find((rule) => rule.rule === "max-changed-lines")!;
    expect(outcome).toMatchObject({ status: "failed", blocking: false, summary: "102 lines changed, limit 100" });
    expect(outcome.details).toContain("- `src/a.ts`: +60 -41");
    expect(over.conclusion).toBe("neutral");
  });
});

describe("required-checks", () => {
  const phase = gate("phase-5-to-6", "rules:\n  required-checks:\n    blocking: true\n    checks: [build, test, lint]\n");
  const outcome = (checkRuns?: CheckRunInfo[]) => {
    const result = evaluateGate(phase, { files: [], checkRuns });
    return { result, rule: result.rules.find((rule) => rule.rule === "required-checks")! };
  };

  it("passes when every required check concluded success", () => {
    const { result, rule } = outcome([check("build", "completed", "success"), check("test", "completed", "success"), check("lint", "completed", "success")]);
    expect(rule).toMatchObject({ status: "passed", summary: "3 required checks succeeded" });
    expect(result.conclusion).toBe("success");
  });

  it("is pending, not passed, while checks run or are missing, and names them", () => {
    const { result, rule } = outcome([check("build", "completed", "success"), check("test", "in_progress", null)]);
    expect(rule).toMatchObject({ status: "pending", summary: "1 still running, 1 missing of 3 required checks" });
    expect(rule.details).toEqual(["- still running: `test (in_progress)`", "- missing, no check run yet: `lint`", "- succeeded: `build`"]);
    expect(result).toMatchObject({ conclusion: "failure", blocking: true, pending: true });
  });

  it("fails on any conclusion but success", () => {
    const { rule } = outcome([check("build", "completed", "failure"), check("test", "completed", "neutral"), check("lint", "completed", "success")]);
    expect(rule.status).toBe("failed");
    expect(rule.details[0]).toBe("- did not succeed: `build (failure)`, `test (neutral)`");
  });

  it("takes the latest run of a name (highest id)", () => {
    const runs = [check("build", "completed", "failure", 10), check("build", "completed", "success", 12), check("test", "completed", "success"), check("lint", "completed", "success")];
    expect(outcome(runs).rule.status).toBe("passed");
    expect(outcome([...runs, check("build", "queued", null, 13)]).rule.status).toBe("pending");
  });

  it("is skipped where check runs are unknown (the runner before a push)", () => {
    const { result, rule } = outcome(undefined);
    expect(rule.status).toBe("skipped");
    expect(result.blocking).toBe(false);
  });

  it("passes with nothing required (the default)", () => {
    const result = evaluateGate(defaultGate("phase-5-to-6"), { files: [], checkRuns: [] });
    expect(result.rules.find((rule) => rule.rule === "required-checks")).toMatchObject({ status: "passed", summary: "no checks required" });
  });
});

describe("approvals", () => {
  const phase = gate("phase-5-to-6", "rules:\n  approvals:\n    min: 2\n");
  const rule = (approvals?: number) => evaluateGate(phase, { files: [], approvals }).rules.find((r) => r.rule === "approvals");

  it.each([
    [2, "passed", "2 of 2 approvals"],
    [3, "passed", "3 of 2 approvals"],
    [1, "failed", "1 of 2 approvals"],
    [undefined, "skipped", "approvals not known here (no pull request)"],
  ] as const)("%s approvals: %s", (approvals, status, summary) => {
    expect(rule(approvals)).toMatchObject({ status, summary, blocking: false });
  });

  it("is off unless a gate file names it", () => {
    expect(evaluateGate(defaultGate("phase-5-to-6"), { files: [], approvals: 0 }).rules.some((r) => r.rule === "approvals")).toBe(false);
  });

  it("refuses a minimum that is not a whole number above 0", () => {
    expect(() => gate("phase-5-to-6", "rules:\n  approvals:\n    min: 0\n")).toThrow("rules.approvals.min: expected a whole number above 0, got 0");
  });
});

describe("tests-changed", () => {
  const phase = defaultGate("phase-5-to-6");
  const status = (...paths: string[]) => evaluateGate(phase, { files: paths.map((path) => file(path)) }).rules.find((rule) => rule.rule === "tests-changed")!.status;

  it.each([
    [["src/a.ts"], "failed"],
    [["src/a.ts", "test/a.test.ts"], "passed"],
    [["src/a.ts", "src/__tests__/a.ts"], "passed"],
    [["lib/a.js", "lib/a.spec.js"], "passed"],
    [["pkg/server.go", "pkg/server_test.go"], "passed"],
    [["app/models.py", "tests/test_models.py"], "passed"],
    [["app/models.py", "app/test_models.py"], "passed"],
    [["README.md", "docs/setup.md"], "passed"],
    [["package.json", "tsconfig.json", ".github/workflows/ci.yml"], "passed"],
    [["vitest.config.ts", "src/types.d.ts"], "passed"],
    [["docs/example.ts"], "passed"],
    [["fixtures/secrets/corpus.json"], "passed"],
    [["app/main.py"], "failed"],
    [["cmd/main.go"], "failed"],
  ])("%j -> %s", (paths, expected) => {
    expect(status(...paths)).toBe(expected);
  });

  it("does not count a removed source file or a pure rename", () => {
    const result = evaluateGate(phase, {
      files: [file("src/old.ts", [], { status: "removed", additions: 0, deletions: 10 }), file("src/b.ts", [], { status: "renamed", previousPath: "src/a.ts", additions: 0 })],
    });
    expect(result.rules.find((rule) => rule.rule === "tests-changed")!.status).toBe("passed");
  });

  it("takes its file kinds from the gate file", () => {
    const custom = gate("phase-5-to-6", "rules:\n  tests-changed:\n    source: ['**/*.sql']\n    tests: ['db/checks/**']\n");
    const run = (...paths: string[]) => evaluateGate(custom, { files: paths.map((path) => file(path)) }).rules.find((rule) => rule.rule === "tests-changed")!.status;
    expect(run("db/migrations/1.sql")).toBe("failed");
    expect(run("db/migrations/1.sql", "db/checks/1.sql")).toBe("passed");
    expect(run("src/a.ts")).toBe("passed");
  });
});

describe("annotations and output", () => {
  it(`keeps at most ${MAX_ANNOTATIONS} annotations, failures first, and says how many were cut`, () => {
    const lines = Array.from({ length: 60 }, () => `TOKEN=${t.github("ghp")}`);
    const soft = gate("security-gate", "rules:\n  no-secrets:\n    blocking: false\n");
    const result = evaluateGate(soft, { files: [file("a/secrets.txt", lines), file("b/key.pem", ["x"])] });
    expect(result.annotations).toHaveLength(MAX_ANNOTATIONS);
    expect(result.annotationsOmitted).toBe(11);
    expect(result.annotations[0]).toMatchObject({ path: "b/key.pem", level: "failure" });
    expect(result.annotations.slice(1).every((a) => a.level === "warning")).toBe(true);
    expect(result.summary).toContain("50 annotations shown; 11 more not shown (GitHub takes 50 per update).");
    expect(result.findings).toHaveLength(60);
  });

  it("maps to the check-run API's output", () => {
    const result = evaluateGate(defaultGate("security-gate"), { files: [file("x.pem")] });
    expect(checkRunOutput(result)).toEqual({
      title: result.title,
      summary: result.summary,
      annotations: [
        {
          path: "x.pem",
          start_line: 1,
          end_line: 1,
          annotation_level: "failure",
          title: "forbidden-paths",
          message: "This path matches the forbidden pattern **/*.pem: keep such files out of the repository (remove it, and rotate any key it held).",
        },
      ],
    });
  });

  it("writes a markdown summary with a table of rules", () => {
    const result = evaluateGate(defaultGate("phase-5-to-6"), { files: [file("src/a.ts")], checkRuns: [] });
    expect(result.summary.split("\n").slice(0, 7)).toEqual([
      "**phase-5-to-6 does not block**, but `tests-changed` did not pass (not blocking).",
      "",
      "| rule | blocking | result |",
      "| --- | --- | --- |",
      "| `max-changed-lines` | no | ✅ passed: 1 line changed, limit 1000 |",
      "| `required-checks` | no | ✅ passed: no checks required |",
      "| `tests-changed` | no | ❌ failed: 1 source file changed, no test file |",
    ]);
  });

  it("formats a result as plain text for the runner's log", () => {
    const result = evaluateGate(defaultGate("security-gate"), { files: [file("src/a.ts", [`const k = "${t.stripeLive()}";`])] });
    expect(formatGateResult(result)).toBe(
      [
        "security-gate: failure (blocking): Blocked: no-secrets: 1 possible secret in 1 file",
        "  no-secrets [blocking] failed: 1 possible secret in 1 file",
        "    - src/a.ts:1 Stripe live secret key (stripe-live-key), starts sk_l…",
        '    Remove each value and rotate it. A line that is not a secret can carry a pw:allow-secret comment.',
        "  forbidden-paths [blocking] passed: no forbidden paths",
      ].join("\n"),
    );
  });

  it("evaluates both gates of a repository", () => {
    const results = evaluateGates({ "security-gate": defaultGate("security-gate"), "phase-5-to-6": defaultGate("phase-5-to-6") }, { files: [file("README.md")] });
    expect(results.map((result) => [result.name, result.conclusion])).toEqual([
      ["security-gate", "success"],
      ["phase-5-to-6", "success"],
    ]);
  });

  it("is pure: the same input gives the same result", () => {
    const input = { files: [file("src/a.ts", [`PASSWORD=${t.password()}`])] };
    expect(evaluateGate(defaultGate("security-gate"), input)).toEqual(evaluateGate(defaultGate("security-gate"), input));
  });
});
