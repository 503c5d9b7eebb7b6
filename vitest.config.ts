import { configDefaults, defineConfig } from "vitest/config";

/** The tests that drive Chromium: their project's setup finds (or installs) the browser. */
const CHROMIUM_TESTS = ["test/web/browser.test.ts", "test/web/escaping.test.ts"];
/** The tests that need PostgreSQL: their project's setup finds (or starts) a server. */
const POSTGRES_TESTS = ["test/store/postgres*.test.ts", "test/cli/postgres*.test.ts"];

export default defineConfig({
  test: {
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: { name: "node", include: ["test/**/*.test.ts"], exclude: [...configDefaults.exclude, ...CHROMIUM_TESTS, ...POSTGRES_TESTS] },
      },
      { extends: true, test: { name: "chromium", include: CHROMIUM_TESTS, globalSetup: ["test/setup/chromium.ts"] } },
      { extends: true, test: { name: "postgres", include: POSTGRES_TESTS, globalSetup: ["test/setup/postgres.ts"] } },
    ],
  },
});
