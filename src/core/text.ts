/**
 * Text from outside (webhook payloads: logins, titles, branch names, comments) made safe to store
 * and show. Control characters are dropped: C0 and C1 controls (NUL, ESC and so terminal escape
 * sequences, U+0085 NEL), DEL, and the bidirectional controls that can make text read otherwise
 * than it is stored (U+202A-U+202E, U+2066-U+2069, U+200E/U+200F, U+061C). Pure.
 */

/** Controls never kept: C0 but tab, newline and carriage return; DEL; C1; bidi controls. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNSAFE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;
/** What breaks a line, in any of its spellings. */
const LINE_BREAK = /\r\n?|[\u2028\u2029]/g;
const SPACING = /[\t\n\r\u2028\u2029]/g;
// one pass that finds nothing to change, for the text that has none (nearly all of it)
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const ANY_TEXT_CHANGE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/;
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const ANY_LINE_CHANGE = /[\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/;

/**
 * Text of several lines (a comment, an issue body): line breaks become `\n`, tabs stay, every
 * other control character is dropped.
 */
export function safeText(text: string): string {
  return ANY_TEXT_CHANGE.test(text) ? text.replace(LINE_BREAK, "\n").replace(UNSAFE, "") : text;
}

/**
 * A one-line value (a login, a title, a branch name): tabs and line breaks become spaces, every
 * other control character is dropped.
 */
export function safeLine(text: string): string {
  return ANY_LINE_CHANGE.test(text) ? text.replace(SPACING, " ").replace(UNSAFE, "") : text;
}
