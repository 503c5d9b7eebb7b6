import { randomInt } from "node:crypto";
import { join } from "node:path";
import { z } from "zod";
import { parseWith } from "./validate.js";
import { isWorkerId } from "./worker-id.js";

export { isWorkerId };

const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** What makes a name unfit for a path segment or a git ref, beyond the pattern. */
function refProblem(value: string): string | undefined {
  if (value.includes("..")) return "it contains '..'";
  if (value.endsWith(".")) return "it ends with '.'";
  if (value.toLowerCase().endsWith(".lock")) return "it ends with '.lock'";
  return undefined;
}

function describe(value: string): string {
  const shown = value.length > 40 ? `${value.slice(0, 40)}...` : value;
  return JSON.stringify(shown);
}

/** Why `value` cannot be a task id or project name, or undefined when it can. */
function nameProblem(kind: string, value: string): string | undefined {
  if (value.length === 0) return `${kind} is empty: use letters, digits, '.', '_' or '-'`;
  if (value.length > 64) return `${kind} ${describe(value)} is ${value.length} characters long: at most 64 are allowed`;
  if (!TASK_ID.test(value)) {
    return `${kind} ${describe(value)} is not allowed: start with a letter or digit, then use letters, digits, '.', '_' or '-'`;
  }
  const problem = refProblem(value);
  return problem && `${kind} ${describe(value)} is not allowed: ${problem}`;
}

function nameSchema(kind: string) {
  return z.string().superRefine((value, ctx) => {
    const problem = nameProblem(kind, value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });
}

/** A task id names a branch and a directory, so it is checked before it touches either. */
export const taskIdSchema = nameSchema("task id");
export const projectNameSchema = nameSchema("project name");
export const workerIdSchema = z.string().superRefine((value, ctx) => {
  if (!isWorkerId(value)) {
    ctx.addIssue({
      code: "custom",
      message: `worker id ${describe(value)} is not valid: expected "worker-" and 6 lowercase letters or digits, like worker-a1b2c3`,
    });
  }
});

export function parseTaskId(value: string): string {
  return parseWith(taskIdSchema, value);
}

export function parseProjectName(value: string): string {
  return parseWith(projectNameSchema, value);
}

export function parseWorkerId(value: string): string {
  return parseWith(workerIdSchema, value);
}

function newId(prefix: string): string {
  let suffix = "";
  for (let i = 0; i < 6; i++) suffix += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return `${prefix}-${suffix}`;
}

export function newWorkerId(): string {
  return newId("worker");
}

/** A spare worktree's id: `spare-` and 6 lowercase letters or digits. */
export function newSpareId(): string {
  return newId("spare");
}

/** Every worker's branch starts so. */
export const BRANCH_PREFIX = "feature/";

export function branchForTask(taskId: string): string {
  return `${BRANCH_PREFIX}${parseTaskId(taskId).toLowerCase()}`;
}

export function worktreePathFor(worktreesRoot: string, project: string, taskId: string): string {
  return join(worktreesRoot, parseProjectName(project), parseTaskId(taskId).toLowerCase());
}
