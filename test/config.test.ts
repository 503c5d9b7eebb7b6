import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_AGENT_TIMEOUT_MS, loadRepoConfig, resolvePaths } from "../src/config.js";
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
    ["max_workers: [\n", "not valid YAML"],
  ])("refuses %j naming the file, key and problem", (yaml, message) => {
    const { repo, paths, env } = setup(yaml);
    const file = join(repo, ".parallel-workers.yml");
    expect(() => loadRepoConfig(repo, paths, undefined, env)).toThrow(InvalidInputError);
    expect(() => loadRepoConfig(repo, paths, undefined, env)).toThrow(file);
    expect(() => loadRepoConfig(repo, paths, undefined, env)).toThrow(message);
  });

  it("names the user file when that one is wrong", () => {
    const { repo, home, paths, env } = setup(undefined, "draft: maybe\n");
    expect(() => loadRepoConfig(repo, paths, undefined, env)).toThrow(`${join(home, "config.yml")}: draft:`);
  });
});
