import { z } from "zod";

/** owner/name as GitHub spells it. */
export const repositorySlugSchema = z
  .string()
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/, "expected owner/name, like acme/web")
  .refine((value) => !(value.split("/")[1] ?? "").startsWith("."), "a repository name cannot start with '.'");

/**
 * The owner/name of a GitHub (or GitHub Enterprise) remote URL, in any of git's spellings:
 * `git@host:o/r.git`, `ssh://git@host/o/r.git`, `https://host/o/r(.git)`. Undefined otherwise.
 */
export function repositoryFromRemoteUrl(url: string): string | undefined {
  const text = url.trim();
  let path: string | undefined;
  const scp = /^[^/@\s]+@[^:/\s]+:(.+)$/.exec(text);
  if (scp) path = scp[1];
  else {
    try {
      const parsed = new URL(text);
      if (["https:", "http:", "ssh:", "git:"].includes(parsed.protocol)) path = parsed.pathname.replace(/^\//, "");
    } catch {
      return undefined;
    }
  }
  if (!path) return undefined;
  const slug = path.replace(/\.git$/, "").replace(/\/$/, "");
  return repositorySlugSchema.safeParse(slug).success ? slug : undefined;
}
