import { NotFoundError } from "../core/errors.js";
import { isTerminal } from "../core/states.js";
import type { Worker } from "../core/worker.js";
import type { Logger } from "../log/logger.js";
import type { WorkerStore } from "../store/store.js";
import { repositoryGitHub, type OctokitFor, type RepositoryGitHub } from "./github.js";
import { parseStatusCommentMarker, renderStatusComment, statusCommentKey } from "./status.js";

export interface StatusCommentsDeps {
  store: WorkerStore;
  logger: Logger;
  /** An Octokit for a repository, for changes no delivery brought (the runner's). */
  octokitFor?: OctokitFor;
  now?: () => number;
}

const FIRST_BACKOFF_MS = 2000;
const MAX_BACKOFF_MS = 10 * 60_000;
/** How far back each pass looks beyond the previous one, for writes that raced it. */
const PASS_SLACK_MS = 2000;

/**
 * The one status comment on the issue a worker came from. `ensure` makes it show the worker as
 * the store holds it: edits the comment it knows, finds its own (by a hidden marker) when it
 * knows none, creates it otherwise, and records which comment and what it showed. Calls for one
 * worker run one after another, so a handler and the watcher never both create it.
 */
export class StatusComments {
  private readonly queues = new Map<string, Promise<void>>();
  private readonly retryAt = new Map<string, { at: number; delay: number }>();
  private syncing: Promise<number> | undefined;
  private lastPass: string | undefined;

  constructor(private readonly deps: StatusCommentsDeps) {}

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  /** Brings the worker's status comment up to date through `github`; `created` skips looking for an old one. */
  ensure(workerId: string, github: RepositoryGitHub, options: { created?: boolean } = {}): Promise<void> {
    const previous = this.queues.get(workerId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.write(workerId, github, options.created ?? false));
    const tail = next.catch(() => undefined);
    this.queues.set(workerId, tail);
    void tail.then(() => {
      if (this.queues.get(workerId) === tail) this.queues.delete(workerId);
    });
    return next;
  }

  private async write(workerId: string, github: RepositoryGitHub, created: boolean): Promise<void> {
    const worker = this.deps.store.getWorker(workerId);
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
      this.deps.store.updateWorker(worker.id, { statusCommentId: commentId, statusCommentKey: key });
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error; // removed meanwhile
    }
  }

  /**
   * Workers from an issue whose comment is behind the store (a runner moved them, or a write
   * failed). The first pass reads every such worker; later ones only those changed since the
   * previous pass (with a little slack), plus those waiting to be retried.
   */
  behind(): Worker[] {
    const now = this.now();
    const since = this.lastPass;
    this.lastPass = new Date(now - PASS_SLACK_MS).toISOString();
    const changed = this.deps.store.listWorkers({ withIssue: true, ...(since ? { updatedSince: since } : {}) });
    const retried = [...this.retryAt.keys()]
      .filter((id) => !changed.some((w) => w.id === id))
      .map((id) => this.deps.store.getWorker(id))
      .filter((w): w is Worker => w !== undefined);
    return [...changed, ...retried].filter((w) => {
      if (!w.repo || statusCommentKey(w) === w.statusCommentKey) {
        this.retryAt.delete(w.id);
        return false;
      }
      // a worker that ended before it ever had a comment gets none now
      if (w.statusCommentId === null && isTerminal(w.state)) return false;
      const wait = this.retryAt.get(w.id);
      return !wait || wait.at <= now;
    });
  }

  /**
   * One pass of the watcher: edits every status comment that is behind. Reads the local store
   * only; GitHub is called just for comments that change. Returns how many were brought up to date.
   */
  syncChanged(): Promise<number> {
    this.syncing ??= this.syncOnce().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async syncOnce(): Promise<number> {
    const octokitFor = this.deps.octokitFor;
    if (!octokitFor) return 0;
    let done = 0;
    for (const worker of this.behind()) {
      try {
        await this.ensure(worker.id, repositoryGitHub(await octokitFor(worker.repo!), worker.repo!));
        this.retryAt.delete(worker.id);
        done++;
      } catch (error) {
        const delay = Math.min(MAX_BACKOFF_MS, (this.retryAt.get(worker.id)?.delay ?? FIRST_BACKOFF_MS / 2) * 2);
        this.retryAt.set(worker.id, { at: this.now() + delay, delay });
        this.deps.logger.warn(
          { worker_id: worker.id, task_id: worker.taskId, err_message: (error as Error).message.split("\n")[0], retry_in_ms: delay },
          "status comment not updated",
        );
      }
    }
    return done;
  }
}
