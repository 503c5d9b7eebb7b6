/**
 * Keeping a worker's branch on top of its base, with real git: a bare origin, a checkout, a
 * worktree per branch. Several branches fetched and pushed in one connection each, pushes with
 * leases, rebases that stop on a conflict (with the base's commits that caused it), a stacked
 * branch moved off its squash-merged parent.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Repository } from "../../src/git/repo.js";
import {
  abortRebase,
  continueRebase,
  fetchBranches,
  hasConflictMarkers,
  pushWithLeases,
  rebaseInProgress,
  refsContaining,
  startRebase,
  trackingRef,
  worktreeHead,
} from "../../src/git/sync.js";
import { git, makeRepo, removeTempDirs, tempDir } from "../helpers/git.js";

afterEach(removeTempDirs);

/** A checkout with `main` and a worktree on `branch` holding one commit that writes `file`. */
async function setup(file = "feature.txt", content = "feature\n") {
  const { dir, origin } = makeRepo({ "README.md": "# demo\n", "shared.txt": "one\ntwo\nthree\n" });
  const worktree = join(tempDir("pw-wt-"), "a");
  git(dir, "worktree", "add", "--quiet", "-b", "feature/a", worktree, "main");
  writeFileSync(join(worktree, file), content);
  git(worktree, "add", "-A");
  git(worktree, "commit", "--quiet", "-m", "feat: a");
  git(dir, "push", "--quiet", "origin", "feature/a");
  return { dir, origin, worktree, repo: await Repository.open(dir) };
}

/** A commit on origin's main, made in another clone (someone else merging). */
function moveMain(origin: string, file: string, content: string, message = `change ${file}`): string {
  const other = join(tempDir("pw-clone-"), "c");
  git(tempDir(), "clone", "--quiet", origin, other);
  git(other, "config", "user.name", "Other");
  git(other, "config", "user.email", "other@example.com");
  writeFileSync(join(other, file), content);
  git(other, "add", "-A");
  git(other, "commit", "--quiet", "-m", message);
  git(other, "push", "--quiet", "origin", "main");
  return git(other, "rev-parse", "HEAD").trim();
}

describe("fetching several branches at once", () => {
  it("fetches each into its remote-tracking ref, and a branch origin lacks is undefined without losing the others", async () => {
    const { repo, origin } = await setup();
    const main = moveMain(origin, "other.txt", "x\n");
    const heads = await fetchBranches(repo, ["main", "feature/a", "main"]);
    expect(heads.get("main")).toBe(main);
    expect(heads.get("feature/a")).toBe(git(origin, "rev-parse", "feature/a").trim());
    const some = await fetchBranches(repo, ["main", "feature/gone"]);
    expect(some.get("main")).toBe(main);
    expect(some.get("feature/gone")).toBeUndefined();
  });
});

describe("rebasing onto a moved base", () => {
  it("puts the branch's commit on top of the new base", async () => {
    const { repo, origin, worktree } = await setup();
    const main = moveMain(origin, "other.txt", "x\n");
    await fetchBranches(repo, ["main"]);
    expect(await startRebase(repo, worktree, trackingRef("main"))).toEqual({ kind: "done" });
    expect(git(worktree, "rev-parse", "HEAD~1").trim()).toBe(main);
    expect(git(worktree, "log", "-1", "--format=%s").trim()).toBe("feat: a");
  });

  it("stops on a conflict naming the file and the base's commits that changed it, and goes on once it is resolved", async () => {
    const { repo, origin, worktree } = await setup("shared.txt", "one\nTWO (feature)\nthree\n");
    const main = moveMain(origin, "shared.txt", "one\nTWO (main)\nthree\n", "main rewrites line two");
    await fetchBranches(repo, ["main"]);
    const outcome = await startRebase(repo, worktree, trackingRef("main"));
    expect(outcome.kind).toBe("stopped");
    if (outcome.kind !== "stopped") return;
    expect(outcome.stop.files).toEqual([{ path: "shared.txt", commits: [{ sha: main, subject: "main rewrites line two" }] }]);
    expect(outcome.stop.commit?.subject).toBe("feat: a");
    expect(await rebaseInProgress(repo, worktree)).toBe(true);
    expect(hasConflictMarkers(readFileSync(join(worktree, "shared.txt"), "utf8"))).toBe(true);
    writeFileSync(join(worktree, "shared.txt"), "one\nTWO (main, then feature)\nthree\n");
    expect(await continueRebase(repo, worktree, trackingRef("main"), undefined)).toEqual({ kind: "done" });
    expect(await rebaseInProgress(repo, worktree)).toBe(false);
    expect(git(worktree, "rev-parse", "HEAD~1").trim()).toBe(main);
    expect(readFileSync(join(worktree, "shared.txt"), "utf8")).toBe("one\nTWO (main, then feature)\nthree\n");
  });

  it("an abort puts the branch back as it was", async () => {
    const { repo, origin, worktree } = await setup("shared.txt", "one\nTWO (feature)\nthree\n");
    const before = git(worktree, "rev-parse", "HEAD").trim();
    moveMain(origin, "shared.txt", "one\nTWO (main)\nthree\n");
    await fetchBranches(repo, ["main"]);
    expect((await startRebase(repo, worktree, trackingRef("main"))).kind).toBe("stopped");
    await abortRebase(repo, worktree);
    expect(await rebaseInProgress(repo, worktree)).toBe(false);
    expect(git(worktree, "rev-parse", "HEAD").trim()).toBe(before);
    expect(git(worktree, "status", "--porcelain")).toBe("");
  });

  it("a branch stacked on a parent that was squash-merged keeps only its own commits", async () => {
    const { dir, repo, origin, worktree: parent } = await setup("parent.txt", "parent\n");
    const parentHead = git(parent, "rev-parse", "HEAD").trim();
    const child = join(tempDir("pw-wt-"), "b");
    git(dir, "worktree", "add", "--quiet", "-b", "feature/b", child, "feature/a");
    writeFileSync(join(child, "child.txt"), "child\n");
    git(child, "add", "-A");
    git(child, "commit", "--quiet", "-m", "feat: b");
    // the parent merged as one squashed commit: its own commit is not in main's history
    const squash = moveMain(origin, "parent.txt", "parent\n", "A (#1)");
    await fetchBranches(repo, ["main"]);
    expect(await startRebase(repo, child, trackingRef("main"), parentHead)).toEqual({ kind: "done" });
    expect(git(child, "log", "--format=%s", `${squash}..HEAD`).trim()).toBe("feat: b");
    expect(git(child, "rev-parse", "HEAD~1").trim()).toBe(squash);
  });
});

