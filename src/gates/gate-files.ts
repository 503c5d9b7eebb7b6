import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseDocument } from "yaml";
import { z } from "zod";
import { InvalidInputError, NotFoundError, PwError } from "../core/errors.js";

/** The two gates, each reported as a check run of this name. */
export const GATE_NAMES = ["security-gate", "phase-5-to-6"] as const;
export type GateName = (typeof GATE_NAMES)[number];

/** Every rule a gate can run, in the order they are evaluated and reported. */
export const GATE_RULE_IDS = ["no-secrets", "forbidden-paths", "max-changed-lines", "required-checks", "approvals", "tests-changed"] as const;
export type GateRuleId = (typeof GATE_RULE_IDS)[number];

/** Where gate files live in a repository. */
export const GATES_DIR = ".parallel-workers/gates";

export function gateFilePath(name: GateName): string {
  return `${GATES_DIR}/${name}.yml`;
}

interface RuleSwitches {
  /** Whether the gate runs the rule at all. */
  enabled: boolean;
  /** Whether a failure of the rule fails the gate (and stops a push); otherwise it only reports. */
  blocking: boolean;
}

export interface NoSecretsRule extends RuleSwitches {
  /** Globs of paths whose added lines are not scanned. */
  exclude: string[];
}

export interface ForbiddenPathsRule extends RuleSwitches {
  /** Globs of paths a change must not add or modify (case-insensitive). */
  paths: string[];
  /** Globs that are fine even when `paths` matches them (`.env.example`). */
  allow: string[];
}

export interface MaxChangedLinesRule extends RuleSwitches {
  /** Most added + removed lines the change may have, over the files not excluded. */
  max: number;
  /** Globs of paths not counted (lockfiles, snapshots). */
  exclude: string[];
}

export interface RequiredChecksRule extends RuleSwitches {
  /** Names of other check runs that must have concluded `success` on the head commit. */
  checks: string[];
}

export interface ApprovalsRule extends RuleSwitches {
  /** How many people must have approved the PR (each reviewer's latest review counts). */
  min: number;
}

export interface TestsChangedRule extends RuleSwitches {
  /** Globs of source files: changing one asks for a test change too. */
  source: string[];
  /** Globs of test files; a test file is never source. */
  tests: string[];
  /** Globs of paths that are neither (docs, config, generated code). */
  exclude: string[];
}

export interface GateRules {
  "no-secrets": NoSecretsRule;
  "forbidden-paths": ForbiddenPathsRule;
  "max-changed-lines": MaxChangedLinesRule;
  "required-checks": RequiredChecksRule;
  approvals: ApprovalsRule;
  "tests-changed": TestsChangedRule;
}

/** A gate ready to evaluate: its rules with defaults filled in. */
export interface Gate {
  name: GateName;
  /** The file it was read from, or undefined when it is the built-in default. */
  source: string | undefined;
  rules: GateRules;
}

const SOURCE_EXTENSIONS =
  "ts,tsx,mts,cts,js,jsx,mjs,cjs,py,go,rs,java,kt,kts,scala,groovy,rb,php,cs,fs,c,h,cc,cpp,cxx,hpp,hh,m,mm,swift,dart,ex,exs,erl,hrl,clj,cljs,lua,pl,pm,r,jl,vue,svelte";

