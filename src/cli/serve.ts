/**
 * `pw serve` and `pw reconcile`. `serve` composes the Probot app and the runner in one process:
 * both share one store (the only shared truth) and neither imports the other; the app learns of
 * the runner's moves from the store (the status-comment watcher), the runner of the app's (a
 * MERGED worker to clean up, a terminate request). Heavy modules load only when a command runs.
 */
import type { Command } from "commander";
import { existsSync } from "node:fs";
import type { Server } from "node:http";
import { resolve } from "node:path";
import { z } from "zod";
import type { Probot } from "probot";
import type { RequestOctokit } from "../app/github.js";
import type { FollowUpOctokit } from "../app/index.js";
import type { ReconcileResult } from "../app/reconcile.js";
import { InvalidInputError, NotARepositoryError, PwError, StoreUnavailableError } from "../core/errors.js";
import { parseProjectName } from "../core/names.js";
import { DEFAULT_STALE_AFTER_MS } from "../core/runner-health.js";
import { parseWith } from "../core/validate.js";
import type { LogFormat } from "../log/env.js";
import type { Logger } from "../log/logger.js";
import type { RepoContext } from "../runner/context.js";
import { outageReports } from "../store/retry.js";
import type { CliContext } from "./context.js";
import { logFormatOption } from "./log-format.js";
import { print, printError, printJson, printTable } from "./output.js";

/** Probot's environment, validated once at the edge; an empty variable counts as unset. */
const unsetIfEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === "" ? undefined : value), schema.optional());
/** A message that names the value it refuses (for settings that hold no secret). */
const naming = (expected: string) => ({ error: (issue: { input?: unknown }) => `expected ${expected}, got ${JSON.stringify(issue.input)}` });
const serveEnvSchema = z.object({
  PORT: unsetIfEmpty(
    z
      .string()
      .regex(/^\d{1,5}$/, naming("a port number"))
      .transform(Number)
      .refine((port) => port <= 65535, naming("a port number up to 65535")),
  ),
  HOST: unsetIfEmpty(z.string().regex(/^[A-Za-z0-9.:[\]-]{1,255}$/, naming("a host name or address"))),
  WEBHOOK_SECRET: unsetIfEmpty(z.string()),
  WEBHOOK_PROXY_URL: unsetIfEmpty(z.url({ protocol: /^https?$/, error: "expected an http(s) URL, like https://smee.io/abc" })),
  NODE_ENV: unsetIfEmpty(z.string()),
  // the registration page's (Probot's names): an organization to register the App on; no smee.io channel
  GH_ORG: unsetIfEmpty(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/, naming("an organization's login"))),
  NO_SMEE_SETUP: unsetIfEmpty(z.string()),
});
type ServeEnv = z.infer<typeof serveEnvSchema>;

const DEFAULT_PORT = 3000;
/** Delivery ids (and the keys of finished follow-ups) are kept this long (GitHub lets a delivery be redelivered for 3 days). */
const DELIVERY_RETENTION_MS = 7 * 24 * 3600_000;
/** How long a stop waits for the follow-ups under way. */
const SHUTDOWN_GRACE_MS = 10_000;
/** How often an app reads again which repositories the runners sharing its store serve. */
const SERVED_REFRESH_MS = 5_000;

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function pollSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new InvalidInputError(`--poll-interval "${value}" is not a positive number of seconds (at most 3600)`);
  }
  return seconds;
}

/** Probot reads `.env` from the current directory; so does `pw serve`, never overriding what is set. */
function loadDotEnv(): void {
  const file = resolve(".env");
  if (!existsSync(file)) return;
  try {
    process.loadEnvFile(file);
  } catch (error) {
    throw new InvalidInputError(`${file}: cannot be read as a .env file (${(error as Error).message.split("\n")[0]})`);
  }
}