describe("pushing with leases", () => {
  it("pushes every branch whose head is still the one expected, and refuses the one someone moved", async () => {
    const { dir, repo, origin, worktree } = await setup();
    const second = join(tempDir("pw-wt-"), "b");
    git(dir, "worktree", "add", "--quiet", "-b", "feature/b", second, "main");
    writeFileSync(join(second, "b.txt"), "b\n");
    git(second, "add", "-A");
    git(second, "commit", "--quiet", "-m", "feat: b");
    git(dir, "push", "--quiet", "origin", "feature/b");
    const knownA = git(origin, "rev-parse", "feature/a").trim();
    const knownB = git(origin, "rev-parse", "feature/b").trim();
    // both rebased onto a moved main
    moveMain(origin, "other.txt", "x\n");
    await fetchBranches(repo, ["main"]);
    for (const wt of [worktree, second]) expect((await startRebase(repo, wt, trackingRef("main"))).kind).toBe("done");
    // someone pushed to feature/b meanwhile
    const other = join(tempDir("pw-clone-"), "c");
    git(tempDir(), "clone", "--quiet", "--branch", "feature/b", origin, other);
    git(other, "-c", "user.name=O", "-c", "user.email=o@example.com", "commit", "--quiet", "--allow-empty", "-m", "someone else");
    git(other, "push", "--quiet", "origin", "feature/b");
    const theirs = git(other, "rev-parse", "HEAD").trim();
    const outcomes = await pushWithLeases(repo, dir, [
      { branch: "feature/a", expected: knownA },
      { branch: "feature/b", expected: knownB },
    ]);
    expect(outcomes.get("feature/a")).toEqual({ ok: true, updated: true });
    expect(outcomes.get("feature/b")).toMatchObject({ ok: false });
    expect(git(origin, "rev-parse", "feature/a").trim()).toBe(git(worktree, "rev-parse", "HEAD").trim());
    expect(git(origin, "rev-parse", "feature/b").trim()).toBe(theirs);
  });

  it("a branch already where it should be is pushed as unchanged", async () => {
    const { dir, repo, origin } = await setup();
    const known = git(origin, "rev-parse", "feature/a").trim();
    expect((await pushWithLeases(repo, dir, [{ branch: "feature/a", expected: known }])).get("feature/a")).toEqual({ ok: true, updated: false });
  });
});

describe("what a base update asks of git in one call", () => {
  it("worktreeHead: the head and whether anything is uncommitted (an untracked file counts)", async () => {
    const { repo, worktree } = await setup();
    const head = git(worktree, "rev-parse", "HEAD").trim();
    expect(await worktreeHead(repo, worktree)).toEqual({ head, dirty: false });
    writeFileSync(join(worktree, "new.txt"), "new\n");
    expect(await worktreeHead(repo, worktree)).toEqual({ head, dirty: true });
  });

  it("refsContaining: of the refs named, those that have the commit", async () => {
    const { repo, dir, origin } = await setup();
    const main = git(dir, "rev-parse", "main").trim();
    const moved = moveMain(origin, "other.txt", "x\n");
    await fetchBranches(repo, ["main", "feature/a"]);
    const refs = [trackingRef("main"), trackingRef("feature/a")];
    expect(await refsContaining(repo, main, refs)).toEqual(new Set(refs));
    expect(await refsContaining(repo, moved, refs)).toEqual(new Set([trackingRef("main")]));
    expect(await refsContaining(repo, moved, [])).toEqual(new Set());
  });
});
