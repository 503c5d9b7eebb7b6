import type { DiffFile } from "./diff.js";
import type { Gate, GateName, GateRuleId, GateRules } from "./gate-files.js";
import { pathMatcher } from "./globs.js";
import { GATE_RULE_IDS } from "./gate-files.js";
import { ALLOW_SECRET_MARKER, SECRET_RULES, scanDiff, type SecretFinding } from "./secrets.js";

/** A check run on the head commit, as GitHub lists it (only the fields a gate reads). */
export interface CheckRunInfo {
  name: string;
  /** `queued`, `in_progress`, `completed`, ... */
  status: string;
  /** `success`, `failure`, ...; null until completed. */
  conclusion: string | null;
  /** GitHub's id: when a name appears more than once (a re-run), the highest id counts. */
  id?: number;
}

export interface GateInput {
  files: readonly DiffFile[];
  /**
   * Check runs of the head commit. Leave it out where there are none to know (the runner, before
   * it pushes): `required-checks` is then skipped rather than failed.
   */
  checkRuns?: readonly CheckRunInfo[];
  /** How many people approve the PR now (each reviewer's latest review); left out where there is no PR (before a push). */
  approvals?: number;
}

export type AnnotationLevel = "failure" | "warning" | "notice";

/** A check-run annotation (GitHub's shape, camelCase); `checkRunOutput` gives the API's names. */
export interface GateAnnotation {
  path: string;
  startLine: number;
  endLine: number;
  level: AnnotationLevel;
  title: string;
  message: string;
}

/**
 * `passed`; `failed`; `pending` (waiting on other check runs: not a pass); `skipped` (nothing to
 * judge here, such as check runs before a push).
 */
export type RuleStatus = "passed" | "failed" | "pending" | "skipped";

export interface RuleOutcome {
  rule: GateRuleId;
  blocking: boolean;
  status: RuleStatus;
  /** One line, no secrets: "2 possible secrets in 1 file". */
  summary: string;
  /** Markdown lines with the particulars (files, checks), already redacted. */
  details: string[];
}

/**
 * `failure` when a blocking rule failed or is pending; `neutral` when only non-blocking rules did
 * (they report without blocking); `success` otherwise.
 */
export type GateConclusion = "success" | "failure" | "neutral";

export interface GateResult {
  name: GateName;
  conclusion: GateConclusion;
  title: string;
  /** Markdown for the check run's summary; redacted, at most 65,535 characters. */
  summary: string;
  /** At most `MAX_ANNOTATIONS`, the most severe first. */
  annotations: GateAnnotation[];
  /** How many annotations were left out to stay within `MAX_ANNOTATIONS`. */
  annotationsOmitted: number;
  /** A blocking rule failed or is still pending: the push or merge should wait. */
  blocking: boolean;
  /** Some rule waits on other check runs: evaluating again when they complete may change this. */
  pending: boolean;
  /** One outcome per enabled rule, in `GATE_RULE_IDS` order. */
  rules: RuleOutcome[];
  /** Redacted secret findings of `no-secrets`, for logs; empty when the rule is not enabled. */
  findings: SecretFinding[];
}

/** GitHub takes at most 50 annotations per check-run request. */
export const MAX_ANNOTATIONS = 50;
/** GitHub's limit on a check run's summary. */
const MAX_SUMMARY = 65_535;

interface RuleEvaluation {
  outcome: RuleOutcome;
  annotations: GateAnnotation[];
  findings?: SecretFinding[];
}

function plural(count: number, word: string, many = `${word}s`): string {
  return `${count} ${count === 1 ? word : many}`;
}

/** Inline code that survives backticks in the text. */
function code(text: string): string {
  const clean = text.replace(/[\r\n]/g, " ");
  return clean.includes("`") ? `\`\` ${clean} \`\`` : `\`${clean}\``;
}

/** Files whose new content exists: removals change nothing that a rule about content can judge. */
function present(files: readonly DiffFile[]): DiffFile[] {
  return files.filter((file) => file.status !== "removed");
}