/** The checkouts to serve: the current directory's (when it is one) and each `--repo DIR`, once each. */
async function openRepositories(ctx: CliContext, dirs: string[], checkoutNeeded = true): Promise<RepoContext[]> {
  const { openRepoContext } = await import("../runner/context.js");
  const contexts: RepoContext[] = [];
  const add = (repo: RepoContext) => {
    if (!contexts.some((c) => c.repo.root === repo.repo.root)) contexts.push(repo);
  };
  try {
    add(await openRepoContext(process.cwd(), ctx.paths));
  } catch (error) {
    // not a checkout: fine when --repo names some; a checkout that cannot be served (a bad config) is said as it is
    if (!(error instanceof NotARepositoryError)) throw error;
    if (dirs.length === 0 && checkoutNeeded) {
      throw new InvalidInputError(`${process.cwd()} is not a git repository: run \`pw serve\` in a checkout or pass --repo DIR`, {
        cause: error,
      });
    }
  }
  for (const dir of dirs) add(await openRepoContext(dir, ctx.paths));
  return contexts;
}

/**
 * The Octokit a follow-up acts through: one of Probot's clients (its write spacing, retries and
 * metrics), as the delivery's installation, or, for follow-ups no delivery brought (the
 * status-comment watcher's), as the installation on the repository, looked up once.
 */
function followUpOctokit(probot: Probot, auth: "app" | "token"): FollowUpOctokit {
  const clients = new Map<number, Promise<RequestOctokit>>();
  const installations = new Map<string, Promise<number>>();
  const remembered = <K, V>(map: Map<K, Promise<V>>, key: K, make: () => Promise<V>): Promise<V> => {
    let value = map.get(key);
    if (!value) {
      value = make();
      map.set(key, value);
      value.catch(() => map.delete(key));
    }
    return value;
  };
  const asInstallation = (id: number) =>
    remembered(clients, id, async () => (id === 0 ? probot.auth() : probot.auth(id)) as unknown as Promise<RequestOctokit>);
  return async ({ repository, installationId }) => {
    if (auth === "token") return asInstallation(0);
    if (installationId !== null) return asInstallation(installationId);
    const id = await remembered(installations, repository.toLowerCase(), async () => {
      const [owner, repo] = repository.split("/");
      const { data } = await (await asInstallation(0)).request("GET /repos/{owner}/{repo}/installation", { owner, repo });
      return z.object({ id: z.number().int().positive() }).parse(data).id;
    });
    return asInstallation(id);
  };
}

function listen(server: Server, port: number, host: string): Promise<{ host: string; port: number }> {
  return new Promise((resolvePromise, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      reject(
        error.code === "EADDRINUSE"
          ? new PwError(`port ${port} is already in use: set PORT to another one`)
          : new PwError(`cannot listen on ${host}:${port}: ${error.message}`),
      );
    });
    server.listen(port, host, () => {
      const address = server.address();
      resolvePromise({ host, port: typeof address === "object" && address ? address.port : port });
    });
  });
}

