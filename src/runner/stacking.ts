/**
 * A stacked start: a task whose one unmerged dependency has a PR starts from that task's branch
 * (`stack: true`), and its PR targets that branch. Recorded on the worker before its agent runs:
 * its base is the parent's branch and its merge-flow record names the parent (for the PR's
 * description, the status comment and `pw worker get`). When the parent merges, the app moves it
 * to the parent's base and asks for a rebase (`base-updates.ts`).
 */
import { existsSync } from "node:fs";
import type { StackRecord } from "../core/merge-flow.js";
import type { Worker } from "../core/worker.js";
import { commitsBetween, fetchBranch, headOf, isDirty, resetTo, trackingRef } from "../git/sync.js";
import { recordBase } from "../git/worktrees.js";
import { workerLogger } from "../log/logger.js";
import type { RepoContext } from "./context.js";
import type { PipelineDeps } from "./pipeline.js";
import { appendWorkerLog, workerLogPath } from "./worklog.js";

/**
 * Puts a claimed worker on its parent's branch: the parent's branch is fetched (a person may have
 * pushed to it) and made the worker's base; a worktree made already from the old base, with
 * nothing of its own yet, is moved to the parent's head. Returns the worker as stored now.
 */
export async function stackOnParent(deps: Pick<PipelineDeps, "store" | "logger" | "paths">, ctx: RepoContext, worker: Worker, parent: Worker): Promise<Worker> {
  const branch = parent.branch!;
  const fetched = await fetchBranch(ctx.repo, branch).catch(() => undefined);
  // the local branch is the parent's own when its worktree is on this machine; else origin's
  if (!(await ctx.repo.branchExists(branch))) {
    if (!fetched) throw new Error(`the branch ${branch} of task ${parent.taskId} is neither here nor on origin: it cannot be stacked on`);
    await ctx.repo.run(["branch", "--no-track", branch, trackingRef(branch)]);
  }
  const start = (await ctx.repo.resolveCommit(branch))!;
  const base = branch;
  const stackedOn: StackRecord = {
    workerId: parent.id,
    taskId: parent.taskId ?? parent.id,
    branch,
    prNumber: parent.prNumber,
    prUrl: parent.prUrl,
    base: parent.baseBranch ?? branch,
  };
  const path = worker.worktreePath;
  if (path && existsSync(path) && worker.baseBranch && worker.baseBranch !== base) {
    const own = await commitsBetween(ctx.repo, path, worker.baseBranch).catch(() => []);
    if (own.length === 0 && !(await isDirty(ctx.repo, path)) && (await headOf(ctx.repo, path)) !== start) await resetTo(ctx.repo, path, start);
    recordBase(path, base);
  }
  const stacked = await deps.store.updateWorker(worker.id, { baseBranch: base, mergeFlow: { ...worker.mergeFlow, stack: true, stackedOn } });
  appendWorkerLog(workerLogPath(deps.paths.logsDir, worker.id), `starts stacked on ${stackedOn.taskId} (${branch}${parent.prNumber ? `, PR #${parent.prNumber}` : ""})`);
  workerLogger(deps.logger, { workerId: worker.id, taskId: worker.taskId }).info(
    { parent: parent.id, parent_pr: parent.prNumber, base: branch },
    "worker starts stacked on its parent's branch",
  );
  return stacked;
}