/** Each rule's settings when a gate file does not give them. `enabled` is decided per gate. */
const RULE_DEFAULTS: { [K in GateRuleId]: Omit<GateRules[K], "enabled"> } = {
  "no-secrets": { blocking: true, exclude: [] },
  "forbidden-paths": {
    blocking: true,
    paths: [
      "**/*.pem",
      "**/*.key",
      "**/*.p12",
      "**/*.pfx",
      "**/*.jks",
      "**/*.keystore",
      "**/.env",
      "**/.env.*",
      "**/id_rsa",
      "**/id_dsa",
      "**/id_ecdsa",
      "**/id_ed25519",
      "**/.aws/credentials",
      "**/.netrc",
      "**/.pgpass",
    ],
    allow: ["**/.env.example", "**/.env.sample", "**/.env.template", "**/.env.dist"],
  },
  "max-changed-lines": {
    blocking: false,
    max: 1000,
    exclude: [
      "**/package-lock.json",
      "**/npm-shrinkwrap.json",
      "**/yarn.lock",
      "**/pnpm-lock.yaml",
      "**/bun.lockb",
      "**/Cargo.lock",
      "**/go.sum",
      "**/poetry.lock",
      "**/uv.lock",
      "**/Pipfile.lock",
      "**/Gemfile.lock",
      "**/composer.lock",
      "**/*.snap",
      "**/*.min.js",
    ],
  },
  "required-checks": { blocking: false, checks: [] },
  approvals: { blocking: false, min: 1 },
  "tests-changed": {
    blocking: false,
    source: [`**/*.{${SOURCE_EXTENSIONS}}`],
    tests: [
      "**/test/**",
      "**/tests/**",
      "**/__tests__/**",
      "**/spec/**",
      "**/*.test.*",
      "**/*.spec.*",
      "**/*_test.go",
      "**/test_*.py",
      "**/*_test.py",
      "**/*_spec.rb",
    ],
    exclude: [
      "**/*.d.ts",
      "**/*.config.*",
      "**/.*rc.*",
      "**/docs/**",
      "**/examples/**",
      "**/fixtures/**",
      "**/bench/**",
      "**/scripts/**",
      "**/vendor/**",
      "**/node_modules/**",
      "**/dist/**",
      "**/build/**",
      "**/generated/**",
    ],
  },
};

/** Which rules each gate runs when its file does not mention them. */
const ENABLED_BY_DEFAULT: Record<GateName, readonly GateRuleId[]> = {
  "security-gate": ["no-secrets", "forbidden-paths"],
  "phase-5-to-6": ["max-changed-lines", "required-checks", "tests-changed"],
};

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** The built-in gate, used when the repository has no file for it. */
export function defaultGate(name: GateName): Gate {
  const rules = {} as Record<GateRuleId, unknown>;
  for (const id of GATE_RULE_IDS) rules[id] = { enabled: ENABLED_BY_DEFAULT[name].includes(id), ...clone(RULE_DEFAULTS[id]) };
  return { name, source: undefined, rules: rules as unknown as GateRules };
}

// ---------------------------------------------------------------------------------------------
// The file schema: every key optional, unknown keys refused, messages that say what is expected.

function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null (an empty value)";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

const flag = z.boolean({ error: (issue) => `expected true or false, got ${show(issue.input)}` });

const glob = z
  .string({ error: (issue) => `expected a glob pattern (a string), got ${show(issue.input)}` })
  .min(1, "a glob pattern must not be empty")
  .refine((value) => !value.includes("\0"), "a glob pattern must not contain a NUL byte");

const globs = z.array(glob, { error: (issue) => `expected a list of glob patterns, got ${show(issue.input)}` });

/** A strict mapping whose unknown keys are named, with the keys that are allowed. */
function settings<Shape extends z.ZodRawShape>(shape: Shape, what = "key") {
  const known = Object.keys(shape).join(", ");
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === "unrecognized_keys"
        ? `unknown ${what}: use ${known}`
        : `expected a mapping of settings (${known}), got ${show(issue.input)}`,
  });
}

/** A rule written with no settings (`no-secrets:`) is that rule, enabled, with its defaults. */
function rule<Shape extends z.ZodRawShape>(shape: Shape) {
  return z.preprocess((value) => (value === null ? {} : value), settings({ enabled: flag, blocking: flag, ...shape }).partial());
}

