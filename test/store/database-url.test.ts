/** PW_DATABASE_URL checked at the edge: what is accepted, what is refused (exit 2), and that no password is ever shown. */
import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../../src/core/errors.js";
import { parseDatabaseUrl, redactDatabaseUrl } from "../../src/store/database-url.js";

describe("redactDatabaseUrl", () => {
  const cases: [string, string, string][] = [
    ["a password", "postgres://pw:hunter2@db.example:5432/pw", "postgres://pw:***@db.example:5432/pw"],
    ["no password", "postgres://pw@db.example/pw", "postgres://pw@db.example/pw"],
    ["no user information", "postgresql://db.example:5432/pw?sslmode=require", "postgresql://db.example:5432/pw?sslmode=require"],
    ["an empty user", "postgres://:hunter2@db.example/pw", "postgres://:***@db.example/pw"],
    ["a percent-encoded password", "postgres://pw:a%40b%2Fc@db.example/pw", "postgres://pw:***@db.example/pw"],
    ["an unencoded @ in the password", "postgres://pw:hun@ter2@db.example/pw", "postgres://pw:***@db.example/pw"],
    ["an unencoded / and # in the password", "postgres://pw:a/b#c@db.example:5432/pw", "postgres://pw:***@db.example:5432/pw"],
    ["a password parameter", "postgres://db.example/pw?user=pw&password=hunter2&sslmode=require", "postgres://db.example/pw?user=pw&password=***&sslmode=require"],
    ["an sslpassword parameter", "postgres://pw@db.example/pw?sslpassword=hunter2", "postgres://pw@db.example/pw?sslpassword=***"],
    ["a malformed port", "postgres://pw:hunter2@db.example:99999/pw", "postgres://pw:***@db.example:99999/pw"],
    ["not a URL at all", "hunter2", "hunter2"],
  ];
  it.each(cases)("%s", (_name, url, shown) => {
    expect(redactDatabaseUrl(url)).toBe(shown);
  });
});

describe("parseDatabaseUrl", () => {
  const accepted: [string, string][] = [
    ["postgres://pw:hunter2@db.example:5432/pw", "postgres://pw:***@db.example:5432/pw"],
    ["postgresql://pw@db.example/pw", "postgresql://pw@db.example/pw"],
    ["postgres://[::1]:5433/pw", "postgres://[::1]:5433/pw"],
    ["postgres:///pw?host=/var/run/postgresql", "postgres:///pw?host=/var/run/postgresql"],
    ["postgres://%2Fvar%2Frun%2Fpostgresql/pw", "postgres://%2Fvar%2Frun%2Fpostgresql/pw"],
  ];
  it.each(accepted)("accepts %s", (url, redacted) => {
    expect(parseDatabaseUrl(url)).toEqual({ connectionString: url, redacted });
  });

  const refused: [string, string][] = [
    ["mysql://pw:hunter2@db.example/pw", 'PW_DATABASE_URL: "mysql://pw:***@db.example/pw" has the unsupported scheme "mysql": use postgres://USER:PASSWORD@HOST:PORT/DATABASE'],
    ["sqlite:///home/me/state.db", 'PW_DATABASE_URL: "sqlite:///home/me/state.db" has the unsupported scheme "sqlite": use postgres://USER:PASSWORD@HOST:PORT/DATABASE'],
    ["postgres://pw:hunter2@db.example:99999/pw", 'PW_DATABASE_URL: "postgres://pw:***@db.example:99999/pw" is not a valid URL: use postgres://USER:PASSWORD@HOST:PORT/DATABASE (percent-encode special characters in the password)'],
    ["db.example:5432/pw", 'PW_DATABASE_URL: "db.example:5432/pw" has the unsupported scheme "db.example": use postgres://USER:PASSWORD@HOST:PORT/DATABASE'],
    ["localhost", 'PW_DATABASE_URL: "localhost" is not a valid URL: use postgres://USER:PASSWORD@HOST:PORT/DATABASE (percent-encode special characters in the password)'],
    ["postgres:///pw", 'PW_DATABASE_URL: "postgres:///pw" names no host: use postgres://USER:PASSWORD@HOST:PORT/DATABASE'],
    ["  ", "PW_DATABASE_URL: is empty: set it to postgres://USER:PASSWORD@HOST:PORT/DATABASE, or unset it to use the SQLite file"],
  ];
  it.each(refused)("refuses %s with exit 2 and one line", (url, message) => {
    let error: unknown;
    try {
      parseDatabaseUrl(url);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).exitCode).toBe(2);
    expect((error as Error).message).toBe(message);
    expect((error as Error).message).not.toContain("hunter2");
  });

  it("names where the URL came from", () => {
    expect(() => parseDatabaseUrl("http://x/y", "database_url in /home/me/.parallel-workers/config.yml")).toThrow(
      /^database_url in \/home\/me\/\.parallel-workers\/config\.yml: "http:\/\/x\/y" has the unsupported scheme "http"/,
    );
  });
});
