import { NotFoundError } from "../core/errors.js";
import { isTerminal } from "../core/states.js";
import type { Worker } from "../core/worker.js";
import type { Logger } from "../log/logger.js";
import type { WorkerStore } from "../store/store.js";
import { effects } from "./effects.js";
import type { FollowUpQueue } from "./follow-ups.js";
import type { RepositoryGitHub } from "./github.js";
import { parseStatusCommentMarker, renderStatusComment, statusCommentKey } from "./status.js";

export interface StatusCommentsDeps {
  store: WorkerStore;
  logger: Logger;
  now?: () => number;
}

/** How far back each pass looks beyond the previous one, for writes that raced it. */
const PASS_SLACK_MS = 2000;
/** How often a pass reads every worker again, for comments whose follow-up gave up. */
const FULL_PASS_MS = 10 * 60_000;

/**
 * The one status comment on the issue a worker came from. `write` (the `status` follow-up) makes
 * it show the worker as the store holds it: edits the comment it knows, finds its own (by a
 * hidden marker) when it knows none, creates it otherwise, and records which comment and what it
 * showed. Writes for one worker run in its issue's lane of the follow-up queue, one after
 * another, so a command and the watcher never both create it.
 */
export class StatusComments {
  private lastPass: string | undefined;
  private lastFullPass = 0;

  constructor(private readonly deps: StatusCommentsDeps) {}

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  /** Brings the worker's status comment up to date through `github`; `created` skips looking for an old one. */
  async write(workerId: string, github: RepositoryGitHub, created = false): Promise<void> {
    const worker = await this.deps.store.getWorker(workerId);
    if (!worker?.issueNumber || !worker.repo) return;
    const key = statusCommentKey(worker);
    if (worker.statusCommentId !== null && worker.statusCommentKey === key) return;
    const body = renderStatusComment(worker);
    let commentId = worker.statusCommentId;
    if (commentId !== null && !(await github.editComment(commentId, body))) commentId = null;
    if (commentId === null) {
      const found = created ? undefined : await github.findComment(worker.issueNumber, (text) => parseStatusCommentMarker(text) === worker.id);
      if (found !== undefined) await github.editComment(found, body);
      commentId = found ?? (await github.comment(worker.issueNumber, body));
    }
    try {
      await this.deps.store.updateWorker(worker.id, { statusCommentId: commentId, statusCommentKey: key });
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error; // removed meanwhile
    }
  }

  /**
   * Workers from an issue whose comment is behind the store (a runner moved them). A pass reads
   * only the workers changed since the previous one (with a little slack); the first, and one
   * every ten minutes, read them all.
   */
  async behind(): Promise<Worker[]> {
    const now = this.now();
    const full = now - this.lastFullPass >= FULL_PASS_MS;
    if (full) this.lastFullPass = now;
    const since = full ? undefined : this.lastPass;
    this.lastPass = new Date(now - PASS_SLACK_MS).toISOString();
    const changed = await this.deps.store.listWorkers({ withIssue: true, ...(since ? { updatedSince: since } : {}) });
    // a worker that ended before it ever had a comment gets none now
    return changed.filter((w) => w.repo && statusCommentKey(w) !== w.statusCommentKey && !(w.statusCommentId === null && isTerminal(w.state)));
  }

  /**
   * One pass of the watcher: queues a status follow-up for every worker whose comment is behind,
   * once per version of the worker (its `updatedAt`; one that gave up is queued again by a full
   * pass). Reads the local store only. Returns how many were queued.
   */
  async syncChanged(followUps: FollowUpQueue): Promise<number> {
    const queued = (await this.behind()).map((w) =>
      effects.status(w.repo!, w.issueNumber!, w.id, `@${w.updatedAt}`, { installationId: null, correlationId: null }),
    );
    return (await followUps.add(queued)).length;
  }
}
