import type { Worker } from "../core/worker.js";
import {
  evaluateGates,
  formatGateResult,
  gateFilePath,
  GATE_NAMES,
  gitDiffArgs,
  parseUnifiedDiff,
  resolveGate,
  type Gate,
  type GateName,
  type GateResult,
} from "../gates/index.js";
import type { Repository } from "../git/repo.js";

/**
 * The gates as the base branch has them: the change under review must not be able to relax the
 * gate that judges it, so a gate file edited on the worker's branch does not count.
 */
export async function gatesAt(repo: Repository, rev: string): Promise<Record<GateName, Gate>> {
  const gates = {} as Record<GateName, Gate>;
  for (const name of GATE_NAMES) {
    const path = gateFilePath(name);
    const text = await repo.tryRun(["show", `${rev}:${path}`]);
    gates[name] = resolveGate(name, text, `${path}@${rev}`);
  }
  return gates;
}

/** Both gates over the worker's change since it left its base, exactly what its PR will show. */
export async function evaluateWorkerGates(
  repo: Repository,
  worker: Pick<Worker, "worktreePath" | "baseBranch">,
): Promise<GateResult[]> {
  const base = worker.baseBranch ?? "main";
  const gates = await gatesAt(repo, base);
  const diff = await repo.run(gitDiffArgs(base), worker.worktreePath ?? repo.root);
  return evaluateGates(gates, { files: parseUnifiedDiff(diff) });
}

/** Why the results block a push (first line a summary, then each blocking rule), or undefined. */
export function blockingReason(results: readonly GateResult[]): string | undefined {
  const blocked = results.filter((r) => r.blocking);
  if (blocked.length === 0) return undefined;
  const lines = [`${blocked.map((r) => r.name).join(" and ")} blocked the push: nothing was pushed`];
  for (const result of blocked) {
    for (const rule of result.rules) {
      if (!rule.blocking || rule.status === "passed" || rule.status === "skipped") continue;
      lines.push(`${result.name} ${rule.rule}: ${rule.summary}`);
      for (const detail of rule.details.slice(0, 10)) if (detail.trim()) lines.push(`  ${detail.replace(/`/g, "")}`);
    }
  }
  return lines.join("\n");
}

export { formatGateResult };
