import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InvalidInputError } from "../../src/core/errors.js";
import {
  correlatedLogger,
  createLogger,
  flushLogger,
  logTransition,
  silentLogger,
  workerLogger,
  type Component,
  type Logger,
} from "../../src/log/logger.js";

let dir: string;
let file: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "pw-log-"));
  file = join(dir, "logs", "pw.log");
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function fileLogger(env: NodeJS.ProcessEnv = {}, component: Component = "runner"): Logger {
  return createLogger({ component, destination: file, env });
}

function lines(): Record<string, unknown>[] {
  return readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("createLogger", () => {
  it("writes JSON lines with the base fields and an epoch time", async () => {
    const logger = fileLogger({ PW_PHASE: "6" }, "app");
    logger.info("hello");
    await flushLogger(logger);
    const [line] = lines();
    expect(line).toMatchObject({ level: 30, skill: "parallel-workers", phase: "6", component: "app", msg: "hello" });
    expect(typeof line?.time).toBe("number");
    expect(line).not.toHaveProperty("hostname");
    expect(line).not.toHaveProperty("pid");
  });

  it("honours LOG_LEVEL and the level option, and refuses an unknown level", () => {
    const quiet = fileLogger({ LOG_LEVEL: "warn" });
    quiet.info("dropped");
    quiet.warn("kept");
    const loud = createLogger({ component: "cli", destination: file, level: "debug", env: { LOG_LEVEL: "warn" } });
    loud.debug("kept too");
    expect(lines().map((line) => line.msg)).toEqual(["kept", "kept too"]);
    expect(() => createLogger({ component: "cli", level: "chatty", env: {} })).toThrow(InvalidInputError);
    expect(() => createLogger({ component: "cli", level: "chatty", env: {} })).toThrow('"chatty" is not a log level');
  });

  it("refuses an unknown component", () => {
    expect(() => createLogger({ component: "daemon" as Component, env: {} })).toThrow('log component "daemon" is not known');
  });

  it("refuses a bad LOKI_URL before logging anything", () => {
    expect(() => fileLogger({ LOKI_URL: "loki" })).toThrow(/^environment variable LOKI_URL "loki" is not a URL/);
  });
});

describe("worker children and transitions", () => {
  it("workerLogger adds worker_id, task_id and correlation_id, leaving out missing ones", () => {
    const logger = fileLogger();
    workerLogger(logger, { workerId: "worker-abc123", taskId: "task-1", correlationId: "delivery-1" }).info("full");
    workerLogger(logger, { workerId: "worker-abc123", taskId: null }).info("bare");
    correlatedLogger(logger, "delivery-2").info("webhook");
    const [full, bare, webhook] = lines();
    expect(full).toMatchObject({ worker_id: "worker-abc123", task_id: "task-1", correlation_id: "delivery-1", component: "runner" });
    expect(bare).toMatchObject({ worker_id: "worker-abc123" });
    expect(bare).not.toHaveProperty("task_id");
    expect(bare).not.toHaveProperty("correlation_id");
    expect(webhook).toMatchObject({ correlation_id: "delivery-2" });
  });

  it("logTransition writes state, from_state and source; a move to UNKNOWN is an error", () => {
    const log = workerLogger(fileLogger(), { workerId: "worker-abc123" });
    logTransition(log, { from: null, to: "NEEDS_INIT", source: "cli" });
    logTransition(log, { from: "WORKING", to: "UNKNOWN", source: "runner", detail: "agent exited with 1" });
    const [created, failed] = lines();
    expect(created).toMatchObject({ level: 30, state: "NEEDS_INIT", from_state: null, source: "cli", msg: "state (new) -> NEEDS_INIT" });
    expect(failed).toMatchObject({ level: 50, state: "UNKNOWN", from_state: "WORKING", detail: "agent exited with 1" });
  });

  it("keeps label fields low-cardinality: reserved keys in a log call are renamed", () => {
    const logger = fileLogger();
    logger.info({ phase: "clone", component: "git", hostname: "box-1", state: "half done" }, "renamed");
    logger.info({ state: "MERGED" }, "kept");
    const [renamed, kept] = lines();
    expect(renamed).toMatchObject({
      phase: "5",
      component: "runner",
      phase_detail: "clone",
      component_detail: "git",
      host: "box-1",
      state_detail: "half done",
    });
    expect(renamed).not.toHaveProperty("hostname");
    expect(renamed).not.toHaveProperty("state");
    expect(kept).toMatchObject({ state: "MERGED" });
  });
});

describe("redaction", () => {
  it("redacts secret-looking fields, credential headers, bodies and token query strings", () => {
    const logger = fileLogger();
    logger.info(
      {
        token: "ghs_top",
        password: "secret-p1-value",
        privateKey: "-----BEGIN RSA PRIVATE KEY-----",
        config: { webhookSecret: "secret-s1-value", apiKey: "secret-k1-value", name: "kept" },
        headers: { authorization: "Bearer abc", "x-api-key": "secret-k2-value", accept: "application/json" },
        req: { headers: { authorization: "token xyz", cookie: "pw_session=1" }, url: "/?token=tok456", query: { token: "tok456" } },
        err: Object.assign(new Error("boom"), {
          request: { headers: { authorization: "token ghs_err" }, body: "{...}", url: "https://api.github.com/x?client_secret=cs1" },
        }),
        env: { GITHUB_TOKEN: "ghp_env" },
        body: "a very long body",
        url: "/status?token=tok123&page=2",
      },
      "accident",
    );
    const [line] = lines();
    const text = JSON.stringify(line);
    for (const secret of ["ghs_top", "secret-p1-value", "BEGIN RSA", "secret-s1-value", "secret-k1-value", "secret-k2-value", "Bearer abc", "token xyz", "pw_session", "ghs_err", "ghp_env", "tok123", "tok456", "cs1", "a very long body"]) {
      expect(text).not.toContain(secret);
    }
    expect(line).toMatchObject({
      token: "[REDACTED]",
      config: { webhookSecret: "[REDACTED]", name: "kept" },
      headers: { authorization: "[REDACTED]", "x-api-key": "[REDACTED]", accept: "application/json" },
      req: { url: "/?token=[REDACTED]", query: { token: "[REDACTED]" } },
      body: "[omitted]",
      url: "/status?token=[REDACTED]&page=2",
      err: { message: "boom", request: { body: "[omitted]", url: "https://api.github.com/x?client_secret=[REDACTED]" } },
    });
  });

  it("redacts inside arrays, errors under any key and child bindings, and never changes what it was given", () => {
    const logger = fileLogger();
    const given = {
      list: [{ url: "/hook?token=arr-tok" }],
      cause: Object.assign(new Error("inner"), { token: "cause-tok", request: { headers: { cookie: "c=cause" } } }),
      nested: { token: "one-down", deeper: { password: "two-down-is-kept" } },
    };
    const before = JSON.stringify(given);
    logger.child({ token: "child-tok", worker_id: "worker-abc123" }).info(given, "accident");
    const [line] = lines();
    const text = JSON.stringify(line);
    for (const secret of ["arr-tok", "cause-tok", "c=cause", "one-down", "child-tok"]) expect(text).not.toContain(secret);
    expect(line).toMatchObject({
      token: "[REDACTED]",
      worker_id: "worker-abc123",
      list: [{ url: "/hook?token=[REDACTED]" }],
      cause: { token: "[REDACTED]", request: { headers: { cookie: "[REDACTED]" } } },
      // the rules reach secret-looking names one level down, as documented; deeper ones are kept
      nested: { token: "[REDACTED]", deeper: { password: "two-down-is-kept" } },
    });
    expect(JSON.stringify(given)).toBe(before);
    expect(given.cause).toBeInstanceOf(Error);
  });

  it("logs a webhook payload as a short summary, never whole", () => {
    const logger = fileLogger();
    const payload = {
      action: "closed",
      number: 7,
      pull_request: { number: 7, body: "secret plans", merged: true },
      repository: { full_name: "acme/widgets", private: true },
      installation: { id: 42 },
      sender: { login: "octocat", email: "o@example.com" },
    };
    logger.info({ payload }, "delivery");
    logger.info({ event: { payload } }, "nested");
    const [top, nested] = lines();
    expect(top?.payload).toEqual({ action: "closed", repository: "acme/widgets", installation: 42, sender: "octocat", pull_request: 7 });
    expect(nested).toMatchObject({ event: { payload: "[omitted]" } });
    expect(JSON.stringify([top, nested])).not.toContain("secret plans");
  });
});

describe("flushLogger and silentLogger", () => {
  it("flushLogger is harmless on children, twice, and on loggers it did not make", async () => {
    const logger = fileLogger();
    const child = workerLogger(logger, { workerId: "worker-abc123" });
    child.info("one");
    await flushLogger(child);
    await flushLogger(logger);
    logger.info("after flush, still written locally");
    await flushLogger(silentLogger());
    expect(lines().map((line) => line.msg)).toEqual(["one", "after flush, still written locally"]);
  });

  it("silentLogger drops everything", () => {
    const logger = silentLogger();
    expect(logger.isLevelEnabled("fatal")).toBe(false);
  });
});
