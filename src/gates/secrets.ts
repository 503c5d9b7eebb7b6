import { parseUnifiedDiff, type AddedLine, type DiffFile } from "./diff.js";
import { pathMatcher } from "./globs.js";

/** What the scanner looks for; the id is what a finding, an annotation and the docs call it. */
export const SECRET_RULES = {
  "aws-access-key-id": "AWS access key id",
  "aws-secret-access-key": "AWS secret access key",
  "github-token": "GitHub token",
  "slack-token": "Slack token",
  "slack-webhook": "Slack incoming webhook URL",
  "stripe-live-key": "Stripe live secret key",
  "google-api-key": "Google API key",
  "private-key": "private key block",
  jwt: "JSON Web Token",
  "npm-token": "npm access token",
  "generic-secret": "high-entropy value assigned to a secret-like name",
} as const;
export type SecretRuleId = keyof typeof SECRET_RULES;
export const SECRET_RULE_IDS = Object.keys(SECRET_RULES) as SecretRuleId[];

/** A comment that tells the scanner a line is fine as it is (a test fixture, a public key). */
export const ALLOW_SECRET_MARKER = "pw:allow-secret";

/**
 * One secret found on an added line. It never holds the secret: only where it is, what kind it
 * is, and a preview of at most its first 4 characters followed by an ellipsis.
 */
export interface SecretFinding {
  rule: SecretRuleId;
  path: string;
  /** Line number in the new file, 1-based. */
  line: number;
  /** Column of the first character of the value, 1-based. */
  column: number;
  preview: string;
}

/** A match inside this module only: `value` must not leave it. */
interface Match {
  rule: SecretRuleId;
  start: number;
  end: number;
  value: string;
}

/** At most the first 4 characters, fewer for a short value, so a preview never gives much away. */
export function redact(value: string): string {
  const shown = Math.min(4, Math.floor(value.length / 4));
  return `${value.slice(0, shown)}…`;
}

/** Shannon entropy of `value` in bits per character. */
export function shannonEntropy(value: string): number {
  if (value.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of value) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const count of counts.values()) {
    const p = count / value.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

function distinctChars(value: string): number {
  return new Set(value).size;
}

/** Longest run of characters that each follow the previous one ("abcd", "1234"). */
function longestAscendingRun(value: string): number {
  let best = 1;
  let run = 1;
  for (let i = 1; i < value.length; i++) {
    run = value.charCodeAt(i) === value.charCodeAt(i - 1) + 1 ? run + 1 : 1;
    if (run > best) best = run;
  }
  return best;
}

/** Filler in a token-shaped value: vendors' examples, runs of one character, alphabets. */
function looksFilled(body: string): boolean {
  if (/example|sample|dummy|placeholder|redacted|(.)\1{5}/i.test(body)) return true;
  if (longestAscendingRun(body) >= 8) return true;
  return body.length >= 16 && distinctChars(body) < 6;
}

// ---------------------------------------------------------------------------------------------
// Token-shaped secrets: each has a vendor prefix or a fixed layout.

interface TokenDetector {
  rule: SecretRuleId;
  pattern: RegExp;
  /** Which group is the secret; 0 (the whole match) unless set. */
  group?: number;
  accept?: (value: string) => boolean;
}

function decodesToJwtHeader(segment: string): boolean {
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
    return typeof header === "object" && header !== null && typeof (header as { alg?: unknown }).alg === "string";
  } catch {
    return false;
  }
}

