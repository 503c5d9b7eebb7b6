import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from "node:fs";
import { dirname, join } from "node:path";

/** `$PW_HOME/logs/<worker-id>.log`: the agent's output, with the runner's own lines among it. */
export function workerLogPath(logsDir: string, workerId: string): string {
  return join(logsDir, `${workerId}.log`);
}

/** Appends one runner line (`[pw <time>] ...`) to a worker's log. */
export function appendWorkerLog(file: string, message: string): void {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `[pw ${new Date().toISOString()}] ${message}\n`);
}

/** The last `count` lines of a log (reading at most its last 64 KiB), for error reports. */
export function lastLines(file: string, count: number): string[] {
  if (!existsSync(file)) return [];
  const size = statSync(file).size;
  const length = Math.min(size, 64 * 1024);
  const buffer = Buffer.alloc(length);
  const fd = openSync(file, "r");
  try {
    readSync(fd, buffer, 0, length, size - length);
  } finally {
    closeSync(fd);
  }
  return buffer
    .toString("utf8")
    .split("\n")
    .filter((line) => line.trim() && !line.startsWith("[pw "))
    .slice(-count);
}
