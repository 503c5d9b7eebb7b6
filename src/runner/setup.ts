import { createHash } from "node:crypto";
import { fillCommand } from "../core/agents.js";
import { formatDuration } from "../core/duration.js";
import { PwError } from "../core/errors.js";
import type { RepoConfig } from "../config.js";
import { changesHash, lockfilesChanged, worktreeFiles } from "../git/spares.js";
import type { Repository } from "../git/repo.js";
import { readBroughtPaths, writeSetupRecord, type SetupRecord } from "../git/worktree-state.js";
import { setupEnvironment } from "./env.js";
import { findProgram, startProcess, type ProcessOutcome } from "./process.js";
import { appendWorkerLog } from "./worklog.js";

const SETUP_TIMEOUT_MS = 20 * 60_000;

/** A setup command that could not run or failed; the message is for a person. */
export class SetupFailure extends PwError {}

export function describeExit(outcome: ProcessOutcome): string {
  if (outcome.timedOut) return `timed out after ${formatDuration(outcome.durationMs)}`;
  if (outcome.signal) return `was killed by ${outcome.signal}`;
  return `exited with code ${outcome.exitCode}`;
}

/** A hash of what setup depends on besides the commit: its commands, the lockfile patterns, and the port it runs with. */
export function setupInputs(config: RepoConfig, port: number | null): string {
  return createHash("sha256").update(JSON.stringify({ setup: config.setup, lockfiles: config.pool.lockfiles, port })).digest("hex");
}

/**
 * Whether what setup made in a worktree (per `record`) still holds at `commit` with `port`: the
 * same inputs, and no lockfile (`pool.lockfiles`) changed between the commit it ran at and this one.
 */
export async function setupStillHolds(repo: Repository, config: RepoConfig, record: SetupRecord, commit: string, port: number | null): Promise<boolean> {
  if (record.inputs !== setupInputs(config, port) || !record.commit) return false;
  return !(await lockfilesChanged(repo, record.commit, commit, config.pool.lockfiles));
}

export interface SetupRun {
  repo: Repository;
  config: RepoConfig;
  /** The worktree to set up. */
  path: string;
  /** PW_PORT and `{port}`: the port of the worker the worktree is (or will be) for. */
  port: number | null;
  /** The runner's environment, which setup's allowlisted variables are taken from. */
  parent: NodeJS.ProcessEnv;
  /** Where setup's output and the runner's lines about it go. */
  logFile: string;
}

/**
 * Runs every setup command in the worktree, in order, and records that setup is done there:
 * its key, the ignored paths it made and the worktree's status after it. Throws SetupFailure.
 */
export async function runSetup(run: SetupRun): Promise<void> {
  const { repo, config, path, port, logFile } = run;
  const { env, dropped } = setupEnvironment({ parent: run.parent, passthrough: config.passthrough, port });
  if (dropped.length > 0 && config.setup.length > 0) {
    appendWorkerLog(logFile, `not passed to setup (names that look secret): ${dropped.join(", ")}`);
  }
  for (const command of config.setup) {
    const argv = fillCommand(command, port === null ? {} : { port: String(port) });
    appendWorkerLog(logFile, `setup: ${JSON.stringify(argv)}`);
    if (!findProgram(argv[0]!, env.PATH, path)) {
      throw new SetupFailure(`setup command "${argv[0]}" not found; fix setup in .parallel-workers.yml`);
    }
    const outcome = await startProcess({ argv, cwd: path, env, logFile, timeoutMs: SETUP_TIMEOUT_MS }).done;
    if (outcome.exitCode !== 0) throw new SetupFailure(`setup command ${JSON.stringify(argv)} ${describeExit(outcome)}`);
  }
  const commit = (await repo.run(["rev-parse", "HEAD"], path)).trim();
  const brought = new Set(readBroughtPaths(path).flatMap((p) => [p, `${p}/`]));
  const files = await worktreeFiles(repo, path);
  writeSetupRecord(path, {
    commit,
    inputs: setupInputs(config, port),
    outputs: files.ignored.filter((p) => !brought.has(p)),
    status: changesHash(files),
    port,
  });
}