const SHOWN_FILES = 10;
const SHOWN_FINDINGS = 100;

function listPaths(paths: readonly string[]): string[] {
  const lines = paths.slice(0, SHOWN_FILES).map((path) => `- ${code(path)}`);
  if (paths.length > SHOWN_FILES) lines.push(`- and ${paths.length - SHOWN_FILES} more`);
  return lines;
}

function noSecrets(config: GateRules["no-secrets"], input: GateInput): RuleEvaluation {
  const level: AnnotationLevel = config.blocking ? "failure" : "warning";
  const excluded = pathMatcher(config.exclude);
  const findings = scanDiff(input.files, { exclude: config.exclude });
  const unread = present(input.files).filter((file) => file.patchMissing && !excluded(file.path));
  const binary = input.files.filter((file) => file.binary).length;
  const annotations: GateAnnotation[] = findings.map((finding) => ({
    path: finding.path,
    startLine: finding.line,
    endLine: finding.line,
    level,
    title: `no-secrets: ${finding.rule}`,
    message: `Possible ${SECRET_RULES[finding.rule]} (${finding.preview}). Remove it and rotate it; if it is not a secret, add a "${ALLOW_SECRET_MARKER}" comment on this line.`,
  }));
  for (const file of unread) {
    annotations.push({
      path: file.path,
      startLine: 1,
      endLine: 1,
      level: "notice",
      title: "no-secrets: not scanned",
      message: "The diff of this file was not available (too large), so its added lines were not scanned for secrets.",
    });
  }
  const details = findings
    .slice(0, SHOWN_FINDINGS)
    .map((finding) => `- ${code(`${finding.path}:${finding.line}`)} ${SECRET_RULES[finding.rule]} (${code(finding.rule)}), starts ${code(finding.preview)}`);
  if (findings.length > SHOWN_FINDINGS) details.push(`- and ${findings.length - SHOWN_FINDINGS} more`);
  if (findings.length > 0) details.push("", `Remove each value and rotate it. A line that is not a secret can carry a \`${ALLOW_SECRET_MARKER}\` comment.`);
  if (unread.length > 0) details.push("", `Not scanned, their diff was not available (too large):`, ...listPaths(unread.map((file) => file.path)));
  if (binary > 0) details.push("", `${plural(binary, "binary file")} not scanned.`);
  const files = new Set(findings.map((finding) => finding.path)).size;
  return {
    outcome: {
      rule: "no-secrets",
      blocking: config.blocking,
      status: findings.length > 0 ? "failed" : "passed",
      summary:
        findings.length > 0
          ? `${plural(findings.length, "possible secret")} in ${plural(files, "file")}`
          : `no secrets in added lines${unread.length > 0 ? ` (${plural(unread.length, "file")} not scanned)` : ""}`,
      details,
    },
    annotations,
    findings,
  };
}

function forbiddenPaths(config: GateRules["forbidden-paths"], input: GateInput): RuleEvaluation {
  const patterns = config.paths.map((pattern) => ({ pattern, matches: pathMatcher([pattern], { nocase: true }) }));
  const allowed = pathMatcher(config.allow, { nocase: true });
  const hits: { path: string; pattern: string }[] = [];
  for (const file of present(input.files)) {
    const hit = patterns.find((candidate) => candidate.matches(file.path));
    if (hit && !allowed(file.path)) hits.push({ path: file.path, pattern: hit.pattern });
  }
  const level: AnnotationLevel = config.blocking ? "failure" : "warning";
  return {
    outcome: {
      rule: "forbidden-paths",
      blocking: config.blocking,
      status: hits.length > 0 ? "failed" : "passed",
      summary: hits.length > 0 ? `${plural(hits.length, "forbidden file")} added or changed` : "no forbidden paths",
      details: hits.map((hit) => `- ${code(hit.path)} matches ${code(hit.pattern)}`),
    },
    annotations: hits.map((hit) => ({
      path: hit.path,
      startLine: 1,
      endLine: 1,
      level,
      title: "forbidden-paths",
      message: `This path matches the forbidden pattern ${hit.pattern}: keep such files out of the repository (remove it, and rotate any key it held).`,
    })),
  };
}

