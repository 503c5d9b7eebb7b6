import { Option, type Command } from "commander";
import { existsSync, readFileSync, statSync, watch } from "node:fs";
import { formatDuration, parseDuration } from "../core/duration.js";
import { EXIT_FAILED, InvalidInputError, PwError } from "../core/errors.js";
import { parseProjectName, parseTaskId, parseWorkerId } from "../core/names.js";
import { parseTaskSpec, SpecError } from "../core/spec.js";
import { parseYamlText } from "../core/validate.js";
import { parseState } from "../core/state-input.js";
import { isTerminal, type WorkerState } from "../core/states.js";
import type { Worker } from "../core/worker.js";
import { waitingFor } from "../core/dependencies.js";
import type { RepoContext } from "../runner/context.js";
import type { SpawnOptions, SpawnRequest } from "../runner/operations.js";
import { workerLogPath } from "../runner/worklog.js";
import type { LogFormat } from "../log/env.js";
import type { CliContext } from "./context.js";
import { logFormatOption } from "./log-format.js";
import { reportRun, summarizeRun } from "./loop-summary.js";
import { print, printError, printJson } from "./output.js";
import { ProgressView } from "./progress.js";
import { DEFAULT_STALE_AFTER_MS } from "../core/runner-health.js";
import { failureHint, printWorker, printWorkerList, runnerStaleness, workerJson } from "./views.js";

const SETTLED: WorkerState[] = ["PR_OPEN", "MERGED", "ABANDONED", "UNKNOWN"];


/**
 * The runner's modules pull in execa, simple-git and Octokit (a few hundred milliseconds of
 * start-up): only commands that run work load them.
 */
async function runnerModules() {
  const [context, operations, runner] = await Promise.all([
    import("../runner/context.js"),
    import("../runner/operations.js"),
    import("../runner/runner.js"),
  ]);
  return { ...context, ...operations, ...runner };
}

/** `--stale-after` of the commands that judge runners, defaulting to the one stale limit (DEFAULT_STALE_AFTER_MS). */
export function staleAfterOption(description: string): Option {
  return new Option("--stale-after <duration>", description).default(formatDuration(DEFAULT_STALE_AFTER_MS));
}

