/**
 * What the `postgres` project's setup decides from what a machine has: use PW_TEST_DATABASE_URL,
 * start a throwaway cluster, or do without: skip with one line saying how to enable the tests, or
 * fail under CI=true.
 */
import { describe, expect, it } from "vitest";
import { planPostgres, type PostgresMachine, type PostgresPlan } from "../setup/postgres.js";

const BARE: PostgresMachine = { url: undefined, binaries: undefined, startAllowed: true, root: false, postgresUser: false, ci: false };
const BIN = "/usr/lib/postgresql/15/bin";

describe("planPostgres", () => {
  const cases: [string, Partial<PostgresMachine>, PostgresPlan["kind"], RegExp | undefined][] = [
    ["a URL is used", { url: "postgres://me@db/x" }, "use", undefined],
    ["a URL is used under CI", { url: "postgres://me@db/x", ci: true }, "use", undefined],
    ["installed binaries start a cluster", { binaries: BIN }, "start", undefined],
    ["as root, the cluster runs as postgres", { binaries: BIN, root: true, postgresUser: true }, "start", undefined],
    ["as root without a postgres user: skip", { binaries: BIN, root: true }, "skip", /refuses to run as root.*no `postgres` user/],
    ["no binaries: skip, naming both ways to enable", {}, "skip", /^PostgreSQL tests skipped: .*no initdb\/pg_ctl.*; set PW_TEST_DATABASE_URL=.*`apt-get install -y postgresql`.*run them again$/],
    ["starting switched off: skip", { binaries: BIN, startAllowed: false }, "skip", /PW_TEST_POSTGRES_START=0/],
    ["under CI without a URL: fail, even with binaries", { binaries: BIN, ci: true }, "fail", /^the PostgreSQL tests need PW_TEST_DATABASE_URL under CI=true \(\.ci\/run starts a throwaway cluster and sets it\)/],
  ];

  it.each(cases)("%s", (_name, machine, kind, line) => {
    const plan = planPostgres({ ...BARE, ...machine });
    expect(plan.kind).toBe(kind);
    if (plan.kind === "use") expect(plan.url).toBe(machine.url);
    if (plan.kind === "skip" || plan.kind === "fail") {
      expect(plan.line).toMatch(line!);
      expect(plan.line).not.toContain("\n");
    }
  });
});
