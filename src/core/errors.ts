import type { WorkerState } from "./states.js";

/** Exit codes shared by every command: 1 an operation failed, 2 bad usage or invalid input. */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** An error meant for a person: one line that names the bad value and what to do. */
export class PwError extends Error {
  readonly exitCode: number;
  constructor(message: string, options?: ErrorOptions & { exitCode?: number }) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = options?.exitCode ?? EXIT_FAILED;
  }
}

/** A value from outside (flag, file, payload, env) that is not acceptable. Changes nothing. */
export class InvalidInputError extends PwError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, { ...options, exitCode: EXIT_USAGE });
  }
}

export class NotFoundError extends PwError {}

/** A directory that is not inside a git checkout: a command that can do without one tells it from other failures. */
export class NotARepositoryError extends InvalidInputError {}

/** A compare-and-swap lost: the stored state was not the expected one. */
export class TransitionConflictError extends PwError {
  constructor(
    readonly workerId: string,
    readonly expected: WorkerState,
    readonly actual: WorkerState,
    readonly to: WorkerState,
  ) {
    super(`conflict on ${workerId}: cannot move ${expected} -> ${to}, it is ${actual} now`);
  }
}

/** A move the transition table does not allow. */
export class IllegalTransitionError extends PwError {
  constructor(
    readonly workerId: string,
    readonly from: WorkerState,
    readonly to: WorkerState,
  ) {
    super(`illegal transition for ${workerId}: ${from} -> ${to} is not allowed`);
  }
}

export class GitError extends PwError {}

export class StoreError extends PwError {}

/**
 * The store could not be reached, or lost its connection mid-call: the call may be tried again
 * (with a pause) and should work once the database answers. A write that lost its connection
 * while committing may have happened: a compare-and-swap tried again then reports the conflict.
 */
export class StoreUnavailableError extends StoreError {
  readonly retryable = true;
}
