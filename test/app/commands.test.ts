import { describe, expect, it } from "vitest";
import { COMMANDS, helpText, mayRunCommands, parseCommands, type CommandRequest } from "../../src/app/commands.js";
import { renderStatusComment, renderStatusTable, statusCommentKey, parseStatusCommentMarker } from "../../src/app/status.js";
import type { Worker } from "../../src/core/worker.js";
import { workerRecord } from "../helpers/workers.js";

type Expected = CommandRequest | { problem: RegExp } | undefined;

/** One comment line and what it parses to (undefined: not a command at all). */
const CASES: Array<[string, Expected]> = [
  ["/worker spawn", { command: "spawn", agent: undefined, base: undefined }],
  ["/WORKER SPAWN", { command: "spawn", agent: undefined, base: undefined }],
  ["/worker spawn   ", { command: "spawn", agent: undefined, base: undefined }],
  ["/worker spawn test-author", { command: "spawn", agent: "test-author", base: undefined }],
  ["/worker spawn --base develop", { command: "spawn", agent: undefined, base: "develop" }],
  ["/worker spawn iac-engineer --base=release/1.x", { command: "spawn", agent: "iac-engineer", base: "release/1.x" }],
  ["/worker spawn --base", { problem: /`--base` needs a branch name/ }],
  ["/worker spawn --base a --base b", { problem: /given twice/ }],
  ["/worker spawn --force", { problem: /unknown option `--force`/ }],
  ["/worker spawn a b", { problem: /unexpected `b`/ }],
  ["/worker spawn Code_Author", { problem: /is not an agent name/ }],
  ["/worker spawn --base ../../etc", { problem: /is not a branch name/ }],
  ["/worker spawn --base main.lock", { problem: /is not a valid branch name/ }],
  ["/worker status", { command: "status" }],
  ["/worker status now", { problem: /unexpected `now`: usage is `\/worker status`/ }],
  ["/worker retry worker-a1b2c3", { command: "retry", workerId: "worker-a1b2c3" }],
  ["/worker retry", { problem: /expected one worker id/ }],
  ["/worker retry ../../x", { problem: /worker id "..\/..\/x" is not valid/ }],
  ["/worker terminate worker-a1b2c3", { command: "terminate", workerId: "worker-a1b2c3" }],
  ["/worker terminate worker-a1b2c3 worker-d4e5f6", { problem: /expected one worker id/ }],
  ["/worker rework", { command: "rework", text: "" }],
  ["/Worker Rework   ", { command: "rework", text: "" }],
  ["/worker rework rename `frob` to `frobnicate`, keep --flags as they are", { command: "rework", text: "rename `frob` to `frobnicate`, keep --flags as they are" }],
  ["/worker reworks", { problem: /unknown command `reworks`/ }],
  ["> /worker rework please", undefined],
  ["/worker help", { command: "help" }],
  ["/worker", { problem: /say what to do/ }],
  ["/worker dance", { problem: /unknown command `dance`/ }],
  ["/workers spawn", undefined],
  ["> /worker spawn", undefined],
  [" /worker spawn", undefined],
  ["please /worker spawn", undefined],
  ["`/worker spawn`", undefined],
];

describe("parseCommands", () => {
  it.each(CASES)("%j", (line, expected) => {
    const parsed = parseCommands(`Some text first\n${line}\nand after`);
    if (expected === undefined) return expect(parsed).toEqual([]);
    expect(parsed).toHaveLength(1);
    const [command] = parsed;
    expect(command!.line).toBe(line.trimEnd());
    if ("problem" in expected) {
      expect(command!.request).toBeUndefined();
      expect(command!.problem).toMatch(expected.problem);
    } else {
      expect(command!.request).toEqual(expected);
      expect(command!.problem).toBeUndefined();
    }
  });

  it("finds one command per line, in order, and skips fenced code blocks", () => {
    const body = "/worker status\r\n```sh\n/worker spawn\n```\n~~~\n/worker help\n~~~\n/worker retry worker-a1b2c3";
    expect(parseCommands(body).map((c) => c.request?.command)).toEqual(["status", "retry"]);
  });

  it("every definition declares usage, who may use it and examples that parse to it", () => {
    for (const definition of COMMANDS) {
      expect(definition.usage.startsWith(`/worker ${definition.name}`)).toBe(true);
      expect(definition.whoMay).toMatch(/write, maintain or admin/);
      for (const example of definition.examples) {
        expect(parseCommands(example)[0]?.request?.command).toBe(definition.name);
      }
      expect(helpText()).toContain(`\`${definition.usage}\``);
    }
  });
});

