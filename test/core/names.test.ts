import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../../src/core/errors.js";
import {
  branchForTask,
  newWorkerId,
  parseProjectName,
  parseTaskId,
  parseWorkerId,
  worktreePathFor,
} from "../../src/core/names.js";

describe("task ids", () => {
  it.each(["TASK-001", "task-001", "a", "9", "issue-42", "v1.2_fix", "A".repeat(64)])("accepts %j", (id) => {
    expect(parseTaskId(id)).toBe(id);
  });

  it.each([
    ["../x", "is not allowed"],
    ["a/b", "is not allowed"],
    ["-rf", "is not allowed"],
    ["", "is empty"],
    ["x".repeat(200), "200 characters long"],
    ["a..b", "contains '..'"],
    ["a.", "ends with '.'"],
    ["topic.lock", "ends with '.lock'"],
    [".hidden", "is not allowed"],
    ["a b", "is not allowed"],
    ["a\nb", "is not allowed"],
    ["tâche", "is not allowed"],
    ["a:b", "is not allowed"],
  ])("refuses %j (%s)", (id, reason) => {
    expect(() => parseTaskId(id)).toThrow(InvalidInputError);
    expect(() => parseTaskId(id)).toThrow(reason);
  });

  it("names the bad value, shortened when long", () => {
    expect(() => parseTaskId("../x")).toThrow('task id "../x"');
    expect(() => parseTaskId("y".repeat(200))).toThrow(`"${"y".repeat(40)}..."`);
  });
});

describe("worker ids", () => {
  it("accepts worker- and six lowercase letters or digits", () => {
    expect(parseWorkerId("worker-abc123")).toBe("worker-abc123");
  });

  it.each(["worker-ABC123", "worker-abc12", "worker-abc1234", "abc123", "worker-abc12/", "../worker-abc123"])(
    "refuses %j",
    (id) => expect(() => parseWorkerId(id)).toThrow(InvalidInputError),
  );

  it("generates valid, distinct ids", () => {
    const ids = new Set(Array.from({ length: 200 }, () => newWorkerId()));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(parseWorkerId(id)).toBe(id);
  });
});

describe("branch and worktree path", () => {
  it.each([
    ["TASK-001", "feature/task-001"],
    ["issue-7", "feature/issue-7"],
    ["Fix.Login_2", "feature/fix.login_2"],
  ])("%s -> %s", (taskId, branch) => expect(branchForTask(taskId)).toBe(branch));

  it("puts the worktree at <root>/<project>/<task lowercased>", () => {
    expect(worktreePathFor("/wt", "demo", "TASK-001")).toBe(join("/wt", "demo", "task-001"));
  });

  it("refuses a project or task that would leave the root", () => {
    expect(() => worktreePathFor("/wt", "..", "t")).toThrow(InvalidInputError);
    expect(() => worktreePathFor("/wt", "demo", "../../etc")).toThrow(InvalidInputError);
    expect(() => parseProjectName("a/b")).toThrow('project name "a/b"');
  });
});