const TOKEN_DETECTORS: readonly TokenDetector[] = [
  {
    rule: "aws-access-key-id",
    pattern: /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}(?![A-Za-z0-9])/g,
    accept: (value) => !looksFilled(value.slice(4)),
  },
  {
    rule: "github-token",
    pattern: /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{70,240})(?![A-Za-z0-9_])/g,
    accept: (value) => !looksFilled(value.slice(value.indexOf("_") + 1)),
  },
  {
    rule: "slack-token",
    pattern:
      /(?<![A-Za-z0-9-])(?:xox[abposr]-[0-9]{6,15}-[0-9A-Za-z-]{8,250}|xapp-[0-9]-[A-Z0-9]{6,15}-[0-9]{6,15}-[a-f0-9]{20,128})(?![A-Za-z0-9-])/g,
    accept: (value) => !looksFilled(value.slice(5)),
  },
  {
    rule: "slack-webhook",
    pattern: /https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_/-]{20,200}/g,
    accept: (value) => {
      const last = value.split("/").filter(Boolean).at(-1) ?? "";
      return last.length >= 16 && !looksFilled(value.slice(value.indexOf(".com/") + 5));
    },
  },
  {
    rule: "stripe-live-key",
    pattern: /(?<![A-Za-z0-9_])(?:sk|rk)_live_[0-9A-Za-z]{20,247}(?![0-9A-Za-z])/g,
    accept: (value) => !looksFilled(value.slice(8)),
  },
  {
    rule: "google-api-key",
    pattern: /(?<![A-Za-z0-9_+/-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g,
    accept: (value) => !looksFilled(value.slice(4)),
  },
  {
    rule: "jwt",
    pattern: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{10,2000}\.eyJ[A-Za-z0-9_-]{10,8000}\.[A-Za-z0-9_-]{16,1000}(?![A-Za-z0-9_-])/g,
    accept: (value) => {
      const [header, , signature] = value.split(".");
      return decodesToJwtHeader(header!) && !looksFilled(signature!);
    },
  },
  {
    rule: "npm-token",
    pattern: /(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9_])/g,
    accept: (value) => !looksFilled(value.slice(4)),
  },
  {
    // .npmrc: `//registry.npmjs.org/:_authToken=...` (legacy tokens are UUIDs) or `_auth=base64`
    rule: "npm-token",
    pattern: /(?<![A-Za-z0-9])_auth(?:Token)?\s*=\s*["']?([^\s"'#;]{16,512})/g,
    group: 1,
    accept: (value) => !value.startsWith("$") && !isPlaceholder(value) && shannonEntropy(value) >= 3,
  },
];

// A cheap test per line before the real detectors run: most lines of code contain none of these.
const TOKEN_TRIGGER = /AKIA|ASIA|ABIA|ACCA|A3T|gh[pousr]_|github_pat_|xox[abposr]-|xapp-|hooks\.slack\.com|_live_|AIza|eyJ|npm_|_auth/;
const GENERIC_TRIGGER = /pass|pwd|secret|token|key|credential/i;
const PRIVATE_KEY_HEADER = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY(?: BLOCK)?-----/g;

// ---------------------------------------------------------------------------------------------
// Generic secrets: a value with enough entropy assigned to a name that says "secret".

/** Words of an identifier: `DB_PASSWORD`, `clientSecret`, `x-api-key`, `APIKey` -> lower-case words. */
function identifierWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((word) => word.toLowerCase());
}

const SECRET_WORDS = new Set(["password", "passwd", "passphrase", "pwd", "pass", "secret", "token", "credential", "credentials"]);
const SECRET_WORD_ENDINGS = ["password", "passwd", "secret", "token", "apikey", "secretkey", "accesskey", "privatekey"];
const KEY_QUALIFIERS = new Set(["api", "access", "secret", "private", "auth", "client", "signing", "encryption", "master"]);
// A name with one of these words holds something that is not the secret itself.
const NOT_SECRET_WORDS = new Set(["public", "publishable", "hash", "hashed", "digest", "sha", "checksum", "fingerprint", "salt"]);

function isSecretName(words: readonly string[]): boolean {
  const last = words.at(-1);
  if (!last || words.some((word) => NOT_SECRET_WORDS.has(word))) return false;
  if (SECRET_WORDS.has(last)) return true;
  if (last === "key") return KEY_QUALIFIERS.has(words.at(-2) ?? "");
  return SECRET_WORD_ENDINGS.some((ending) => last.endsWith(ending) && last.length > ending.length);
}

