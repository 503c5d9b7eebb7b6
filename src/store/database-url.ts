import { z } from "zod";
import { parseWith } from "../core/validate.js";

/** What a person is told to write. */
const DATABASE_URL_FORM = "postgres://USER:PASSWORD@HOST:PORT/DATABASE";

const SCHEMES = ["postgres:", "postgresql:"];

/** A PostgreSQL URL that passed validation. */
export interface DatabaseUrl {
  /** The URL as given, password included: only for connecting, never for showing. */
  connectionString: string;
  /** The URL with its password replaced by `***`: for every message and log line. */
  redacted: string;
}

/**
 * The text of a database URL with any password replaced by `***`: the one in the user
 * information (from the first `:` after the scheme to the last `@`, so a password with an
 * unencoded `/`, `#` or `@` is hidden too, at the cost of hiding more in a rare URL) and any
 * query parameter whose name holds `pass` (`password`, `sslpassword`). Works on malformed text
 * as well, since that is what error messages show.
 */
export function redactDatabaseUrl(text: string): string {
  let shown = text;
  const start = shown.indexOf("://");
  if (start >= 0) {
    const rest = shown.slice(start + 3);
    const at = rest.lastIndexOf("@");
    const colon = rest.indexOf(":");
    if (at >= 0 && colon >= 0 && colon < at) shown = `${shown.slice(0, start + 3)}${rest.slice(0, colon)}:***${rest.slice(at)}`;
  }
  return shown.replace(/([?&][^=&#]*pass[^=&#]*=)[^&#]*/gi, "$1***");
}

const databaseUrlSchema = z.string().transform((value, ctx): DatabaseUrl => {
  const redacted = redactDatabaseUrl(value);
  const fail = (message: string) => {
    ctx.addIssue({ code: "custom", message });
    return z.NEVER;
  };
  if (value.trim() === "") return fail(`is empty: set it to ${DATABASE_URL_FORM}, or unset it to use the SQLite file`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail(`"${redacted}" is not a valid URL: use ${DATABASE_URL_FORM} (percent-encode special characters in the password)`);
  }
  if (!SCHEMES.includes(url.protocol)) {
    return fail(`"${redacted}" has the unsupported scheme "${url.protocol.slice(0, -1)}": use ${DATABASE_URL_FORM}`);
  }
  if (url.hostname === "" && !url.searchParams.get("host")) return fail(`"${redacted}" names no host: use ${DATABASE_URL_FORM}`);
  return { connectionString: value, redacted };
});

/**
 * Validates a PostgreSQL URL from outside (`PW_DATABASE_URL`): `postgres://` or `postgresql://`
 * with a host (or a `?host=` socket directory). A bad one is an InvalidInputError (exit 2)
 * naming `what` and the URL without its password.
 */
export function parseDatabaseUrl(value: string, what = "PW_DATABASE_URL"): DatabaseUrl {
  return parseWith(databaseUrlSchema, value, what);
}
