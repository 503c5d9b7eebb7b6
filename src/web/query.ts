/**
 * The status page's outside input, validated with zod before it touches the store: the worker id
 * in `/api/workers/:id` and the `state` / `repo` filters. A bad value is a `BadRequest` whose
 * message names it and says what to use.
 */
import { z } from "zod";
import { workerIdSchema } from "../core/names.js";
import { repositorySlugSchema } from "../core/repository.js";
import { WORKER_STATES } from "../core/states.js";
import type { Filters } from "./view.js";

export class BadRequest extends Error {}

/** An empty value (`?state=` from the "all" option of a select) means no filter. */
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === "" ? undefined : value), schema.optional());

const filtersSchema = z.object({
  state: optional(
    z.enum(WORKER_STATES, {
      error: (issue) => `unknown state ${JSON.stringify(issue.input)}: use one of ${WORKER_STATES.join(", ")}`,
    }),
  ),
  repo: optional(repositorySlugSchema),
});

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  return `${where}${issue?.message ?? "invalid value"}`;
}

/** Shown back to the caller, so kept short. */
function shown(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
}

/**
 * The filters of a query string. `allowed` names other parameters the route takes (read by the
 * caller); any other parameter, or one given twice, is refused rather than ignored.
 */
export function parseFilters(params: URLSearchParams, allowed: readonly string[] = []): Filters {
  const known = new Set(["state", "repo", ...allowed]);
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (!known.has(key)) throw new BadRequest(`unknown query parameter ${shown(key)}: use ${[...known].join(" or ")}`);
    if (seen.has(key)) throw new BadRequest(`query parameter "${key}" is given more than once`);
    seen.add(key);
  }
  const result = filtersSchema.safeParse({ state: params.get("state") ?? undefined, repo: params.get("repo") ?? undefined });
  if (!result.success) throw new BadRequest(firstIssue(result.error));
  const filters: Filters = {};
  if (result.data.state) filters.state = result.data.state;
  if (result.data.repo) filters.repo = result.data.repo;
  return filters;
}

export function parseWorkerIdParam(value: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    throw new BadRequest(`worker id ${shown(value)} is not valid: expected "worker-" and 6 lowercase letters or digits`);
  }
  const result = workerIdSchema.safeParse(decoded);
  if (!result.success) throw new BadRequest(firstIssue(result.error));
  return result.data;
}

/** The query string for `filters` ("" or "?state=...&repo=..."), for links and redirects. */
export function filterQuery(filters: Filters): string {
  const params = new URLSearchParams();
  if (filters.state) params.set("state", filters.state);
  if (filters.repo) params.set("repo", filters.repo);
  const text = params.toString();
  return text ? `?${text}` : "";
}