/** `--stale-after`: a duration, as milliseconds. */
export function parseStaleAfter(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidInputError(`--stale-after "${value}" is not a duration: use e.g. 30s, 2m`);
  return ms;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Prints every problem of a refused spawn, one per line; the summary follows as the last line. */
function reportSpawnProblems(error: unknown): never {
  const problems = error instanceof PwError ? (error as { problems?: Array<string | { message: string }> }).problems : undefined;
  if (problems && (error instanceof SpecError || problems.length > 1)) {
    for (const problem of problems) printError(`  ${typeof problem === "string" ? problem : problem.message}`);
  }
  throw error;
}

/**
 * Runs an in-process runner until every worker in `ids` has ended (PR_OPEN or failed) or waits
 * only for a dependency nobody here can finish; exit code 0 only when all reached PR_OPEN.
 */
async function waitFor(ctx: CliContext, repo: RepoContext, ids: string[], project: string | undefined): Promise<number> {
  const { Runner } = await runnerModules();
  const deps = ctx.pipelineDeps();
  const runner = new Runner({ deps, repos: [repo], ...(project ? { project } : {}) });
  const view = new ProgressView();
  const snapshot = () => Promise.all(ids.map((id) => ctx.store.requireWorker(id)));
  const settled = async (): Promise<boolean> => {
    const all = await ctx.store.listWorkers();
    return (await snapshot()).every(
      (w) =>
        SETTLED.includes(w.state) ||
        (w.state === "NEEDS_INIT" && runner.active === 0 && (waitingFor(w, all) !== undefined || runner.heldBackReason(w) !== undefined)),
    );
  };
  const render = async () => {
    const all = await ctx.store.listWorkers();
    view.update(await snapshot(), (w) => (w.state === "NEEDS_INIT" ? waitingFor(w, all) : undefined));
  };
  // a render that fails (the store busy) is skipped: the next tick draws again
  const ticker = setInterval(() => void render().catch(() => undefined), 1000);
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts += 1;
    if (interrupts === 1) {
      printError("stopping: no new agents start; running ones finish (Ctrl-C again to kill them)");
      runner.stop();
      abort.abort();
    } else void runner.abort("interrupted: the runner was stopped while the agent ran");
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await runner.run({ pollIntervalMs: 250, signal: abort.signal, until: settled });
  } finally {
    clearInterval(ticker);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  await render();
  const final = await snapshot();
  const all = await ctx.store.listWorkers();
  for (const w of final.filter((w) => w.state === "NEEDS_INIT")) {
    const reason = waitingFor(w, all);
    if (reason) print(`${w.id} (${w.taskId}) waits for ${reason} to be merged; \`pw loop\` will start it then`);
    const heldBack = reason ? undefined : runner.heldBackReason(w);
    if (heldBack) print(`${w.id} (${w.taskId}) stays queued: ${heldBack}; once that is fixed, \`pw loop\` starts it`);
  }
  for (const w of final.filter((w) => w.state === "UNKNOWN")) print(`${w.id} (${w.taskId}) failed: ${failureHint(w.id)}`);
  return final.every((w) => w.state === "PR_OPEN" || w.state === "MERGED") ? 0 : 1;
}

function printSpawned(workers: Worker[]): void {
  for (const w of workers) print(`${w.id}  ${w.taskId}  ${w.worktreePath ?? `queued for any runner of ${w.repo}`}`);
}

/**
 * Where a spawn's workers run. With SQLite (one machine) as always: the worktree now, for the
 * runner of this store. With a database shared by many machines, queued only, for whichever
 * runner serving the repository claims them (it makes the worktree); `--here` (or `--wait`)
 * makes it now, for this machine's runner.
 */
async function spawnPlace(ctx: CliContext, project: string | undefined, opts: { here?: boolean; wait?: boolean }): Promise<SpawnOptions> {
  const place: SpawnOptions = project ? { project } : {};
  if (ctx.store.backend !== "postgres") return place;
  if (!opts.here && !opts.wait) return { ...place, queueOnly: true };
  const { localRunnerId } = await import("../runner/runner-id.js");
  return { ...place, runnerId: localRunnerId(ctx.paths.home) };
}

/** Prints the log from `offset`; returns the new offset. */
function printLogFrom(file: string, offset: number): number {
  if (!existsSync(file)) return offset;
  const size = statSync(file).size;
  if (size <= offset) return size < offset ? 0 : offset;
  const text = readFileSync(file).subarray(offset, size).toString("utf8");
  process.stdout.write(text);
  return size;
}

export function registerWorkerCommands(program: Command, ctx: CliContext): void {
  const worker = program.command("worker").description("spawn coding-agent workers and follow them to a pull request");

  worker
    .command("spawn")
    .description("create a worker's worktree and queue it (NEEDS_INIT); the runner starts it")
    .requiredOption("--task-id <id>", "task id, e.g. TASK-001")
    .requiredOption("--description <text>", "what the agent should do")
    .option("--agent <name>", "agent from .parallel-workers.yml (default: default_agent, or the only agent configured, else code-author)")
    .option("--base-branch <branch>", "branch to start from (default: the repository's default branch, origin's HEAD)")
    .option("--label <label>", "extra PR label (repeatable)", collect, [])
    .option("--milestone <title>", "PR milestone (created when missing)")
    .option("--depends-on <task-id>", "task that must be MERGED first (repeatable)", collect, [])
    .option("--stack", "with one unmerged --depends-on task: start from its branch once it has a PR, and open a PR stacked on it")
    .option("--project <name>", "project name for the worktree path (default: the repository's name)")
    .option("--repo <dir>", "the git repository (default: the current directory's)")
    .option("--here", "with a shared database: make the worktree on this machine now, for this machine's runner (default: queue it for any runner)")
    .option("--wait", "run the agent here and wait until its PR is open (implies --here)")
    .action(async (opts) => {
      const taskId = parseTaskId(opts.taskId);
      const project = opts.project === undefined ? undefined : parseProjectName(opts.project);
      const description = String(opts.description).trim();
      if (!description) throw new InvalidInputError("--description is empty: say what the agent should do");
      const { openRepoContext, spawnWorkers } = await runnerModules();
      const repo = await openRepoContext(opts.repo ?? process.cwd(), ctx.paths);
      const agent = (opts.agent as string | undefined) ?? repo.config.defaultAgent;
      if (agent === null) {
        const known = repo.config.configuredAgents.join(", ");
        throw new InvalidInputError(`--agent is needed: this repository configures several agents (${known}) and no default_agent`);
      }
      const request: SpawnRequest = {
        taskId,
        description,
        agent,
        baseBranch: opts.baseBranch,
        labels: opts.label,
        milestone: opts.milestone ?? null,
        dependsOn: (opts.dependsOn as string[]).map(parseTaskId),
        ...(opts.stack ? { stack: true } : {}),
      };
      const workers = await spawnWorkers(ctx.pipelineDeps(), repo, [request], await spawnPlace(ctx, project, opts)).catch(reportSpawnProblems);
      printSpawned(workers);
      if (opts.wait) ctx.exitCode = await waitFor(ctx, repo, workers.map((w) => w.id), project);
    });

  worker
    .command("spawn-batch")
    .description("validate a task spec file as a whole, then spawn every task in it")
    .requiredOption("--spec-file <file>", "YAML task spec (`pw init` writes an example: .parallel-workers/tasks.example.yml)")
    .option("--project <name>", "project name for the worktree paths")
    .option("--repo <dir>", "the git repository (default: the current directory's)")
    .option("--here", "with a shared database: make the worktrees on this machine now, for this machine's runner (default: queue them for any runner)")
    .option("--wait", "run the agents here and wait until their PRs are open (implies --here)")
    .action(async (opts) => {
      const file = String(opts.specFile);
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "ENOENT") throw new InvalidInputError(`spec file ${file} does not exist (\`pw init\` writes an example: .parallel-workers/tasks.example.yml)`);
        throw new InvalidInputError(`cannot read spec file ${file}: ${code ?? (error as Error).message}`);
      }
      const data = parseYamlText(text, file);
      const project = opts.project === undefined ? undefined : parseProjectName(opts.project);
      const { openRepoContext, repositoryWorkers, spawnWorkers } = await runnerModules();
      const repo = await openRepoContext(opts.repo ?? process.cwd(), ctx.paths);
      const existing = new Set((await repositoryWorkers(ctx.store, repo)).flatMap((w) => (w.taskId ? [w.taskId] : [])));
      let spec;
      try {
        spec = parseTaskSpec(data, file, { agents: Object.keys(repo.config.agents), existingTaskIds: existing, defaultAgent: repo.config.defaultAgent });
      } catch (error) {
        reportSpawnProblems(error);
      }
      const requests: SpawnRequest[] = spec.tasks.map((task) => ({
        taskId: task.id,
        description: task.description,
        agent: task.agent,
        baseBranch: task.base_branch,
        labels: task.labels,
        milestone: task.milestone ?? spec.milestone ?? null,
        dependsOn: task.depends_on,
        ...(task.stack === undefined ? {} : { stack: task.stack }),
      }));
      const workers = await spawnWorkers(ctx.pipelineDeps(), repo, requests, await spawnPlace(ctx, project, opts)).catch(reportSpawnProblems);
      printSpawned(workers);
      if (opts.wait) ctx.exitCode = await waitFor(ctx, repo, workers.map((w) => w.id), project);
    });

  worker
    .command("list")
    .description("list workers")
    .option("--state <state>", "only workers in this state")
    .option("--json", "print a JSON array")
    .addOption(staleAfterOption("mark a runner not heard from for this long as stale"))
    .action(async (opts: { state?: string; json?: boolean; staleAfter: string }) => {
      const staleAfterMs = parseStaleAfter(opts.staleAfter);
      const workers = await ctx.store.listWorkers(opts.state === undefined ? {} : { state: parseState(opts.state) });
      if (opts.json) printJson(workers);
      else printWorkerList(workers, runnerStaleness(await ctx.store.listRunners(staleAfterMs)));
    });

  worker
    .command("get")
    .description("show one worker and its history")
    .argument("<id>", "worker id")
    .option("--json", "print JSON (the worker plus its history)")
    .action(async (id: string, opts: { json?: boolean }) => {
      const found = await ctx.store.requireWorker(parseWorkerId(id));
      const history = await ctx.store.history(found.id);
      if (opts.json) printJson(workerJson(found, history));
      else printWorker(found, history);
    });

  worker
    .command("logs")
    .description("print a worker's log: the agent's output and the runner's lines")
    .argument("<id>", "worker id")
    .option("--follow", "keep printing until the worker settles")
    .action(async (id: string, opts: { follow?: boolean }) => {
      const found = await ctx.store.requireWorker(parseWorkerId(id));
      const file = workerLogPath(ctx.paths.logsDir, found.id);
      if (!existsSync(file) && !opts.follow) {
        const queued = found.state === "NEEDS_INIT" ? ": it is queued and has not started; `pw loop` starts it" : "";
        throw new PwError(`no log yet for ${found.id} (${file})${queued}`);
      }
      let offset = printLogFrom(file, 0);
      if (!opts.follow) return;
      await new Promise<void>((resolve) => {
        const check = async () => {
          offset = printLogFrom(file, offset);
          const now = await ctx.store.getWorker(found.id);
          if (!now || SETTLED.includes(now.state) || isTerminal(now.state)) stop();
        };
        // a check that fails (the store busy) is tried again at the next tick
        const poll = setInterval(() => void check().catch(() => undefined), 500);
        let watcher: ReturnType<typeof watch> | undefined;
        try {
          watcher = watch(file, () => (offset = printLogFrom(file, offset)));
        } catch {
          watcher = undefined;
        }
        const stop = () => {
          clearInterval(poll);
          watcher?.close();
          resolve();
        };
        process.once("SIGINT", stop);
      });
    });

  worker
    .command("terminate")
    .description("kill the worker's agent (its whole process group) and mark it ABANDONED")
    .argument("<id>", "worker id")
    .option("--force", "also remove its worktree when it holds uncommitted or unpushed work")
    .action(async (id: string, opts: { force?: boolean }) => {
      const { terminateWorker } = await runnerModules();
      const result = await terminateWorker(ctx.pipelineDeps(), parseWorkerId(id), opts.force ?? false);
      print(`${result.worker.id}: ABANDONED${result.killed ? " (agent killed)" : ""}`);
      if (result.removedWorktree) print(`removed ${result.removedWorktree}`);
      if (result.keptWorktree) print(`kept ${result.keptWorktree}: ${result.reason}`);
    });

  worker
    .command("cleanup")
    .description("remove the worktrees and local branches of workers in a state")
    .option("--state <state>", "which workers", "MERGED")
    .action(async (opts: { state: string }) => {
      const { cleanUpWorkers } = await runnerModules();
      const { removed, kept } = await cleanUpWorkers(ctx.pipelineDeps(), parseState(opts.state));
      for (const r of removed) print(`removed ${r.path} (${r.worker.id}, ${r.worker.taskId})`);
      for (const k of kept) print(`kept ${k.worker.worktreePath} (${k.worker.id}): ${k.reason}`);
      if (removed.length === 0 && kept.length === 0) print(`no worktrees of ${opts.state} workers to remove`);
    });

  worker
    .command("retry")
    .description("queue a failed (UNKNOWN) or ABANDONED worker again, in its existing worktree")
    .argument("<id>", "worker id")
    .option("--anywhere", "let any runner serving its repository start it afresh in a new worktree (its runner is gone: also a WORKING worker of a stale runner)")
    .addOption(staleAfterOption("with --anywhere: a runner not heard from for this long is gone"))
    .action(async (id: string, opts: { anywhere?: boolean; staleAfter: string }) => {
      const workerId = parseWorkerId(id);
      const { retryAnywhere, retryWorker } = await runnerModules();
      if (opts.anywhere) {
        const queued = await retryAnywhere(ctx.pipelineDeps(), workerId, parseStaleAfter(opts.staleAfter));
        print(`${queued.id}: NEEDS_INIT, for any runner of ${queued.repo} (it starts afresh in a new worktree)`);
        return;
      }
      const queued = await retryWorker(ctx.pipelineDeps(), workerId);
      print(`${queued.id}: NEEDS_INIT (\`pw loop\` or \`pw serve\` starts it)`);
    });

  worker
    .command("rework")
    .description("send a worker's open pull request back to its agent for another round, now (with any review or failed check waiting)")
    .argument("<id>", "worker id")
    .option("--message <text>", "what the agent should do in this round")
    .action(async (id: string, opts: { message?: string }) => {
      const message = opts.message ?? "";
      if (Buffer.byteLength(message) > 64 * 1024) {
        throw new InvalidInputError(`--message is ${Buffer.byteLength(message)} bytes, over 64 KB: say it shorter, or point the agent at a file in the worktree`);
      }
      const { askForRound } = await import("../runner/rework.js");
      const { worker: asked, joinsNext } = await askForRound({ store: ctx.store, correlationId: ctx.correlationId }, parseWorkerId(id), message);
      print(
        joinsNext
          ? `${asked.id}: a rework round runs now; this joins the next one`
          : `${asked.id}: rework round asked (\`pw serve\` or \`pw loop\` on the machine with its worktree runs it)`,
      );
    });

  worker
    .command("submit")
    .description("push and open the PR for work done by hand in a worker's worktree")
    .argument("<id>", "worker id")
    .action(async (id: string) => {
      const { submitWorker } = await runnerModules();
      const done = await submitWorker(ctx.pipelineDeps(), parseWorkerId(id));
      print(`${done.id}: PR_OPEN ${done.prUrl ?? ""}`.trimEnd());
    });
}

