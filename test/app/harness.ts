/**
 * The app under test: a real Probot (token auth, retries and throttling off) pointed at the local
 * GitHub stand-in, a real SQLite store, and a logger writing JSON lines to a file the test reads.
 */
import { Octokit } from "@octokit/rest";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Probot, ProbotOctokit } from "probot";
import { afterEach, expect } from "vitest";
import { createApp, servedRepositories, type ServedRepository } from "../../src/app/index.js";
import { DeliveryLog } from "../../src/app/deliveries.js";
import { FollowUpQueue } from "../../src/app/follow-ups.js";
import type { RequestOctokit } from "../../src/app/github.js";
import { performFollowUp } from "../../src/app/index.js";
import { probotLogger } from "../../src/app/logging.js";
import { StatusComments } from "../../src/app/status-comments.js";
import type { AppDeps } from "../../src/app/deps.js";
import type { Worker } from "../../src/core/worker.js";
import { createLogger, type Logger } from "../../src/log/logger.js";
import { createMetrics, type Metrics } from "../../src/log/metrics.js";
import { openSqliteStore } from "../../src/store/sqlite-async.js";
import type { NewWorker, WorkerStore } from "../../src/store/store.js";
import { GitHubStandIn } from "../helpers/github-stand-in.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";
import { toEvent, type FixtureName, type FixturePayload } from "../helpers/webhooks.js";

export const REPO = "acme/widgets";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** A plain Octokit for the stand-in (what `pw serve` hands the watcher and reconcile), quiet about failures. */
export function restOctokit(github: GitHubStandIn): Octokit {
  return new Octokit({ auth: "test", baseUrl: github.url, request: { retries: 0 }, log: quiet });
}

export interface Harness {
  probot: Probot;
  store: WorkerStore;
  github: GitHubStandIn;
  logger: Logger;
  logFile: string;
  metrics: Metrics;
  deps: AppDeps;
  /** The kinds of the follow-ups tried so far, each try once (`reply`, `react`, `pull-request`...). */
  followUps: string[];
  /**
   * Delivers a fixture payload through `probot.receive`, like the webhook middleware would, then
   * (unless `drainAfterReceive: false`) waits until every follow-up it queued has run.
   */
  receive<F extends FixtureName>(fixture: F, payload: FixturePayload<F>, id?: string): Promise<void>;
  /**
   * Stops the follow-up queue at once (what it runs goes on, unrecorded, as in a process that
   * died), runs `between`, and starts a new one on the same store, as `pw serve` starting again would.
   */
  restartFollowUps(between?: () => Promise<void>): Promise<void>;
  /** A worker of acme/widgets, created directly in the store (as a runner or the CLI would). */
  addWorker(fields: Partial<NewWorker> & { id: string }): Promise<Worker>;
  /** Every JSON line logged so far. */
  logLines(): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  served?: ServedRepository[];
  /** WEBHOOK_SECRET (Probot's default "development" otherwise). */
  secret?: string;
  /**
   * False: `receive` returns once the delivery is handled, with its follow-ups still running, as
   * `pw serve` answers. Failed follow-ups are tried again after 10 ms and 10 ms either way.
   */
  drainAfterReceive?: boolean;
}

/**
 * Opens a harness for the test that calls it; after each test it checks that no request
 * reached a route the stand-in does not know (every test states its calls) and closes it.
 */
export function harnessPerTest(): (options?: HarnessOptions) => Promise<Harness> {
  let current: Harness | undefined;
  afterEach(async () => {
    const app = current;
    current = undefined;
    if (app) {
      expect(app.github.unknownRequests()).toEqual([]);
      await app.close();
    }
    removeTempDirs();
  });
  return async (options = {}) => (current = await harness(options));
}

export function defaultServed(overrides: Partial<ServedRepository> = {}): ServedRepository {
  return {
    repository: REPO,
    agents: ["code-author", "test-author"],
    configuredAgents: [],
    defaultAgent: "code-author",
    deleteBranchOnMerge: false,
    rework: { maxRounds: 3, onFailedChecks: "required", debounceMs: 0 },
    mergeFlow: { update: "merge", stack: false, merge: "off", method: "squash" },
    ...overrides,
  };
}

export async function harness(options: HarnessOptions = {}): Promise<Harness> {
  const github = await GitHubStandIn.start();
  github.addRepo(REPO);
  const dir = tempDir("pw-app-");
  const store = await openSqliteStore(join(dir, "state.db"));
  const logFile = join(dir, "app.log");
  const logger = createLogger({ component: "app", destination: logFile, level: "debug", loki: false });
  const metrics = createMetrics({ defaultMetrics: false });
  const statusComments = new StatusComments({ store, logger });
  const deliveries = await DeliveryLog.open(store, { flushMs: 5 });
  const newQueue = () =>
    new FollowUpQueue({
      store,
      logger,
      metrics,
      retryDelaysMs: [10, 10],
      pollMs: 20,
      onGiveUp: async (followUp) => {
        if (followUp.correlationId) await deliveries.forget(followUp.correlationId);
      },
    });
  let queue = newQueue();
  const deps: AppDeps = {
    store,
    logger,
    metrics,
    served: servedRepositories(options.served ?? [defaultServed()]),
    statusComments,
    deliveries,
    followUps: queue,
  };
  const followUps: string[] = [];
  const probot = new Probot({
    githubToken: "test",
    ...(options.secret ? { secret: options.secret } : {}),
    baseUrl: github.url,
    log: probotLogger(logger),
    Octokit: ProbotOctokit.defaults((o: Record<string, unknown>) => ({ ...o, retry: { enabled: false }, throttle: { enabled: false } })),
  });
  await probot.load(createApp(deps));
  const perform = performFollowUp(deps, async () => (await probot.auth()) as unknown as RequestOctokit);
  const start = () =>
    queue.start((followUp) => {
      followUps.push(followUp.kind);
      return perform(followUp);
    });
  await start();
  return {
    probot,
    store,
    github,
    logger,
    logFile,
    metrics,
    deps,
    followUps,
    receive: (fixture, payload, id) => {
      // the event's type is a union over every fixture: too wide for the compiler to check here
      const event: { id: string; name: string; payload: unknown } = toEvent(fixture as "pull_request.opened", payload as never, id);
      const received = probot.receive(event as Parameters<Probot["receive"]>[0]);
      return options.drainAfterReceive === false ? received : received.finally(() => queue.drain());
    },
    restartFollowUps: async (between) => {
      await queue.stop(0);
      await between?.();
      queue = newQueue();
      deps.followUps = queue;
      await start();
    },
    addWorker: (fields) =>
      store.createWorker({ repo: REPO, taskId: "TASK-1", branch: "feature/task-1", baseBranch: "main", ...fields }, { source: "cli" }),
    logLines: () =>
      existsSync(logFile)
        ? readFileSync(logFile, "utf8")
            .split("\n")
            .filter(Boolean)
            .map((line) => JSON.parse(line) as Record<string, unknown>)
        : [],
    close: async () => {
      await queue.stop(1000);
      await deps.deliveries.flush();
      await store.close();
      await github.close();
    },
  };
}