const gateFileSchema = settings({
  rules: z
    .preprocess(
      (value) => (value === null ? {} : value),
      settings(
        {
          "no-secrets": rule({ exclude: globs }),
          "forbidden-paths": rule({ paths: globs, allow: globs }),
          "max-changed-lines": rule({
            max: z
              .number({ error: (issue) => `expected a whole number above 0, got ${show(issue.input)}` })
              .int({ error: (issue) => `expected a whole number above 0, got ${show(issue.input)}` })
              .positive({ error: (issue) => `expected a whole number above 0, got ${show(issue.input)}` }),
            exclude: globs,
          }),
          "required-checks": rule({
            checks: z.array(
              z
                .string({ error: (issue) => `expected a check run name (a string), got ${show(issue.input)}` })
                .trim()
                .min(1, "a check run name must not be empty"),
              { error: (issue) => `expected a list of check run names, got ${show(issue.input)}` },
            ),
          }),
          approvals: rule({
            min: z
              .number({ error: (issue) => `expected a whole number above 0, got ${show(issue.input)}` })
              .int({ error: (issue) => `expected a whole number above 0, got ${show(issue.input)}` })
              .positive({ error: (issue) => `expected a whole number above 0, got ${show(issue.input)}` }),
          }),
          "tests-changed": rule({ source: globs, tests: globs, exclude: globs }),
        },
        "rule",
      ).partial(),
    )
    .optional(),
}).partial();
type GateFile = z.infer<typeof gateFileSchema>;

function issuePath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const key of path) text += typeof key === "number" ? `[${key}]` : `${text ? "." : ""}${String(key)}`;
  return text;
}

function firstProblem(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const path = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0]!] : issue.path;
  const where = issuePath(path);
  return where ? `${where}: ${issue.message}` : issue.message;
}

/** Reads YAML text; a syntax error becomes one line with the line and column. */
function readYaml(text: string, source: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const at = error.linePos?.[0];
    const where = at ? `${source}:${at.line}:${at.col}` : source;
    const message = error.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    throw new InvalidInputError(`${where}: not valid YAML: ${message}`);
  }
  return doc.toJS({ maxAliasCount: 100 });
}

function mergeFile(name: GateName, file: GateFile, source: string): Gate {
  const gate = defaultGate(name);
  gate.source = source;
  const mentioned = file.rules ?? {};
  for (const id of GATE_RULE_IDS) {
    const settings = mentioned[id] as Partial<GateRules[GateRuleId]> | undefined;
    if (!settings) continue;
    // A rule named in the file runs unless the file says `enabled: false`.
    Object.assign(gate.rules[id], { enabled: true }, settings);
  }
  const checks = gate.rules["required-checks"].checks;
  if (gate.rules["required-checks"].enabled && checks.includes(name)) {
    throw new InvalidInputError(`${source}: rules.required-checks.checks: ${name} cannot require its own check run`);
  }
  gate.rules["required-checks"].checks = [...new Set(checks)];
  return gate;
}

/**
 * The gate `name` from the text of its file, or the built-in default when `text` is undefined.
 * `source` names the file in errors (for the app: path and ref, `security-gate.yml@main`).
 * Rules the file does not mention keep the gate's defaults; settings it gives replace them.
 */
export function resolveGate(name: GateName, text: string | undefined, source: string = gateFilePath(name)): Gate {
  if (text === undefined) return defaultGate(name);
  const data = readYaml(text, source) ?? {};
  const parsed = gateFileSchema.safeParse(data);
  if (!parsed.success) throw new InvalidInputError(`${source}: ${firstProblem(parsed.error)}`);
  return mergeFile(name, parsed.data, source);
}

function readGateFile(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new PwError(`cannot read gate file ${path} (${code}): check that it is a readable file`, { cause: error });
  }
}

/**
 * Both gates of the repository at `repoDir`: each from `.parallel-workers/gates/<name>.yml` when
 * present, else its default. A bad file throws an `InvalidInputError` naming file, key and problem.
 */
export function loadGates(repoDir: string): Record<GateName, Gate> {
  const gates = {} as Record<GateName, Gate>;
  for (const name of GATE_NAMES) {
    const path = join(repoDir, gateFilePath(name));
    const misnamed = path.replace(/\.yml$/, ".yaml");
    if (!existsSync(path) && existsSync(misnamed)) {
      throw new InvalidInputError(`gate file ${misnamed} is not read: rename it to ${name}.yml`);
    }
    gates[name] = resolveGate(name, readGateFile(path), path);
  }
  return gates;
}

// ---------------------------------------------------------------------------------------------
// `pw gate init`: the default files, written out with comments.

function yamlList(items: readonly string[], indent: string): string {
  return items.map((item) => `${indent}- ${JSON.stringify(item)}`).join("\n");
}

