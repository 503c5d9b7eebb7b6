import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidInputError } from "../../src/core/errors.js";
import { diffFilesFromPullRequest, gitDiffArgs, parseUnifiedDiff, type DiffFile } from "../../src/gates/diff.js";
import { git, makeRepo, removeTempDirs } from "../helpers/git.js";

const PNG = Buffer.from("89504e470d0a1a0a0000000d4948445200000001000000010806000000", "hex");
const lines = (count: number, prefix: string) => Array.from({ length: count }, (_, i) => `${prefix} ${i + 1}`).join("\n") + "\n";

/** A repository with `main` and a `feature` branch that changes files in every way git can. */
function repoWithChanges(): { dir: string; diff: string; quotedDiff: string } {
  const { dir } = makeRepo({
    "src/app.ts": lines(30, "line"),
    "src/old-name.ts": lines(12, "moved"),
    "docs/gone.md": "# gone\nbye\n",
    "bin/run.sh": "#!/bin/sh\necho run\n",
    "assets/logo.png": "placeholder\n",
    "no-newline.txt": "first\nlast",
  });
  git(dir, "checkout", "--quiet", "-b", "feature");
  const write = (path: string, content: string | Buffer) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  };
  const app = readFileSync(join(dir, "src/app.ts"), "utf8").split("\n");
  app.splice(2, 1, "changed 3"); // modify line 3
  app.splice(10, 0, "inserted after 10", "and another"); // add two lines after line 10
  app.splice(25, 2); // remove two lines further down
  write("src/app.ts", app.join("\n"));
  write("src/new file é.ts", "export const x = 1;\nexport const y = 2;\n");
  renameSync(join(dir, "src/old-name.ts"), join(dir, "src/new-name.ts"));
  write("src/new-name.ts", readFileSync(join(dir, "src/new-name.ts"), "utf8") + "moved and grown\n");
  rmSync(join(dir, "docs/gone.md"));
  chmodSync(join(dir, "bin/run.sh"), 0o755);
  write("assets/logo.png", PNG);
  write("empty.txt", "");
  write("no-newline.txt", "first\nlast changed");
  git(dir, "add", "-A");
  git(dir, "commit", "--quiet", "-m", "feature work");
  return { dir, diff: git(dir, ...gitDiffArgs("main", "feature")), quotedDiff: git(dir, "diff", "main...feature") };
}

let repo: ReturnType<typeof repoWithChanges>;
let files: DiffFile[];
const byPath = (path: string) => files.find((file) => file.path === path)!;

beforeAll(() => {
  repo = repoWithChanges();
  files = parseUnifiedDiff(repo.diff);
});
afterAll(removeTempDirs);

describe("parseUnifiedDiff over real git output", () => {
  it("lists every changed file with its status", () => {
    expect(files.map((file) => [file.path, file.status]).sort()).toEqual(
      [
        ["assets/logo.png", "modified"],
        ["bin/run.sh", "modified"],
        ["docs/gone.md", "removed"],
        ["empty.txt", "added"],
        ["no-newline.txt", "modified"],
        ["src/app.ts", "modified"],
        ["src/new file é.ts", "added"],
        ["src/new-name.ts", "renamed"],
      ].sort(),
    );
  });

  it("counts additions and deletions as git --numstat does", () => {
    const numstat = git(repo.dir, "-c", "core.quotePath=false", "diff", "--numstat", "--no-renames", "main...feature");
    const counted = new Map<string, [number, number]>();
    for (const row of numstat.trim().split("\n")) {
      const [added, deleted, path] = row.split("\t");
      if (added !== "-") counted.set(path!, [Number(added), Number(deleted)]);
    }
    for (const file of files) {
      if (file.binary || file.status === "renamed") continue;
      expect([file.path, file.additions, file.deletions]).toEqual([file.path, ...counted.get(file.path)!]);
    }
    expect(byPath("src/new-name.ts")).toMatchObject({ additions: 1, deletions: 0 });
  });

  it("gives every added line with its line number in the new file", () => {
    for (const file of files) {
      if (file.status === "removed" || file.binary) continue;
      const content = readFileSync(join(repo.dir, file.path), "utf8").split("\n");
      for (const added of file.addedLines) expect([file.path, added.line, content[added.line - 1]]).toEqual([file.path, added.line, added.text]);
    }
    expect(byPath("src/app.ts").addedLines).toEqual([
      { line: 3, text: "changed 3" },
      { line: 11, text: "inserted after 10" },
      { line: 12, text: "and another" },
    ]);
    expect(byPath("no-newline.txt").addedLines).toEqual([{ line: 2, text: "last changed" }]);
  });

  it("keeps the old path of a rename", () => {
    expect(byPath("src/new-name.ts")).toMatchObject({ previousPath: "src/old-name.ts", addedLines: [{ line: 13, text: "moved and grown" }] });
  });

  it("marks binary files and has no lines for them", () => {
    expect(byPath("assets/logo.png")).toMatchObject({ binary: true, addedLines: [], patchMissing: false });
  });

  it("reads files that git names only in its header (mode change, empty file)", () => {
    expect(byPath("bin/run.sh")).toMatchObject({ status: "modified", additions: 0, deletions: 0, addedLines: [] });
    expect(byPath("empty.txt")).toMatchObject({ status: "added", additions: 0, addedLines: [] });
  });

  it("reads a removed file's path and no added lines", () => {
    expect(byPath("docs/gone.md")).toMatchObject({ deletions: 2, additions: 0, addedLines: [] });
  });

  it("decodes the C-quoted paths of git's default output", () => {
    expect(repo.quotedDiff).toContain('"b/src/new file \\303\\251.ts"');
    const quoted = parseUnifiedDiff(repo.quotedDiff);
    expect(quoted.map((file) => file.path).sort()).toEqual(files.map((file) => file.path).sort());
  });

  it("reads a diff of any context size the same way", () => {
    const zero = parseUnifiedDiff(git(repo.dir, ...gitDiffArgs("main", "feature").slice(0, -1), "--unified=0", "main...feature"));
    expect(zero.map((file) => [file.path, file.addedLines])).toEqual(files.map((file) => [file.path, file.addedLines]));
  });

  it("ignores text before the first file (git show)", () => {
    const shown = parseUnifiedDiff(git(repo.dir, "-c", "core.quotePath=false", "show", "--find-renames", "feature"));
    expect(shown.map((file) => file.path).sort()).toEqual(files.map((file) => file.path).sort());
  });

  it("returns no files for an empty diff", () => {
    expect(parseUnifiedDiff("")).toEqual([]);
  });

  it("refuses a hunk cut short and a combined diff, naming the line", () => {
    const cut = ["diff --git a/a b/a", "--- a/a", "+++ b/a", "@@ -1,2 +1,3 @@", " x", "+y", "oops", ""].join("\n");
    expect(() => parseUnifiedDiff(cut)).toThrow(InvalidInputError);
    expect(() => parseUnifiedDiff(cut)).toThrow("diff line 7: hunk ended early");
    expect(() => parseUnifiedDiff("diff --cc a.txt\n")).toThrow("combined (merge) diffs are not supported");
  });

  it("refuses a revision that would be read as an option", () => {
    expect(() => gitDiffArgs("--output=/tmp/x")).toThrow(InvalidInputError);
  });
});

