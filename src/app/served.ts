/**
 * Which repositories the app serves, and how: those of this process's own checkouts, and (for an
 * app on a machine of its own, `pw serve --no-runner`) those the live runners sharing the store
 * registered with their settings. What a runner registered is read back as outside input: checked,
 * and skipped with one warning when it does not fit (a runner of another release).
 */
import { z } from "zod";
import { MERGE_METHODS, MERGE_MODES, UPDATE_MODES } from "../core/merge-flow.js";
import { FAILED_CHECK_POLICIES } from "../core/rework.js";
import type { Logger } from "../log/logger.js";
import type { WorkerStore } from "../store/store.js";
import type { ServedRepository } from "./deps.js";

const servedSettingsSchema = z.object({
  agents: z.array(z.string()),
  configuredAgents: z.array(z.string()),
  defaultAgent: z.string().nullable(),
  deleteBranchOnMerge: z.boolean(),
  rework: z.object({
    maxRounds: z.number().int().min(0),
    onFailedChecks: z.enum(FAILED_CHECK_POLICIES),
    debounceMs: z.number().min(0),
  }),
  mergeFlow: z.object({
    update: z.enum(UPDATE_MODES),
    stack: z.boolean(),
    merge: z.enum(MERGE_MODES),
    method: z.enum(MERGE_METHODS),
  }),
});

/** What a runner registers (`RunnerRegistration.settings`): each served repository's settings, by name. */
export function runnerSettings(list: readonly ServedRepository[]): Record<string, unknown> {
  return Object.fromEntries(list.map(({ repository, ...settings }) => [repository, settings]));
}

export interface ServedDirectoryOptions {
  /** This process's own repositories (its runner's checkouts); they win over what runners registered. */
  local: readonly ServedRepository[];
  store: Pick<WorkerStore, "listRunners">;
  logger: Logger;
  /** Runners not heard from for this long are left out. */
  staleAfterMs: number;
}

export class ServedDirectory {
  private readonly local: Map<string, ServedRepository>;
  private remote = new Map<string, ServedRepository>();
  /** Runner and repository pairs already warned about, so a bad registration is said once. */
  private readonly warned = new Set<string>();

  constructor(private readonly options: ServedDirectoryOptions) {
    this.local = new Map(options.local.map((r) => [r.repository.toLowerCase(), r]));
  }

  /** The served repository named `repository` (any case), or undefined when no runner serves it. */
  readonly lookup = (repository: string): ServedRepository | undefined => {
    const key = repository.toLowerCase();
    return this.local.get(key) ?? this.remote.get(key);
  };

  /** Every served repository's name. */
  get repositories(): string[] {
    return [...new Set([...this.local.values(), ...this.remote.values()].map((r) => r.repository))];
  }

  /** Reads again what the live runners registered (oldest registration first, so the newest wins). */
  async refresh(): Promise<void> {
    const runners = (await this.options.store.listRunners(this.options.staleAfterMs)).filter((r) => !r.stale);
    runners.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
    const remote = new Map<string, ServedRepository>();
    for (const runner of runners) {
      for (const [repository, settings] of Object.entries(runner.settings)) {
        const parsed = servedSettingsSchema.safeParse(settings);
        if (!parsed.success) {
          const key = `${runner.id} ${repository}`;
          if (!this.warned.has(key)) {
            this.warned.add(key);
            this.options.logger.warn({ runner_id: runner.id, repository }, `runner ${runner.id} registered settings for ${repository} this app cannot read: it is not served through that runner`);
          }
          continue;
        }
        remote.set(repository.toLowerCase(), { repository, ...parsed.data });
      }
    }
    this.remote = remote;
  }
}
