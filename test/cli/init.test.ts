/**
 * `pw init` and the README's first steps, run as a newcomer would: the built CLI in a real
 * repository with a bare origin, the README's console blocks run line by line.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { afterEach, describe, expect, it } from "vitest";
import { loadRepoConfig, resolvePaths } from "../../src/config.js";
import { BUILTIN_AGENT_PROMPTS } from "../../src/core/agents.js";
import { parseTaskSpec } from "../../src/core/spec.js";
import { DEFAULT_GATE_FILES, loadGates } from "../../src/gates/index.js";
import { pw, type CliResult } from "../helpers/cli.js";
import { GitHubStandIn } from "../helpers/github-stand-in.js";
import { branches, git, makeRepo, removeTempDirs, tempDir, tree } from "../helpers/git.js";

const stopAfter: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stopAfter.splice(0)) await stop();
  removeTempDirs();
});

const WRITTEN = [
  ".parallel-workers.yml",
  ".parallel-workers/tasks.example.yml",
  ".parallel-workers/gates/security-gate.yml",
  ".parallel-workers/gates/phase-5-to-6.yml",
];

/** A repository whose origin is on GitHub (as a user's is), with its own PW_HOME and worktrees root. */
function newcomer() {
  const { dir, origin } = makeRepo();
  git(dir, "remote", "set-url", "origin", "https://github.com/you/web.git");
  const home = join(tempDir("pw-home-"), "home");
  const root = join(tempDir("pw-wt-"), "worktrees");
  const env: NodeJS.ProcessEnv = { PW_HOME: home, PW_WORKTREES_ROOT: root };
  return { dir, origin, home, root, env, run: (args: string[], cwd = dir) => pw(args, { cwd, env }) };
}

/** Every file below `dir` with its content, for "nothing changed" assertions. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const path of tree(dir)) {
    if (path === ".git" || path.startsWith(".git/")) continue;
    const full = join(dir, path);
    if (statSync(full).isFile()) files[path] = readFileSync(full, "utf8");
  }
  return files;
}

describe("pw init", () => {
  it("writes the config, an example spec and the gate files at the root, from a subdirectory; all of them are valid", async () => {
    const me = newcomer();
    mkdirSync(join(me.dir, "src", "deep"), { recursive: true });
    const result = await me.run(["init"], join(me.dir, "src", "deep"));
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const wrote = result.stdout.split("\n").filter((line) => line.startsWith("wrote "));
    expect(wrote.map((line) => line.split(/\s+/)[1])).toEqual(WRITTEN.map((file) => `../../${file}`));
    expect(result.stdout).toContain("  pw worker spawn-batch --spec-file ../../.parallel-workers/tasks.example.yml\n");
    expect(result.stdout).not.toContain("no GitHub repository found");

    // what it wrote passes the same checks the commands apply
    const config = loadRepoConfig(me.dir, resolvePaths(me.env), "you/web", me.env);
    expect(config.sources).toEqual([join(me.dir, ".parallel-workers.yml")]);
    expect(readFileSync(join(me.dir, ".parallel-workers.yml"), "utf8")).toContain("#   repository: you/web ");
    const spec = parseTaskSpec(parseYaml(readFileSync(join(me.dir, WRITTEN[1]!), "utf8")), "example", {
      agents: Object.keys(config.agents),
      existingTaskIds: new Set(),
      defaultAgent: config.defaultAgent,
    });
    expect(spec.tasks.length).toBeGreaterThan(0);
    expect(readFileSync(join(me.dir, WRITTEN[2]!), "utf8")).toBe(DEFAULT_GATE_FILES["security-gate"]);
    expect(readFileSync(join(me.dir, WRITTEN[3]!), "utf8")).toBe(DEFAULT_GATE_FILES["phase-5-to-6"]);
    expect(() => loadGates(me.dir)).not.toThrow();
  });

  it("twice: the second run refuses with exit 1, names every file that exists and changes nothing", async () => {
    const me = newcomer();
    expect((await me.run(["init"])).code).toBe(0);
    writeFileSync(join(me.dir, ".parallel-workers.yml"), "max_workers: 2\n");
    const before = snapshot(me.dir);
    const again = await me.run(["init"]);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe("");
    expect(again.stderr).toBe(
      `pw: ${WRITTEN.join(", ")} already exist: nothing was written (edit them, or move them aside and run \`pw init\` again)\n`,
    );
    expect(snapshot(me.dir)).toEqual(before);
  });

  it("writes nothing when any one of its files exists, and names just that one", async () => {
    const me = newcomer();
    mkdirSync(join(me.dir, ".parallel-workers", "gates"), { recursive: true });
    writeFileSync(join(me.dir, WRITTEN[3]!), "rules: {}\n");
    const before = snapshot(me.dir);
    const result = await me.run(["init"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`pw: ${WRITTEN[3]} already exists: nothing was written (edit it, or move it aside and run \`pw init\` again)\n`);
    expect(snapshot(me.dir)).toEqual(before);
  });

  it("refuses outside a git repository with exit 2, writing nothing", async () => {
    const plain = tempDir();
    const result = await pw(["init"], { cwd: plain });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`pw: ${plain} is not a git repository with a working tree: run inside one or pass --repo DIR\n`);
    expect(tree(plain)).toEqual([]);
  });

  it("says to set github.repository when the origin is not on GitHub", async () => {
    const { dir } = makeRepo();
    const result = await pw(["init"], { cwd: dir, env: { PW_HOME: join(tempDir(), "home") } });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("no GitHub repository found from the origin remote: set github.repository in .parallel-workers.yml");
    expect(readFileSync(join(dir, ".parallel-workers.yml"), "utf8")).toContain("#   repository: owner/name ");
  });
});

// ---------------------------------------------------------------------------------------------
// The README, copy-pasted

const README = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

/** The README's console block that runs `command`, with or without more words (the first one that does). */
function consoleBlock(command: string): string[] {
  const block = [...README.matchAll(/```console\n([\s\S]*?)```/g)].map((m) => m[1]!.trimEnd().split("\n")).find((lines) => lines.some((line) => line === `$ ${command}` || line.startsWith(`$ ${command} `)));
  if (!block) throw new Error(`README.md has no console block with "$ ${command}"`);
  return block;
}