function isAwsSecretName(words: readonly string[]): boolean {
  const joined = words.join("");
  return joined.endsWith("secretaccesskey") || (words.includes("aws") && joined.endsWith("secretkey"));
}

const PLACEHOLDER_WORDS =
  /example|sample|placeholder|changeme|change_me|change-me|your|xxxx|redacted|dummy|fake|mock|test|secret|password|passwd|p[a@4][s$5]{2}w[o0]rd|token|todo|fixme|replace|insert|none|null|undefined|default|\*\*\*|\.\.\./i;

/** A value that stands for a secret rather than being one. */
function isPlaceholder(value: string): boolean {
  if (PLACEHOLDER_WORDS.test(value)) return true;
  if (/[<>]|\{\{|\$\{|\$\(|%\(|^%[A-Za-z_][A-Za-z0-9_]*%$|^\$[A-Za-z_][A-Za-z0-9_]*$/.test(value)) return true;
  if (/(.)\1{4}/.test(value)) return true;
  return longestAscendingRun(value) >= 5;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HASH_VALUE = /^(?:sha(?:1|224|256|384|512)|md5)[-:]|^\$(?:2[abxy]?|argon2(?:id|i|d)|[156])\$|^pbkdf2_/i;
const HEX_DIGEST = /^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}|[0-9a-f]{128})$/i;
const HASH_CONTEXT = /sha|hash|digest|checksum|commit|revision|integrity/i;
const MEMBER_EXPRESSION = /^[A-Za-z_$][\w$]*(?:(?:\.|::|->)[A-Za-z_$][\w$]*)+$/;
const CONSTANT_NAME = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/;
const PATH_LIKE = /^(?:~|\.{1,2})?\/[\w./-]*$/;

function characterClasses(value: string): number {
  return [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((cls) => cls.test(value)).length;
}

/** Entropy needed for a value of this length: short strings cannot reach the full 3 bits. */
function entropyThreshold(length: number): number {
  return Math.min(3, 0.85 * Math.log2(length));
}

/**
 * Words rather than randomness: `same-origin`, `InterpolationInTemplate`, `SAME_ORIGIN`; with
 * `digitsAtEnd`, also identifiers such as `privateKeyPkcs8` (for bare values, which are code).
 */
function isWordLike(value: string, digitsAtEnd: boolean): boolean {
  if (!digitsAtEnd && /[0-9]/.test(value)) return false;
  const part = digitsAtEnd ? /^(?:[A-Z]?[a-z]+|[A-Z]{2,})[0-9]*$/ : /^(?:[A-Z]?[a-z]+|[A-Z]{2,})$/;
  const parts = value.split(/[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])/).filter(Boolean);
  if (parts.length === 0 || !parts.every((p) => part.test(p))) return false;
  // Separated words of one case: "i-am-the-worst", "SAME_ORIGIN".
  if (parts.length > 1 && (parts.every((p) => /^[a-z]+$/.test(p)) || parts.every((p) => /^[A-Z]+$/.test(p)))) return true;
  // Random characters also split into such parts, but short ones ("aBcDe" -> a, Bc, De).
  const average = parts.join("").length / parts.length;
  return average >= (/[0-9]/.test(value) ? 5 : 4) && parts.every((p) => p.length >= (/[0-9]/.test(value) ? 3 : 2));
}

function isGenericSecretValue(value: string, quoted: boolean, line: string): boolean {
  if (value.length < 8 || value.length > MAX_GENERIC_VALUE) return false;
  // Whitespace or a quote inside means prose, or a string that ended and another that began.
  if (/[\s"'`]/.test(value) || isPlaceholder(value)) return false;
  if (UUID.test(value) || HASH_VALUE.test(value)) return false;
  if (HEX_DIGEST.test(value) && HASH_CONTEXT.test(line)) return false;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || value.startsWith("data:")) return false;
  if (/^#[0-9a-f]{3,8}$/i.test(value)) return false; // a colour
  if (PATH_LIKE.test(value) && (value.split("/").length > 2 || /\.[a-z]{1,5}$/i.test(value))) return false;
  if (!quoted) {
    if (/^[!&*|>@%{[(<$]/.test(value)) return false;
    if (MEMBER_EXPRESSION.test(value) || CONSTANT_NAME.test(value)) return false;
  }
  if (!/[A-Za-z]/.test(value) || characterClasses(value) < 2 || isWordLike(value, !quoted)) return false;
  // A word and a number ("user-123", "summer2024"): a sample value, or a weak password no entropy test tells apart.
  if (/^[A-Z]?[a-z]{2,}[-_.]?[0-9]{1,6}$/.test(value)) return false;
  return shannonEntropy(value) >= entropyThreshold(value.length);
}

function isAwsSecretValue(value: string): boolean {
  return /^[A-Za-z0-9/+]{40}$/.test(value) && shannonEntropy(value) >= 4 && !looksFilled(value);
}

// `name = v`, `name: v`, `name := v`, `name => v`; not `==`, `<=`, `!=`, `::`, `://`.
const SEPARATOR = /:=|=>|(?<![=!<>+\-*/%&|^~?:])=(?![=~>])|(?<![:\\]):(?![:/\\=])/g;
const NAME_CHAR = /[A-Za-z0-9_.$-]/;
const QUOTES = new Set(['"', "'", "`"]);
const UNQUOTED_STOP = /[\s,;'"`()[\]{}<>]/;
/** Longer values are not read as generic secrets (and reading stops there, which bounds the work). */
const MAX_GENERIC_VALUE = 256;

/** The identifier that ends just before `index` (skipping spaces, a closing quote or bracket). */
function nameBefore(text: string, index: number): string {
  let j = index - 1;
  while (j >= 0 && (text[j] === " " || text[j] === "\t")) j--;
  if (text[j] === "]") j--;
  if (text[j] !== undefined && QUOTES.has(text[j]!)) j--;
  if (text[j] === "\\") j--;
  const end = j + 1;
  while (j >= 0 && end - j <= 100 && NAME_CHAR.test(text[j]!)) j--;
  return text.slice(j + 1, end);
}

interface ValueAt {
  value: string;
  start: number;
  quoted: boolean;
}

/** The value that starts at `index`: quoted (also `\"...\"` inside a string) or a bare word. */
function valueAfter(text: string, index: number): ValueAt | undefined {
  let k = index;
  while (k < text.length && (text[k] === " " || text[k] === "\t")) k++;
  const escaped = text[k] === "\\" && QUOTES.has(text[k + 1] ?? "");
  const quote = escaped ? text[k + 1]! : QUOTES.has(text[k] ?? "") ? text[k]! : undefined;
  if (quote) {
    const start = k + (escaped ? 2 : 1);
    const closing = escaped ? `\\${quote}` : quote;
    let end = start;
    while (end < text.length && end - start <= MAX_GENERIC_VALUE) {
      if (text.startsWith(closing, end)) break;
      // Inside an escaped string, a bare quote ends the string around it: the value ends there too.
      if (escaped && text[end] === quote) break;
      end += !escaped && text[end] === "\\" ? 2 : 1;
    }
    return { value: text.slice(start, Math.min(end, text.length)), start, quoted: true };
  }
  let end = k;
  while (end < text.length && end - k <= MAX_GENERIC_VALUE && !UNQUOTED_STOP.test(text[end]!)) end++;
  if (end === k) return undefined;
  return { value: text.slice(k, end), start: k, quoted: false };
}

/**
 * Source files of programming languages: there a bare value after `=` or `:` is an expression
 * (`password = userPassword`), never a literal, so only quoted values count.
 */
const CODE_FILE =
  /\.(?:[cm]?[jt]sx?|py|go|rs|java|kts?|scala|groovy|rb|php|cs|fs|c|h|cc|cpp|cxx|hpp|hh|m|mm|swift|dart|vue|svelte|lua|exs?|clj[sc]?)$/i;

function genericMatches(text: string, bareValues: boolean): Match[] {
  const matches: Match[] = [];
  SEPARATOR.lastIndex = 0;
  for (let sep = SEPARATOR.exec(text); sep; sep = SEPARATOR.exec(text)) {
    const words = identifierWords(nameBefore(text, sep.index));
    if (!isSecretName(words)) continue;
    const found = valueAfter(text, sep.index + sep[0].length);
    if (!found) continue;
    const { value, start, quoted } = found;
    if (!quoted && !bareValues) continue;
    let rule: SecretRuleId | undefined;
    if (isAwsSecretName(words) && isAwsSecretValue(value)) rule = "aws-secret-access-key";
    else if (isGenericSecretValue(value, quoted, text)) rule = "generic-secret";
    if (rule) matches.push({ rule, start, end: start + value.length, value });
  }
  return matches;
}

function tokenMatches(text: string): Match[] {
  const matches: Match[] = [];
  for (const detector of TOKEN_DETECTORS) {
    detector.pattern.lastIndex = 0;
    for (let m = detector.pattern.exec(text); m; m = detector.pattern.exec(text)) {
      const group = detector.group ?? 0;
      const value = m[group];
      if (value === undefined) continue;
      if (detector.accept && !detector.accept(value)) continue;
      const start = m.index + m[0].indexOf(value);
      matches.push({ rule: detector.rule, start, end: start + value.length, value });
    }
  }
  return matches;
}

const KEY_BODY = /^(?:\\[nr]|[\s"'`])*([A-Za-z0-9+/]{40,})/;
const PEM_HEADER_FIELD = /^\s*[A-Za-z-]+:\s/;

/**
 * A private key header counts when key material follows it: on the same line (a key inside a JSON
 * string, `\n`-separated) or on the next added lines (a PEM file), after optional header fields.
 * A header alone (a constant in code, a doc with "...") is not a leak.
 */
function privateKeyMatches(lines: readonly AddedLine[], index: number): Match[] {
  const { text } = lines[index]!;
  const matches: Match[] = [];
  PRIVATE_KEY_HEADER.lastIndex = 0;
  for (let m = PRIVATE_KEY_HEADER.exec(text); m; m = PRIVATE_KEY_HEADER.exec(text)) {
    const after = text.slice(m.index + m[0].length);
    let body = KEY_BODY.exec(after)?.[1];
    if (!body && after.trim().replace(/^["'`,;\\n]*/, "") === "") {
      let expected = lines[index]!.line + 1;
      for (let next = index + 1; next < lines.length && next <= index + 5; next++, expected++) {
        const candidate = lines[next]!;
        if (candidate.line !== expected) break;
        if (candidate.text.trim() === "" || PEM_HEADER_FIELD.test(candidate.text)) continue;
        body = KEY_BODY.exec(candidate.text)?.[1];
        break;
      }
    }
    if (body && distinctChars(body) >= 12) matches.push({ rule: "private-key", start: m.index, end: m.index + m[0].length, value: m[0] });
  }
  return matches;
}

/** Specific detectors win over the generic one where they overlap; one finding per value. */
function resolveOverlaps(matches: Match[]): Match[] {
  const byPosition = (a: Match, b: Match) => a.start - b.start || a.end - b.end;
  const specific = matches.filter((m) => m.rule !== "generic-secret").sort(byPosition);
  // furthestEnd[i]: the largest end among specific[0..i], to test overlap with a binary search.
  const furthestEnd: number[] = [];
  for (const [i, m] of specific.entries()) furthestEnd.push(Math.max(m.end, furthestEnd[i - 1] ?? 0));
  const overlapsSpecific = (m: Match): boolean => {
    let low = 0;
    let high = specific.length - 1;
    let last = -1; // the last specific match that starts before m ends
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (specific[mid]!.start < m.end) {
        last = mid;
        low = mid + 1;
      } else high = mid - 1;
    }
    return last >= 0 && furthestEnd[last]! > m.start;
  };
  const generic = matches.filter((m) => m.rule === "generic-secret" && !overlapsSpecific(m));
  const kept: Match[] = [];
  for (const m of [...specific, ...generic].sort(byPosition)) {
    const previous = kept.at(-1);
    if (!previous || previous.start !== m.start || previous.end !== m.end) kept.push(m);
  }
  return kept;
}

function matchesOnLine(lines: readonly AddedLine[], index: number, bareValues: boolean): Match[] {
  const { text } = lines[index]!;
  if (text.includes(ALLOW_SECRET_MARKER)) return [];
  const matches: Match[] = [];
  if (TOKEN_TRIGGER.test(text)) matches.push(...tokenMatches(text));
  if (text.includes("PRIVATE KEY")) matches.push(...privateKeyMatches(lines, index));
  if (GENERIC_TRIGGER.test(text)) matches.push(...genericMatches(text, bareValues));
  return matches.length > 1 ? resolveOverlaps(matches) : matches;
}

/** Scans the added lines of one file. Lines carrying `pw:allow-secret` are skipped. */
export function scanAddedLines(path: string, lines: readonly AddedLine[]): SecretFinding[] {
  const findings: SecretFinding[] = [];
  const bareValues = !CODE_FILE.test(path);
  for (let i = 0; i < lines.length; i++) {
    for (const match of matchesOnLine(lines, i, bareValues)) {
      findings.push({ rule: match.rule, path, line: lines[i]!.line, column: match.start + 1, preview: redact(match.value) });
    }
  }
  return findings;
}

export interface ScanOptions {
  /** Globs of paths not to scan (a corpus of fake secrets, say). */
  exclude?: readonly string[];
}

/** Scans the added lines of every file of a diff; removed and context lines are never read. */
export function scanDiff(files: readonly DiffFile[], options: ScanOptions = {}): SecretFinding[] {
  const excluded = pathMatcher(options.exclude ?? []);
  const findings: SecretFinding[] = [];
  for (const file of files) {
    if (excluded(file.path)) continue;
    findings.push(...scanAddedLines(file.path, file.addedLines));
  }
  return findings;
}

/** Scans `git diff` text: `parseUnifiedDiff` then `scanDiff`. */
export function scanUnifiedDiff(diff: string, options: ScanOptions = {}): SecretFinding[] {
  return scanDiff(parseUnifiedDiff(diff), options);
}

/** Scans a whole text as if every line were added (line numbers from 1). */
export function scanText(text: string, path = "-"): SecretFinding[] {
  const lines = text.split("\n").map((line, i) => ({ line: i + 1, text: line.endsWith("\r") ? line.slice(0, -1) : line }));
  return scanAddedLines(path, lines);
}

/** One finding as one line: `path:line:column  rule  preview  (description)`. */
export function formatFinding(finding: SecretFinding): string {
  return `${finding.path}:${finding.line}:${finding.column}  ${finding.rule}  ${finding.preview}  (${SECRET_RULES[finding.rule]})`;
}

/**
 * Findings as text for a terminal, a log or a check run: a count, then one line per finding,
 * then how to allow a line that is not a secret. Never contains more than the previews.
 */
export function renderFindings(findings: readonly SecretFinding[]): string {
  if (findings.length === 0) return "no secrets found in added lines";
  const files = new Set(findings.map((f) => f.path)).size;
  const head = `${findings.length} possible secret${findings.length === 1 ? "" : "s"} in ${files} file${files === 1 ? "" : "s"}:`;
  const hint = `remove the value and rotate it; if it is not a secret, add a "${ALLOW_SECRET_MARKER}" comment on its line`;
  return [head, ...findings.map((f) => `  ${formatFinding(f)}`), hint].join("\n");
}
