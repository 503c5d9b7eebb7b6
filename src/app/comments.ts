import { TransitionConflictError } from "../core/errors.js";
import { newWorkerId } from "../core/names.js";
import { isTerminal } from "../core/states.js";
import type { Worker } from "../core/worker.js";
import { workerLogger, type Logger } from "../log/logger.js";
import { abandonStep, canQueueAgain, moveWorker, queueAgain } from "../store/moves.js";
import type { NewFollowUp } from "../store/store.js";
import {
  branchNameSchema,
  helpText,
  MAX_COMMANDS_PER_COMMENT,
  mayRunCommands,
  parseCommands,
  type CommandRequest,
  type ParsedCommand,
} from "./commands.js";
import type { AppDeps, Outcome } from "./deps.js";
import { commandKey, effects, type CommandInput, type EffectOrigin } from "./effects.js";
import type { RepositoryGitHub } from "./github.js";
import { workersOf } from "./pull-requests.js";
import { requestRework } from "./rework.js";
import { renderStatusTable, replySection } from "./status.js";

/** An `issue_comment.created` or `.edited` delivery, as the handler needs it. */
export interface IssueCommentEvent {
  deliveryId: string;
  action: "created" | "edited";
  repository: string;
  installationId: number | null;
  defaultBranch: string | undefined;
  issue: { number: number; title: string; body: string | null; isPullRequest: boolean };
  /** `editedAt`: when the comment was written or last edited (`updated_at`). */
  comment: { id: number; body: string; editedAt: string | undefined };
  /** `edited` only: the text before the edit (undefined when the edit left the text alone). */
  previousBody: string | undefined;
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
  /** Follow-ups to queue before the reply. */
  then?: NewFollowUp[];
}

/** What running a comment's commands left to do on GitHub, besides the reply. */
interface CommandContext {
  input: CommandInput;
  key: string;
  origin: EffectOrigin;
  github: RepositoryGitHub;
  log: Logger;
}

function failed(reply: string): CommandResult {
  return { ok: false, reply };
}

function sameRepository(worker: Worker, repository: string): boolean {
  return worker.repo !== null && worker.repo.toLowerCase() === repository.toLowerCase();
}

function describeIssue(issue: IssueCommentEvent["issue"]): string {
  const text = issue.body?.trim() ? `${issue.title.trim()}\n\n${issue.body.trim()}` : issue.title.trim();
  return text.length > DESCRIPTION_MAX ? `${text.slice(0, DESCRIPTION_MAX)}\n\n(description cut at ${DESCRIPTION_MAX} characters)` : text;
}

/**
 * A comment with `/worker` commands is recorded, and the delivery answered: nothing here calls
 * GitHub. The work is queued as follow-ups on the issue's lane: `eyes`, then the commands (the
 * permission check, each command, one reply, `rocket` or `confused`). A comment acts once: its
 * id and edit time name its follow-ups, so the same comment under other delivery ids adds
 * nothing, and an edit is a new command only when it changed the text. Comments from bots and
 * comments without commands change nothing.
 */
export async function onIssueComment(deps: AppDeps, event: IssueCommentEvent): Promise<Outcome> {
  if (event.byBot) return "ignored";
  if (event.action === "edited" && (event.previousBody === undefined || event.previousBody === event.comment.body)) return "ignored";
  const parsed = parseCommands(event.comment.body);
  if (parsed.length === 0) return "ignored";
  const key = commandKey(event.repository, event.comment.id, event.comment.editedAt, event.comment.body);
  const origin = { installationId: event.installationId, correlationId: event.deliveryId };
  const input: CommandInput = {
    repository: event.repository,
    defaultBranch: event.defaultBranch ?? null,
    issueNumber: event.issue.number,
    isPullRequest: event.issue.isPullRequest,
    description: describeIssue(event.issue),
    commentId: event.comment.id,
    author: event.author,
    lines: parsed.slice(0, MAX_COMMANDS_PER_COMMENT).map((c) => c.line.slice(0, 2000)),
    total: parsed.length,
    deliveryId: event.deliveryId,
  };
  const added = await deps.followUps.add([
    effects.react(event.repository, event.issue.number, event.comment.id, "eyes", key, origin),
    effects.command(input, key, origin),
  ]);
  if (added.length === 0) {
    deps.logger.info({ correlation_id: event.deliveryId, comment_id: event.comment.id }, "comment acted on before: ignored");
    return "duplicate";
  }
  return "handled";
}

/**
 * The `command` follow-up: a permission check through the API (write, maintain or admin, read
 * from `role_name`), each command in turn (store moves only), then one reply quoting each
 * command it answers and `rocket` when all succeeded or `confused` otherwise, both returned as
 * follow-ups. Run again (a restart while it ran), it finds its moves made by its delivery and
 * answers the same.
 */
