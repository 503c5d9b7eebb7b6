import type { Command } from "commander";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { PwError } from "../core/errors.js";
import { print } from "./output.js";

/** Where `pw init` puts the example task spec: beside the gate files, out of the way of the user's own files. */
export const EXAMPLE_SPEC_FILE = ".parallel-workers/tasks.example.yml";

/** The example shipped with the package (one home for it: the README links the same file). */
const EXAMPLE_SPEC_TEMPLATE = new URL("../../templates/tasks-spec-example.yml", import.meta.url);

function exampleSpecText(): string {
  try {
    return readFileSync(EXAMPLE_SPEC_TEMPLATE, "utf8");
  } catch (error) {
    throw new PwError(`the example task spec of this installation cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): reinstall parallel-workers`);
  }
}

/** A path as the person typing commands in `cwd` would write it. */
function shown(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel === "" ? "." : rel;
}

export function registerInitCommand(program: Command): void {
  program
    .command("init")
    .description(
      "set up the current repository: .parallel-workers.yml, an example task spec and the gate files; refuses when any exists",
    )
    .option("--repo <dir>", "the git repository (default: the current directory's)")
    .action(async (opts: { repo?: string }) => {
      const [{ Repository }, { REPO_CONFIG_FILE, starterRepoConfig }, { repositoryFromRemoteUrl }, gates] = await Promise.all([
        import("../git/repo.js"),
        import("../config.js"),
        import("../core/repository.js"),
        import("../gates/index.js"),
      ]);
      const repo = await Repository.open(opts.repo ?? process.cwd());
      const cwd = process.cwd();
      const configFile = join(repo.root, REPO_CONFIG_FILE);
      const specFile = join(repo.root, EXAMPLE_SPEC_FILE);
      const gateFiles = gates.GATE_NAMES.map((name) => join(repo.root, gates.gateFilePath(name)));

      // all or nothing: a second run (or a file of the user's) stops it before it writes anything
      const existing = [configFile, specFile, ...gateFiles].filter((file) => existsSync(file));
      if (existing.length > 0) {
        throw new PwError(
          `${existing.map((file) => shown(file, cwd)).join(", ")} already exist${existing.length === 1 ? "s" : ""}: nothing was written ` +
            `(edit ${existing.length === 1 ? "it" : "them"}, or move ${existing.length === 1 ? "it" : "them"} aside and run \`pw init\` again)`,
        );
      }
      const remoteUrl = (await repo.tryRun(["remote", "get-url", "origin"]))?.trim();
      const repository = (remoteUrl && repositoryFromRemoteUrl(remoteUrl)) || null;
      const exampleSpec = exampleSpecText();

      const madeDir = existsSync(dirname(specFile)) ? undefined : dirname(specFile);
      const written: string[] = [];
      try {
        writeFileSync(configFile, starterRepoConfig(repository), { flag: "wx" });
        written.push(configFile);
        mkdirSync(dirname(specFile), { recursive: true });
        writeFileSync(specFile, exampleSpec, { flag: "wx" });
        written.push(specFile);
        written.push(...gates.initGates(repo.root).map((gate) => gate.path));
      } catch (error) {
        // a failed init leaves the repository as it was
        for (const file of written) rmSync(file, { force: true });
        if (madeDir) rmSync(madeDir, { recursive: true, force: true });
        throw error;
      }

      const width = Math.max(...written.map((file) => shown(file, cwd).length));
      const what = [
        "settings, each one commented out with its default",
        "an example task spec for `pw worker spawn-batch`",
        "the security gate (secrets, forbidden paths)",
        "the quality gate (reports, blocks nothing until you say so)",
      ];
      written.forEach((file, i) => print(`wrote ${shown(file, cwd).padEnd(width)}  ${what[i] ?? ""}`.trimEnd()));
      print();
      if (!repository) {
        print(`no GitHub repository found from the origin remote: set github.repository in ${shown(configFile, cwd)} before you spawn workers`);
      }
      print(`next: put your own tasks in ${shown(specFile, cwd)}, commit these files (the runner reads the`);
      print("gate files from the base branch), and queue the tasks:");
      print(`  pw worker spawn-batch --spec-file ${shown(specFile, cwd)}`);
    });
}