function maxChangedLines(config: GateRules["max-changed-lines"], input: GateInput): RuleEvaluation {
  const excluded = pathMatcher(config.exclude);
  const counted = input.files.filter((file) => !excluded(file.path));
  const total = counted.reduce((sum, file) => sum + file.additions + file.deletions, 0);
  const ignored = input.files.length - counted.length;
  const over = total > config.max;
  const largest = [...counted]
    .sort((a, b) => b.additions + b.deletions - (a.additions + a.deletions))
    .slice(0, 5)
    .filter((file) => file.additions + file.deletions > 0);
  const details = over ? ["Largest changes:", ...largest.map((file) => `- ${code(file.path)}: +${file.additions} -${file.deletions}`)] : [];
  if (ignored > 0) details.push(`${plural(ignored, "file")} not counted: ${ignored === 1 ? "it matches" : "they match"} \`exclude\`.`);
  return {
    outcome: {
      rule: "max-changed-lines",
      blocking: config.blocking,
      status: over ? "failed" : "passed",
      summary: `${plural(total, "line")} changed, limit ${config.max}`,
      details,
    },
    annotations: [],
  };
}

function requiredChecks(config: GateRules["required-checks"], input: GateInput): RuleEvaluation {
  const base = { rule: "required-checks" as const, blocking: config.blocking };
  if (config.checks.length === 0) {
    return { outcome: { ...base, status: "passed", summary: "no checks required", details: [] }, annotations: [] };
  }
  if (!input.checkRuns) {
    return {
      outcome: { ...base, status: "skipped", summary: "check runs not known here (before push)", details: [] },
      annotations: [],
    };
  }
  const missing: string[] = [];
  const waiting: string[] = [];
  const failed: string[] = [];
  const passed: string[] = [];
  for (const name of config.checks) {
    const runs = input.checkRuns.filter((run) => run.name === name);
    // A re-run replaces the earlier run: the highest id, else the last listed, counts.
    const latest = runs.reduce<CheckRunInfo | undefined>(
      (best, run) => (best === undefined || (run.id ?? Infinity) >= (best.id ?? -Infinity) ? run : best),
      undefined,
    );
    if (!latest) missing.push(name);
    else if (latest.status !== "completed") waiting.push(`${name} (${latest.status})`);
    else if (latest.conclusion !== "success") failed.push(`${name} (${latest.conclusion ?? "no conclusion"})`);
    else passed.push(name);
  }
  const details: string[] = [];
  if (failed.length > 0) details.push(`- did not succeed: ${failed.map(code).join(", ")}`);
  if (waiting.length > 0) details.push(`- still running: ${waiting.map(code).join(", ")}`);
  if (missing.length > 0) details.push(`- missing, no check run yet: ${missing.map(code).join(", ")}`);
  if (passed.length > 0) details.push(`- succeeded: ${passed.map(code).join(", ")}`);
  const status: RuleStatus = failed.length > 0 ? "failed" : waiting.length + missing.length > 0 ? "pending" : "passed";
  const summary =
    status === "passed"
      ? `${plural(passed.length, "required check")} succeeded`
      : [
          failed.length > 0 ? `${failed.length} did not succeed` : "",
          waiting.length > 0 ? `${waiting.length} still running` : "",
          missing.length > 0 ? `${missing.length} missing` : "",
        ]
          .filter(Boolean)
          .join(", ") + ` of ${plural(config.checks.length, "required check")}`;
  return { outcome: { ...base, status, summary, details }, annotations: [] };
}

function approvals(config: GateRules["approvals"], input: GateInput): RuleEvaluation {
  const base = { rule: "approvals" as const, blocking: config.blocking };
  if (input.approvals === undefined) {
    return { outcome: { ...base, status: "skipped", summary: "approvals not known here (no pull request)", details: [] }, annotations: [] };
  }
  const status = input.approvals >= config.min ? "passed" : "failed";
  return { outcome: { ...base, status, summary: `${input.approvals} of ${plural(config.min, "approval")}`, details: [] }, annotations: [] };
}

