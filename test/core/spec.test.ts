import { describe, expect, it } from "vitest";
import { parseTaskSpec, SpecError } from "../../src/core/spec.js";

const context = { agents: ["code-author", "test-author"], existingTaskIds: new Set(["OLD-1"]), defaultAgent: "code-author" };

function problems(data: unknown): string[] {
  try {
    parseTaskSpec(data, "tasks.yml", context);
  } catch (error) {
    expect(error).toBeInstanceOf(SpecError);
    expect((error as SpecError).exitCode).toBe(2);
    return (error as SpecError).problems;
  }
  throw new Error("expected the spec to be refused");
}

describe("task spec", () => {
  it("accepts the documented shape and fills defaults", () => {
    const spec = parseTaskSpec(
      {
        milestone: "Sprint 1",
        tasks: [
          { id: "TASK-001", description: "Implement authentication", agent: "code-author", base_branch: "main", labels: ["area:auth"], depends_on: [] },
          { id: "TASK-002", description: "Test it", agent: "test-author", depends_on: ["TASK-001", "OLD-1"] },
        ],
      },
      "tasks.yml",
      context,
    );
    expect(spec.milestone).toBe("Sprint 1");
    expect(spec.tasks[1]).toMatchObject({ labels: [], depends_on: ["TASK-001", "OLD-1"] });
    // no base: the repository's default branch, found when the spawn runs
    expect(spec.tasks[1]!.base_branch).toBeUndefined();
  });

  it("reads a task's stack, and refuses one that is not true or false", () => {
    const spec = parseTaskSpec({ tasks: [{ id: "T-1", description: "d" }, { id: "T-2", description: "e", depends_on: ["T-1"], stack: true }] }, "tasks.yml", context);
    expect(spec.tasks.map((t) => t.stack)).toEqual([undefined, true]);
    expect(problems({ tasks: [{ id: "T-1", description: "d", stack: "yes" }] }).some((p) => p.startsWith("tasks[0].stack:"))).toBe(true);
  });

  it("a task without an agent gets the repository's default agent; with no default, it must name one", () => {
    const data = { tasks: [{ id: "T-1", description: "d" }, { id: "T-2", description: "e", agent: "test-author" }] };
    expect(parseTaskSpec(data, "tasks.yml", { ...context, defaultAgent: "test-author" }).tasks.map((t) => t.agent)).toEqual(["test-author", "test-author"]);
    expect(() => parseTaskSpec(data, "tasks.yml", { ...context, defaultAgent: null })).toThrow(SpecError);
    try {
      parseTaskSpec(data, "tasks.yml", { ...context, defaultAgent: null });
    } catch (error) {
      expect((error as SpecError).problems).toEqual([
        "tasks[0].agent: required: this repository has several agents and no default_agent; use one of code-author, test-author",
      ]);
    }
  });

  it.each([
    [{ tasks: [] }, ["tasks: lists no tasks"]],
    [{}, ["tasks: required"]],
    [[{ id: "T-1", description: "d" }], ["(top level): expected a mapping with a tasks: list"]],
    [{ tasks: [{ id: "T-1" }] }, ["tasks[0].description: required"]],
    [{ tasks: [{ id: "../x", description: "d" }] }, ['tasks[0].id: task id "../x" is not allowed']],
    [{ tasks: [{ id: "T-1" }] }, ["tasks[0].description:"]],
    [{ tasks: [{ id: "T-1", description: "d", colour: "red" }] }, ['tasks[0]: Unrecognized key: "colour"']],
  ])("refuses a malformed spec %#", (data, expected) => {
    const found = problems(data);
    for (const e of expected) expect(found.some((p) => p.startsWith(e))).toBe(true);
  });

  it("lists every semantic problem at once", () => {
    const found = problems({
      tasks: [
        { id: "A", description: "a", depends_on: ["B"] },
        { id: "B", description: "b", depends_on: ["C"] },
        { id: "C", description: "c", depends_on: ["A"] },
        { id: "a", description: "dup of A in another case" },
        { id: "D", description: "d", agent: "poet", depends_on: ["NOPE", "D"] },
      ],
    });
    expect(found).toEqual([
      'tasks[3].id: "a" repeats the id of tasks[0]',
      'tasks[4].agent: unknown agent "poet": use one of code-author, test-author',
      'tasks[4].depends_on[0]: unknown task "NOPE" (not in this file and no worker of this repository has it)',
      'tasks[4].depends_on[1]: "D" cannot depend on itself',
      "depends_on: cycle A -> B -> C -> A",
    ]);
  });

  it("lists shape problems and the checks of the other tasks in one go, each with its key path", () => {
    const found = problems({
      milestone: "",
      tasks: [
        { id: "../x", description: "bad id", depends_on: ["B"] },
        { id: "B", description: "", agent: "poet" },
        { id: "b", description: "dup", colour: "red", depends_on: ["GHOST", "a b"] },
        { id: "C", description: "cycle", depends_on: ["D"] },
        { id: "D", description: "cycle", depends_on: ["C"] },
        "not a task",
      ],
    });
    expect(found).toEqual([
      "milestone: must not be empty",
      expect.stringMatching(/^tasks\[0\]\.id: task id "\.\.\/x" is not allowed/),
      "tasks[1].description: must not be empty",
      expect.stringMatching(/^tasks\[2\]\.depends_on\[1\]: task id "a b" is not allowed/),
      'tasks[2]: Unrecognized key: "colour"',
      "tasks[5]: Invalid input: expected object, received string",
      'tasks[1].agent: unknown agent "poet": use one of code-author, test-author',
      'tasks[2].id: "b" repeats the id of tasks[1]',
      'tasks[2].depends_on[0]: unknown task "GHOST" (not in this file and no worker of this repository has it)',
      "depends_on: cycle C -> D -> C",
    ]);
  });

  it("reads the fields of a task with a bad id: a dependency on it is not reported as unknown", () => {
    expect(problems({ tasks: [{ id: "A", description: "a", depends_on: ["B"] }, { id: "B" }] })).toEqual([
      "tasks[1].description: required",
    ]);
  });
});

describe("the shipped example", () => {
  it("templates/tasks-spec-example.yml is a valid spec", async () => {
    const { readFileSync } = await import("node:fs");
    const { parse } = await import("yaml");
    const text = readFileSync(new URL("../../templates/tasks-spec-example.yml", import.meta.url), "utf8");
    const spec = parseTaskSpec(parse(text), "example", { agents: ["code-author", "test-author", "iac-engineer"], existingTaskIds: new Set<string>(), defaultAgent: "code-author" });
    expect(spec.tasks.map((t) => [t.id, t.agent, t.depends_on])).toEqual([
      ["LOGIN-1", "code-author", []],
      ["LOGIN-2", "test-author", ["LOGIN-1"]],
      ["SESSIONS-1", "iac-engineer", []],
    ]);
  });
});
