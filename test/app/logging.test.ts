import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loggedAlready, probotLogger } from "../../src/app/logging.js";
import { createLogger } from "../../src/log/logger.js";

let dir: string;
let file: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "pw-probot-log-"));
  file = join(dir, "app.log");
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function rawLines(): string[] {
  return readFileSync(file, "utf8").trim().split("\n");
}

describe("the logger handed to Probot", () => {
  it("writes each key once: a nested name replaces the outer one, other bindings add up", () => {
    const log = probotLogger(createLogger({ component: "app", destination: file, loki: false }));
    const event = log.child({ name: "event", id: "d-1" });
    event.child({ attempt: 2 }).error({ err: new Error("handler failed\nstack and all") }, "failed");
    log.warn("plain");

    const [failed, plain] = rawLines();
    expect(failed!.match(/"name":/g)).toHaveLength(1);
    expect(failed!.match(/"component":/g)).toHaveLength(1);
    expect(JSON.parse(failed!)).toMatchObject({
      name: "event",
      id: "d-1",
      attempt: 2,
      component: "app",
      err: { type: "Error", message: "handler failed" },
      msg: "failed",
    });
    expect(JSON.parse(plain!)).toMatchObject({ name: "probot", msg: "plain" });
  });

  it("keeps its serializers in children, so an event's payload is never written", () => {
    const log = probotLogger(createLogger({ component: "app", destination: file, loki: false }));
    const payload = { action: "created", repository: { full_name: "acme/widgets" }, comment: { id: 7, body: "a private comment" } };
    log.child({ name: "event" }).error({ event: { id: "d-2", name: "issue_comment", payload } }, "failed");

    const [line] = rawLines();
    expect(line).not.toContain("a private comment");
    expect(JSON.parse(line!)).toMatchObject({
      name: "event",
      event: { id: "d-2", name: "issue_comment", payload: "[omitted]" },
    });
  });

  it("does not write again an error the app has logged already", () => {
    const log = probotLogger(createLogger({ component: "app", destination: file, loki: false }));
    const event = log.child({ name: "event", id: "d-3" });
    event.error(loggedAlready(new Error("told once")));
    event.error(new Error("not told yet"));

    expect(rawLines().map((line) => JSON.parse(line) as { err: { message: string } })).toEqual([
      expect.objectContaining({ err: expect.objectContaining({ message: "not told yet" }) }),
    ]);
  });
});
