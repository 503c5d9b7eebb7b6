import picomatch from "picomatch";

/**
 * A matcher for repository paths (POSIX, relative). Dotfiles match like any file, and a pattern
 * without "/" matches in every directory (`*.pem` is `**\/*.pem`), as in `.gitignore`.
 * (picomatch's own `basename` option also rewrites patterns that do have a "/", so it is not used.)
 */
export function pathMatcher(patterns: readonly string[], options: { nocase?: boolean } = {}): (path: string) => boolean {
  if (patterns.length === 0) return () => false;
  const anywhere = patterns.map((pattern) => (pattern.includes("/") ? pattern : `**/${pattern}`));
  return picomatch(anywhere, { dot: true, nocase: options.nocase ?? false });
}
