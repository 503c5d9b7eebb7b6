import type { z } from "zod";
import { InvalidInputError } from "./errors.js";

/** Parses an outside value with `schema`; the first problem becomes a one-line InvalidInputError. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, what?: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  const message = `${where}${issue?.message ?? "invalid value"}`;
  throw new InvalidInputError(what ? `${what}: ${message}` : message);
}
