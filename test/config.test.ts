import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { databaseUrlSetting, DEFAULT_AGENT_TIMEOUT_MS, loadRepoConfig, resolvePaths, starterRepoConfig } from "../src/config.js";
import { InvalidInputError } from "../src/core/errors.js";
import { removeTempDirs, tempDir } from "./helpers/git.js";

afterEach(removeTempDirs);

function setup(repoYaml?: string, userYaml?: string) {
  const repo = tempDir();
  const home = join(tempDir(), "home");
  mkdirSync(home);
  if (repoYaml !== undefined) writeFileSync(join(repo, ".parallel-workers.yml"), repoYaml);
  if (userYaml !== undefined) writeFileSync(join(home, "config.yml"), userYaml);
  const env = { PW_HOME: home, HOME: tempDir() };
  return { repo, home, env, paths: resolvePaths(env) };
}

describe("repository configuration", () => {
  it("has the rework loop on by default: 3 automatic rounds, required checks, 30 s debounce", () => {
    const { repo, paths, env } = setup();
    expect(loadRepoConfig(repo, paths, "acme/web", env).rework).toEqual({ maxRounds: 3, onFailedChecks: "required", debounceMs: 30_000 });
  });

  it.each([
    ["rework: { max_rounds: 0, on_failed_checks: none, debounce: 0 }", { maxRounds: 0, onFailedChecks: "none", debounceMs: 0 }],
    ["rework: { on_failed_checks: all, debounce: 1m30s }", { maxRounds: 5, onFailedChecks: "all", debounceMs: 90_000 }],
    ["rework: { debounce: 0s }", { maxRounds: 5, onFailedChecks: "required", debounceMs: 0 }],
    ["max_workers: 2", { maxRounds: 5, onFailedChecks: "required", debounceMs: 5000 }],
  ])("reads %s over the user's rework: { max_rounds: 5, debounce: 5s }, key by key", (yaml, rework) => {
    const { repo, paths, env } = setup(`${yaml}\n`, "rework: { max_rounds: 5, debounce: 5s }\n");
    expect(loadRepoConfig(repo, paths, "acme/web", env).rework).toEqual(rework);
  });

  it.each([
    ["rework: { max_rounds: -1 }", "rework.max_rounds"],
    ["rework: { max_rounds: 2.5 }", "rework.max_rounds"],
    ["rework: { on_failed_checks: some }", "rework.on_failed_checks"],
    ["rework: { debounce: soon }", "rework.debounce"],
    ["rework: { rounds: 3 }", "rework"],
  ])("refuses %s, naming the key", (yaml, key) => {
    const { repo, paths, env } = setup(`${yaml}\n`);
    expect(() => loadRepoConfig(repo, paths, "acme/web", env)).toThrow(InvalidInputError);
    expect(() => loadRepoConfig(repo, paths, "acme/web", env)).toThrow(key);
  });

  it("has the merge flow's defaults: update by GitHub's merge, no stacking, no merging", () => {
    const { repo, paths, env } = setup();
    expect(loadRepoConfig(repo, paths, "acme/web", env).mergeFlow).toEqual({ update: "merge", stack: false, merge: "off", method: "squash" });
  });

  it.each([
    ["merge_flow: { update: rebase }", { update: "rebase", stack: true, merge: "off", method: "squash" }],
    ["merge_flow: { update: off, stack: false, merge: auto, method: rebase }", { update: "off", stack: false, merge: "auto", method: "rebase" }],
    ["merge_flow: { method: merge }", { update: "merge", stack: true, merge: "off", method: "merge" }],
    ["max_workers: 2", { update: "merge", stack: true, merge: "off", method: "squash" }],
  ])("reads %s over the user's merge_flow: { stack: true }, key by key", (yaml, mergeFlow) => {
    const { repo, paths, env } = setup(`${yaml}\n`, "merge_flow: { stack: true }\n");
    expect(loadRepoConfig(repo, paths, "acme/web", env).mergeFlow).toEqual(mergeFlow);
  });

  it.each([
    ["merge_flow: { update: squash }", "merge_flow.update"],
    ["merge_flow: { merge: yes }", "merge_flow.merge"],
    ["merge_flow: { method: fast-forward }", "merge_flow.method"],
    ["merge_flow: { stack: 1 }", "merge_flow.stack"],
    ["merge_flow: { queue: true }", "merge_flow"],
  ])("refuses %s, naming the key", (yaml, key) => {
    const { repo, paths, env } = setup(`${yaml}\n`);
    expect(() => loadRepoConfig(repo, paths, "acme/web", env)).toThrow(InvalidInputError);
    expect(() => loadRepoConfig(repo, paths, "acme/web", env)).toThrow(key);
  });

  it("has defaults and the three built-in agents", () => {
    const { repo, paths, env } = setup();
    const config = loadRepoConfig(repo, paths, "acme/web", env);
    expect(config).toMatchObject({
      repository: "acme/web",
      maxWorkers: 3,
      labels: ["phase:5", "type:task"],
      milestone: null,
      draft: false,
      setup: [],
      copy: [],
      passthrough: [],
      sources: [],
    });
    expect(Object.keys(config.agents).sort()).toEqual(["code-author", "iac-engineer", "test-author"]);
    expect(config.agents["code-author"]).toMatchObject({ command: ["claude", "-p", "{prompt}", "--permission-mode", "acceptEdits"], timeoutMs: DEFAULT_AGENT_TIMEOUT_MS });
  });

  it("reads the documented example, the repository file over the user's", () => {
    const { repo, home, paths, env } = setup(
      `github:
  repository: acme/web
max_workers: 2
labels: [phase:5, type:task, team:web]
milestone: Sprint 1
draft: true
setup: [["npm", "ci"]]
copy: [.env.local]
env: { passthrough: [NODE_OPTIONS] }
agents:
  code-author: { command: ["claude", "-p", "{prompt}"], timeout: 45m }
`,
      `max_workers: 5
milestone: Backlog
agents:
  code-author: { timeout: 10m, env: { MODE: fast } }
  reviewer: { command: ["review", "{worktree}"] }
`,
    );
    const config = loadRepoConfig(repo, paths, "other/remote", env);
    expect(config).toMatchObject({
      repository: "acme/web",
      maxWorkers: 2,
      milestone: "Sprint 1",
      draft: true,
      setup: [["npm", "ci"]],
      copy: [".env.local"],
      passthrough: ["NODE_OPTIONS"],
      labels: ["phase:5", "type:task", "team:web"],
    });
    expect(config.agents["code-author"]).toMatchObject({ command: ["claude", "-p", "{prompt}"], timeoutMs: 45 * 60_000, env: { MODE: "fast" } });
    expect(config.agents.reviewer?.command).toEqual(["review", "{worktree}"]);
    expect(config.sources).toEqual([join(home, "config.yml"), join(repo, ".parallel-workers.yml")]);
  });

  it.each([
    ["max_workers: three\n", "max_workers: Invalid input: expected number"],
    ["max_workers: 0\n", "max_workers: Too small"],
    ["github: { repository: not-a-slug }\n", "github.repository: expected owner/name"],
    ["agents: { code-author: { command: [claude, '{prompt}', '{secret}'] } }\n", "agents.code-author.command.2: placeholder {secret} is not known"],
    ["agents: { code-author: { timeout: soon } }\n", 'agents.code-author.timeout: "soon" is not a duration'],
    ["copy: [../../etc/passwd]\n", "copy.0: must be a path inside the repository"],
    ["labelz: [x]\n", 'Unrecognized key: "labelz"'],
    ["env: { passthrough: ['BAD NAME'] }\n", "env.passthrough.0: expected an environment variable name"],
    ["labels: [a\n", ".parallel-workers.yml:2: not valid YAML: "],
    ["setup: [[npm, run, '{task_id}']]\n", "setup.0.2: placeholder {task_id} is not known in setup (it prepares a worktree before a worker has it): use {port}"],
    ["links: [/var/cache]\n", "links.0: must be a path inside the repository"],
    ["pool: { size: -1 }\n", "pool.size: Too small"],
    ["pool: { size: 2, spare: 1 }\n", 'pool: Unrecognized key: "spare"'],
    ["pool: { lockfiles: ['../x.lock'] }\n", "pool.lockfiles.0: must be a path pattern inside the repository"],
    ["ports: { from: 80 }\n", "ports.from: Too small"],
    ["ports: { from: 65530, per_worker: 10 }\n", "ports: from + per_worker must stay within port 65535"],
    ["ports: { per_worker: 0 }\n", "ports.per_worker: Too small"],
  ])("refuses %j naming the file, key and problem", (yaml, message) => {
    const { repo, paths, env } = setup(yaml);
    const file = join(repo, ".parallel-workers.yml");
    expect(() => loadRepoConfig(repo, paths, undefined, env)).toThrow(InvalidInputError);
    expect(() => loadRepoConfig(repo, paths, undefined, env)).toThrow(file);
    expect(() => loadRepoConfig(repo, paths, undefined, env)).toThrow(message);
  });

  it("has the pool off, ports in blocks of 10 from 4100, and reads pool, ports and links over the user's file", () => {
    const none = setup();
    expect(loadRepoConfig(none.repo, none.paths, undefined, none.env)).toMatchObject({
      links: [],
      pool: { size: 0, lockfiles: expect.arrayContaining(["**/package-lock.json", "**/yarn.lock", "**/go.sum"]) as unknown },
      ports: { from: 4100, perWorker: 10 },
    });
    const both = setup(
      "pool: { size: 2 }\nports: { per_worker: 5 }\nlinks: [node_modules/.cache]\nsetup: [[serve, --port, '{port}']]\n",
      "pool: { lockfiles: [deps.lock] }\nports: { from: 5000 }\n",
    );
    expect(loadRepoConfig(both.repo, both.paths, undefined, both.env)).toMatchObject({
      links: ["node_modules/.cache"],
      pool: { size: 2, lockfiles: ["deps.lock"] },
      ports: { from: 5000, perWorker: 5 },
      setup: [["serve", "--port", "{port}"]],
    });
    const past = setup("ports: { per_worker: 20 }\n", "ports: { from: 65520 }\n");
    expect(() => loadRepoConfig(past.repo, past.paths, undefined, past.env)).toThrow(
      `${join(past.repo, ".parallel-workers.yml")}: ports: from 65520 + per_worker 20 must stay within port 65535`,
    );
  });

  it.each([
    ["nothing configured: code-author, a built-in", "", null, "code-author", []],
    ["default_agent names a built-in", "default_agent: test-author\n", null, "test-author", []],
    ["the only configured agent", "agents: { reviewer: { command: [review] } }\n", null, "reviewer", ["reviewer"]],
    ["several configured, code-author among them", "agents: { reviewer: { command: [r] }, code-author: { timeout: 5m } }\n", null, "code-author", ["reviewer", "code-author"]],
    ["several configured, none the default", "agents: { reviewer: { command: [r] }, fixer: { command: [f] } }\n", null, null, ["reviewer", "fixer"]],
    ["default_agent over several", "agents: { reviewer: { command: [r] }, fixer: { command: [f] } }\ndefault_agent: fixer\n", null, "fixer", ["reviewer", "fixer"]],
    ["the user file's agent when the repository's names none", "", "agents: { mine: { command: [m] } }\n", "mine", ["mine"]],
  ])("the agent of a spawn that names none: %s", (_name, repoYaml, userYaml, agent, configured) => {
    const { repo, paths, env } = setup(repoYaml, userYaml ?? undefined);
    const config = loadRepoConfig(repo, paths, undefined, env);
    expect(config.defaultAgent).toBe(agent);
    expect(config.configuredAgents).toEqual(configured);
  });

  it("refuses a default_agent that is no agent, naming the file and the choices", () => {
    const { repo, paths, env } = setup("agents: { reviewer: { command: [r] } }\ndefault_agent: ghost\n");
    expect(() => loadRepoConfig(repo, paths, undefined, env)).toThrow(
      `${join(repo, ".parallel-workers.yml")}: default_agent: "ghost" is not an agent: use one of code-author, iac-engineer, reviewer, test-author`,
    );
    const bad = setup("default_agent: Not-A-Name\n");
    expect(() => loadRepoConfig(bad.repo, bad.paths, undefined, bad.env)).toThrow("default_agent: expected a lowercase name like code-author");
  });

  it("names the user file when that one is wrong", () => {
    const { repo, home, paths, env } = setup(undefined, "draft: maybe\n");
    expect(() => loadRepoConfig(repo, paths, undefined, env)).toThrow(`${join(home, "config.yml")}: draft:`);
  });

  describe("an agent that is not built in must name its command", () => {
    const needed = "agents.docs-writer.command: required for an agent that is not built in (code-author, test-author, iac-engineer)";

    it.each([
      ["in the repository's file", "agents: { docs-writer: { timeout: 20m } }\n", undefined, "repo"],
      ["in the user's file", undefined, "agents: { docs-writer: { prompt: Write docs } }\n", "user"],
      ["in both files, neither with a command", "agents: { docs-writer: { timeout: 5m } }\n", "agents: { docs-writer: { timeout: 9m } }\n", "repo"],
    ])("refuses one without a command %s, naming the file to fix and the key path", (_, repoYaml, userYaml, blamed) => {
      const { repo, home, paths, env } = setup(repoYaml, userYaml);
      const file = blamed === "repo" ? join(repo, ".parallel-workers.yml") : join(home, "config.yml");
      expect(() => loadRepoConfig(repo, paths, undefined, env)).toThrow(InvalidInputError);
      expect(() => loadRepoConfig(repo, paths, undefined, env)).toThrow(`${file}: ${needed}`);
    });

    it("takes the command from the user's file when the repository only changes the timeout; built-ins need none", () => {
      const { repo, paths, env } = setup(
        "agents: { docs-writer: { timeout: 5m }, test-author: { timeout: 10m } }\n",
        "agents: { docs-writer: { command: [write-docs, '{task_id}'] } }\n",
      );
      const config = loadRepoConfig(repo, paths, undefined, env);
      expect(config.agents["docs-writer"]).toMatchObject({ command: ["write-docs", "{task_id}"], timeoutMs: 5 * 60_000 });
      expect(config.agents["test-author"]).toMatchObject({ command: config.agents["code-author"]!.command, timeoutMs: 10 * 60_000 });
    });
  });
});