function testsChanged(config: GateRules["tests-changed"], input: GateInput): RuleEvaluation {
  const isTest = pathMatcher(config.tests);
  const isSource = pathMatcher(config.source);
  const isExcluded = pathMatcher(config.exclude);
  const files = present(input.files).filter((file) => file.status !== "renamed" || file.additions + file.deletions > 0);
  const tests = files.filter((file) => isTest(file.path));
  const sources = files.filter((file) => !isTest(file.path) && !isExcluded(file.path) && isSource(file.path));
  const base = { rule: "tests-changed" as const, blocking: config.blocking };
  if (sources.length === 0) {
    return { outcome: { ...base, status: "passed", summary: "no source files changed", details: [] }, annotations: [] };
  }
  if (tests.length > 0) {
    return {
      outcome: { ...base, status: "passed", summary: `${plural(sources.length, "source file")} and ${plural(tests.length, "test file")} changed`, details: [] },
      annotations: [],
    };
  }
  return {
    outcome: {
      ...base,
      status: "failed",
      summary: `${plural(sources.length, "source file")} changed, no test file`,
      details: ["Source files changed without a test change:", ...listPaths(sources.map((file) => file.path))],
    },
    annotations: [],
  };
}

const EVALUATORS: { [K in GateRuleId]: (config: GateRules[K], input: GateInput) => RuleEvaluation } = {
  "no-secrets": noSecrets,
  "forbidden-paths": forbiddenPaths,
  "max-changed-lines": maxChangedLines,
  "required-checks": requiredChecks,
  approvals,
  "tests-changed": testsChanged,
};

function evaluateRule<K extends GateRuleId>(id: K, rules: GateRules, input: GateInput): RuleEvaluation {
  return EVALUATORS[id](rules[id], input);
}

const LEVEL_ORDER: Record<AnnotationLevel, number> = { failure: 0, warning: 1, notice: 2 };
const STATUS_MARK: Record<RuleStatus, string> = { passed: "✅ passed", failed: "❌ failed", pending: "⏳ pending", skipped: "➖ skipped" };

function isProblem(outcome: RuleOutcome): boolean {
  return outcome.status === "failed" || outcome.status === "pending";
}

