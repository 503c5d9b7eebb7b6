import type { MergeFlowSettings } from "../core/merge-flow.js";
import type { ReworkSettings } from "../core/rework.js";
import type { Logger } from "../log/logger.js";
import type { Metrics, WebhookOutcome } from "../log/metrics.js";
import type { WorkerStore } from "../store/store.js";
import type { DeliveryLog } from "./deliveries.js";
import type { FollowUpQueue } from "./follow-ups.js";
import type { StatusComments } from "./status-comments.js";

/** How a delivery ended, as `pw_webhook_duration_seconds` counts it. */
export type Outcome = Exclude<WebhookOutcome, "error">;

/** A repository some runner of this process serves, as far as the app needs to know it. */
export interface ServedRepository {
  /** owner/name as the runner spells it (workers are recorded under this name). */
  repository: string;
  /** Agent names its configuration knows (the built-ins and those it configures). */
  agents: readonly string[];
  /** Agents its files configure; what a spawn without an agent offers when there is no default. */
  configuredAgents: readonly string[];
  /** The agent of a spawn that names none (`RepoConfig.defaultAgent`); null: the command asks which. */
  defaultAgent: string | null;
  /** Delete a merged worker's remote branch (`github.delete_branch_on_merge`). */
  deleteBranchOnMerge: boolean;
  /** `rework:`: when reviews and failed checks send a worker's PR back to its agent. */
  rework: ReworkSettings;
  /** `merge_flow:`: keeping its worker PRs up to date with their base, and merging them through GitHub. */
  mergeFlow: MergeFlowSettings;
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
   * The follow-up queue: every GitHub effect of a delivery (replies, reactions, status
   * comments, check runs, a re-read of a PR) is queued here, in the store, and carried out after
   * the delivery is answered. Handlers only record facts and queue effects.
   */
  followUps: FollowUpQueue;
}

/** A lookup over a fixed list of served repositories, case-insensitive as GitHub names are. */
export function servedRepositories(list: readonly ServedRepository[]): (repository: string) => ServedRepository | undefined {
  const byName = new Map(list.map((r) => [r.repository.toLowerCase(), r]));
  return (repository) => byName.get(repository.toLowerCase());
}
