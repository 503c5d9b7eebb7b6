/**
 * A runner's id: what the store records as the runner holding a worker's worktree, and what
 * `pw runners` lists. Given (`--runner-id`), or this host's name and a short suffix kept in
 * `$PW_HOME/runner-id`, so a runner restarted on the same machine is the same runner (and
 * cleans up what it left) while two machines of the same name are not.
 */
import { randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { InvalidInputError } from "../core/errors.js";
import { parseWith } from "../core/validate.js";

const RUNNER_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Why `value` cannot be a runner id, or undefined when it can. */
export function runnerIdProblem(value: string): string | undefined {
  const shown = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (!RUNNER_ID.test(value)) {
    return `runner id ${shown} is not allowed: use 1 to 63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit`;
  }
  if (value.includes("..")) return `runner id ${shown} is not allowed: it contains '..'`;
  return undefined;
}

export const runnerIdSchema = z.string().superRefine((value, ctx) => {
  const problem = runnerIdProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

export function parseRunnerId(value: string): string {
  return parseWith(runnerIdSchema, value);
}

/** The host name as a runner id's first part: lowercase, what an id allows, short. */
export function hostPart(host: string): string {
  const part = host
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, "-")
    .replace(/\.{2,}/g, ".")
    .replace(/^[^a-z0-9]+/, "")
    .slice(0, 48)
    .replace(/[^a-z0-9]+$/, "");
  return part || "runner";
}

const SUFFIX = /^[a-z0-9]{4,12}$/;

/**
 * This machine's default runner id: `host-suffix`, the suffix made once and kept in
 * `$PW_HOME/runner-id`. Two runners started at once agree on it (the file is linked in whole, and
 * the loser reads the winner's). A damaged file is made afresh.
 */
export function defaultRunnerId(pwHome: string, host: string = hostname()): string {
  const file = join(pwHome, "runner-id");
  const suffix = readSuffix(file) ?? createSuffix(pwHome, file);
  return `${hostPart(host)}-${suffix}`;
}

function readSuffix(file: string): string | undefined {
  try {
    const value = readFileSync(file, "utf8").trim();
    return SUFFIX.test(value) ? value : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

function createSuffix(pwHome: string, file: string): string {
  mkdirSync(pwHome, { recursive: true });
  const suffix = randomBytes(3).toString("hex");
  // written whole under a name of its own, then linked in place: a reader never sees half a file
  const draft = `${file}.${process.pid}.${suffix}`;
  writeFileSync(draft, `${suffix}\n`, { mode: 0o644 });
  try {
    linkSync(draft, file);
    return suffix;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    // another runner made it first (theirs stands), or it is damaged (ours replaces it)
    const theirs = readSuffix(file);
    if (theirs) return theirs;
    renameSync(draft, file);
    return suffix;
  } finally {
    rmSync(draft, { force: true });
  }
}

/** The runner id to use: the one given (checked), or this machine's default. */
export function resolveRunnerId(pwHome: string, given?: string): string {
  return given === undefined ? defaultRunnerId(pwHome) : parseRunnerId(given);
}

/** `PW_RUNNER_ID` when set, checked (a bad one names the variable), else undefined. */
export function runnerIdFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env.PW_RUNNER_ID;
  if (value === undefined || value === "") return undefined;
  const problem = runnerIdProblem(value);
  if (problem) throw new InvalidInputError(`PW_RUNNER_ID: ${problem}`);
  return value;
}

/** This machine's runner id for its commands: `--runner-id`, else PW_RUNNER_ID, else the default kept in $PW_HOME. */
export function localRunnerId(pwHome: string, given?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolveRunnerId(pwHome, given ?? runnerIdFromEnv(env));
}
