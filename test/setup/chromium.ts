/**
 * Global setup of the `chromium` test project (the status page driven in a real browser). It
 * finds the Chromium those tests drive; when there is none it installs Debian's package if it
 * can (root, or sudo without a password), and otherwise the Chromium tests skip with one line
 * that names the install command. Under CI=true a missing browser fails the run instead. It never
 * downloads a browser. Only a run that includes a Chromium test file does any of this.
 *
 *   PW_TEST_CHROMIUM=/path/to/chromium   drive this binary (nothing is installed for it)
 *   PW_TEST_BROWSER_INSTALL=0            never install; skip (under CI: fail) when there is none
 */
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import type { TestProject } from "vitest/node";
import { findProgram } from "../../src/runner/process.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The Chromium binary the browser tests drive; null when they skip. */
    chromium: string | null;
  }
}

/** Where Debian's `chromium` package puts the browser. */
export const DEBIAN_CHROMIUM = "/usr/bin/chromium";

/** What setup learnt about this machine. */
export interface BrowserMachine {
  /** PW_TEST_CHROMIUM, when set. */
  requested: string | undefined;
  /** The Chromium found (the requested one, else `chromium` on PATH, else Debian's path). */
  found: string | undefined;
  /** False when PW_TEST_BROWSER_INSTALL=0. */
  installAllowed: boolean;
  root: boolean;
  /** `sudo -n true` succeeds. */
  passwordlessSudo: boolean;
  /** apt-get is on PATH. */
  apt: boolean;
  ci: boolean;
}

export type BrowserPlan =
  | { kind: "use"; chromium: string }
  | { kind: "install"; install: string[]; update: string[] }
  | { kind: "skip"; line: string }
  | { kind: "fail"; line: string };

/** The command a person runs to install the browser: with sudo unless they are root. */
export function installCommand(root: boolean): string {
  return `${root ? "" : "sudo "}apt-get install -y chromium`;
}

/** An apt-get command, through `sudo -n` unless root; another apt-get holding dpkg's lock is waited for. */
export function aptCommand(root: boolean, ...args: string[]): string[] {
  return [...(root ? [] : ["sudo", "-n"]), "apt-get", "-o", "DPkg::Lock::Timeout=300", ...args];
}

/** Without a browser: the one line saying why and what to run; under CI, a failure. */
export function withoutBrowser(reason: string, machine: Pick<BrowserMachine, "root" | "ci">): BrowserPlan {
  const fix = `install it with \`${installCommand(machine.root)}\` (or set PW_TEST_CHROMIUM to a Chromium binary)`;
  return machine.ci
    ? { kind: "fail", line: `the Chromium tests need a browser under CI=true: ${reason}; ${fix}` }
    : { kind: "skip", line: `Chromium tests skipped: ${reason}; ${fix} and run them again` };
}

/** What to do before the tests run, from what the machine has. */
export function planBrowser(machine: BrowserMachine): BrowserPlan {
  if (machine.found) return { kind: "use", chromium: machine.found };
  if (machine.requested) return withoutBrowser(`PW_TEST_CHROMIUM=${machine.requested} is not an executable file`, machine);
  const none = `no Chromium (\`chromium\` on PATH or ${DEBIAN_CHROMIUM})`;
  if (!machine.installAllowed) return withoutBrowser(`${none}, and PW_TEST_BROWSER_INSTALL=0`, machine);
  if (!machine.apt) return withoutBrowser(`${none}, and no apt-get to install Debian's package with`, machine);
  if (!machine.root && !machine.passwordlessSudo) return withoutBrowser(`${none}, and installing it needs root (sudo asks for a password)`, machine);
  return { kind: "install", install: aptCommand(machine.root, "install", "-y", "--no-install-recommends", "chromium"), update: aptCommand(machine.root, "update") };
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findChromium(env: NodeJS.ProcessEnv): string | undefined {
  const requested = env.PW_TEST_CHROMIUM;
  if (requested) return isExecutable(requested) ? requested : undefined;
  return findProgram("chromium", env.PATH, process.cwd()) ?? (isExecutable(DEBIAN_CHROMIUM) ? DEBIAN_CHROMIUM : undefined);
}

/** CI=true (or 1) as CI services set it. */
export function isCi(env: NodeJS.ProcessEnv): boolean {
  return /^(true|1)$/i.test(env.CI ?? "");
}

export function inspectMachine(env: NodeJS.ProcessEnv): BrowserMachine {
  const root = process.getuid?.() === 0;
  const found = findChromium(env);
  const installAllowed = env.PW_TEST_BROWSER_INSTALL !== "0";
  const apt = findProgram("apt-get", env.PATH, process.cwd()) !== undefined;
  // sudo is asked only when its answer matters
  const passwordlessSudo = !found && installAllowed && apt && !root && spawnSync("sudo", ["-n", "true"], { stdio: "ignore", timeout: 10_000 }).status === 0;
  return { requested: env.PW_TEST_CHROMIUM || undefined, found, installAllowed, root, passwordlessSudo, apt, ci: isCi(env) };
}

/** Runs an apt-get command; resolves to its last output line when it fails, undefined when it worked. */
function runApt(argv: string[]): Promise<string | undefined> {
  const [file, ...args] = argv as [string, ...string[]];
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", (error) => resolve(error.message));
    child.on("close", (code) => resolve(code === 0 ? undefined : (output.trim().split("\n").at(-1) ?? `exit ${code}`)));
  });
}

/** `apt-get install`; when the package lists are missing or stale, `apt-get update` and again. */
async function installChromium(plan: { install: string[]; update: string[] }): Promise<string | undefined> {
  if ((await runApt(plan.install)) === undefined) return undefined;
  const updateFailed = await runApt(plan.update);
  if (updateFailed !== undefined) return `apt-get update failed: ${updateFailed}`;
  return runApt(plan.install);
}

export default async function setup(project: TestProject): Promise<void> {
  const env = process.env;
  let machine = inspectMachine(env);
  let plan = planBrowser(machine);
  if (plan.kind === "install") {
    process.stdout.write(`Chromium tests: installing Debian's chromium (${plan.install.join(" ")}), about a minute\n`);
    const failed = await installChromium(plan);
    machine = { ...inspectMachine(env), installAllowed: false };
    plan = machine.found ? { kind: "use", chromium: machine.found } : withoutBrowser(`installing Debian's chromium failed (${failed ?? "no chromium afterwards"})`, machine);
  }
  if (plan.kind === "fail") throw new Error(plan.line);
  if (plan.kind === "skip") process.stdout.write(`${plan.line}\n`);
  project.provide("chromium", plan.kind === "use" ? plan.chromium : null);
}
