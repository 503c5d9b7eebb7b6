import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../../src/core/errors.js";
import { parseState } from "../../src/core/state-input.js";
import { canTransition, isTerminal, TRANSITIONS, WORKER_STATES, type WorkerState } from "../../src/core/states.js";

// The legal moves, written out independently of the table so a change to either is caught.
const LEGAL: Array<[WorkerState, WorkerState]> = [
  ["NEEDS_INIT", "WORKING"],
  ["NEEDS_INIT", "UNKNOWN"],
  ["NEEDS_INIT", "ABANDONED"],
  ["WORKING", "PR_OPEN"],
  ["WORKING", "UNKNOWN"],
  ["WORKING", "ABANDONED"],
  ["WORKING", "MERGED"],
  ["PR_OPEN", "MERGED"],
  ["PR_OPEN", "ABANDONED"],
  ["PR_OPEN", "UNKNOWN"],
  ["PR_OPEN", "WORKING"],
  ["ABANDONED", "PR_OPEN"],
  ["ABANDONED", "NEEDS_INIT"],
  ["ABANDONED", "MERGED"],
  ["UNKNOWN", "NEEDS_INIT"],
  ["UNKNOWN", "PR_OPEN"],
  ["UNKNOWN", "MERGED"],
  ["UNKNOWN", "ABANDONED"],
];

describe("transition table", () => {
  const pairs = WORKER_STATES.flatMap((from) => WORKER_STATES.map((to) => [from, to] as const));

  it.each(pairs)("%s -> %s", (from, to) => {
    const expected = LEGAL.some(([f, t]) => f === from && t === to);
    expect(canTransition(from, to)).toBe(expected);
  });

  it("has no self-loops and an entry for every state", () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...WORKER_STATES].sort());
    for (const state of WORKER_STATES) expect(TRANSITIONS[state]).not.toContain(state);
  });

  it("reaches every state from NEEDS_INIT", () => {
    const seen = new Set<WorkerState>(["NEEDS_INIT"]);
    const queue: WorkerState[] = ["NEEDS_INIT"];
    while (queue.length) for (const next of TRANSITIONS[queue.shift()!]) if (!seen.has(next) && seen.add(next)) queue.push(next);
    expect([...seen].sort()).toEqual([...WORKER_STATES].sort());
  });

  it("ends at MERGED and lets only reopen, retry or a late merge leave ABANDONED", () => {
    expect(TRANSITIONS.MERGED).toEqual([]);
    expect(isTerminal("MERGED")).toBe(true);
    expect(isTerminal("ABANDONED")).toBe(true);
    expect(isTerminal("WORKING")).toBe(false);
  });
});

describe("parseState", () => {
  it.each(WORKER_STATES)("accepts %s", (state) => expect(parseState(state)).toBe(state));

  it.each(["working", "DONE", "", " WORKING"])("refuses %j and names it", (value) => {
    expect(() => parseState(value)).toThrow(InvalidInputError);
    expect(() => parseState(value)).toThrow(`unknown state ${JSON.stringify(value)}`);
  });
});

describe("the README's state diagram", () => {
  it("draws exactly the legal moves", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const diagram = /```mermaid\nstateDiagram-v2\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
    const drawn = [...diagram.matchAll(/^\s*([A-Z_]+) --> ([A-Z_]+)/gm)].map(([, from, to]) => `${from} -> ${to}`).sort();
    expect(drawn).toEqual(LEGAL.map(([from, to]) => `${from} -> ${to}`).sort());
  });
});
