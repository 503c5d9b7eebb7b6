/**
 * How `pw runners` shows the runners the store knows: a table for people, objects for scripts.
 * Ages come from the store's clock (`heartbeatAgeMs`), never this machine's.
 */
import { formatDuration } from "../core/duration.js";
import type { RunnerRecord } from "../store/store.js";
import { print, printTable } from "./output.js";

/** One runner as `pw runners --json` gives it: all the store knows but what it serves with (its settings, the app's business). */
export type RunnerJson = Omit<RunnerRecord, "settings">;

export function runnerJson(runner: RunnerRecord): RunnerJson {
  const { settings: _settings, ...shown } = runner;
  return shown;
}

/** `pw runners`: live ones first, each with how long ago it was heard from. */
export function printRunners(runners: readonly RunnerRecord[], staleAfterMs: number): void {
  if (runners.length === 0) {
    print("no runners have registered: start one with `pw runner` (or `pw loop`)");
    return;
  }
  const ordered = [...runners].sort((a, b) => Number(a.stale) - Number(b.stale) || a.id.localeCompare(b.id));
  printTable(
    ["RUNNER", "HOST", "REPOSITORIES", "HEARTBEAT", "WORKERS", "STATUS"],
    ordered.map((r) => [
      r.id,
      r.host,
      r.repositories.join(",") || "-",
      `${formatDuration(r.heartbeatAgeMs)} ago`,
      String(r.workers),
      r.stale ? `stale (no heartbeat for ${formatDuration(staleAfterMs)})` : "live",
    ]),
  );
  const stale = runners.filter((r) => r.stale && r.workers > 0);
  if (stale.length > 0) {
    print();
    for (const r of stale) print(`${r.id} holds ${r.workers} worker(s) and is stale: start it again, or \`pw worker retry ID --anywhere\` lets another runner take a worker`);
  }
}
