/**
 * `.ci/postgres.sh`, which `.ci/run` sources: a PW_TEST_DATABASE_URL already set is used as it
 * is; otherwise a throwaway cluster is started, its URL exported, and the cluster stopped and its
 * directory removed when the shell ends.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { THROWAWAY_SCRIPT } from "./setup/postgres.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function sourced(env: NodeJS.ProcessEnv): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(
    "/bin/bash",
    ["-c", 'set -euo pipefail; . .ci/postgres.sh; pw_ci_use_postgres; echo "url=$PW_TEST_DATABASE_URL"; echo "dir=${PW_CI_POSTGRES_DIR:-}"; psql "$PW_TEST_DATABASE_URL" -Atc "select 41 + 1" 2>/dev/null || true'],
    { cwd: ROOT, encoding: "utf8", env, timeout: 120_000 },
  );
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe(".ci/postgres.sh", () => {
  it("uses a PW_TEST_DATABASE_URL that is set, starting nothing", () => {
    const result = sourced({ ...process.env, PW_TEST_DATABASE_URL: "postgres://ci@db.example:5432/ci" });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("CI: PostgreSQL from PW_TEST_DATABASE_URL");
    expect(result.stdout).toContain("url=postgres://ci@db.example:5432/ci\ndir=\n");
  });

  const installed = spawnSync("bash", [THROWAWAY_SCRIPT, "bindir"]).status === 0;
  it.skipIf(!installed)("starts a throwaway cluster, exports its URL, and removes it when the shell ends", () => {
    const env = { ...process.env };
    delete env.PW_TEST_DATABASE_URL;
    const result = sourced(env);
    expect(result.code, result.stderr).toBe(0);
    const url = result.stdout.match(/^url=(postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres)$/m)?.[1];
    const dir = result.stdout.match(/^dir=(.+)$/m)?.[1];
    expect(url).toBeDefined();
    expect(dir).toMatch(/pw-postgres\./);
    expect(result.stdout).toMatch(/^42$/m);
    expect(existsSync(dir!)).toBe(false);
  });
});
