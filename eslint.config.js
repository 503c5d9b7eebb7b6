// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * The layering of docs/architecture.md ("Modules"), as a lint rule: which of our modules each
 * folder of src/ may import. `config` is src/config.ts with src/paths.ts; `cli` may import them all.
 */
export const LAYERS = {
  core: [],
  store: ["core"],
  git: ["core"],
  github: ["core"],
  log: ["core"],
  gates: ["core"],
  config: ["core"],
  runner: ["core", "store", "git", "github", "log", "gates", "config"],
  app: ["core", "store", "gates", "log"],
  web: ["core", "store", "log"],
};
const MODULES = [...Object.keys(LAYERS), "cli"];

/** The rule for one layer: an import (or `export ... from`, or `import()`) of a module it may not use is an error. */
function layerRules(layer, fromRoot) {
  const refused = MODULES.filter((m) => m !== layer && !LAYERS[layer].includes(m));
  // from src/<folder>/x.ts a module is `../<name>/...` (config: `../config.js`, `../paths.js`); from src/config.ts, `./<name>/...`
  const prefix = fromRoot ? "\\./" : "\\.\\./";
  const names = refused.flatMap((m) => (m === "config" ? ["config", "paths"] : [m])).join("|");
  const regex = `^${prefix}(${names})(/|\\.js$)`;
  const message = `docs/architecture.md: ${layer === "config" ? "src/config.ts" : `src/${layer}/`} may import ${LAYERS[layer].length ? `only ${LAYERS[layer].join(", ")}` : "nothing of ours"}`;
  return {
    "no-restricted-imports": ["error", { patterns: [{ regex, message }] }],
    "no-restricted-syntax": ["error", { selector: `ImportExpression[source.value=/${regex.replaceAll("/", "\\/")}/]`, message }],
  };
}

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "test-output/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: {
      // type-aware rules: the TypeScript project service finds each file's tsconfig.json
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      // the store answers with Promises: a call not awaited (or handed where nothing awaits it) is a bug
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
    },
  },
  {
    files: ["src/**/*.ts"],
    ignores: ["src/cli/**"],
    rules: { "no-console": "error" },
  },
  ...Object.keys(LAYERS).map((layer) =>
    layer === "config"
      ? { files: ["src/config.ts", "src/paths.ts"], rules: layerRules(layer, true) }
      : { files: [`src/${layer}/**/*.ts`], rules: layerRules(layer, false) },
  ),
  {
    files: ["**/*.mjs", "**/*.js"],
    languageOptions: {
      globals: {
        process: "readonly",
        console: "readonly",
        URL: "readonly",
        Buffer: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        setInterval: "readonly",
        clearInterval: "readonly",
        performance: "readonly",
      },
    },
  },
);