export async function runComment(deps: AppDeps, input: CommandInput, key: string, origin: EffectOrigin, github: RepositoryGitHub): Promise<NewFollowUp[]> {
  const log = deps.logger.child({ correlation_id: input.deliveryId });
  const commands = input.lines.flatMap((line) => parseCommands(line));
  const react = (ok: boolean) => effects.react(input.repository, input.issueNumber, input.commentId, ok ? "rocket" : "confused", key, origin);
  const reply = (body: string) => effects.reply(input.repository, input.issueNumber, body, key, origin);

  const { role, permission } = await github.permission(input.author);
  if (!mayRunCommands(role, permission)) {
    log.info({ user: input.author, role, commands: commands.map((c) => c.definition?.name ?? "unknown") }, "command refused: no permission");
    const names = [...new Set(commands.map((c) => (c.definition ? `\`/worker ${c.definition.name}\`` : "`/worker` commands")))];
    const who = commands[0]?.definition?.whoMay ?? "people with write, maintain or admin access to the repository";
    const quoted = commands.map((c) => `> ${c.line}`).join("\n");
    return [
      reply(`${quoted}\n\n@${input.author}: ${names.join(", ")} may be used only by ${who} (${input.repository}); you have ${role || "no"} access. Nothing was done.`),
      react(false),
    ];
  }

  const context: CommandContext = { input, key, origin, github, log };
  const sections: string[] = [];
  const then: NewFollowUp[] = [];
  let ok = true;
  for (const command of commands) {
    const result = await runCommand(deps, context, command);
    ok &&= result.ok;
    if (result.reply !== undefined) sections.push(replySection(command.line, result.reply));
    then.push(...(result.then ?? []));
  }
  if (input.total > commands.length) {
    ok = false;
    sections.push(`Only the first ${MAX_COMMANDS_PER_COMMENT} commands of a comment are run; ${input.total - commands.length} more were not.`);
  }
  return [...then, ...(sections.length > 0 ? [reply(sections.join("\n\n---\n\n"))] : []), react(ok)];
}

async function runCommand(deps: AppDeps, context: CommandContext, command: ParsedCommand): Promise<CommandResult> {
  const request: CommandRequest | undefined = command.request;
  if (!request) return failed(command.problem ?? "not a command");
  const { input, log } = context;
  log.info({ user: input.author, command: request.command }, "command");
  switch (request.command) {
    case "help":
      return { ok: true, reply: helpText() };
    case "status":
      return { ok: true, reply: renderStatusTable(input.repository, await workersOf(deps, input.repository)) };
    case "spawn":
      return spawn(deps, context, request);
    case "retry":
      return retry(deps, context, request.workerId);
    case "terminate":
      return terminate(deps, context, request.workerId);
    case "rework":
      return requestRework(deps, {
        repository: input.repository,
        isPullRequest: input.isPullRequest,
        pullNumber: input.issueNumber,
        commentId: input.commentId,
        author: input.author,
        text: request.text,
        key: context.key,
      });
  }
}

function agentList(agents: readonly string[]): string {
  return agents.map((a) => `\`${a}\``).join(", ");
}

/** The status follow-up of a worker a command moved: its issue's comment follows the move. */
function statusOf(context: CommandContext, worker: Worker, created = false): NewFollowUp[] {
  if (worker.issueNumber === null) return [];
  const cause = created ? "created" : `command:${context.key}`;
  return [effects.status(worker.repo ?? context.input.repository, worker.issueNumber, worker.id, cause, context.origin, created)];
}

async function spawn(deps: AppDeps, context: CommandContext, request: Extract<CommandRequest, { command: "spawn" }>): Promise<CommandResult> {
  const { input } = context;
  if (input.isPullRequest) return failed("`/worker spawn` works on issues, not on pull requests.");
  const served = deps.served(input.repository);
  if (!served) {
    return failed(`No runner serves ${input.repository} here: start \`pw serve --repo DIR\` with a checkout of it. Nothing was queued.`);
  }
  const agent = request.agent ?? served.defaultAgent;
  if (agent === null) {
    return failed(
      `Which agent? ${input.repository} configures ${agentList(served.configuredAgents)} and none is the default: ` +
        `name one (\`/worker spawn AGENT\`), or set \`default_agent\` in .parallel-workers.yml. Nothing was queued.`,
    );
  }
  if (!served.agents.includes(agent)) {
    return failed(`Unknown agent \`${agent}\`: use one of ${agentList(served.agents)}.`);
  }
  const base = request.base ?? input.defaultBranch ?? undefined;
  const checkedBase = branchNameSchema.safeParse(base);
  if (!checkedBase.success) return failed("Cannot tell the base branch: pass `--base BRANCH`.");
  const taskId = `issue-${input.issueNumber}`;
  const active = (await workersOf(deps, input.repository)).find(
    (w) => !isTerminal(w.state) && (w.issueNumber === input.issueNumber || w.taskId?.toLowerCase() === taskId),
  );
  if (active && (await createdBy(deps, active, input.deliveryId))) {
    // this very command queued it before it was stopped: its status comment was queued with it
    // (the key adds nothing then); else it is queued now, looking for one made before
    const status = effects.status(active.repo ?? input.repository, input.issueNumber, active.id, "created", context.origin);
    return { ok: true, reply: undefined, then: [status] };
  }
  if (active) {
    return failed(`Issue #${input.issueNumber} already has worker \`${active.id}\` (${active.state}): \`/worker terminate ${active.id}\` first to start again.`);
  }
  let id = newWorkerId();
  while (await deps.store.getWorker(id)) id = newWorkerId();
  const worker = {
    id,
    taskId,
    repo: served.repository,
    issueNumber: input.issueNumber,
    agent,
    baseBranch: checkedBase.data,
    description: input.description,
    labels: [],
    dependsOn: [],
  };
  // the reply to a spawn is the worker's status comment, queued with the worker itself
  const status = effects.status(served.repository, input.issueNumber, id, "created", context.origin, true);
  await deps.store.createWorker(worker, {
    source: "command",
    correlationId: input.deliveryId,
    detail: `/worker spawn by @${input.author}`,
    followUps: [status],
  });
  return { ok: true, reply: undefined };
}

