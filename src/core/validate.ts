import { parse as parseYaml } from "yaml";
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

/** Parses the YAML text of `file`; a syntax error becomes one line naming the file and line. */
export function parseYamlText(text: string, file: string): unknown {
  try {
    return parseYaml(text);
  } catch (error) {
    const line = (error as { linePos?: Array<{ line: number }> }).linePos?.[0]?.line;
    // the line is said once, after the file name, as compilers do
    const message = ((error as Error).message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
    throw new InvalidInputError(`${file}${line ? `:${line}` : ""}: not valid YAML: ${message}`);
  }
}
