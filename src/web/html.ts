/**
 * HTML that escapes by default. Every value interpolated into an `html` template is escaped
 * unless it is itself `Html` (the result of another template), so text from outside (task
 * descriptions, errors, repository names) cannot become markup by someone forgetting a call.
 */
import { safeText } from "../core/text.js";

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for use in element content and in quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Markup that is already safe: made by `html` (or by `trusted` from constants of ours). */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

function render(value: Value): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === null || value === undefined || value === false || value === true) return "";
  // text from outside (an agent's error, a description) shows no control character either
  return escapeHtml(safeText(String(value)));
}

/** A template whose interpolations are escaped; `null`, `undefined` and booleans render nothing. */
export function html(strings: TemplateStringsArray, ...values: readonly Value[]): Html {
  let text = strings[0]!;
  for (let i = 0; i < values.length; i++) text += render(values[i]!) + strings[i + 1]!;
  return new Html(text);
}

/** Marks a constant of ours (never text from outside) as markup. */
export function trusted(text: string): Html {
  return new Html(text);
}

/** The URL as a link target when it is http(s); anything else (javascript:, data:, ...) is not a link. */
export function safeHttpUrl(value: string | null): string | undefined {
  if (!value) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : undefined;
  } catch {
    return undefined;
  }
}
