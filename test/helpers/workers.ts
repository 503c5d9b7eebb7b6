import type { Worker } from "../../src/core/worker.js";

/** A whole Worker record for pure tests: every field empty, then `fields`. */
export function workerRecord(fields: Partial<Worker> & { id: string }): Worker {
  return {
    taskId: null,
    state: "NEEDS_INIT",
    repo: null,
    project: null,
    repoPath: null,
    branch: null,
    baseBranch: null,
    worktreePath: null,
    description: null,
    agent: null,
    prNumber: null,
    prUrl: null,
    error: null,
    labels: [],
    milestone: null,
    dependsOn: [],
    issueNumber: null,
    owner: null,
    leaseUntil: null,
    pid: null,
    request: null,
    statusCommentId: null,
    statusCommentKey: null,
    reworkRounds: 0,
    automaticReworkRounds: 0,
    reworkCause: null,
    runnerId: null,
    port: null,
    mergeFlow: {},
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    ...fields,
  };
}