export function registerLoopCommand(program: Command, ctx: CliContext): void {
  program
    .command("loop")
    .alias("runner")
    .description("run the runner: start queued workers (at most max_workers at once), clean up merged ones (`pw runner` is the same)")
    .option("--project <name>", "only this project's workers")
    .option("--repo <dir>", "a repository to serve (repeatable; default: the current directory's)", collect, [])
    .option("--poll-interval <seconds>", "how often to read the local store", "2")
    .option("--max-iterations <n>", "stop after this many passes (then let running agents finish)")
    .option("--until-idle", "stop once nothing runs and no queued worker can start; exit 1 if a worker failed meanwhile")
    .option("--runner-id <id>", "this runner's id in `pw runners` (default: PW_RUNNER_ID, else this host's name and a suffix kept in $PW_HOME)")
    .addOption(logFormatOption())
    .action(async (opts: { project?: string; repo: string[]; pollInterval: string; maxIterations?: string; untilIdle?: boolean; runnerId?: string; logFormat?: LogFormat }) => {
      const pollSeconds = Number(opts.pollInterval);
      if (!Number.isFinite(pollSeconds) || pollSeconds <= 0) {
        throw new InvalidInputError(`--poll-interval "${opts.pollInterval}" is not a positive number of seconds`);
      }
      const maxIterations = opts.maxIterations === undefined ? undefined : Number(opts.maxIterations);
      if (maxIterations !== undefined && (!Number.isInteger(maxIterations) || maxIterations < 1)) {
        throw new InvalidInputError(`--max-iterations "${opts.maxIterations}" is not a positive whole number`);
      }
      const project = opts.project === undefined ? undefined : parseProjectName(opts.project);
      const { localRunnerId } = await import("../runner/runner-id.js");
      const runnerId = localRunnerId(ctx.paths.home, opts.runnerId);
      const dirs = opts.repo.length ? opts.repo : [process.cwd()];
      ctx.chooseLogFormat(opts.logFormat);
      const { openRepoContext, Runner } = await runnerModules();
      const repos = await Promise.all(dirs.map((dir) => openRepoContext(dir, ctx.paths)));
      // a store that cannot be reached at the start is an error; once running, outages are waited out
      await ctx.connectStore();
      const logger = ctx.useLogger("runner");
      // a run until idle is a batch: it keeps no spares warm for later
      const { registrationSettings } = await import("./served.js");
      const settings = registrationSettings(repos);
      const runner = new Runner({ deps: { ...ctx.pipelineDeps(), logger }, repos, ...(project ? { project } : {}), keepPool: !opts.untilIdle, runnerId, settings });
      logger.info({ runner: runner.id, runner_id: runner.runnerId, repos: repos.map((r) => r.repository ?? r.repo.root) }, `runner ${runner.runnerId} started`);
      const abort = new AbortController();
      let interrupts = 0;
      const onSignal = () => {
        interrupts += 1;
        if (interrupts === 1) {
          logger.info("stopping: running agents finish, no new ones start");
          abort.abort();
        } else void runner.abort("interrupted: the runner was stopped while the agent ran");
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const between = await ctx.passWait(logger);
      try {
        await runner.run({
          ...(between.wait ? { wait: between.wait } : {}),
          pollIntervalMs: pollSeconds * 1000,
          signal: abort.signal,
          ...(maxIterations ? { maxIterations } : {}),
          ...(opts.untilIdle ? { until: () => runner.isIdle() } : {}),
        });
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        await between.close();
      }
      logger.info({ runner: runner.id, runner_id: runner.runnerId }, `runner ${runner.runnerId} stopped`);
      const all = await ctx.store.listWorkers();
      const summary = summarizeRun({ workers: all.filter((w) => runner.contextFor(w)), all, moved: ctx.moved });
      reportRun(summary, { format: ctx.logOutput.format, logger });
      if (opts.untilIdle && summary.failed.length > 0) ctx.exitCode = EXIT_FAILED;
    });
}
