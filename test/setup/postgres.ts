/**
 * Global setup of the `postgres` test project (the stores' tests against a real PostgreSQL). It
 * finds the server those tests use: PW_TEST_DATABASE_URL when set; otherwise, outside CI, a
 * throwaway cluster it starts itself with scripts/throwaway-postgres.sh (as .ci/run does) when
 * PostgreSQL's binaries are installed, stopped when the run ends; otherwise the PostgreSQL tests
 * skip with one line saying how to enable them. Under CI=true a missing PW_TEST_DATABASE_URL
 * fails the run instead (.ci/run sets it). Each test file gets a database of its own
 * (test/helpers/postgres.ts), so the URL's user must be allowed to create databases.
 *
 *   PW_TEST_DATABASE_URL=postgres://USER@HOST:PORT/DB   use this server
 *   PW_TEST_POSTGRES_START=0                           never start a cluster; skip when there is no URL
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import { isCi } from "./chromium.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The PostgreSQL server the store tests use (a URL whose user may create databases); null when they skip. */
    postgresUrl: string | null;
  }
}

/** Starts and stops throwaway clusters; .ci/run uses it too. */
export const THROWAWAY_SCRIPT = fileURLToPath(new URL("../../scripts/throwaway-postgres.sh", import.meta.url));

/** What setup learnt about this machine. */
export interface PostgresMachine {
  /** PW_TEST_DATABASE_URL, when set. */
  url: string | undefined;
  /** Where initdb and pg_ctl are, when installed. */
  binaries: string | undefined;
  /** False when PW_TEST_POSTGRES_START=0. */
  startAllowed: boolean;
  root: boolean;
  /** A `postgres` user exists (to run the cluster as, when we are root). */
  postgresUser: boolean;
  ci: boolean;
}

export type PostgresPlan = { kind: "use"; url: string } | { kind: "start" } | { kind: "skip"; line: string } | { kind: "fail"; line: string };

const ENABLE =
  "set PW_TEST_DATABASE_URL=postgres://USER@HOST:PORT/DB (a user that may create databases), or install PostgreSQL (`apt-get install -y postgresql`) so a throwaway cluster is started";

/** Without a server: the one line saying why and how to enable the tests; under CI, a failure. */
export function withoutPostgres(reason: string, ci: boolean): PostgresPlan {
  return ci
    ? { kind: "fail", line: `the PostgreSQL tests need PW_TEST_DATABASE_URL under CI=true (.ci/run starts a throwaway cluster and sets it): ${reason}` }
    : { kind: "skip", line: `PostgreSQL tests skipped: ${reason}; ${ENABLE}, and run them again` };
}

/** What to do before the tests run, from what the machine has. */
export function planPostgres(machine: PostgresMachine): PostgresPlan {
  if (machine.url) return { kind: "use", url: machine.url };
  if (machine.ci) return withoutPostgres("it is not set", true);
  if (!machine.startAllowed) return withoutPostgres("no PW_TEST_DATABASE_URL, and PW_TEST_POSTGRES_START=0", false);
  if (!machine.binaries) return withoutPostgres("no PW_TEST_DATABASE_URL, and no initdb/pg_ctl (on PATH or in /usr/lib/postgresql/*/bin)", false);
  if (machine.root && !machine.postgresUser) {
    return withoutPostgres("no PW_TEST_DATABASE_URL, and PostgreSQL refuses to run as root while there is no `postgres` user to run it as", false);
  }
  return { kind: "start" };
}

export function inspectPostgresMachine(env: NodeJS.ProcessEnv): PostgresMachine {
  const url = env.PW_TEST_DATABASE_URL || undefined;
  const ci = isCi(env);
  const startAllowed = env.PW_TEST_POSTGRES_START !== "0";
  // the machine is looked at only when its answer matters
  const look = !url && !ci && startAllowed;
  const bindir = look ? spawnSync("bash", [THROWAWAY_SCRIPT, "bindir"], { encoding: "utf8" }) : undefined;
  const root = process.getuid?.() === 0;
  return {
    url,
    binaries: bindir?.status === 0 ? bindir.stdout.trim() : undefined,
    startAllowed,
    root,
    postgresUser: look && root ? spawnSync("id", ["postgres"], { stdio: "ignore" }).status === 0 : false,
    ci,
  };
}

/** Starts a throwaway cluster; its URL and directory, or why it did not start. */
function startCluster(): { url: string; dir: string } | { failed: string } {
  const started = spawnSync("bash", [THROWAWAY_SCRIPT, "start", "--fast"], { encoding: "utf8", timeout: 120_000 });
  const value = (name: string) => started.stdout?.match(new RegExp(`^${name}=(.*)$`, "m"))?.[1];
  const url = value("PW_TEST_DATABASE_URL");
  const dir = value("PW_TEST_POSTGRES_DIR");
  if (started.status === 0 && url && dir) return { url, dir };
  return { failed: (started.stderr || started.error?.message || `exit ${started.status}`).trim().split("\n").at(-1)! };
}

export default function setup(project: TestProject): (() => void) | undefined {
  const machine = inspectPostgresMachine(process.env);
  let plan = planPostgres(machine);
  let dir: string | undefined;
  if (plan.kind === "start") {
    const started = startCluster();
    if ("failed" in started) {
      plan = withoutPostgres(`no PW_TEST_DATABASE_URL, and a throwaway cluster did not start (${started.failed})`, false);
    } else {
      dir = started.dir;
      plan = { kind: "use", url: started.url };
    }
  }
  if (plan.kind === "fail") throw new Error(plan.line);
  if (plan.kind === "skip") process.stdout.write(`${plan.line}\n`);
  project.provide("postgresUrl", plan.kind === "use" ? plan.url : null);
  if (!dir) return undefined;
  const clusterDir = dir;
  return () => {
    spawnSync("bash", [THROWAWAY_SCRIPT, "stop", clusterDir], { stdio: "ignore", timeout: 60_000 });
  };
}
