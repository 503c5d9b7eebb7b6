/**
 * The gates as check runs: `security-gate` and `phase-5-to-6`, one run per gate per head commit,
 * updated in place. The diff comes from the PR's files; the gate files from the base branch, so a
 * change cannot relax the gate that judges it; `phase-5-to-6` also sees the other check runs of
 * the head commit (its `required-checks` rule).
 */
import { PwError } from "../core/errors.js";
import { approvalCount } from "../core/reviews.js";
import type { Worker } from "../core/worker.js";
import {
  checkRunOutput,
  diffFilesFromPullRequest,
  evaluateGate,
  gateFilePath,
  GATE_NAMES,
  resolveGate,
  type GateName,
  type GateResult,
} from "../gates/index.js";
import { workerLogger } from "../log/logger.js";
import type { NewFollowUp } from "../store/store.js";
import type { AppDeps } from "./deps.js";
import { effects } from "./effects.js";
import type { CheckRunInput, RepositoryGitHub } from "./github.js";
import { workersOf } from "./pull-requests.js";

/** A PR as far as the gates need it. */
export interface GatedPullRequest {
  number: number;
  headSha: string;
  baseRef: string;
  headRef: string;
}

export function isGateName(name: string): name is GateName {
  return (GATE_NAMES as readonly string[]).includes(name);
}

/** The worker whose branch a same-repository PR is on (check payloads carry no body, so no marker). */
export async function workerOnBranch(deps: AppDeps, repository: string, branch: string): Promise<Worker | undefined> {
  return (await workersOf(deps, repository))
    .filter((w) => w.branch === branch)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
}

/** A gate file that cannot be read is a failed check, with the reason, never a silent pass. */
function brokenGate(name: GateName, error: Error): CheckRunInput["output"] & { conclusion: "failure" } {
  return {
    conclusion: "failure",
    title: `${name} could not run`,
    summary: `The gate file could not be used, so nothing was checked:\n\n${error.message.split("\n")[0]}\n\nFix \`${gateFilePath(name)}\` on the base branch, then re-run this check.`,
  };
}

/**
 * Evaluates the gates `names` on the PR and ensures their check runs. Returns the results (a
 * gate whose file is broken is reported as failed and left out of the results).
 */
export async function runGateChecks(
  github: RepositoryGitHub,
  pr: GatedPullRequest,
  names: readonly GateName[] = GATE_NAMES,
): Promise<GateResult[]> {
  const files = await github.pullRequestFiles(pr.number);
  // the PR's approvals, read only when a gate asks for them
  const approvals = async () => approvalCount(await github.reviews(pr.number));
  return gateCommit(github, { headSha: pr.headSha, baseRef: pr.baseRef }, files, names, approvals);
}

/**
 * Evaluates the gates `names` over a change (GitHub's file list: a PR's, or a comparison's) and
 * ensures their check runs on `target.headSha`, reading the gate files from `target.baseRef`.
 * `approvals` counts the PR's approvals when a gate's `approvals` rule is on (none for a merge group).
 */
export async function gateCommit(
  github: RepositoryGitHub,
  target: { headSha: string; baseRef: string },
  changedFiles: unknown[],
  names: readonly GateName[],
  approvals?: () => Promise<number>,
): Promise<GateResult[]> {
  const files = diffFilesFromPullRequest(changedFiles);
  const others = (await github.checkRuns(target.headSha)).filter((run) => !isGateName(run.name));
  const results: GateResult[] = [];
  for (const name of names) {
    let result: GateResult;
    try {
      const path = gateFilePath(name);
      const gate = resolveGate(name, await github.fileAt(path, target.baseRef), `${path}@${target.baseRef}`);
      const approved = gate.rules.approvals.enabled && approvals ? await approvals() : undefined;
      result = evaluateGate(gate, { files, checkRuns: others, ...(approved === undefined ? {} : { approvals: approved }) });
    } catch (error) {
      if (!(error instanceof PwError)) throw error;
      const { conclusion, ...output } = brokenGate(name, error);
      await github.ensureCheckRun({ name, headSha: target.headSha, conclusion, output });
      continue;
    }
    await github.ensureCheckRun({ name, headSha: target.headSha, conclusion: result.conclusion, output: checkRunOutput(result) });
    results.push(result);
  }
  return results;
}

/**
 * The `gates` follow-up: the gates `names` on a worker's PR, as check runs. A PR whose worker has
 * merged, closed or gone since the delivery is not gated any more.
 */
export async function gatePullRequestOfWorker(
  deps: AppDeps,
  github: RepositoryGitHub,
  workerId: string,
  pr: GatedPullRequest,
  names: readonly GateName[],
  correlationId: string | null,
): Promise<GateResult[]> {
  const worker = await deps.store.getWorker(workerId);
  if (!worker || worker.state === "MERGED" || worker.state === "ABANDONED") return [];
  const results = await runGateChecks(github, pr, names);
  const log = workerLogger(deps.logger, { workerId: worker.id, taskId: worker.taskId, correlationId });
  log.info({ pr: pr.number, head_sha: pr.headSha, gates: results.map((r) => `${r.name}:${r.conclusion}`).join(" ") }, "gates checked");
  return results;
}

/** A check_run or check_suite delivery, reduced to what the gates and the rework loop need. */
export interface CheckEvent {
  deliveryId: string;
  repository: string;
  installationId: number | null;
  kind: "check_run.rerequested" | "check_run.completed" | "check_suite.rerequested" | "check_suite.completed";
  /** The check run's name (check_run events). */
  checkName?: string;
  /** The check run's id (check_run events). */
  runId?: number;
  /** The suite: the delivery's own (check_suite), or the run's (check_run). */
  suiteId?: number | null;
  /** How the run or suite ended (`completed` events): `failure` and `timed_out` may start a rework round. */
  conclusion?: string | null;
  pullRequests: GatedPullRequest[];
}

/**
 * The gates a check delivery runs again, as follow-ups:
 * - `check_run.rerequested` of one of our gates: that gate;
 * - `check_run.completed` of any other check: `phase-5-to-6` (its required checks may pass now);
 * - `check_suite.rerequested`: both gates.
 * Only PRs of workers count; our own runs completing never trigger anything (no loops).
 */
export async function gatesOfCheckEvent(deps: AppDeps, event: CheckEvent): Promise<NewFollowUp[]> {
  let names: GateName[];
  if (event.kind === "check_run.rerequested") {
    if (!event.checkName || !isGateName(event.checkName)) return [];
    names = [event.checkName];
  } else if (event.kind === "check_run.completed") {
    if (!event.checkName || isGateName(event.checkName)) return [];
    names = ["phase-5-to-6"];
  } else if (event.kind === "check_suite.rerequested") names = [...GATE_NAMES];
  else return [];
  const gates: NewFollowUp[] = [];
  for (const pr of event.pullRequests) {
    const worker = await workerOnBranch(deps, event.repository, pr.headRef);
    if (worker) gates.push(effects.gates(event.repository, worker.id, pr, names, { installationId: event.installationId, correlationId: event.deliveryId }));
  }
  return gates;
}
