/**
 * A spare worktree of the warm pool: checked out at the base branch's head with setup run, so
 * that a spawn takes it instead of making a worktree of its own.
 *
 * - `filling`: being made (or brought back from a merged worker) by `owner`; never handed out.
 * - `ready`: done; the next spawn of its repository may take it.
 * - `taken`: a spawn is turning it into a worker's worktree; its record goes once that is done.
 * - `dirty`: found changed (by hand?) when it was about to be handed out; kept on disk for a
 *   person to look at, never handed out; `pw pool drain` removes it.
 */
export const SPARE_STATES = ["filling", "ready", "taken", "dirty"] as const;
export type SpareState = (typeof SPARE_STATES)[number];

export interface Spare {
  id: string;
  /** The checkout (main worktree) it belongs to. */
  repoPath: string;
  /** Where it is on disk. */
  path: string;
  state: SpareState;
  /** The branch whose head it was checked out at, and that commit. */
  baseBranch: string | null;
  baseCommit: string | null;
  /** The first port of the block it holds, handed on to the worker that takes it. */
  port: number | null;
  /** Who is filling or taking it (`host:pid:...`), and until when that claim holds without renewal. */
  owner: string | null;
  leaseUntil: string | null;
  /** Why it is dirty. */
  note: string | null;
  createdAt: string;
  updatedAt: string;
}

export function isSpareState(value: string): value is SpareState {
  return (SPARE_STATES as readonly string[]).includes(value);
}
