/**
 * Gates: the security gate (secrets, forbidden paths) and the phase-5-to-6 quality gate, read
 * from `.parallel-workers/gates/*.yml` and evaluated over a diff. Pure evaluation; the app turns
 * results into check runs, the runner into a pre-push decision.
 */
export {
  diffFilesFromPullRequest,
  gitDiffArgs,
  parseUnifiedDiff,
  pullRequestFileSchema,
  type AddedLine,
  type DiffFile,
  type DiffFileStatus,
  type PullRequestFile,
} from "./diff.js";
export {
  ALLOW_SECRET_MARKER,
  SECRET_RULE_IDS,
  SECRET_RULES,
  formatFinding,
  renderFindings,
  scanAddedLines,
  scanDiff,
  scanText,
  scanUnifiedDiff,
  type ScanOptions,
  type SecretFinding,
  type SecretRuleId,
} from "./secrets.js";
export {
  DEFAULT_GATE_FILES,
  GATE_NAMES,
  GATE_RULE_IDS,
  GATES_DIR,
  defaultGate,
  gateFilePath,
  initGates,
  loadGates,
  resolveGate,
  type ForbiddenPathsRule,
  type Gate,
  type GateName,
  type GateRuleId,
  type GateRules,
  type MaxChangedLinesRule,
  type NoSecretsRule,
  type RequiredChecksRule,
  type TestsChangedRule,
  type WrittenGateFile,
} from "./gate-files.js";
export {
  MAX_ANNOTATIONS,
  checkRunOutput,
  evaluateGate,
  evaluateGates,
  formatGateResult,
  type AnnotationLevel,
  type CheckRunInfo,
  type CheckRunOutput,
  type GateAnnotation,
  type GateConclusion,
  type GateInput,
  type GateResult,
  type RuleOutcome,
  type RuleStatus,
} from "./evaluate.js";
