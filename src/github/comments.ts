import type { GitHubClient } from "./octokit.js";

/**
 * Posts `body` on an issue or PR unless a comment there already holds `marker` (a second try
 * after a stop, or a round run again), so a comment is made once. Returns whether it posted.
 */
export async function ensureComment(client: GitHubClient, repository: string, issueNumber: number, body: string, marker: string): Promise<boolean> {
  const [owner, repo] = repository.split("/") as [string, string];
  const comments = await client.paginate(client.rest.issues.listComments, { owner, repo, issue_number: issueNumber, per_page: 100 });
  if (comments.some((comment) => (comment.body ?? "").includes(marker))) return false;
  await client.rest.issues.createComment({ owner, repo, issue_number: issueNumber, body: body.includes(marker) ? body : `${body}\n\n${marker}` });
  return true;
}
