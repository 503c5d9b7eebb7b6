/** What reviews of a PR add up to. Pure. */

/** A review as far as these rules read it. */
export interface ReviewState {
  /** As the API spells it: `APPROVED`, `CHANGES_REQUESTED`, `DISMISSED`, `COMMENTED`, `PENDING`. */
  state: string;
  author: string;
  authorIsBot?: boolean;
}

/** The review of each reviewer that stands: their latest approval, request for changes or dismissal (oldest first in, one each out). */
export function standingReviews<R extends ReviewState>(reviews: readonly R[]): R[] {
  const latest = new Map<string, R>();
  for (const review of reviews) {
    if (["APPROVED", "CHANGES_REQUESTED", "DISMISSED"].includes(review.state.toUpperCase())) latest.set(review.author.toLowerCase(), review);
  }
  return [...latest.values()];
}

/** How many people approve the PR now: reviewers (not bots) whose standing review is an approval. */
export function approvalCount(reviews: readonly ReviewState[]): number {
  return standingReviews(reviews).filter((r) => r.state.toUpperCase() === "APPROVED" && !r.authorIsBot).length;
}
