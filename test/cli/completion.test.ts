/**
 * `pw completion bash|zsh|fish`: each script is valid for its shell and completes what the
 * program has. Each is run in its real shell (zsh and fish when installed), with what a
 * person typed so far.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CliContext } from "../../src/cli/context.js";
import { buildProgram } from "../../src/cli/program.js";
import { pw } from "../helpers/cli.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";

afterAll(() => removeTempDirs());

const dir = tempDir("pw-completion-");

function installed(shell: string): boolean {
  return spawnSync(shell, ["-c", "exit 0"]).status === 0;
}

async function script(shell: string): Promise<string> {
  const result = await pw(["completion", shell], { env: { PW_HOME: join(dir, "home") } });
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  const file = join(dir, `pw.${shell}`);
  writeFileSync(file, result.stdout);
  return file;
}

/** What a person typed, and the words completion should offer (in the shell's order). */
const CASES: Array<[string[], string[]]> = [
  [["pw", "wor"], ["worker", "worktree"]],
  [["pw", "worker", "sp"], ["spawn", "spawn-batch"]],
  [["pw", "worker", "spawn", "--ta"], ["--task-id"]],
  [["pw", "worker", "spawn", "--task-id", "T-1", "--de"], ["--depends-on", "--description"]],
  [["pw", "--verbose", "worker", "l"], ["list", "logs"]],
  [["pw", "loop", "--log-format", ""], ["json", "pretty"]],
  [["pw", "worker", "list", "--state", "PR"], ["PR_OPEN"]],
  [["pw", "completion", ""], ["bash", "fish", "zsh"]],
];

const sorted = (words: string) => words.split(/\s+/).filter(Boolean).sort();

describe("pw completion", () => {
  it("refuses a shell it has no script for, naming the ones it has", async () => {
    const result = await pw(["completion", "tcsh"], { env: { PW_HOME: join(dir, "home") } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^pw: error: .*'tcsh' is invalid.* Allowed choices are bash, zsh, fish\.\n$/);
  });

  it("bash: valid, and completes commands, subcommands, options and their values", async () => {
    const file = await script("bash");
    execFileSync("bash", ["-n", file]);
    const complete = (words: string[]) =>
      execFileSync(
        "bash",
        ["-c", `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _pw_complete; echo "\${COMPREPLY[*]}"`, "complete", file, ...words],
        { encoding: "utf8" },
      );
    for (const [words, expected] of CASES) expect(sorted(complete(words)), words.join(" ")).toEqual(expected);
    // every command of the program is offered after `pw`
    const program = buildProgram(new CliContext());
    expect(sorted(complete(["pw", ""]))).toEqual([...program.commands.map((c) => c.name()), "help"].sort());
    // after an option that takes a path, nothing is offered, so bash completes file names
    expect(complete(["pw", "worker", "spawn", "--repo", ""]).trim()).toBe("");
    expect(execFileSync("bash", ["-c", `source "$1"; complete -p pw parallel-workers`, "complete", file], { encoding: "utf8" })).toBe(
      "complete -o default -F _pw_complete pw\ncomplete -o default -F _pw_complete parallel-workers\n",
    );
  });

  it.skipIf(!installed("zsh"))("zsh: valid, and completes the same", async () => {
    const file = await script("zsh");
    execFileSync("zsh", ["-n", file]);
    // zsh's completion widgets need a terminal: stand-ins print what _pw hands them, filtered
    // by the word being completed, as compadd and _describe would show it
    const harness = `
      compdef() { :; }
      source "$1"; shift
      _matching() { local w; for w in "$@"; do [[ $w == \${words[CURRENT]}* ]] && print -rn -- "$w "; done; print; }
      _describe() { local name=\${@[-1]}; _matching "\${(@)\${(P)name}%%:*}"; }
      compadd() { [[ $1 == -- ]] && shift; _matching "$@"; }
      _files() { print FILES; }
      words=("$@"); CURRENT=$#words; _pw`;
    const complete = (words: string[]) => execFileSync("zsh", ["-f", "-c", harness, "complete", file, ...words], { encoding: "utf8" });
    for (const [words, expected] of CASES) expect(sorted(complete(words)), words.join(" ")).toEqual(expected);
    expect(complete(["pw", "worker", "spawn", "--repo", ""]).trim()).toBe("FILES");
    // loaded for real after compinit, it registers itself for both names
    const registered = execFileSync(
      "zsh",
      ["-f", "-c", `autoload -U compinit; compinit -u -d "$2"; source "$1"; print \${_comps[pw]} \${_comps[parallel-workers]}`, "zsh", file, join(dir, "zcompdump")],
      { encoding: "utf8" },
    );
    expect(registered.trim()).toBe("_pw _pw");
  });

  it.skipIf(!installed("fish"))("fish: valid, and completes the same", async () => {
    const file = await script("fish");
    execFileSync("fish", ["-n", file]);
    const complete = (words: string[]) =>
      execFileSync("fish", ["-c", `source $argv[1]; complete -C"$argv[2]" | string replace -r '\\t.*' ''`, file, words.join(" ")], {
        encoding: "utf8",
      });
    for (const [words, expected] of CASES) expect(sorted(complete(words)), words.join(" ")).toEqual(expected);
    expect(sorted(complete(["parallel-workers", "wor"]))).toEqual(["worker", "worktree"]);
  });
});
