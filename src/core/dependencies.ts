import { startPlan } from "./merge-flow.js";
import type { Worker } from "./worker.js";

/**
 * Why a NEEDS_INIT worker cannot start yet, or undefined when it can: every dependency merged,
 * or (a stacked task) all but one, whose PR it starts stacked on (`core/merge-flow.ts`).
 */
export function waitingFor(worker: Worker, all: readonly Worker[]): string | undefined {
  const plan = startPlan(worker, all);
  return plan.kind === "wait" ? plan.reason : undefined;
}