function defaultFileText(name: GateName): string {
  const d = RULE_DEFAULTS;
  if (name === "security-gate") {
    return `# ${name}: checked on every pull request (check run "${name}") and before a worker pushes.
# A rule with blocking: true fails the check and stops the push; false only reports.
# Rules not listed here keep their defaults. Docs: docs/gates.md in parallel-workers.
rules:
  # Secrets (tokens, keys, passwords) on added lines. A line with a "pw:allow-secret" comment is skipped.
  no-secrets:
    blocking: ${d["no-secrets"].blocking}
    # Paths not scanned, as globs (for example a corpus of fake secrets for tests).
    exclude: []
  # Files a change must not add or modify. Globs, case-insensitive; a pattern without "/" matches any directory.
  forbidden-paths:
    blocking: ${d["forbidden-paths"].blocking}
    paths:
${yamlList(d["forbidden-paths"].paths, "      ")}
    # Matches of "paths" that are fine anyway.
    allow:
${yamlList(d["forbidden-paths"].allow, "      ")}
`;
  }
  return `# ${name}: the quality gate before review (check run "${name}").
# These rules report but do not block until you set blocking: true.
# Rules not listed here keep their defaults. Docs: docs/gates.md in parallel-workers.
rules:
  # At most this many added + removed lines, not counting the excluded paths.
  max-changed-lines:
    blocking: ${d["max-changed-lines"].blocking}
    max: ${d["max-changed-lines"].max}
    exclude:
${yamlList(d["max-changed-lines"].exclude, "      ")}
  # Other check runs (CI jobs) that must conclude "success" on the head commit.
  required-checks:
    blocking: ${d["required-checks"].blocking}
    checks: []
    # checks: ["build", "test"]
  # How many people must approve the pull request (off unless listed; merge_flow.merge: auto waits for it).
  # approvals:
  #   blocking: false
  #   min: 1
  # A change to source files must change a test file too.
  tests-changed:
    blocking: ${d["tests-changed"].blocking}
    source:
${yamlList(d["tests-changed"].source, "      ")}
    tests:
${yamlList(d["tests-changed"].tests, "      ")}
    # Neither source nor test: docs, config, generated code.
    exclude:
${yamlList(d["tests-changed"].exclude, "      ")}
`;
}

/** The text `initGates` writes for each gate: its defaults, spelled out and commented. */
export const DEFAULT_GATE_FILES: Readonly<Record<GateName, string>> = {
  "security-gate": defaultFileText("security-gate"),
  "phase-5-to-6": defaultFileText("phase-5-to-6"),
};

export interface WrittenGateFile {
  name: GateName;
  /** Absolute path of the file written. */
  path: string;
  /** An existing file was replaced (only with `force`). */
  replaced: boolean;
}

/**
 * Writes both default gate files into the repository at `repoDir`. Refuses, before writing
 * anything, when one exists, unless `force`. Returns what it wrote.
 */
export function initGates(repoDir: string, options: { force?: boolean } = {}): WrittenGateFile[] {
  if (!existsSync(repoDir) || !statSync(repoDir).isDirectory()) {
    throw new NotFoundError(`directory ${repoDir} does not exist: pass the repository's directory`);
  }
  const targets = GATE_NAMES.map((name) => ({ name, path: join(repoDir, gateFilePath(name)) }));
  const existing = targets.filter((target) => existsSync(target.path));
  if (existing.length > 0 && !options.force) {
    const list = existing.map((target) => target.path).join(", ");
    throw new PwError(`gate file${existing.length === 1 ? "" : "s"} ${list} already exist${existing.length === 1 ? "s" : ""}: edit ${existing.length === 1 ? "it" : "them"}, or pass --force to overwrite with the defaults`);
  }
  mkdirSync(join(repoDir, GATES_DIR), { recursive: true });
  return targets.map(({ name, path }) => {
    const replaced = existsSync(path);
    writeFileSync(path, DEFAULT_GATE_FILES[name], { flag: options.force ? "w" : "wx" });
    return { name, path, replaced };
  });
}
