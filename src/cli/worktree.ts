import type { Command } from "commander";
import { Repository } from "../git/repo.js";
import {
  createWorktree,
  listWorktrees,
  pruneWorktrees,
  removeWorktree,
  worktreeStatus,
  type WorktreeStatus,
} from "../git/worktrees.js";
import type { CliContext } from "./context.js";
import { print, printJson, printTable } from "./output.js";

interface RepoOption {
  repo?: string;
}

function openRepo(opts: RepoOption): Promise<Repository> {
  return Repository.open(opts.repo ?? process.cwd());
}

function printStatus(status: WorktreeStatus): void {
  print(`worktree  ${status.path}`);
  print(`branch    ${status.branch}`);
  if (status.base) {
    const counts = status.ahead === null ? "(base not found)" : `${status.ahead} ahead, ${status.behind} behind`;
    print(`base      ${status.base}: ${counts}`);
  } else {
    print("base      unknown");
  }
  if (status.dirty.length === 0) print("changes   clean");
  else {
    print(`changes   ${status.dirty.length} uncommitted`);
    for (const file of status.dirty) print(`  ${file}`);
  }
  const c = status.lastCommit;
  print(c ? `last      ${c.sha.slice(0, 10)} ${c.subject} (${c.author}, ${c.date})` : "last      no commits");
}

export function registerWorktreeCommands(program: Command, ctx: CliContext): void {
  const worktree = program.command("worktree").description("make and remove the git worktrees workers run in");
  const repoOption = ["--repo <dir>", "the git repository (default: the current directory's)"] as const;

  worktree
    .command("create")
    .description("create branch feature/<task-id> from BASE in <worktrees root>/<project>/<task-id>")
    .argument("<project>", "project name")
    .argument("<task-id>", "task id")
    .argument("<base>", "branch (or commit) to start from")
    .option(...repoOption)
    .action(async (project: string, taskId: string, base: string, opts: RepoOption) => {
      const repo = await openRepo(opts);
      const created = await createWorktree(repo, { worktreesRoot: ctx.paths.worktreesRoot, project, taskId }, base);
      print(`created ${created.path}`);
      print(`branch  ${created.branch} from ${created.base} (${created.baseCommit.slice(0, 10)})`);
    });

  worktree
    .command("list")
    .description("list the worktrees of a project (all projects when omitted)")
    .argument("[project]", "project name")
    .option(...repoOption)
    .option("--json", "print a JSON array")
    .action(async (project: string | undefined, opts: RepoOption & { json?: boolean }) => {
      const repo = await openRepo(opts);
      const worktrees = await listWorktrees(repo, ctx.paths.worktreesRoot, project);
      if (opts.json) printJson(worktrees);
      else if (worktrees.length === 0) print("no worktrees");
      else
        printTable(
          ["PROJECT", "TASK", "BRANCH", "PATH"],
          worktrees.map((w) => [w.project, w.task, w.branch ?? "(detached)", w.missing ? `${w.path} (missing)` : w.path]),
        );
    });

  worktree
    .command("status")
    .description("show a worktree's branch, commits ahead/behind its base, uncommitted files and last commit")
    .argument("<project>", "project name")
    .argument("<task-id>", "task id")
    .option(...repoOption)
    .option("--json", "print JSON")
    .action(async (project: string, taskId: string, opts: RepoOption & { json?: boolean }) => {
      const repo = await openRepo(opts);
      const status = await worktreeStatus(repo, { worktreesRoot: ctx.paths.worktreesRoot, project, taskId });
      if (opts.json) printJson(status);
      else printStatus(status);
    });

  worktree
    .command("remove")
    .description("remove a worktree and its branch; refuses uncommitted or unpushed work without --force")
    .argument("<project>", "project name")
    .argument("<task-id>", "task id")
    .option(...repoOption)
    .option("--force", "remove even with uncommitted changes or commits found on no other branch")
    .action(async (project: string, taskId: string, opts: RepoOption & { force?: boolean }) => {
      const repo = await openRepo(opts);
      const target = { worktreesRoot: ctx.paths.worktreesRoot, project, taskId };
      const removed = await removeWorktree(repo, target, opts.force ?? false);
      print(`removed ${removed.path}${removed.branch ? ` and branch ${removed.branch}` : ""}`);
    });

  worktree
    .command("prune")
    .description("forget worktrees whose directories are gone")
    .option(...repoOption)
    .action(async (opts: RepoOption) => {
      const repo = await openRepo(opts);
      const pruned = await pruneWorktrees(repo);
      if (pruned.length === 0) print("nothing to prune");
      for (const path of pruned) print(`pruned ${path}`);
    });
}
