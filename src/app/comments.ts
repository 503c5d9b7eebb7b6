import { TransitionConflictError } from "../core/errors.js";
import { newWorkerId } from "../core/names.js";
import { isTerminal } from "../core/states.js";
import { RETRY_RESET, RETRYABLE_STATES, type Worker } from "../core/worker.js";
import { workerLogger, type Logger } from "../log/logger.js";
import {
  branchNameSchema,
  helpText,
  MAX_COMMANDS_PER_COMMENT,
  mayRunCommands,
  parseCommands,
  type CommandRequest,
  type ParsedCommand,
} from "./commands.js";
import { DEFAULT_AGENT, type AppDeps, type Outcome } from "./deps.js";
import type { RepositoryGitHub } from "./github.js";
import { workersOf } from "./pull-requests.js";
import { renderStatusTable, replySection } from "./status.js";

/** An `issue_comment.created` delivery, as the handler needs it. */
export interface IssueCommentEvent {
  deliveryId: string;
  repository: string;
  defaultBranch: string | undefined;
  issue: { number: number; title: string; body: string | null; isPullRequest: boolean };
  comment: { id: number; body: string };
  /** Who wrote the comment. */
  author: string;
  /** True when a bot (the app itself included) wrote it. */
  byBot: boolean;
}

/** Issue bodies can be long; an agent's prompt is one argv element, so the description is capped. */
const DESCRIPTION_MAX = 16_000;

interface CommandResult {
  ok: boolean;
  /** Reply text; undefined when the command's reply is elsewhere (the status comment). */
  reply: string | undefined;
}

function failed(reply: string): CommandResult {
  return { ok: false, reply };
}

function sameRepository(worker: Worker, repository: string): boolean {
  return worker.repo !== null && worker.repo.toLowerCase() === repository.toLowerCase();
}

/**
 * Runs the `/worker` commands of a comment: `eyes` on receipt, a permission check through the
 * API (write, maintain or admin, read from `role_name`), each command in turn, one reply that
 * quotes each command it answers, then `rocket` when all succeeded or `confused` otherwise.
 * Comments from bots and comments without commands change nothing and call nothing.
 */
export async function onIssueComment(deps: AppDeps, event: IssueCommentEvent, github: RepositoryGitHub): Promise<Outcome> {
  if (event.byBot) return "ignored";
  const parsed = parseCommands(event.comment.body);
  if (parsed.length === 0) return "ignored";
  const log = deps.logger.child({ correlation_id: event.deliveryId });
  const commands = parsed.slice(0, MAX_COMMANDS_PER_COMMENT);
  await github.react(event.comment.id, "eyes");

  const { role, permission } = await github.permission(event.author);
  if (!mayRunCommands(role, permission)) {
    log.info({ user: event.author, role, commands: commands.map((c) => c.definition?.name ?? "unknown") }, "command refused: no permission");
    const names = [...new Set(commands.map((c) => (c.definition ? `\`/worker ${c.definition.name}\`` : "`/worker` commands")))];
    const who = commands[0]?.definition?.whoMay ?? "people with write, maintain or admin access to the repository";
    const quoted = commands.map((c) => `> ${c.line}`).join("\n");
    await github.comment(
      event.issue.number,
      `${quoted}\n\n@${event.author}: ${names.join(", ")} may be used only by ${who} (${event.repository}); you have ${role || "no"} access. Nothing was done.`,
    );
    await github.react(event.comment.id, "confused");
    return "handled";
  }

  const sections: string[] = [];
  let ok = true;
  for (const command of commands) {
    const result = await runCommand(deps, event, github, command, log);
    ok &&= result.ok;
    if (result.reply !== undefined) sections.push(replySection(command.line, result.reply));
  }
  if (parsed.length > commands.length) {
    ok = false;
    sections.push(`Only the first ${MAX_COMMANDS_PER_COMMENT} commands of a comment are run; ${parsed.length - commands.length} more were not.`);
  }
  if (sections.length > 0) await github.comment(event.issue.number, sections.join("\n\n---\n\n"));
  await github.react(event.comment.id, ok ? "rocket" : "confused");
  return "handled";
}

