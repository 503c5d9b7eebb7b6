/**
 * The check `pw` makes before anything else: an older Node.js would fail later with an error
 * about some missing API instead of saying what is wrong.
 */

/** The "MAJOR.MINOR[.PATCH]" of an `engines.node` of the form ">=MAJOR.MINOR[.PATCH]". */
function minimumOf(enginesNode: string): number[] | undefined {
  const match = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(enginesNode.trim());
  return match ? match[1]!.split(".").map(Number) : undefined;
}

/** One line saying the running Node.js is too old for `enginesNode`; undefined when it is fine. */
export function nodeVersionProblem(running: string, enginesNode: string): string | undefined {
  const minimum = minimumOf(enginesNode);
  if (!minimum) return undefined;
  const have = running.replace(/^v/, "").split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const [a = 0, b = 0] = [have[i], minimum[i]];
    if (a > b) return undefined;
    if (a < b) return `needs Node.js ${minimum.join(".")} or newer, this is v${have.join(".")}: install a current LTS release and run pw with it`;
  }
  return undefined;
}