describe("mayRunCommands", () => {
  it.each([
    ["admin", "admin", true],
    ["maintain", "write", true],
    ["write", "write", true],
    ["triage", "read", false],
    ["read", "read", false],
    ["", "none", false],
    ["security-engineer", "write", true],
    ["auditor", "read", false],
  ])("role %j (permission %j): %s", (role, permission, allowed) => {
    expect(mayRunCommands(role, permission)).toBe(allowed);
  });
});

function worker(fields: Partial<Worker>): Worker {
  return workerRecord({
    id: "worker-a1b2c3",
    taskId: "issue-7",
    repo: "acme/widgets",
    baseBranch: "main",
    description: "Add a widget",
    agent: "code-author",
    issueNumber: 7,
    ...fields,
  });
}

describe("status comment and table", () => {
  it("renders the state, the PR and a failure safely, with a marker that finds it again", () => {
    const failed = worker({ state: "UNKNOWN", error: "agent failed\n```\n@everyone hi" });
    const text = renderStatusComment(failed);
    expect(parseStatusCommentMarker(text)).toBe("worker-a1b2c3");
    expect(text).toContain("is **UNKNOWN**: failed");
    expect(text).toContain("```\nagent failed\n'''\n@everyone hi\n```");
    expect(text).toContain("/worker retry worker-a1b2c3");
    const open = renderStatusComment(worker({ state: "PR_OPEN", prUrl: "https://github.com/acme/widgets/pull/9" }));
    expect(open).toContain("Pull request: https://github.com/acme/widgets/pull/9");
  });

  it("changes its key only when what it shows changes", () => {
    const a = worker({ state: "WORKING", pid: 1, updatedAt: "2026-01-02T00:00:00.000Z" });
    expect(statusCommentKey(a)).toBe(statusCommentKey(worker({ state: "WORKING" })));
    expect(statusCommentKey(a)).not.toBe(statusCommentKey(worker({ state: "PR_OPEN" })));
    // a round that ends back in PR_OPEN changes what the comment shows
    const open = worker({ state: "PR_OPEN", prUrl: "u" });
    expect(statusCommentKey(open)).toBe("PR_OPEN|u|");
    expect(statusCommentKey(worker({ state: "PR_OPEN", prUrl: "u", reworkRounds: 1 }))).not.toBe(statusCommentKey(open));
    // so does a port; a worker without ports keeps the key comments had before ports existed
    expect(statusCommentKey(a)).not.toBe(statusCommentKey(worker({ state: "WORKING", port: 4100 })));
  });

  it("shows the rework rounds: the one running, or how many there were and why the last", () => {
    const running = renderStatusComment(worker({ state: "WORKING", prUrl: "https://github.com/acme/widgets/pull/9", reworkRounds: 2, reworkCause: "review" }));
    expect(running).toContain("The agent is working on rework round 2, the last for a review.");
    const done = renderStatusComment(worker({ state: "PR_OPEN", prUrl: "https://github.com/acme/widgets/pull/9", reworkRounds: 2, reworkCause: "comment" }));
    expect(done).toContain("Rework rounds: 2, the last for `/worker rework`.");
    expect(renderStatusComment(worker({ state: "PR_OPEN" }))).not.toContain("Rework");
  });

  it("shows a worker's own port, Compose project and database while it holds its ports", () => {
    expect(renderStatusComment(worker({ state: "WORKING", port: 4110 }))).toContain(
      "Its own environment: port `4110` (`PW_PORT`), Compose project `worker-a1b2c3`, database `worker_a1b2c3`.",
    );
    expect(renderStatusComment(worker({ state: "MERGED", port: null }))).not.toContain("Its own environment");
  });

  it("lists the newest workers first and keeps the table intact", () => {
    const now = Date.parse("2026-01-01T01:00:00.000Z");
    const table = renderStatusTable(
      "acme/widgets",
      [worker({ id: "worker-old001", taskId: "a|b" }), worker({ id: "worker-new001", createdAt: "2026-01-01T00:30:00.000Z" })],
      now,
    );
    const rows = table.split("\n").filter((line) => line.startsWith("| `worker-"));
    expect(rows[0]).toBe("| `worker-new001` | `issue-7` | NEEDS_INIT | - | 30m00s |");
    expect(rows[1]).toBe("| `worker-old001` | `a\\|b` | NEEDS_INIT | - | 1h00m |");
    expect(renderStatusTable("acme/widgets", [])).toBe("No workers in acme/widgets yet.");
  });
});
