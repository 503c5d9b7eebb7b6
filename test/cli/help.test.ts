/**
 * What a newcomer meets first: `--help` with examples and required options marked, and a
 * mistyped option reported as unknown with the closest one suggested, on every command.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CliContext } from "../../src/cli/context.js";
import { allCommands, commandPath } from "../../src/cli/help.js";
import { buildProgram } from "../../src/cli/program.js";
import { pw, PW_BIN } from "../helpers/cli.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";

afterAll(() => removeTempDirs());

const home = join(tempDir("pw-help-"), "home");
const env = { PW_HOME: home };

/** Every command of the program, with an option of its own (else --help) and that option mistyped. */
const typos = allCommands(buildProgram(new CliContext())).map((command) => {
  const option = command.options.find((o) => o.long && o.long !== "--help")?.long ?? "--help";
  // swap the last two letters: one edit away, as a slip of the fingers is
  const typo = `${option.slice(0, -2)}${option.at(-1)}${option.at(-2)}`;
  return { path: commandPath(command), option, typo };
});

describe("pw --help", () => {
  it("lists the command groups with a line each, then examples", async () => {
    const result = await pw(["--help"], { env });
    expect(result.code).toBe(0);
    const commands = result.stdout.slice(result.stdout.indexOf("Commands:"), result.stdout.indexOf("Examples:"));
    for (const group of ["worker", "state", "worktree", "loop", "gate", "serve", "reconcile", "completion"]) {
      expect(commands).toMatch(new RegExp(`^  ${group}\\b.* \\w`, "m"));
    }
    expect(result.stdout).toContain('$ pw worker spawn --task-id TASK-1 --description "Add a login page"');
    expect(result.stdout).toContain("Run `pw COMMAND --help`");
  });

  it("marks required options in the usage line and after their description, and shows examples", async () => {
    const result = await pw(["worker", "spawn", "--help"], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: pw worker spawn --task-id <id> --description <text> \[options\]$/m);
    expect(result.stdout).toMatch(/--task-id <id>\s+task id, e\.g\. TASK-001 \(required\)/);
    expect(result.stdout).toMatch(/--description <text>\s+what the agent should do \(required\)/);
    expect(result.stdout).not.toMatch(/--agent[^\n]*\(required\)/);
    // a repeatable option starts empty; that is no default worth showing
    expect(result.stdout).not.toContain("(default: [])");
    expect(result.stdout).toContain("Examples:\n  $ pw worker spawn --task-id TASK-1");
  });

  it.each(["worker spawn-batch", "loop", "serve", "worker retry", "completion"])("pw %s --help shows examples", async (path) => {
    const result = await pw([...path.split(" "), "--help"], { env });
    expect(result.code).toBe(0);
    const examples = result.stdout.slice(result.stdout.indexOf("\nExamples:\n  $ "));
    expect(examples).toContain(`pw ${path}`);
  });
});

describe("habits from other tools", () => {
  it("`pw help worker spawn` is the help of `worker spawn`", async () => {
    const result = await pw(["help", "worker", "spawn"], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: pw worker spawn --task-id <id>/);
  });

  it.each([[[]], [["worker"]]])("`pw %s` without a command shows the help on stderr and exits 2", async (args) => {
    const result = await pw(args, { env });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^Usage: pw /);
  });

  it("a reader that goes away (`pw ... | head -1`) ends pw quietly, not with a stack trace", async () => {
    const child = spawn(process.execPath, [PW_BIN, "completion", "bash"], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    // the reader is gone before pw writes anything
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });
});

describe("a mistyped option", () => {
  it.each(typos)("pw $path $typo is unknown, and $option suggested, with exit 2", async ({ path, option, typo }) => {
    const result = await pw([...path.split(" ").filter(Boolean), typo], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`pw: error: unknown option '${typo}'\n(Did you mean ${option}?)\n`);
    expect(result.stdout).toBe("");
  });

  it("is reported before a required option it was meant to be", async () => {
    const result = await pw(["worker", "spawn", "--tas-id", "T-1", "--description", "x"], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("pw: error: unknown option '--tas-id'\n(Did you mean --task-id?)\n");
  });

  it("a missing required option is still refused, with nothing made", async () => {
    const result = await pw(["worker", "spawn", "--task-id", "T-1"], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("pw: error: required option '--description <text>' not specified\n");
    expect(existsSync(home)).toBe(false);
  });

  it("covers every command (none accepts unknown options)", () => {
    expect(typos.map((t) => t.path)).toEqual(expect.arrayContaining(["", "worker", "worker spawn", "loop", "serve", "completion"]));
  });
});
