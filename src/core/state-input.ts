import { z } from "zod";
import { WORKER_STATES, type WorkerState } from "./states.js";
import { parseWith } from "./validate.js";

/** A state name given from outside (a command line, an API query), refused with the names it may be. */
export const workerStateSchema = z.enum(WORKER_STATES, {
  error: (issue) => `unknown state ${JSON.stringify(issue.input)}: use one of ${WORKER_STATES.join(", ")}`,
});

export function parseState(value: string): WorkerState {
  return parseWith(workerStateSchema, value);
}
