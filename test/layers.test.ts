/**
 * The layering of docs/architecture.md is a lint rule (eslint.config.js, `LAYERS`): these run the
 * project's own ESLint configuration through ESLint's Node API on small files that exist only in
 * memory, and check that the rule's table is the document's.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
// eslint.config.js is plain JavaScript (no types): its table is read as what it is
const CONFIG = new URL("../eslint.config.js", import.meta.url).href;
const { LAYERS } = (await import(CONFIG)) as { LAYERS: Record<string, string[]> };

// the files are not on disk, so the type-aware parts of the configuration are left out: the layer rules need no types
const eslint = new ESLint({
  cwd: ROOT,
  overrideConfig: {
    languageOptions: { parserOptions: { projectService: false } },
    rules: { "@typescript-eslint/no-floating-promises": "off", "@typescript-eslint/no-misused-promises": "off" },
  },
});

/** The layer messages ESLint gives for `code` as the file `path` (relative to the repository). */
async function layerErrors(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${ROOT}${path}` });
  return result!.messages.filter((m) => m.message.includes("docs/architecture.md")).map((m) => `${m.ruleId}: ${m.message}`);
}

describe("a module that imports one its layer may not use fails the lint", () => {
  it.each([
    { file: "src/core/x.ts", code: 'import { createApp } from "../app/index.js";\nexport const x = createApp;\n', rule: "no-restricted-imports", says: "src/core/ may import nothing of ours" },
    { file: "src/core/x.ts", code: 'export const x = () => import("../store/sqlite.js");\n', rule: "no-restricted-syntax", says: "src/core/ may import nothing of ours" },
    { file: "src/store/x.ts", code: 'export { createLogger } from "../log/logger.js";\n', rule: "no-restricted-imports", says: "src/store/ may import only core" },
    { file: "src/store/x.ts", code: 'import { resolvePaths } from "../config.js";\nexport const x = resolvePaths;\n', rule: "no-restricted-imports", says: "src/store/ may import only core" },
    { file: "src/git/x.ts", code: 'import type { WorkerStore } from "../store/store.js";\nexport type X = WorkerStore;\n', rule: "no-restricted-imports", says: "src/git/ may import only core" },
    { file: "src/runner/x.ts", code: 'import type { AppDeps } from "../app/deps.js";\nexport type X = AppDeps;\n', rule: "no-restricted-imports", says: "src/runner/ may import only" },
    { file: "src/runner/x.ts", code: 'import { CliContext } from "../cli/context.js";\nexport const x = CliContext;\n', rule: "no-restricted-imports", says: "src/runner/ may import only" },
    { file: "src/app/x.ts", code: 'import { Runner } from "../runner/runner.js";\nexport const x = Runner;\n', rule: "no-restricted-imports", says: "src/app/ may import only core, store, gates, log" },
    { file: "src/app/x.ts", code: 'import { Repository } from "../git/repo.js";\nexport const x = Repository;\n', rule: "no-restricted-imports", says: "src/app/ may import only core, store, gates, log" },
    { file: "src/web/x.ts", code: 'import { createApp } from "../app/index.js";\nexport const x = createApp;\n', rule: "no-restricted-imports", says: "src/web/ may import only core, store, log" },
    { file: "src/log/x.ts", code: 'import type { Worker } from "../core/worker.js";\nimport { openPullRequest } from "../github/pulls.js";\nexport const x = openPullRequest;\nexport type W = Worker;\n', rule: "no-restricted-imports", says: "src/log/ may import only core" },
    { file: "src/config.ts", code: 'import { Repository } from "./git/repo.js";\nexport const x = Repository;\n', rule: "no-restricted-imports", says: "src/config.ts may import only core" },
  ])("$file importing what $code names", async ({ file, code, rule, says }) => {
    const errors = await layerErrors(file, code);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^${rule}: .*${says.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}`));
  });
});

describe("a module that imports only what its layer may use passes", () => {
  it.each([
    { file: "src/core/x.ts", code: 'import { isTerminal } from "./states.js";\nexport const x = isTerminal;\n' },
    { file: "src/store/x.ts", code: 'import { StoreError } from "../core/errors.js";\nexport const x = StoreError;\n' },
    { file: "src/runner/x.ts", code: 'import { resolvePaths } from "../config.js";\nimport { Repository } from "../git/repo.js";\nimport { moveWorker } from "../store/moves.js";\nexport const x = [resolvePaths, Repository, moveWorker];\n' },
    { file: "src/app/x.ts", code: 'import { moveWorker } from "../store/moves.js";\nimport { createLogger } from "../log/logger.js";\nexport const x = [moveWorker, createLogger];\n' },
    { file: "src/cli/x.ts", code: 'import { createApp } from "../app/index.js";\nimport { Runner } from "../runner/runner.js";\nexport const x = () => [createApp, Runner, import("../web/index.js")];\n' },
    // a folder whose name starts like a refused one is another module
    { file: "src/core/x.ts", code: 'import { a } from "./apps.js";\nexport const x = a;\n' },
  ])("$file", async ({ file, code }) => {
    expect(await layerErrors(file, code)).toEqual([]);
  });
});

describe("the rule's table is the one in docs/architecture.md", () => {
  it("lists, for every folder, exactly the modules the document says it imports", () => {
    const doc = readFileSync(`${ROOT}docs/architecture.md`, "utf8");
    const fromDoc: Record<string, string[]> = {};
    for (const row of doc.split("\n").filter((line) => /^\| `src\//.test(line))) {
      const cells = row.split("|").map((cell) => cell.trim());
      const module = /^`src\/([a-z]+)(\/|\.ts)`$/.exec(cells[1]!)?.[1];
      const imports = cells.at(-2)!;
      if (!module || module === "cli") continue;
      fromDoc[module] = imports === "nothing of ours" ? [] : imports.split(",").map((name) => name.trim());
    }
    expect(fromDoc).toEqual(LAYERS);
  });
});