describe("the starter file `pw init` writes", () => {
  /** The file with every commented-out key line made live: what a user gets by uncommenting. */
  function uncommented(text: string): string {
    return text
      .split("\n")
      .map((line) => (/^# (\s*)[a-z_-]+:( |$)/.test(line) ? line.slice(2) : line))
      .join("\n");
  }

  it.each([["acme/web"], [null]])("changes nothing as written (repository %s): the defaults, the user's file still applies", (repository) => {
    const { repo, paths, env } = setup(starterRepoConfig(repository), "max_workers: 5\n");
    const config = loadRepoConfig(repo, paths, "acme/web", env);
    const defaults = loadRepoConfig(setup(undefined, "max_workers: 5\n").repo, paths, "acme/web", env);
    expect({ ...config, sources: [] }).toEqual({ ...defaults, sources: [] });
    expect(config.maxWorkers).toBe(5);
  });

  it("is valid with every line uncommented, and its defaults are the real ones", () => {
    const text = uncommented(starterRepoConfig("acme/web"));
    expect(text).toContain("\nagents:\n  code-author:\n    timeout: 45m");
    const { repo, paths, env } = setup(text);
    const config = loadRepoConfig(repo, paths, undefined, env);
    const defaults = loadRepoConfig(setup().repo, paths, "acme/web", env);
    expect(config).toMatchObject({
      repository: "acme/web",
      maxWorkers: defaults.maxWorkers,
      labels: defaults.labels,
      draft: defaults.draft,
      deleteBranchOnMerge: defaults.deleteBranchOnMerge,
      setup: [["npm", "ci"]],
      copy: [".env.local"],
      links: ["node_modules/.cache"],
      passthrough: ["NODE_OPTIONS"],
      rework: defaults.rework,
      mergeFlow: defaults.mergeFlow,
      pool: defaults.pool,
      ports: defaults.ports,
    });
    expect(config.agents["code-author"]).toEqual(defaults.agents["code-author"]);
    expect(config.agents["docs-writer"]).toMatchObject({ command: ["./scripts/write-docs.sh", "{task_id}"], env: { DOCS_STYLE: "short" } });
    // without an origin remote the placeholder is a valid owner/name to replace
    expect(() => loadRepoConfig(setup(uncommented(starterRepoConfig(null))).repo, paths, undefined, env)).not.toThrow();
  });
});

describe("where the database URL comes from", () => {
  it.each<{ variable?: string; userYaml?: string; expected: { value: string; what: string } | undefined }>([
    { expected: undefined },
    { userYaml: "max_workers: 2\n", expected: undefined },
    { userYaml: "", expected: undefined },
    { userYaml: "database_url: postgres://pw@db/pw\n", expected: { value: "postgres://pw@db/pw", what: "database_url in HOME/config.yml" } },
    // the variable wins, even empty (a mistake to report, not SQLite)
    { variable: "postgres://pw@other/pw", userYaml: "database_url: postgres://pw@db/pw\n", expected: { value: "postgres://pw@other/pw", what: "PW_DATABASE_URL" } },
    { variable: "", expected: { value: "", what: "PW_DATABASE_URL" } },
  ])("PW_DATABASE_URL $variable, config.yml $userYaml", ({ variable, userYaml, expected }) => {
    const { home, paths, env } = setup(undefined, userYaml);
    const setting = databaseUrlSetting(paths, { ...env, ...(variable === undefined ? {} : { PW_DATABASE_URL: variable }) });
    expect(setting && { ...setting, what: setting.what.replace(home, "HOME") }).toEqual(expected);
  });

  it("refuses config.yml that is not YAML, or whose database_url is not text, naming the file", () => {
    for (const yaml of ["database_url: [unclosed\n", "database_url: 5432\n"]) {
      const { home, paths, env } = setup(undefined, yaml);
      expect(() => databaseUrlSetting(paths, env)).toThrow(InvalidInputError);
      expect(() => databaseUrlSetting(paths, env)).toThrow(join(home, "config.yml"));
    }
  });

  it("refuses database_url in a repository's .parallel-workers.yml: the file is committed, the database is the machine's", () => {
    const { repo, paths, env } = setup("database_url: postgres://pw:secret@db/pw\n");
    expect(() => loadRepoConfig(repo, paths, "acme/web", env)).toThrow(/\.parallel-workers\.yml: database_url does not belong in a repository: set PW_DATABASE_URL, or database_url in .*config\.yml$/);
    expect(() => loadRepoConfig(repo, paths, "acme/web", env)).not.toThrow(/secret/);
  });
});
