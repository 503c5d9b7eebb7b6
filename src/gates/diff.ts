import { z } from "zod";
import { InvalidInputError } from "../core/errors.js";
import { parseWith } from "../core/validate.js";

/** How a file changed between base and head. Copies count as added, mode-only changes as modified. */
export type DiffFileStatus = "added" | "modified" | "removed" | "renamed";

/** One line the change adds, with its line number in the new file (1-based). */
export interface AddedLine {
  line: number;
  text: string;
}

/** One changed file: the model every gate rule reads, whether it came from git or from GitHub. */
export interface DiffFile {
  /** Path in the new tree (for a removed file: the path it had). POSIX separators, no prefix. */
  path: string;
  /** Path in the old tree, for renamed and copied files. */
  previousPath?: string;
  status: DiffFileStatus;
  additions: number;
  deletions: number;
  /** Git saw a binary file: there are no lines to read. */
  binary: boolean;
  /** Lines were changed but the patch was not given (GitHub leaves it out for large diffs). */
  patchMissing: boolean;
  addedLines: AddedLine[];
}

/**
 * Arguments for `git` (after the executable) that produce the diff `parseUnifiedDiff` reads best:
 * the change of `head` since it forked from `base` (what a pull request shows), renames detected,
 * no colours, pagers, external diff drivers or text conversions, raw UTF-8 paths.
 */
export function gitDiffArgs(base: string, head = "HEAD"): string[] {
  if (base.startsWith("-") || head.startsWith("-")) {
    throw new InvalidInputError(`revision ${JSON.stringify(base.startsWith("-") ? base : head)} is not valid: it starts with '-'`);
  }
  return [
    "-c",
    "core.quotePath=false",
    "diff",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--find-renames",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    `${base}...${head}`,
  ];
}

const HUNK_HEADER = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

interface FileBuilder {
  oldPath: string | undefined;
  newPath: string | undefined;
  headerPaths: { old: string; new: string } | undefined;
  created: boolean;
  deleted: boolean;
  renamed: boolean;
  copied: boolean;
  binary: boolean;
  additions: number;
  deletions: number;
  addedLines: AddedLine[];
}

function newBuilder(headerPaths: FileBuilder["headerPaths"]): FileBuilder {
  return {
    oldPath: undefined,
    newPath: undefined,
    headerPaths,
    created: false,
    deleted: false,
    renamed: false,
    copied: false,
    binary: false,
    additions: 0,
    deletions: 0,
    addedLines: [],
  };
}

const C_ESCAPES: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, "\\": 92 };