async function runCommand(
  deps: AppDeps,
  event: IssueCommentEvent,
  github: RepositoryGitHub,
  command: ParsedCommand,
  log: Logger,
): Promise<CommandResult> {
  const request: CommandRequest | undefined = command.request;
  if (!request) return failed(command.problem ?? "not a command");
  log.info({ user: event.author, command: request.command }, "command");
  switch (request.command) {
    case "help":
      return { ok: true, reply: helpText() };
    case "status":
      return { ok: true, reply: renderStatusTable(event.repository, workersOf(deps, event.repository)) };
    case "spawn":
      return spawn(deps, event, github, request, log);
    case "retry":
      return retry(deps, event, github, request.workerId);
    case "terminate":
      return terminate(deps, event, github, request.workerId);
  }
}

async function spawn(
  deps: AppDeps,
  event: IssueCommentEvent,
  github: RepositoryGitHub,
  request: Extract<CommandRequest, { command: "spawn" }>,
  log: Logger,
): Promise<CommandResult> {
  if (event.issue.isPullRequest) return failed("`/worker spawn` works on issues, not on pull requests.");
  const served = deps.served(event.repository);
  if (!served) {
    return failed(`No runner serves ${event.repository} here: start \`pw serve --repo DIR\` with a checkout of it. Nothing was queued.`);
  }
  const agent = request.agent ?? DEFAULT_AGENT;
  if (!served.agents.includes(agent)) {
    return failed(`Unknown agent \`${agent}\`: use one of ${served.agents.map((a) => `\`${a}\``).join(", ")}.`);
  }
  const base = request.base ?? event.defaultBranch;
  const checkedBase = branchNameSchema.safeParse(base);
  if (!checkedBase.success) return failed("Cannot tell the base branch: pass `--base BRANCH`.");
  const taskId = `issue-${event.issue.number}`;
  const active = workersOf(deps, event.repository).find(
    (w) => !isTerminal(w.state) && (w.issueNumber === event.issue.number || w.taskId?.toLowerCase() === taskId),
  );
  if (active && createdBy(deps, active, event.deliveryId)) {
    // this very delivery queued it before failing later: finish what it started
    await deps.statusComments.ensure(active.id, github).catch(() => undefined);
    return { ok: true, reply: undefined };
  }
  if (active) {
    return failed(`Issue #${event.issue.number} already has worker \`${active.id}\` (${active.state}): \`/worker terminate ${active.id}\` first to start again.`);
  }
  let id = newWorkerId();
  while (deps.store.getWorker(id)) id = newWorkerId();
  const text = event.issue.body?.trim() ? `${event.issue.title.trim()}\n\n${event.issue.body.trim()}` : event.issue.title.trim();
  const description = text.length > DESCRIPTION_MAX ? `${text.slice(0, DESCRIPTION_MAX)}\n\n(description cut at ${DESCRIPTION_MAX} characters)` : text;
  const worker = deps.store.createWorker(
    {
      id,
      taskId,
      repo: served.repository,
      issueNumber: event.issue.number,
      agent,
      baseBranch: checkedBase.data,
      description,
      labels: [],
      dependsOn: [],
    },
    { source: "command", correlationId: event.deliveryId, detail: `/worker spawn by @${event.author}` },
  );
  try {
    await deps.statusComments.ensure(worker.id, github, { created: true });
    return { ok: true, reply: undefined };
  } catch (error) {
    log.warn({ worker_id: id, err_message: (error as Error).message.split("\n")[0] }, "status comment not created; the watcher retries");
    return { ok: true, reply: `Queued worker \`${id}\` (task \`${taskId}\`, agent \`${agent}\`, base \`${checkedBase.data}\`).` };
  }
}

/** True when `deliveryId` created the worker (a redelivery of a spawn that failed half-way). */
function createdBy(deps: AppDeps, worker: Worker, deliveryId: string): boolean {
  return deps.store.history(worker.id)[0]?.correlationId === deliveryId;
}

