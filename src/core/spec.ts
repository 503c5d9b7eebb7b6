import { z } from "zod";
import { InvalidInputError } from "./errors.js";
import { taskIdSchema } from "./names.js";

const taskSchema = z
  .object({
    id: taskIdSchema,
    description: z.string().trim().min(1, "must not be empty").max(2000),
    // the repository's default agent when not given
    agent: z.string().min(1).optional(),
    base_branch: z
      .string()
      .min(1)
      .refine((b) => !b.startsWith("-"), "must not start with '-'")
      // the repository's default branch when not given
      .optional(),
    labels: z.array(z.string().min(1).max(50)).default([]),
    milestone: z.string().min(1, "must not be empty").optional(),
    depends_on: z.array(taskIdSchema).default([]),
    /** With one unmerged dependency: start from its branch once it has a PR, and open a PR stacked on it (`merge_flow.stack` when not given). */
    stack: z.boolean().optional(),
  })
  .strict();

export const taskSpecSchema = z
  .object(
    {
      /** Default milestone for the tasks below. */
      milestone: z.string().min(1, "must not be empty").optional(),
      tasks: z.array(taskSchema).min(1, "lists no tasks"),
    },
    { error: (issue) => (issue.code === "invalid_type" ? "expected a mapping with a tasks: list, like the example `pw init` writes" : undefined) },
  )
  .strict();

/** A key left out is "required", not zod's "expected string, received undefined". */
const requiredKeys: z.core.ParseContext<z.core.$ZodIssue>["error"] = (issue) =>
  issue.code === "invalid_type" && issue.input === undefined ? "required" : undefined;

/** A task as validated: its agent is filled in from the repository's default when it named none. */
export type TaskSpecEntry = z.infer<typeof taskSchema> & { agent: string };
export type TaskSpec = Omit<z.infer<typeof taskSpecSchema>, "tasks"> & { tasks: TaskSpecEntry[] };

/** A spec with problems: every one is listed, nothing is created. */
export class SpecError extends InvalidInputError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.length} problem${problems.length === 1 ? "" : "s"}, nothing was created`);
  }
}

export interface SpecContext {
  /** Agent names the configuration knows. */
  agents: readonly string[];
  /** Task ids of existing workers that a task may depend on. */
  existingTaskIds: ReadonlySet<string>;
  /** The agent of a task that names none (`default_agent`); null when the repository has no default. */
  defaultAgent: string | null;
}

function pathOf(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("").replace(/^\./, "");
}

/**
 * What the semantic checks read of one task, field by field: a task with a shape problem (a bad
 * description, an unknown key) still has its id, agent and dependencies checked with the others.
 */
interface TaskView {
  index: number;
  /** Undefined when the id itself is malformed (reported as a shape problem). */
  id: string | undefined;
  agent: string | undefined;
  /** The task has an agent key (well formed or not). */
  agentGiven: boolean;
  dependsOn: Array<{ id: string; at: number }>;
}

function taskViews(data: unknown): TaskView[] {
  const tasks = isRecord(data) && Array.isArray(data.tasks) ? (data.tasks as unknown[]) : [];
  return tasks.map((raw, index) => {
    const entry = isRecord(raw) ? raw : {};
    const id = taskIdSchema.safeParse(entry.id);
    const agent = taskSchema.shape.agent.safeParse(entry.agent);
    const deps = Array.isArray(entry.depends_on) ? (entry.depends_on as unknown[]) : [];
    return {
      index,
      id: id.success ? id.data : undefined,
      agent: agent.success ? agent.data : undefined,
      agentGiven: entry.agent !== undefined,
      dependsOn: deps.flatMap((dep, at) => (taskIdSchema.safeParse(dep).success ? [{ id: dep as string, at }] : [])),
    };
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Finds one dependency cycle among `tasks`, as the ids along it, or undefined. */
function findCycle(tasks: TaskView[]): string[] | undefined {
  // first occurrence wins: a repeated id is reported on its own
  const deps = new Map<string, string[]>();
  const names = new Map<string, string>();
  for (const t of tasks) {
    if (t.id === undefined) continue;
    const id = t.id.toLowerCase();
    if (deps.has(id)) continue;
    deps.set(id, t.dependsOn.map((d) => d.id.toLowerCase()).filter((d) => d !== id));
    names.set(id, t.id);
  }
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === "done") return undefined;
    if (state.get(id) === "visiting") return [...stack.slice(stack.indexOf(id)), id].map((k) => names.get(k) ?? k);
    state.set(id, "visiting");
    stack.push(id);
    for (const dep of deps.get(id) ?? []) {
      if (!deps.has(dep)) continue;
      const cycle = visit(dep);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(id, "done");
    return undefined;
  };
  for (const id of deps.keys()) {
    const cycle = visit(id);
    if (cycle) return cycle;
  }
  return undefined;
}

/** The message for a dependency that names no task, shared by `spawn-batch` and `spawn --depends-on`. */
export function unknownDependency(dep: string, here: string): string {
  return `unknown task "${dep}" (not ${here} and no worker of this repository has it)`;
}

/**
 * Validates a whole task spec before anything is created, and lists every problem at once, each
 * with its key path: shape and ids, duplicate ids (branch names are lowercase, so TASK-1 and
 * task-1 clash), unknown agents, unknown or cyclic dependencies.
 */
export function parseTaskSpec(data: unknown, file: string, context: SpecContext): TaskSpec {
  const parsed = taskSpecSchema.safeParse(data ?? {}, { error: requiredKeys });
  const problems = parsed.success ? [] : parsed.error.issues.map((issue) => `${pathOf(issue.path) || "(top level)"}: ${issue.message}`);
  const tasks = taskViews(data);
  const seen = new Map<string, number>();
  const ids = new Set(tasks.flatMap((t) => (t.id === undefined ? [] : [t.id.toLowerCase()])));
  const existing = new Set([...context.existingTaskIds].map((id) => id.toLowerCase()));
  for (const task of tasks) {
    const i = task.index;
    const key = task.id?.toLowerCase();
    if (key !== undefined) {
      const first = seen.get(key);
      if (first !== undefined) problems.push(`tasks[${i}].id: "${task.id}" repeats the id of tasks[${first}]`);
      else seen.set(key, i);
    }
    if (task.agent === undefined && task.agentGiven) {
      // a malformed agent is a shape problem, listed already
    } else if (task.agent === undefined && context.defaultAgent === null) {
      problems.push(`tasks[${i}].agent: required: this repository has several agents and no default_agent; use one of ${context.agents.join(", ")}`);
    } else if (task.agent !== undefined && !context.agents.includes(task.agent)) {
      problems.push(`tasks[${i}].agent: unknown agent "${task.agent}": use one of ${context.agents.join(", ")}`);
    }
    for (const dep of task.dependsOn) {
      const depKey = dep.id.toLowerCase();
      if (depKey === key) problems.push(`tasks[${i}].depends_on[${dep.at}]: "${task.id}" cannot depend on itself`);
      else if (!ids.has(depKey) && !existing.has(depKey)) {
        problems.push(`tasks[${i}].depends_on[${dep.at}]: ${unknownDependency(dep.id, "in this file")}`);
      }
    }
  }
  const cycle = findCycle(tasks);
  if (cycle) problems.push(`depends_on: cycle ${cycle.join(" -> ")}`);
  if (problems.length > 0 || !parsed.success) throw new SpecError(file, problems);
  return { ...parsed.data, tasks: parsed.data.tasks.map((task) => ({ ...task, agent: task.agent ?? context.defaultAgent! })) };
}
