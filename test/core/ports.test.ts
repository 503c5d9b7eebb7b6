import { describe, expect, it } from "vitest";
import { composeProjectName, databaseName, firstFreeBlock, type PortBlock } from "../../src/core/ports.js";

const range = { from: 4100, perWorker: 10 };

describe("firstFreeBlock", () => {
  it.each<[string, PortBlock[], number | undefined, number | undefined]>([
    ["nothing held: the range's first block", [], undefined, 4100],
    ["the first block held: the next", [{ port: 4100, span: 10 }], undefined, 4110],
    ["a gap is filled before the end", [{ port: 4100, span: 10 }, { port: 4120, span: 10 }], undefined, 4110],
    ["a block of another range that overlaps counts as held", [{ port: 4105, span: 10 }], undefined, 4120],
    ["a held block just below the range does not", [{ port: 4090, span: 10 }], undefined, 4100],
    ["a free preferred block is taken first", [], 4150, 4150],
    ["a preferred block that is held is not", [{ port: 4150, span: 10 }], 4150, 4100],
    ["a preferred port off the range's grid is not", [], 4155, 4100],
    ["a preferred port below the range is not", [], 4000, 4100],
  ])("%s", (_name, held, prefer, expected) => {
    expect(firstFreeBlock(held, range, prefer)).toBe(expected);
  });

  it("stops at port 65535: a block never runs past it, and a full range has none", () => {
    expect(firstFreeBlock([], { from: 65_530, perWorker: 10 })).toBeUndefined();
    expect(firstFreeBlock([], { from: 65_526, perWorker: 10 })).toBe(65_526);
    expect(firstFreeBlock([{ port: 65_526, span: 10 }], { from: 65_526, perWorker: 10 })).toBeUndefined();
  });
});

describe("a worker's own names", () => {
  it.each([
    ["worker-a1b2c3", "worker-a1b2c3", "worker_a1b2c3"],
    ["worker-000000", "worker-000000", "worker_000000"],
  ])("%s: Compose project %s, database %s", (id, compose, db) => {
    expect(composeProjectName(id)).toBe(compose);
    expect(databaseName(id)).toBe(db);
    // what Compose and an unquoted SQL identifier accept
    expect(compose).toMatch(/^[a-z0-9][a-z0-9_-]*$/);
    expect(db).toMatch(/^[a-z_][a-z0-9_]*$/);
  });
});
