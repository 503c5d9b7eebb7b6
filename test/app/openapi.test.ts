/**
 * The merge flow's REST calls against GitHub's own OpenAPI description (@octokit/openapi-types):
 * each route exists with its method, and the parameters and bodies `github.ts` sends are what
 * the description accepts. Checked by the compiler (`npm run typecheck` covers tests); the test
 * names the routes so a route dropped from `github.ts` is noticed here too.
 */
import type { components, operations, paths } from "@octokit/openapi-types";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

type Body<O extends keyof operations> = operations[O] extends { requestBody?: { content: { "application/json": infer B } } } ? B : never;

/** What `src/app/github.ts` sends, typed by GitHub's description: a wrong name or value fails to compile. */
const sent = {
  "PUT /repos/{owner}/{repo}/pulls/{pull_number}/update-branch": { expected_head_sha: "0".repeat(40) } satisfies Body<"pulls/update-branch">,
  "PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge": { merge_method: "squash", sha: "0".repeat(40) } satisfies Body<"pulls/merge">,
  "PATCH /repos/{owner}/{repo}/pulls/{pull_number}": { base: "main" } satisfies Body<"pulls/update">,
  "GET /repos/{owner}/{repo}/compare/{basehead}": { basehead: "main...feature/a" } satisfies Partial<operations["repos/compare-commits-with-basehead"]["parameters"]["path"]>,
  "GET /repos/{owner}/{repo}/rules/branches/{branch}": { branch: "main" } satisfies Partial<operations["repos/get-branch-rules"]["parameters"]["path"]>,
} as const;

// what the port reads of the answers
type Comparison = Pick<components["schemas"]["commit-comparison"], "status" | "ahead_by" | "behind_by" | "files">;
type AutoMerge = components["schemas"]["pull-request"]["auto_merge"];
type MergeQueueRule = Extract<components["schemas"]["repository-rule-detailed"], { type: "merge_queue" }>;
const read: { comparison: Comparison["status"][]; autoMerge: AutoMerge; rule: MergeQueueRule["type"] } = {
  comparison: ["diverged", "ahead", "behind", "identical"],
  autoMerge: null,
  rule: "merge_queue",
};

describe("the merge flow's REST calls, against GitHub's OpenAPI description", () => {
  const source = readFileSync(new URL("../../src/app/github.ts", import.meta.url), "utf8");

  it.each(Object.keys(sent))("%s is a route of the description, and github.ts makes it", (route) => {
    const [method, path] = route.split(" ") as [string, keyof paths];
    expect(source).toContain(`"${route}"`);
    // the path is a key of `paths` (checked when this file compiles), with this method
    const methods: Record<string, readonly string[]> = {
      "/repos/{owner}/{repo}/pulls/{pull_number}/update-branch": ["PUT"],
      "/repos/{owner}/{repo}/pulls/{pull_number}/merge": ["GET", "PUT"],
      "/repos/{owner}/{repo}/pulls/{pull_number}": ["GET", "PATCH"],
      "/repos/{owner}/{repo}/compare/{basehead}": ["GET"],
      "/repos/{owner}/{repo}/rules/branches/{branch}": ["GET"],
    } satisfies Partial<Record<keyof paths, readonly string[]>>;
    expect(methods[path]).toContain(method);
  });

  it("reads what the description answers", () => {
    expect(read.comparison).toContain("diverged");
    expect(read.rule).toBe("merge_queue");
  });
});