/** The per-file sections of a git diff, as GitHub gives them in `patch` (hunks only). */
function patchesOf(diff: string): Map<string, string> {
  const patches = new Map<string, string>();
  for (const section of diff.split(/^(?=diff --git )/m)) {
    const hunkStart = section.indexOf("\n@@");
    if (hunkStart < 0) continue;
    const path = /^\+\+\+ b\/([^\t\n]*)/m.exec(section)?.[1] ?? /^--- a\/([^\t\n]*)/m.exec(section)![1]!;
    patches.set(path, section.slice(hunkStart + 1).replace(/\n$/, ""));
  }
  return patches;
}

describe("diffFilesFromPullRequest", () => {
  it("builds the same model from GitHub's list-files items", () => {
    const patches = patchesOf(repo.diff);
    const items = files.map((file) => ({
      sha: "0".repeat(40),
      filename: file.path,
      status: file.status,
      additions: file.additions,
      deletions: file.deletions,
      changes: file.additions + file.deletions,
      blob_url: "https://example.test/blob",
      ...(patches.has(file.path) ? { patch: patches.get(file.path) } : {}),
      ...(file.previousPath ? { previous_filename: file.previousPath } : {}),
    }));
    const fromGitHub = diffFilesFromPullRequest(items);
    expect(fromGitHub.map(({ path, previousPath, status, additions, deletions, addedLines }) => ({ path, previousPath, status, additions, deletions, addedLines }))).toEqual(
      files.map(({ path, previousPath, status, additions, deletions, addedLines }) => ({ path, previousPath, status, additions, deletions, addedLines })),
    );
  });

  it("marks a file whose patch GitHub left out, and maps copied and changed", () => {
    const result = diffFilesFromPullRequest([
      { filename: "big.sql", status: "modified", additions: 9000, deletions: 10, changes: 9010 },
      { filename: "image.png", status: "added", additions: 0, deletions: 0, changes: 0 },
      { filename: "copy.ts", status: "copied", additions: 0, deletions: 0, changes: 0, previous_filename: "orig.ts", patch: null },
      { filename: "mode.sh", status: "changed", additions: 0, deletions: 0, changes: 0 },
    ]);
    expect(result.map((file) => [file.path, file.status, file.patchMissing, file.previousPath])).toEqual([
      ["big.sql", "modified", true, undefined],
      ["image.png", "added", false, undefined],
      ["copy.ts", "added", false, "orig.ts"],
      ["mode.sh", "modified", false, undefined],
    ]);
  });

  it("refuses an item that is not a list-files item, naming it", () => {
    expect(() => diffFilesFromPullRequest([{ filename: "a", status: "exploded", additions: 0, deletions: 0, changes: 0 }])).toThrow(
      /^pull request file 0: status: /,
    );
    expect(() => diffFilesFromPullRequest([{ filename: "a", status: "added", additions: 1, deletions: 0, changes: 1, patch: "+x" }])).not.toThrow();
    expect(() =>
      diffFilesFromPullRequest([{ filename: "a", status: "added", additions: 1, deletions: 0, changes: 1, patch: "@@ -0,0 +1 @@\n?x" }]),
    ).toThrow(/^a: patch line "\?x"/);
  });
});
