import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../../src/core/errors.js";
import { lokiPushUrl, readLogEnv } from "../../src/log/env.js";

/** Probot types some variables (LOG_LEVEL) in ProcessEnv; these tests feed it anything. */
function vars(values: Record<string, string>): NodeJS.ProcessEnv {
  return values as NodeJS.ProcessEnv;
}

function problem(env: Record<string, string>): string {
  try {
    readLogEnv(vars(env));
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    const message = (error as Error).message;
    expect(message).not.toContain("\n");
    return message;
  }
  throw new Error("expected readLogEnv to refuse the environment");
}

describe("readLogEnv", () => {
  it("defaults to info, phase 5 and no Loki", () => {
    expect(readLogEnv({})).toEqual({ level: "info", phase: "5" });
  });

  it("treats an empty variable as unset", () => {
    expect(readLogEnv(vars({ LOKI_URL: "", LOG_LEVEL: "", PW_PHASE: "" }))).toEqual({ level: "info", phase: "5" });
  });

  it("reads the Loki connection", () => {
    const env = readLogEnv(
      vars({
        LOG_LEVEL: "DEBUG",
        PW_PHASE: "6",
        LOKI_URL: "https://logs.example.com",
        LOKI_USERNAME: "12345",
        LOKI_PASSWORD: "glc_secret",
        LOKI_TENANT: "team-a",
      }),
    );
    expect(env).toEqual({
      level: "debug",
      phase: "6",
      loki: {
        pushUrl: "https://logs.example.com/loki/api/v1/push",
        basicAuth: { username: "12345", password: "glc_secret" },
        tenant: "team-a",
      },
    });
  });

  it.each([
    ["http://localhost:3100", "http://localhost:3100/loki/api/v1/push"],
    ["http://localhost:3100/", "http://localhost:3100/loki/api/v1/push"],
    ["http://localhost:3100/loki/api/v1/push", "http://localhost:3100/loki/api/v1/push"],
    ["https://gateway.example.com/loki-proxy", "https://gateway.example.com/loki-proxy/loki/api/v1/push"],
    ["https://gateway.example.com/loki-proxy/", "https://gateway.example.com/loki-proxy/loki/api/v1/push"],
  ])("pushes %s to %s", (base, push) => {
    expect(lokiPushUrl(base)).toBe(push);
  });

  it.each([
    [{ LOKI_URL: "not a url" }, /^environment variable LOKI_URL "not a url" is not a URL/],
    [{ LOKI_URL: "ftp://loki:3100" }, /^environment variable LOKI_URL "ftp:\/\/loki:3100" is not an http\(s\) URL/],
    [{ LOKI_URL: "http://loki:3100", LOKI_USERNAME: "me" }, /^environment variable LOKI_PASSWORD is not set but LOKI_USERNAME is/],
    [{ LOKI_URL: "http://loki:3100", LOKI_PASSWORD: "pw" }, /^environment variable LOKI_USERNAME is not set but LOKI_PASSWORD is/],
    [{ LOKI_URL: "http://loki:3100", LOKI_TENANT: "a b" }, /^environment variable LOKI_TENANT "a b" is not a valid tenant id/],
    [{ LOG_LEVEL: "loud" }, /^environment variable LOG_LEVEL "loud" is not a log level: use one of fatal, error/],
    [{ PW_PHASE: "phase five" }, /^environment variable PW_PHASE "phase five" is not a valid phase/],
  ])("refuses %o with one line naming the variable", (env, expected) => {
    expect(problem(env)).toMatch(expected);
  });

  it("never repeats a password written into LOKI_URL", () => {
    const message = problem({ LOKI_URL: "https://user:hunter2@logs.example.com" });
    expect(message).toMatch(/^environment variable LOKI_URL must not contain a user name or password/);
    expect(message).not.toContain("hunter2");
  });
});