/** Decodes a path git wrote in C quotes (`"a/t\303\251st.txt"`): octal escapes are UTF-8 bytes. */
function unquoteCPath(quoted: string): string {
  const bytes: number[] = [];
  for (let i = 1; i < quoted.length - 1; i++) {
    const ch = quoted[i]!;
    if (ch !== "\\") {
      bytes.push(...Buffer.from(ch, "utf8"));
      continue;
    }
    const next = quoted[i + 1] ?? "";
    if (/[0-7]/.test(next)) {
      const octal = /^[0-7]{1,3}/.exec(quoted.slice(i + 1))![0];
      bytes.push(parseInt(octal, 8));
      i += octal.length;
    } else {
      bytes.push(C_ESCAPES[next] ?? next.charCodeAt(0));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/**
 * A path from a `---`/`+++`/rename line, unquoted. Git ends the path with a tab when it holds a
 * space (other tools put a timestamp there); a tab inside a path is always quoted as `\t`.
 */
function readPath(raw: string): string {
  const trimmed = raw.replace(/\t.*$/, "");
  return trimmed.startsWith('"') && trimmed.endsWith('"') && trimmed.length >= 2 ? unquoteCPath(trimmed) : trimmed;
}

function stripPrefix(path: string, prefix: "a/" | "b/"): string {
  return path.startsWith(prefix) ? path.slice(prefix.length) : path;
}

/**
 * The two paths of `diff --git a/X b/Y`. Used only when no `---`/`+++`/rename line names them
 * (binary files, mode changes, empty files); then both sides are the same path unless quoted.
 */
function headerPaths(rest: string): FileBuilder["headerPaths"] {
  if (rest.startsWith('"')) {
    const end = rest.search(/(?<!\\)" /);
    if (end > 0) {
      const old = unquoteCPath(rest.slice(0, end + 1));
      const second = rest.slice(end + 2);
      const neu = second.startsWith('"') ? unquoteCPath(second) : second;
      return { old: stripPrefix(old, "a/"), new: stripPrefix(neu, "b/") };
    }
  }
  if (rest.endsWith('"')) {
    const start = rest.lastIndexOf(' "');
    if (start > 0) return { old: stripPrefix(rest.slice(0, start), "a/"), new: stripPrefix(unquoteCPath(rest.slice(start + 1)), "b/") };
  }
  // Unquoted and identical on both sides: "a/P b/P", so P is half of what is left.
  if (rest.startsWith("a/") && (rest.length - 5) % 2 === 0) {
    const half = (rest.length - 5) / 2;
    const old = rest.slice(2, 2 + half);
    if (rest.slice(2 + half) === ` b/${old}`) return { old, new: old };
  }
  const split = rest.indexOf(" b/");
  if (split > 0) return { old: stripPrefix(rest.slice(0, split), "a/"), new: rest.slice(split + 3) };
  return undefined;
}

function finish(builder: FileBuilder, lineNumber: number): DiffFile {
  const oldPath = builder.oldPath ?? builder.headerPaths?.old;
  const newPath = builder.newPath ?? builder.headerPaths?.new;
  const path = builder.deleted ? (oldPath ?? newPath) : (newPath ?? oldPath);
  if (!path) throw new InvalidInputError(`diff line ${lineNumber}: a file section names no path`);
  let status: DiffFileStatus = "modified";
  if (builder.deleted) status = "removed";
  else if (builder.created || builder.copied) status = "added";
  else if (builder.renamed || (oldPath !== undefined && newPath !== undefined && oldPath !== newPath)) status = "renamed";
  const file: DiffFile = {
    path,
    status,
    additions: builder.additions,
    deletions: builder.deletions,
    binary: builder.binary,
    patchMissing: false,
    addedLines: builder.addedLines,
  };
  if ((status === "renamed" || builder.copied) && oldPath !== undefined && oldPath !== path) file.previousPath = oldPath;
  return file;
}

/**
 * Reads `git diff` output (unified format, any context size, default `a/` and `b/` prefixes, as
 * `gitDiffArgs` asks for) into one `DiffFile` per changed file. Added lines keep their new-file
 * line numbers. Binary files come back with `binary: true` and no lines.
 */
export function parseUnifiedDiff(text: string): DiffFile[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const files: DiffFile[] = [];
  let current: FileBuilder | undefined;
  let oldLeft = 0;
  let newLeft = 0;
  let newLine = 0;
  let inHunk = false;

  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (inHunk && (oldLeft > 0 || newLeft > 0)) {
      const tag = line[0];
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (tag === "+") {
        current!.additions++;
        current!.addedLines.push({ line: newLine, text: line.slice(1) });
        newLine++;
        newLeft--;
      } else if (tag === "-") {
        current!.deletions++;
        oldLeft--;
      } else if (tag === " " || line === "") {
        // Some tools strip the trailing space of an empty context line.
        newLine++;
        oldLeft--;
        newLeft--;
      } else if (tag === "\\") {
        // "\ No newline at end of file"
      } else {
        throw new InvalidInputError(`diff line ${i + 1}: hunk ended early, expected ${oldLeft} more old and ${newLeft} more new lines`);
      }
      continue;
    }
    if (line.startsWith("\\")) continue;
    if (line.startsWith("diff --git ")) {
      if (current) files.push(finish(current, i + 1));
      current = newBuilder(headerPaths(line.slice("diff --git ".length)));
      inHunk = false;
      continue;
    }
    if (line.startsWith("diff --cc ") || line.startsWith("diff --combined ")) {
      throw new InvalidInputError(`diff line ${i + 1}: combined (merge) diffs are not supported: diff against one parent`);
    }
    if (!current) continue; // text before the first file (a commit message from `git show`, say)
    const hunk = HUNK_HEADER.exec(line);
    if (hunk) {
      oldLeft = hunk[2] === undefined ? 1 : Number(hunk[2]);
      newLeft = hunk[4] === undefined ? 1 : Number(hunk[4]);
      newLine = Number(hunk[3]);
      inHunk = true;
      continue;
    }
    if (inHunk) {
      // A hunk is complete; anything else before the next "diff --git" is not ours to read.
      continue;
    }
    if (line.startsWith("--- ")) {
      const path = readPath(line.slice(4));
      if (path === "/dev/null") current.created = true;
      else current.oldPath = stripPrefix(path, "a/");
    } else if (line.startsWith("+++ ")) {
      const path = readPath(line.slice(4));
      if (path === "/dev/null") current.deleted = true;
      else current.newPath = stripPrefix(path, "b/");
    } else if (line.startsWith("new file mode")) current.created = true;
    else if (line.startsWith("deleted file mode")) current.deleted = true;
    else if (line.startsWith("rename from ")) {
      current.renamed = true;
      current.oldPath = readPath(line.slice("rename from ".length));
    } else if (line.startsWith("rename to ")) current.newPath = readPath(line.slice("rename to ".length));
    else if (line.startsWith("copy from ")) {
      current.copied = true;
      current.oldPath = readPath(line.slice("copy from ".length));
    } else if (line.startsWith("copy to ")) current.newPath = readPath(line.slice("copy to ".length));
    else if (line.startsWith("Binary files ") || line === "GIT binary patch") current.binary = true;
  }
  if (inHunk && (oldLeft > 0 || newLeft > 0)) {
    throw new InvalidInputError(`diff ends inside a hunk: expected ${oldLeft} more old and ${newLeft} more new lines`);
  }
  if (current) files.push(finish(current, lines.length));
  return files;
}

/** The added lines of a bare patch (hunks only, as GitHub's `patch` field holds them). */
function addedLinesOfPatch(patch: string, where: string): AddedLine[] {
  const added: AddedLine[] = [];
  let newLine = 0;
  let inHunk = false;
  for (const raw of patch.split("\n")) {
    const hunk = HUNK_HEADER.exec(raw);
    if (hunk) {
      newLine = Number(hunk[3]);
      inHunk = true;
      continue;
    }
    if (!inHunk) continue;
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const tag = line[0];
    if (tag === "+") added.push({ line: newLine++, text: line.slice(1) });
    else if (tag === " " || line === "") newLine++;
    else if (tag !== "-" && tag !== "\\") throw new InvalidInputError(`${where}: patch line ${JSON.stringify(line.slice(0, 40))} is not part of a hunk`);
  }
  return added;
}

/** One item of GitHub's "list pull request files" answer; fields we do not read are allowed. */
export const pullRequestFileSchema = z.looseObject({
  filename: z.string().min(1),
  status: z.enum(["added", "removed", "modified", "renamed", "copied", "changed", "unchanged"]),
  additions: z.number().int().nonnegative(),
  deletions: z.number().int().nonnegative(),
  changes: z.number().int().nonnegative(),
  patch: z.string().optional().nullable(),
  previous_filename: z.string().optional().nullable(),
});
export type PullRequestFile = z.infer<typeof pullRequestFileSchema>;

const STATUS_FROM_GITHUB: Record<PullRequestFile["status"], DiffFileStatus> = {
  added: "added",
  removed: "removed",
  modified: "modified",
  renamed: "renamed",
  copied: "added",
  changed: "modified",
  unchanged: "modified",
};

/**
 * The same model built from GitHub's "list pull request files" items. A file without `patch`
 * (binary, or a diff too large for GitHub to include) has no added lines; when it changed lines
 * it is marked `patchMissing`, so a gate can say it could not read it.
 */
export function diffFilesFromPullRequest(items: readonly unknown[]): DiffFile[] {
  return items.map((item, index) => {
    const file = parseWith(pullRequestFileSchema, item, `pull request file ${index}`);
    const status = STATUS_FROM_GITHUB[file.status];
    const hasPatch = typeof file.patch === "string" && file.patch.length > 0;
    const result: DiffFile = {
      path: file.filename,
      status,
      additions: file.additions,
      deletions: file.deletions,
      binary: false,
      patchMissing: !hasPatch && file.changes > 0,
      addedLines: hasPatch ? addedLinesOfPatch(file.patch!, file.filename) : [],
    };
    if (file.previous_filename && file.previous_filename !== file.filename) result.previousPath = file.previous_filename;
    return result;
  });
}