/** True when the worker's last move was made by `deliveryId` (a redelivery after a partial failure). */
function lastMovedBy(deps: AppDeps, worker: Worker, deliveryId: string): boolean {
  return deps.store.history(worker.id).at(-1)?.correlationId === deliveryId;
}

function workerOfRepository(deps: AppDeps, event: IssueCommentEvent, workerId: string): Worker | CommandResult {
  const worker = deps.store.getWorker(workerId);
  if (!worker || !sameRepository(worker, event.repository)) {
    return failed(`There is no worker \`${workerId}\` in ${event.repository}: see \`/worker status\`.`);
  }
  return worker;
}

async function afterMove(deps: AppDeps, github: RepositoryGitHub, worker: Worker, deliveryId: string): Promise<void> {
  await deps.statusComments.ensure(worker.id, github).catch((error: Error) => {
    deps.logger.warn({ worker_id: worker.id, correlation_id: deliveryId, err_message: error.message.split("\n")[0] }, "status comment not updated");
  });
}

async function retry(deps: AppDeps, event: IssueCommentEvent, github: RepositoryGitHub, workerId: string): Promise<CommandResult> {
  const found = workerOfRepository(deps, event, workerId);
  if (!("id" in found)) return found;
  if (found.state === "NEEDS_INIT" && lastMovedBy(deps, found, event.deliveryId)) {
    return { ok: true, reply: `Worker \`${workerId}\` (task \`${found.taskId}\`) is queued again: a runner will start it.` };
  }
  if (!RETRYABLE_STATES.includes(found.state)) {
    return failed(`Worker \`${workerId}\` is ${found.state}: only UNKNOWN or ABANDONED workers can be retried.`);
  }
  let worker: Worker;
  try {
    // what `pw worker retry` does: queue it again, free of its old claim, agent and error
    worker = deps.store.transition(workerId, found.state, "NEEDS_INIT", {
      source: "command",
      correlationId: event.deliveryId,
      detail: `/worker retry by @${event.author}`,
      patch: RETRY_RESET,
    });
  } catch (error) {
    if (!(error instanceof TransitionConflictError)) throw error;
    return failed(`Worker \`${workerId}\` moved to ${error.actual} meanwhile; nothing was done.`);
  }
  await afterMove(deps, github, worker, event.deliveryId);
  return { ok: true, reply: `Worker \`${workerId}\` (task \`${worker.taskId}\`) is queued again: a runner will start it.` };
}

async function terminate(deps: AppDeps, event: IssueCommentEvent, github: RepositoryGitHub, workerId: string): Promise<CommandResult> {
  const wlog = workerLogger(deps.logger, { workerId, correlationId: event.deliveryId });
  for (let attempt = 0; attempt < 4; attempt++) {
    const found = workerOfRepository(deps, event, workerId);
    if (!("id" in found)) return found;
    if (found.state === "ABANDONED" && lastMovedBy(deps, found, event.deliveryId)) return { ok: true, reply: `Worker \`${workerId}\` is ABANDONED.` };
    if (isTerminal(found.state)) return failed(`Worker \`${workerId}\` is already ${found.state}.`);
    if (found.state === "WORKING") {
      // its agent runs on the runner's machine: the runner that owns it carries this out
      deps.store.updateWorker(workerId, { request: "terminate" });
      wlog.info({ state: found.state, request: "terminate" }, "terminate requested");
      return { ok: true, reply: `Terminating worker \`${workerId}\`: its runner stops the agent, then it is ABANDONED (its worktree is kept).` };
    }
    // no agent runs in NEEDS_INIT (one about to start sees the move and stops), PR_OPEN or UNKNOWN
    try {
      const worker = deps.store.transition(workerId, found.state, "ABANDONED", {
        source: "command",
        correlationId: event.deliveryId,
        detail: `/worker terminate by @${event.author}`,
        patch: { request: null },
      });
      await afterMove(deps, github, worker, event.deliveryId);
      return { ok: true, reply: `Worker \`${workerId}\` is ABANDONED.` };
    } catch (error) {
      if (!(error instanceof TransitionConflictError)) throw error;
    }
  }
  return failed(`Worker \`${workerId}\` keeps moving; try again.`);
}
