/**
 * The read commands run most often, `pw state get|list` and `pw worker get|list`, answered
 * without building the program: no commander, no zod, no logger, no git, only the store. Only
 * exact shapes with values that are certainly valid, in an environment the full program takes
 * as it is, are answered here. For anything else (a typo, `--help`, a worker that does not
 * exist, a log variable to check) `answerQuickly` returns false having printed nothing, and the
 * full program answers: the same way for these, with the right error for the rest.
 */
import { accessSync, constants, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isWorkerState, type WorkerState } from "../core/states.js";
import { isWorkerId } from "../core/worker-id.js";
import { pathsFrom, pathVariableProblem } from "../paths.js";
import { SqliteWorkerStore } from "../store/sqlite.js";
import { print, printJson } from "./output.js";
import { DEFAULT_STALE_AFTER_MS } from "../core/runner-health.js";
import { printWorker, printWorkerList, printWorkers, runnerStaleness, workerJson } from "./views.js";

/** Variables every command checks before it runs (log/env.ts): when one is set, the full program checks it. */
const CHECKED_BY_THE_PROGRAM = ["LOG_LEVEL", "PW_PHASE", "PW_LOG_FORMAT", "LOKI_URL", "LOKI_USERNAME", "LOKI_PASSWORD", "LOKI_TENANT"];

const COMMANDS = ["state get", "state list", "worker get", "worker list"] as const;
type Command = (typeof COMMANDS)[number];

interface Request {
  command: Command;
  id?: string;
  state?: WorkerState;
  json: boolean;
}

/** The request `args` (after `pw`) make, when they are one of the shapes answered here. */
function parse(args: readonly string[]): Request | undefined {
  const command = `${args[0]} ${args[1]}`;
  if (!(COMMANDS as readonly string[]).includes(command)) return undefined;
  const request: Request = { command: command as Command, json: false };
  const positional: string[] = [];
  const lists = command.endsWith(" list");
  for (let i = 2; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--json") request.json = true;
    else if (lists && (arg === "--state" || arg.startsWith("--state="))) {
      const value = arg === "--state" ? args[++i] : arg.slice("--state=".length);
      if (value === undefined || !isWorkerState(value) || request.state !== undefined) return undefined;
      request.state = value;
    } else if (arg.startsWith("-")) return undefined;
    else positional.push(arg);
  }
  if (lists) return positional.length === 0 ? request : undefined;
  if (positional.length !== 1 || !isWorkerId(positional[0]!)) return undefined;
  request.id = positional[0]!;
  return request;
}

/** Answers `args` (what follows `pw`) and returns true, or returns false having done nothing the full program would not. */
export function answerQuickly(args: readonly string[], env: NodeJS.ProcessEnv): boolean {
  const request = parse(args);
  if (!request) return false;
  if (CHECKED_BY_THE_PROGRAM.some((name) => env[name])) return false;
  if (pathVariableProblem(env.PW_HOME) || pathVariableProblem(env.PW_WORKTREES_ROOT)) return false;
  const paths = pathsFrom({ PW_HOME: env.PW_HOME, PW_WORKTREES_ROOT: env.PW_WORKTREES_ROOT, HOME: env.HOME });
  // a database URL (set, or perhaps in config.yml) is the full program's to check and use
  if (env.PW_DATABASE_URL !== undefined || mayNameDatabase(join(paths.home, "config.yml"))) return false;
  let store: SqliteWorkerStore;
  try {
    // as the full program does: PW_HOME made when missing, and it must be writable
    mkdirSync(paths.home, { recursive: true });
    accessSync(paths.home, constants.W_OK);
    store = new SqliteWorkerStore(paths.storeFile);
  } catch {
    return false;
  }
  try {
    return answer(store, request);
  } catch {
    return false;
  } finally {
    store.close();
  }
}

/** Whether the user's config.yml mentions `database_url` (unreadable counts as yes: the program says why). */
function mayNameDatabase(file: string): boolean {
  try {
    return readFileSync(file, "utf8").includes("database_url");
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ENOENT";
  }
}

function answer(store: SqliteWorkerStore, request: Request): boolean {
  switch (request.command) {
    case "state get": {
      const worker = store.getWorker(request.id!);
      if (!worker) return false;
      if (request.json) printJson(worker);
      else print(worker.state);
      return true;
    }
    case "worker get": {
      const worker = store.getWorker(request.id!);
      if (!worker) return false;
      const history = store.history(worker.id);
      if (request.json) printJson(workerJson(worker, history));
      else printWorker(worker, history);
      return true;
    }
    case "state list":
    case "worker list": {
      const workers = store.listWorkers(request.state === undefined ? {} : { state: request.state });
      if (request.json) printJson(workers);
      else if (request.command === "state list") printWorkers(workers);
      else printWorkerList(workers, runnerStaleness(store.listRunners(DEFAULT_STALE_AFTER_MS)));
      return true;
    }
  }
}