/** True when `deliveryId` created the worker (a command run again after a restart). */
async function createdBy(deps: AppDeps, worker: Worker, deliveryId: string): Promise<boolean> {
  return (await deps.store.history(worker.id))[0]?.correlationId === deliveryId;
}

/** True when the worker's last move was made by `deliveryId` (a command run again after a restart). */
async function lastMovedBy(deps: AppDeps, worker: Worker, deliveryId: string): Promise<boolean> {
  return (await deps.store.history(worker.id)).at(-1)?.correlationId === deliveryId;
}

/** The worker as read, when it is one of this repository's; the answer saying there is none otherwise. */
function ofRepository(worker: Worker | undefined, input: CommandInput, workerId: string): Worker | CommandResult {
  if (!worker || !sameRepository(worker, input.repository)) {
    return failed(`There is no worker \`${workerId}\` in ${input.repository}: see \`/worker status\`.`);
  }
  return worker;
}

async function workerOfRepository(deps: AppDeps, input: CommandInput, workerId: string): Promise<Worker | CommandResult> {
  return ofRepository(await deps.store.getWorker(workerId), input, workerId);
}

async function retry(deps: AppDeps, context: CommandContext, workerId: string): Promise<CommandResult> {
  const { input } = context;
  const found = await workerOfRepository(deps, input, workerId);
  if (!("id" in found)) return found;
  if (found.state === "NEEDS_INIT" && (await lastMovedBy(deps, found, input.deliveryId))) {
    return { ok: true, reply: `Worker \`${workerId}\` (task \`${found.taskId}\`) is queued again: a runner will start it.` };
  }
  if (!canQueueAgain(found.state)) {
    return failed(`Worker \`${workerId}\` is ${found.state}: only UNKNOWN or ABANDONED workers can be retried.`);
  }
  try {
    // what `pw worker retry` does: queue it again, free of its old claim, agent and error
    await queueAgain(deps.store, found, {
      source: "command",
      correlationId: input.deliveryId,
      detail: `/worker retry by @${input.author}`,
      followUps: statusOf(context, found),
    });
  } catch (error) {
    if (!(error instanceof TransitionConflictError)) throw error;
    return failed(`Worker \`${workerId}\` moved to ${error.actual} meanwhile; nothing was done.`);
  }
  return { ok: true, reply: `Worker \`${workerId}\` (task \`${found.taskId}\`) is queued again: a runner will start it.` };
}

async function terminate(deps: AppDeps, context: CommandContext, workerId: string): Promise<CommandResult> {
  const { input } = context;
  const wlog = workerLogger(deps.logger, { workerId, correlationId: input.deliveryId });
  const outcome = await moveWorker<CommandResult>(deps.store, workerId, async (read) => {
    const found = ofRepository(read, input, workerId);
    if (!("id" in found)) return { stop: found };
    if (found.state === "ABANDONED" && (await lastMovedBy(deps, found, input.deliveryId))) return { stop: { ok: true, reply: `Worker \`${workerId}\` is ABANDONED.` } };
    if (found.state === "WORKING") {
      // its agent runs on the runner's machine: the runner that owns it carries this out
      await deps.store.updateWorker(workerId, { request: "terminate" });
      wlog.info({ state: found.state, request: "terminate" }, "terminate requested");
      return { stop: { ok: true, reply: `Terminating worker \`${workerId}\`: its runner stops the agent, then it is ABANDONED (its worktree is kept).` } };
    }
    // no agent runs in NEEDS_INIT (one about to start sees the move and stops), PR_OPEN or UNKNOWN
    return (
      abandonStep(found, { source: "command", correlationId: input.deliveryId, detail: `/worker terminate by @${input.author}`, followUps: statusOf(context, found) }) ?? {
        stop: failed(`Worker \`${workerId}\` is already ${found.state}.`),
      }
    );
  });
  if (outcome.kind === "moved") return { ok: true, reply: `Worker \`${workerId}\` is ABANDONED.` };
  if (outcome.kind === "stopped") return outcome.result;
  return failed(`Worker \`${workerId}\` keeps moving; try again.`);
}