/** Waits for SIGINT/SIGTERM: the first stops gracefully, a second calls `hard`. */
function untilSignal(hard: () => void): Promise<NodeJS.Signals> {
  return new Promise((resolvePromise) => {
    let count = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      count += 1;
      if (count === 1) resolvePromise(signal);
      else {
        hard();
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

/**
 * First start without credentials: the registration page (app/setup.ts) creates the App from this
 * package's app.yml, with a webhook URL that reaches this server, and writes its credentials to
 * `.env` in the current directory, where the next `pw serve` reads them.
 */
async function serveSetup(env: ServeEnv, logger: Logger): Promise<void> {
  if (env.NODE_ENV === "production") {
    throw new InvalidInputError("no GitHub App credentials (NODE_ENV=production): set APP_ID with PRIVATE_KEY or PRIVATE_KEY_PATH, and WEBHOOK_SECRET");
  }
  const [{ createServer }, { createSetupPage, SETUP_PAGE_PATH }, { githubBaseUrl }] = await Promise.all([
    import("node:http"),
    import("../app/setup.js"),
    import("../github/octokit.js"),
  ]);
  const page = createSetupPage({
    logger,
    envFile: resolve(".env"),
    apiUrl: githubBaseUrl(process.env),
    ...(env.GH_ORG ? { organization: env.GH_ORG } : {}),
    ...(env.WEBHOOK_PROXY_URL ? { webhookProxyUrl: env.WEBHOOK_PROXY_URL } : {}),
    ...(env.NO_SMEE_SETUP === "true" ? {} : { smeeUrl: "https://smee.io" }),
  });
  const server = createServer(page);
  const host = env.HOST ?? "localhost";
  const bound = await listen(server, env.PORT ?? DEFAULT_PORT, host);
  logger.info(
    { port: bound.port, url: `http://${host.includes(":") ? `[${host}]` : host}:${bound.port}${SETUP_PAGE_PATH}` },
    "setup mode: no GitHub App credentials; open this address to register the App from app.yml, then restart pw serve",
  );
  await untilSignal(() => process.exit(1));
  const closed = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  server.closeAllConnections();
  await closed;
}

/**
 * For a task run again and again (a poll): that the store is unavailable is said once a minute
 * while it lasts, and that it answers again once; any other failure is `otherFailure`, each time.
 */
function periodicOutage(logger: Logger, component: string, otherFailure: string): { answered: () => void; failed: (error: Error) => void } {
  const outage = outageReports(logger, component);
  let awaySince: number | undefined;
  return {
    answered: () => {
      if (awaySince !== undefined) outage.recovered?.(Date.now() - awaySince);
      awaySince = undefined;
    },
    failed: (error) => {
      if (!(error instanceof StoreUnavailableError)) return logger.warn({ err_message: error.message.split("\n")[0] }, otherFailure);
      awaySince ??= Date.now();
      outage.report?.(error, Date.now() - awaySince);
    },
  };
}

interface ServeOptions {
  repo: string[];
  /** False with --no-runner: the app only. */
  runner: boolean;
  runnerId?: string;
  project?: string;
  pollInterval: string;
  reconcile: boolean;
  dashboardPublic?: boolean;
  logFormat?: LogFormat;
}

async function serve(ctx: CliContext, opts: ServeOptions): Promise<void> {
  const pollMs = pollSeconds(opts.pollInterval) * 1000;
  const project = opts.project === undefined ? undefined : parseProjectName(opts.project);
  loadDotEnv();
  ctx.chooseLogFormat(opts.logFormat);
  const env = parseWith(serveEnvSchema, process.env, "environment");
  const { createStatusPage, statusPageOptionsFromEnv } = await import("../web/index.js");
  // a bad PW_DASHBOARD_TOKEN stops serve before anything starts
  const statusPageOptions = statusPageOptionsFromEnv(process.env, { dashboardPublic: opts.dashboardPublic ?? false });
  const { githubAuthFromEnv, githubBaseUrl, writeIntervalFromEnv } = await import("../github/octokit.js");
  const { createLogger, flushLogger } = await import("../log/logger.js");
  const appLogger = createLogger({ component: "app", ...ctx.logOutput });
  const auth = githubAuthFromEnv(process.env);
  if (!auth) {
    try {
      return await serveSetup(env, appLogger);
    } finally {
      await flushLogger(appLogger);
    }
  }
  if (!env.WEBHOOK_SECRET) {
    throw new InvalidInputError("WEBHOOK_SECRET is not set: set it to the webhook secret of the GitHub App");
  }

  // the app alone needs no checkout: it learns the repositories from the runners sharing the store
  const repos = await openRepositories(ctx, opts.repo, opts.runner);
  const { localRunnerId } = await import("../runner/runner-id.js");
  const runnerId = opts.runner ? localRunnerId(ctx.paths.home, opts.runnerId) : undefined;
  // the store (PW_DATABASE_URL may come from .env) is reached before anything starts; later outages are waited out
  await ctx.connectStore();
  const runnerLogger = ctx.useLogger("runner");
  const [
    { createServer },
    { Probot, ProbotOctokit },
    { default: Bottleneck },
    { APP_EVENTS, createApp, performFollowUp },
    { ServedDirectory, runnerSettings },
    { servedList },
    { createAppHttpHandler, WEBHOOK_PATH },
    { probotLogger },
    { githubMetricsPlugin },
    { reconcile },
    { StatusComments },
    { DeliveryLog },
    { FollowUpQueue },
    { githubAccessFromEnv },
    { createMetrics },
    { Runner },
    { ObservedWorkerStore },
  ] = await Promise.all([
    import("node:http"),
    import("probot"),
    import("bottleneck"),
    import("../app/index.js"),
    import("../app/served.js"),
    import("./served.js"),
    import("../app/http.js"),
    import("../app/logging.js"),
    import("../app/octokit-metrics.js"),
    import("../app/reconcile.js"),
    import("../app/status-comments.js"),
    import("../app/deliveries.js"),
    import("../app/follow-ups.js"),
    import("../github/access.js"),
    import("../log/metrics.js"),
    import("../runner/runner.js"),
    import("./observed-store.js"),
  ]);

  const metrics = createMetrics({
    workersByState: async () => {
      const counts: Record<string, number> = {};
      for (const w of await ctx.rawStore.listWorkers()) counts[w.state] = (counts[w.state] ?? 0) + 1;
      return counts;
    },
    followUpBacklog: () => ctx.rawStore.followUpBacklog(),
  });
  // every move is logged by the component that made it, and counted
  const store = new ObservedWorkerStore(ctx.rawStore, {
    // the runner's, cli's and admin's moves are this process's runner logger's (unbound: each
    // line has its move's correlation id, that of the spawn or delivery it belongs to)
    loggerFor: (source) => (source === "runner" || source === "cli" || source === "admin" ? ctx.moveLogger : appLogger),
    correlationId: ctx.correlationId,
    metrics,
  });
  const access = githubAccessFromEnv(process.env, { onResponse: (method, status) => metrics.githubRequest(method, status === 0 ? null : status) });
  const local = servedList(repos, appLogger);
  const servedHere = new ServedDirectory({ local, store, logger: appLogger, staleAfterMs: DEFAULT_STALE_AFTER_MS });
  // the last list read is kept while the store is away (said once a minute, not every read)
  const servedOutage = periodicOutage(appLogger, "the runners' repositories", "the runners' repositories not read");
  const refreshServed = () => servedHere.refresh().then(servedOutage.answered, servedOutage.failed);
  await refreshServed();
  const runner = runnerId === undefined ? undefined : new Runner({
    deps: {
      ...ctx.pipelineDeps(),
      store,
      logger: runnerLogger,
      github: access,
      onAgentRun: (agent, outcome, seconds) => metrics.observeAgentRun(agent, outcome, seconds),
    },
    repos,
    ...(project ? { project } : {}),
    keepPool: true,
    runnerId,
    settings: runnerSettings(local),
  });
  const statusComments = new StatusComments({ store, logger: appLogger });

  // Probot's clients: counted, and spaced like the runner's (PW_GITHUB_WRITE_INTERVAL_MS)
  // One limiter for every client of the process (keyed by installation), not one per delivery.
  // Requests that notify people (new comments) keep the throttling plugin's 3x spacing.
  const writeInterval = writeIntervalFromEnv(process.env);
  const limiters = {
    write: new Bottleneck.Group({ id: "pw-app-write", maxConcurrent: 1, minTime: writeInterval }),
    notifications: new Bottleneck.Group({ id: "pw-app-notifications", maxConcurrent: 1, minTime: 3 * writeInterval }),
  };
  const Octokit = ProbotOctokit.plugin(githubMetricsPlugin(metrics)).defaults((options: Record<string, unknown>) => ({
    ...options,
    throttle: { ...(options.throttle as object), ...limiters },
  }));
  const probot = new Probot({
    ...(auth.kind === "token" ? { githubToken: auth.token } : { appId: auth.appId, privateKey: auth.privateKey }),
    secret: env.WEBHOOK_SECRET,
    baseUrl: githubBaseUrl(process.env),
    log: probotLogger(appLogger),
    Octokit: Octokit as typeof ProbotOctokit,
  });
  const deliveries = await DeliveryLog.open(store, { logger: appLogger });
  // every GitHub effect of a delivery is a follow-up in the store, carried out after the answer;
  // one that gives up has its delivery forgotten, so GitHub's redelivery of it is handled
  const followUps = new FollowUpQueue({
    store,
    logger: appLogger,
    metrics,
    pollMs,
    onGiveUp: async (followUp) => {
      if (followUp.correlationId) await deliveries.forget(followUp.correlationId);
    },
  });
  const deps = { store, logger: appLogger, metrics, served: servedHere.lookup, statusComments, deliveries, followUps };
  await probot.load(createApp(deps));
  await probot.ready();
  await followUps.start(performFollowUp(deps, followUpOctokit(probot, auth.kind)));

  const statusPage = createStatusPage({ store, logger: appLogger, ...statusPageOptions });
  const server = createServer(
    createAppHttpHandler({
      probot,
      store,
      logger: appLogger,
      metrics,
      next: (req, res) => statusPage.handle(req, res),
      ...(auth.kind === "app" ? { installationRequiredFor: APP_EVENTS } : {}),
    }),
  );
  const host = env.HOST ?? "localhost";
  const bound = await listen(server, env.PORT ?? DEFAULT_PORT, host);
  // handled from the moment it says it listens: a signal while the rest starts still stops cleanly
  const stopRequested = untilSignal(() => void runner?.abort("interrupted: pw serve was stopped while the agent ran"));
  appLogger.info(
    {
      port: bound.port,
      url: `http://${host.includes(":") ? `[${host}]` : host}:${bound.port}${WEBHOOK_PATH}`,
      repositories: servedHere.repositories,
      runner: runner?.id ?? null,
      runner_id: runner?.runnerId ?? null,
      status_page: statusPage.mode,
    },
    "pw serve listening",
  );

  if (auth.kind === "app") {
    // an App whose webhook URL cannot reach this server says so now, not in its Recent Deliveries
    const { checkAppWebhook } = await import("../app/webhook-config.js");
    const proxyUrl = env.WEBHOOK_PROXY_URL ? { proxyUrl: env.WEBHOOK_PROXY_URL } : {};
    void probot
      .auth()
      .then((octokit) => checkAppWebhook(octokit as unknown as RequestOctokit, { logger: appLogger, ...proxyUrl }))
      .catch((error: Error) => appLogger.debug({ err_message: error.message.split("\n")[0] }, "the App's webhook settings could not be read"));
  }

  let proxy: { close(): void } | undefined;
  if (env.WEBHOOK_PROXY_URL) {
    const { forwardWebhooks } = await import("../app/webhook-proxy.js");
    proxy = forwardWebhooks({
      source: env.WEBHOOK_PROXY_URL,
      target: `http://${host.includes(":") ? `[${host}]` : host}:${bound.port}${WEBHOOK_PATH}`,
      logger: appLogger,
    });
  }

  const abort = new AbortController();
  const between = runner ? await ctx.passWait(runnerLogger) : undefined;
  const running = runner?.run({ pollIntervalMs: pollMs, signal: abort.signal, ...(between?.wait ? { wait: between.wait } : {}) }).catch((error: Error) => {
    runnerLogger.error({ err_message: error.message.split("\n")[0] }, "runner stopped on an error");
  });
  // the repositories runners elsewhere serve, and how: read again as they come and go
  const servedWatcher = setInterval(() => void refreshServed(), SERVED_REFRESH_MS);
  // a store that is away is said once a minute, not at every poll; the next poll after it is back syncs what changed
  const statusOutage = periodicOutage(appLogger, "status comments", "status comments not synced");
  const watcher = setInterval(() => void statusComments.syncChanged(followUps).then(statusOutage.answered, statusOutage.failed), pollMs);
  // GitHub redelivers for a few days at most: older delivery ids need not be kept
  const pruneDeliveries = async () => {
    try {
      const before = new Date(Date.now() - DELIVERY_RETENTION_MS).toISOString();
      const pruned = await store.pruneDeliveries(before);
      const finished = await store.pruneFollowUps(before);
      if (pruned + finished > 0) appLogger.info({ pruned, follow_ups: finished }, "old delivery ids and finished follow-ups forgotten");
    } catch (error) {
      appLogger.warn({ err_message: (error as Error).message }, "delivery ids not pruned");
    }
  };
  await pruneDeliveries();
  const pruner = setInterval(() => void pruneDeliveries(), 3600_000);
  if (opts.reconcile) {
    // webhooks missed while nothing listened: one list call per repository
    void reconcile({ store, logger: appLogger, octokitFor: access, correlationId: ctx.correlationId })
      .then((result) =>
        appLogger.info({ checked: result.checked, changed: result.changes.length, reviews: result.reviews.length, failures: result.failures.length }, "reconciled with GitHub"),
      )
      .catch((error: Error) => appLogger.warn({ err_message: error.message.split("\n")[0] }, "reconcile failed"));
  }

  const signal = await stopRequested;
  appLogger.info({ signal }, "stopping: no new deliveries or agents; running agents finish (signal again to kill them)");
  proxy?.close();
  statusPage.close();
  clearInterval(watcher);
  clearInterval(servedWatcher);
  clearInterval(pruner);
  const closed = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  server.closeIdleConnections();
  abort.abort();
  await running;
  await between?.close();
  // follow-ups under way finish, for a while; the rest wait in the store for the next start
  const unfinished = await followUps.stop(SHUTDOWN_GRACE_MS);
  server.closeAllConnections();
  await closed;
  await deliveries.close();
  if (unfinished > 0) appLogger.info({ unfinished }, "follow-ups left for the next start");
  appLogger.info("pw serve stopped");
  await Promise.all([flushLogger(appLogger), flushLogger(runnerLogger)]);
  // Octokit's throttling queues must not keep a stopped server alive
  setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
}

function printReconcile(result: ReconcileResult): void {
  if (result.changes.length === 0) print(`nothing to change: ${result.checked} worker(s) agree with GitHub`);
  else {
    printTable(
      ["WORKER", "TASK", "FROM", "TO", "PR"],
      result.changes.map((c) => [c.worker.id, c.worker.taskId ?? "-", c.from, c.to, c.pullRequest.url]),
    );
  }
  for (const review of result.reviews) {
    print(`queued the review by @${review.author} on ${review.pullRequest.url} for a rework round of ${review.worker.id}`);
  }
  for (const failure of result.failures) printError(`${failure.repository}: ${failure.message}`);
}

export function registerServeCommands(program: Command, ctx: CliContext): void {
  program
    .command("serve")
    .description("run the GitHub App (webhooks, slash commands) and the runner in one process (--no-runner: the app only)")
    .option("--repo <dir>", "a repository to serve besides the current directory's (repeatable)", collect, [])
    .option("--project <name>", "only this project's workers")
    .option("--poll-interval <seconds>", "how often the runner and the status-comment watcher read the local store", "0.5")
    .option("--no-reconcile", "do not bring WORKING and PR_OPEN workers in line with GitHub on start")
    .option("--no-runner", "run the app only (no agents here): the repositories come from --repo and the runners sharing the store (`pw runner`)")
    .option("--runner-id <id>", "this runner's id in `pw runners` (default: PW_RUNNER_ID, else this host's name and a suffix kept in $PW_HOME)")
    .option("--dashboard-public", "serve the status page (/workers) without a token: anyone who reaches the port sees it")
    .addOption(logFormatOption())
    .addHelpText(
      "after",
      `
Environment (Probot's): APP_ID with PRIVATE_KEY or PRIVATE_KEY_PATH (or GITHUB_TOKEN), WEBHOOK_SECRET,
WEBHOOK_PROXY_URL, PORT (default ${DEFAULT_PORT}), HOST (default localhost), GHE_HOST, GHE_PROTOCOL, LOG_LEVEL.
Webhooks: POST /api/github/webhooks. Also GET /healthz and GET /metrics. See docs/app.md.
Without credentials: a page at /probot registers the GitHub App from app.yml and writes .env here.
Status page: GET /workers and /api/workers, on when PW_DASHBOARD_TOKEN is set (or --dashboard-public). See docs/status-page.md.`,
    )
    .action((opts: ServeOptions) => serve(ctx, opts));

  program
    .command("reconcile")
    .description("bring WORKING and PR_OPEN workers in line with their pull requests on GitHub")
    .option("--json", "print the changes as JSON")
    .action(async (opts: { json?: boolean }) => {
      const [{ reconcile }, { githubAccessFromEnv }] = await Promise.all([import("../app/reconcile.js"), import("../github/access.js")]);
      const result = await reconcile({
        store: ctx.store,
        logger: ctx.logger,
        octokitFor: githubAccessFromEnv(process.env),
        correlationId: ctx.correlationId,
      });
      if (opts.json) {
        printJson({
          checked: result.checked,
          repositories: result.repositories,
          changes: result.changes.map((c) => ({ id: c.worker.id, taskId: c.worker.taskId, from: c.from, to: c.to, prNumber: c.pullRequest.number, prUrl: c.pullRequest.url })),
          reviews: result.reviews.map((r) => ({ id: r.worker.id, taskId: r.worker.taskId, prNumber: r.pullRequest.number, reviewId: r.reviewId, author: r.author })),
          failures: result.failures,
        });
      } else printReconcile(result);
      if (result.failures.length > 0) ctx.exitCode = 1;
    });
}