function titleFor(conclusion: GateConclusion, rules: readonly RuleOutcome[]): string {
  if (rules.length === 0) return "No rules enabled";
  if (conclusion === "success") {
    const judged = rules.filter((rule) => rule.status === "passed").length;
    return judged === rules.length ? `All ${plural(rules.length, "rule")} passed` : `${judged} of ${plural(rules.length, "rule")} passed, the rest skipped`;
  }
  const blocking = conclusion === "failure";
  const problems = rules.filter((rule) => isProblem(rule) && rule.blocking === blocking);
  const text = `${blocking ? "Blocked" : "Not blocking"}: ${problems.map((rule) => `${rule.rule}: ${rule.summary}`).join("; ")}`;
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

function summaryFor(name: GateName, conclusion: GateConclusion, rules: readonly RuleOutcome[], shown: number, omitted: number): string {
  const blockers = rules.filter((rule) => rule.blocking && isProblem(rule)).map((rule) => code(rule.rule));
  const soft = rules.filter((rule) => !rule.blocking && isProblem(rule)).map((rule) => code(rule.rule));
  const lines: string[] = [];
  if (rules.length === 0) lines.push(`**${name}** has no rules enabled.`);
  else if (conclusion === "failure") lines.push(`**${name} blocks:** ${blockers.join(", ")} ${blockers.length === 1 ? "is" : "are"} blocking and did not pass.`);
  else if (conclusion === "neutral") lines.push(`**${name} does not block**, but ${soft.join(", ")} did not pass (not blocking).`);
  else lines.push(`**${name} passed.**`);
  if (rules.length > 0) {
    lines.push("", "| rule | blocking | result |", "| --- | --- | --- |");
    for (const rule of rules) lines.push(`| ${code(rule.rule)} | ${rule.blocking ? "yes" : "no"} | ${STATUS_MARK[rule.status]}: ${rule.summary.replace(/\|/g, "\\|")} |`);
  }
  for (const rule of rules) {
    if (rule.details.length === 0) continue;
    lines.push("", `### ${rule.rule}`, "", ...rule.details);
  }
  if (omitted > 0) {
    lines.push("", `${shown} annotations shown; ${omitted} more not shown (GitHub takes ${MAX_ANNOTATIONS} per update).`);
  }
  let summary = lines.join("\n");
  if (summary.length > MAX_SUMMARY) {
    const note = "\n\n(summary cut: too long for a check run)";
    summary = summary.slice(0, MAX_SUMMARY - note.length) + note;
  }
  return summary;
}

/**
 * Runs the enabled rules of `gate` over a change. Pure: no I/O, same input, same result.
 * A failing (or pending) blocking rule gives `failure`; a failing non-blocking rule gives `neutral`.
 */
export function evaluateGate(gate: Gate, input: GateInput): GateResult {
  const evaluations = GATE_RULE_IDS.filter((id) => gate.rules[id].enabled).map((id) => evaluateRule(id, gate.rules, input));
  const rules = evaluations.map((evaluation) => evaluation.outcome);
  const blocking = rules.some((rule) => rule.blocking && isProblem(rule));
  const conclusion: GateConclusion = blocking ? "failure" : rules.some(isProblem) ? "neutral" : "success";
  const all = evaluations
    .flatMap((evaluation) => evaluation.annotations)
    .sort((a, b) => LEVEL_ORDER[a.level] - LEVEL_ORDER[b.level] || a.path.localeCompare(b.path) || a.startLine - b.startLine);
  const annotations = all.slice(0, MAX_ANNOTATIONS);
  const omitted = all.length - annotations.length;
  return {
    name: gate.name,
    conclusion,
    title: titleFor(conclusion, rules),
    summary: summaryFor(gate.name, conclusion, rules, annotations.length, omitted),
    annotations,
    annotationsOmitted: omitted,
    blocking,
    pending: rules.some((rule) => rule.status === "pending"),
    rules,
    findings: evaluations.flatMap((evaluation) => evaluation.findings ?? []),
  };
}

/** Evaluates several gates over the same change (both of `loadGates`, say). */
export function evaluateGates(gates: Readonly<Record<GateName, Gate>>, input: GateInput): GateResult[] {
  return Object.values(gates).map((gate) => evaluateGate(gate, input));
}

/** The `output` of a GitHub check-run create/update request, with the API's field names. */
export interface CheckRunOutput {
  title: string;
  summary: string;
  annotations: {
    path: string;
    start_line: number;
    end_line: number;
    annotation_level: AnnotationLevel;
    title: string;
    message: string;
  }[];
}

export function checkRunOutput(result: GateResult): CheckRunOutput {
  return {
    title: result.title,
    summary: result.summary,
    annotations: result.annotations.map((annotation) => ({
      path: annotation.path,
      start_line: annotation.startLine,
      end_line: annotation.endLine,
      annotation_level: annotation.level,
      title: annotation.title,
      message: annotation.message,
    })),
  };
}

/**
 * A result as plain text for a terminal or a log line block: the gate, its conclusion, one line
 * per rule, then the particulars of each rule that did not pass (secrets only as previews).
 */
export function formatGateResult(result: GateResult): string {
  const lines = [`${result.name}: ${result.conclusion}${result.blocking ? " (blocking)" : ""}: ${result.title}`];
  for (const rule of result.rules) {
    lines.push(`  ${rule.rule} [${rule.blocking ? "blocking" : "report only"}] ${rule.status}: ${rule.summary}`);
    if (!isProblem(rule)) continue;
    for (const detail of rule.details) {
      if (detail.trim() !== "") lines.push(`    ${detail.replace(/`/g, "")}`);
    }
  }
  return lines.join("\n");
}