/** Each `$ ` line of a console block with the output shown under it. */
function steps(block: string[]): Array<{ command: string; output: string[] }> {
  const found: Array<{ command: string; output: string[] }> = [];
  for (const line of block) {
    if (line.startsWith("$ ")) found.push({ command: line.slice(2), output: [] });
    else found.at(-1)?.output.push(line);
  }
  return found;
}

/** A command line as a shell splits it: words, double-quoted strings, a trailing `# comment` dropped. */
function argv(command: string): string[] {
  const words: string[] = [];
  for (const match of command.matchAll(/"([^"]*)"|(#.*)$|(\S+)/g)) {
    if (match[2] !== undefined) break;
    words.push(match[1] ?? match[3]!);
  }
  return words;
}

/** Output with what differs from machine to machine (paths, commit ids, authors, dates) put in words. */
function shape(text: string, worktreesRoot: string): string {
  return text
    .replaceAll(worktreesRoot, "/home/you/.worktrees")
    .replace(/\b[0-9a-f]{10}\b/g, "<commit>")
    .replace(/\([^,()]+, \d{4}-\d\d-\d\dT[\d:.+-]+(Z)?\)/g, "(<author>, <date>)");
}

describe("the README, run in order from the user's own repository", () => {
  it("pw init, the Try-it block verbatim (which leaves nothing behind), then the spawn examples without clashing ids", async () => {
    const me = newcomer();
    const branchesBefore = branches(me.dir);
    let last: CliResult | undefined;
    for (const block of [consoleBlock("pw init"), consoleBlock("pw worktree create demo try-1 HEAD")]) {
      const all = steps(block);
      for (const [i, step] of all.entries()) {
        const expected = step.output.length ? `${step.output.join("\n")}\n` : "";
        if (step.command === "echo $?") {
          expect(`${last?.code}\n`, "echo $?").toBe(expected);
          continue;
        }
        const words = argv(step.command);
        expect(words[0], step.command).toBe("pw");
        last = await me.run(words.slice(1));
        if (all[i + 1]?.command !== "echo $?") expect(last.code, `${step.command}: ${last.stderr}`).toBe(0);
        expect(shape(last.stdout + last.stderr, me.root), step.command).toBe(shape(expected, me.root));
      }
    }
    // the Try-it block cleaned up after itself: no worktree, branch or worker record left
    expect(branches(me.dir)).toEqual(branchesBefore);
    expect(tree(me.root).filter((path) => path.startsWith("demo/"))).toEqual([]);
    expect((await me.run(["worker", "list"])).stdout).toBe("no workers\n");

    // The Workers section starts with `export GITHUB_TOKEN=...`: a spawn checks GitHub and origin
    // first. Here GitHub is the local stand-in and origin the bare repository behind the URL; the
    // repository name is set as a user would, by uncommenting the line `pw init` wrote.
    const github = await GitHubStandIn.start();
    stopAfter.push(() => github.close());
    github.addRepo("you/web");
    git(me.dir, "remote", "set-url", "origin", me.origin);
    const configFile = join(me.dir, ".parallel-workers.yml");
    const config = readFileSync(configFile, "utf8");
    expect(config).toContain("# github:\n#   repository: you/web ");
    writeFileSync(configFile, config.replace("# github:\n#   repository: you/web ", "github:\n  repository: you/web "));
    Object.assign(me.env, { GITHUB_TOKEN: "test-token", PW_GITHUB_WRITE_INTERVAL_MS: "0", ...github.env });

    // the Workers section's spawns, as written (queued only: no agent runs, so no --wait)
    const spawns = steps(consoleBlock("pw loop")).filter((step) => step.command.startsWith("pw worker spawn"));
    expect(spawns.length).toBe(2);
    for (const step of spawns) {
      const result = await me.run(argv(step.command).slice(1).filter((word) => word !== "--wait"));
      expect(result.stderr, step.command).toBe("");
      expect(result.code).toBe(0);
    }
    const example = parseYaml(readFileSync(join(me.dir, ".parallel-workers/tasks.example.yml"), "utf8")) as { tasks: Array<{ id: string }> };
    const queued = JSON.parse((await me.run(["worker", "list", "--json"])).stdout) as Array<{ taskId: string; worktreePath: string }>;
    expect(queued.map((w) => w.taskId).sort()).toEqual(["TASK-001", ...example.tasks.map((t) => t.id)].sort());
    // the project is the repository's name, as the README's paths show
    expect(queued.find((w) => w.taskId === "TASK-001")?.worktreePath).toBe(join(me.root, "web", "task-001"));
    expect(Object.keys(BUILTIN_AGENT_PROMPTS)).toEqual(expect.arrayContaining(example.tasks.map((t) => (t as { agent?: string }).agent ?? "code-author")));
  });
});
