import { execa } from "execa";
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";

/** Where `program` would be found on `PATH`, as execvp would look; undefined when nowhere. */
export function findProgram(program: string, path: string | undefined, cwd: string): string | undefined {
  const candidates = program.includes("/")
    ? [resolve(cwd, program)]
    : (path ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, program));
  return candidates.find((candidate) => {
    try {
      accessSync(candidate, constants.X_OK);
      return statSync(candidate).isFile();
    } catch {
      return false;
    }
  });
}

/** True when a process with this id exists (signal 0 probes without sending anything). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Signals the whole process group led by `pid`; false when there was none. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to the group, then SIGKILL after `graceMs` if anything of it is left. */
export async function killGroup(pid: number, graceMs = 3000): Promise<void> {
  if (!signalGroup(pid, "SIGTERM")) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!signalGroup(pid, 0 as unknown as NodeJS.Signals)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  signalGroup(pid, "SIGKILL");
}

export interface ProcessOutcome {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
}

export interface StartedProcess {
  pid: number;
  done: Promise<ProcessOutcome>;
}

export interface StartOptions {
  argv: readonly string[];
  cwd: string;
  env: Record<string, string>;
  /** The file both stdout and stderr are appended to. */
  logFile: string;
  timeoutMs: number;
}

/**
 * Starts `argv` (never through a shell) as the leader of its own process group, with exactly
 * `env`, so a timeout or a terminate can kill everything it started.
 */
export function startProcess(options: StartOptions): StartedProcess {
  const [file, ...args] = options.argv as [string, ...string[]];
  const started = Date.now();
  const child = execa(file, args, {
    cwd: options.cwd,
    env: options.env,
    extendEnv: false,
    detached: true,
    stdin: "ignore",
    stdout: { file: options.logFile, append: true },
    stderr: { file: options.logFile, append: true },
    reject: false,
    cleanup: false,
  });
  const pid = child.pid;
  if (pid === undefined) {
    return {
      pid: -1,
      done: child.then((result) => ({
        exitCode: result.exitCode ?? null,
        signal: null,
        timedOut: false,
        durationMs: Date.now() - started,
      })),
    };
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void killGroup(pid);
  }, options.timeoutMs);
  const done = child.then((result) => {
    clearTimeout(timer);
    // the leader is gone; whatever it left in its group goes too
    signalGroup(pid, "SIGKILL");
    return {
      exitCode: result.exitCode ?? null,
      signal: result.signal ?? null,
      timedOut,
      durationMs: Date.now() - started,
    };
  });
  return { pid, done };
}
