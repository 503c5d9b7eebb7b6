import { hostname } from "node:os";
import { isProcessAlive } from "./process.js";

/**
 * Who holds a claim (on a worker, on a spare worktree) is written `host:pid:...`, so another
 * process on the same host can tell whether the holder still lives.
 */
export const HOST = hostname();

/** Whether the process that wrote `owner` is certainly gone: same host and its process has exited. */
export function ownerIsDead(owner: string): boolean {
  const [host, pid] = owner.split(":");
  return host === HOST && pid !== undefined && /^\d+$/.test(pid) && !isProcessAlive(Number(pid));
}

/** Whether a claim held until `leaseUntil` (ISO time, or none) has run out at `now`. */
export function leaseExpired(leaseUntil: string | null, now: number = Date.now()): boolean {
  return !leaseUntil || Date.parse(leaseUntil) < now;
}

/** An owner id for a short-lived process (a spawn, `pw pool fill`): this host, this process, and what it is. */
export function processOwner(role: string): string {
  return `${HOST}:${process.pid}:${role}`;
}
