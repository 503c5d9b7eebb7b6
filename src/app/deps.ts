import type { Logger } from "../log/logger.js";
import type { Metrics, WebhookOutcome } from "../log/metrics.js";
import type { WorkerStore } from "../store/store.js";
import type { DeliveryLog } from "./deliveries.js";
import type { StatusComments } from "./status-comments.js";

/** How a delivery ended, as `pw_webhook_duration_seconds` counts it. */
export type Outcome = Exclude<WebhookOutcome, "error">;

/** A repository some runner of this process serves, as far as the app needs to know it. */
export interface ServedRepository {
  /** owner/name as the runner spells it (workers are recorded under this name). */
  repository: string;
  /** Agent names its configuration knows. */
  agents: readonly string[];
  /** Delete a merged worker's remote branch (`github.delete_branch_on_merge`). */
  deleteBranchOnMerge: boolean;
}

/** What the app's handlers need; `pw serve` builds it from the runner's repositories. */
export interface AppDeps {
  store: WorkerStore;
  /** The `app` component's logger. */
  logger: Logger;
  metrics?: Metrics;
  /** The served repository named `repository` (any case), or undefined when no runner here serves it. */
  served(repository: string): ServedRepository | undefined;
  statusComments: StatusComments;
  /** The delivery ids seen, so a redelivery changes nothing. */
  deliveries: DeliveryLog;
  /**
   * Runs follow-up work after the delivery is answered: the gates' check runs, and a move that
   * waits on a re-read of the PR (tried again when it fails), so a webhook's latency is that of
   * the store only. `urgent` work (a worker's move) runs before the rest (gates) waiting with
   * it. Without it the work runs inline and a failure fails the delivery (tests).
   */
  later?: (name: string, work: () => Promise<unknown>, options?: { urgent?: boolean }) => void;
  /**
   * How long deferred work that failed waits before each new try (default 1 s, 10 s, 60 s);
   * after the last, it gives up. Only with `later`.
   */
  retryDelaysMs?: readonly number[];
}

/** The agent a `/worker spawn` without one gets. */
export const DEFAULT_AGENT = "code-author";

/** A lookup over a fixed list of served repositories, case-insensitive as GitHub names are. */
export function servedRepositories(list: readonly ServedRepository[]): (repository: string) => ServedRepository | undefined {
  const byName = new Map(list.map((r) => [r.repository.toLowerCase(), r]));
  return (repository) => byName.get(repository.toLowerCase());
}
