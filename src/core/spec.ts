import { z } from "zod";
import { InvalidInputError } from "./errors.js";
import { taskIdSchema } from "./names.js";

const taskSchema = z
  .object({
    id: taskIdSchema,
    description: z.string().trim().min(1, "must not be empty").max(2000),
    agent: z.string().min(1).default("code-author"),
    base_branch: z
      .string()
      .min(1)
      .refine((b) => !b.startsWith("-"), "must not start with '-'")
      // the repository's default branch when not given
      .optional(),
    labels: z.array(z.string().min(1).max(50)).default([]),
    milestone: z.string().min(1).optional(),
    depends_on: z.array(z.string()).default([]),
  })
  .strict();

export const taskSpecSchema = z
  .object({
    /** Default milestone for the tasks below. */
    milestone: z.string().min(1).optional(),
    tasks: z.array(taskSchema).min(1, "lists no tasks"),
  })
  .strict();

export type TaskSpec = z.infer<typeof taskSpecSchema>;
export type TaskSpecEntry = z.infer<typeof taskSchema>;

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
}

function pathOf(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("").replace(/^\./, "");
}

/** Finds one dependency cycle among `tasks`, as the ids along it, or undefined. */
function findCycle(tasks: TaskSpecEntry[]): string[] | undefined {
  // first occurrence wins: a repeated id is reported on its own
  const deps = new Map<string, string[]>();
  const names = new Map<string, string>();
  for (const t of tasks) {
    const id = t.id.toLowerCase();
    if (deps.has(id)) continue;
    deps.set(id, t.depends_on.map((d) => d.toLowerCase()).filter((d) => d !== id));
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

/**
 * Validates a whole task spec before anything is created: shape, ids, duplicate ids (branch names
 * are lowercase, so TASK-1 and task-1 clash), unknown agents, unknown or cyclic dependencies.
 */
export function parseTaskSpec(data: unknown, file: string, context: SpecContext): TaskSpec {
  const parsed = taskSpecSchema.safeParse(data ?? {});
  if (!parsed.success) {
    throw new SpecError(
      file,
      parsed.error.issues.map((issue) => `${pathOf(issue.path) || "(top level)"}: ${issue.message}`),
    );
  }
  const spec = parsed.data;
  const problems: string[] = [];
  const seen = new Map<string, number>();
  const ids = new Set(spec.tasks.map((t) => t.id.toLowerCase()));
  const existing = new Set([...context.existingTaskIds].map((id) => id.toLowerCase()));
  spec.tasks.forEach((task, i) => {
    const key = task.id.toLowerCase();
    const first = seen.get(key);
    if (first !== undefined) problems.push(`tasks[${i}].id: "${task.id}" repeats the id of tasks[${first}]`);
    else seen.set(key, i);
    if (!context.agents.includes(task.agent)) {
      problems.push(`tasks[${i}].agent: unknown agent "${task.agent}": use one of ${context.agents.join(", ")}`);
    }
    task.depends_on.forEach((dep, j) => {
      const depKey = dep.toLowerCase();
      if (depKey === key) problems.push(`tasks[${i}].depends_on[${j}]: "${task.id}" cannot depend on itself`);
      else if (!ids.has(depKey) && !existing.has(depKey)) {
        problems.push(`tasks[${i}].depends_on[${j}]: unknown task "${dep}" (not in this file and no worker has it)`);
      }
    });
  });
  const cycle = findCycle(spec.tasks);
  if (cycle) problems.push(`depends_on: cycle ${cycle.join(" -> ")}`);
  if (problems.length > 0) throw new SpecError(file, problems);
  return spec;
}
