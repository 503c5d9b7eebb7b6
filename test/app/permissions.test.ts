/**
 * The App's manifest against the code: every GitHub REST call in src/ (found in the source, as a
 * route string or an Octokit `rest.*` method) must be in the permission table, and app.yml must
 * ask for exactly the permissions those calls and the handled webhook events need.
 */
import { Octokit } from "@octokit/rest";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CHECK_EVENTS, ISSUE_COMMENT_EVENTS, LABEL_EVENTS, MERGE_GROUP_EVENTS, PULL_REQUEST_EVENTS, PUSH_EVENTS, REVIEW_EVENTS } from "../../src/app/index.js";
import { EVENT_PERMISSIONS, GRAPHQL_MUTATION_PERMISSIONS, REST_CALL_PERMISSIONS, requiredPermissions } from "../../src/app/permissions.js";
import { readAppManifest } from "../../src/app/setup.js";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : [],
  );
}

type RestMethods = Record<string, Record<string, { endpoint?: { DEFAULTS: { method: string; url: string } } } | undefined> | undefined>;

/** Every REST call the source makes, as Octokit's route, with the files that make it. */
function callsInSource(): Map<string, string[]> {
  const rest = new Octokit().rest as unknown as RestMethods;
  const calls = new Map<string, string[]>();
  const add = (route: string, file: string) => calls.set(route, [...(calls.get(route) ?? []), file.slice(SRC.length)]);
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, "utf8");
    for (const [, method, path] of text.matchAll(/"(GET|POST|PATCH|PUT|DELETE) (\/[^"\s]*)"/g)) add(`${method} ${path}`, file);
    for (const [call, scope, name] of text.matchAll(/\brest\.([a-zA-Z]+)\.([a-zA-Z]+)\b/g)) {
      const endpoint = rest[scope!]?.[name!]?.endpoint?.DEFAULTS;
      if (!endpoint) throw new Error(`${file}: ${call} is not an Octokit REST method`);
      add(`${endpoint.method} ${endpoint.url}`, file);
    }
  }
  return calls;
}

/** Every GraphQL mutation the source sends (`mutation name(`), with the files that send it. */
function mutationsInSource(): Map<string, string[]> {
  const mutations = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    for (const [, name] of readFileSync(file, "utf8").matchAll(/\bmutation\s+([A-Za-z]+)\s*[({]/g)) {
      mutations.set(name!, [...(mutations.get(name!) ?? []), file.slice(SRC.length)]);
    }
  }
  return mutations;
}

/** The webhook events index.ts subscribes to (`app.on`), by event name. */
function handledEvents(): string[] {
  const index = readFileSync(join(SRC, "app/index.ts"), "utf8");
  const registrations = [...index.matchAll(/app\.on\(\s*(\[\.\.\.([A-Z_]+)\]|"([a-z_.]+)")/g)];
  expect(registrations).toHaveLength([...index.matchAll(/app\.on\(/g)].length);
  const lists: Record<string, readonly string[]> = { PULL_REQUEST_EVENTS, CHECK_EVENTS, ISSUE_COMMENT_EVENTS, REVIEW_EVENTS, PUSH_EVENTS, MERGE_GROUP_EVENTS, LABEL_EVENTS };
  const names = registrations.flatMap(([, , list, literal]) => (literal ? [literal] : lists[list!]!));
  return [...new Set(names.map((name) => name.split(".")[0]!))].sort();
}

describe("the App's permissions", () => {
  it("every REST call in src/ is in the permission table, and every entry is a call made", () => {
    const calls = callsInSource();
    const unlisted = [...calls].filter(([route]) => !(route in REST_CALL_PERMISSIONS)).map(([route, files]) => `${route} (${files.join(", ")})`);
    expect(unlisted).toEqual([]);
    expect(Object.keys(REST_CALL_PERMISSIONS).filter((route) => !calls.has(route))).toEqual([]);
  });

  it("every GraphQL mutation in src/ is in the mutation table, and every entry is a mutation sent", () => {
    const mutations = mutationsInSource();
    expect([...mutations.keys()].filter((name) => !(name in GRAPHQL_MUTATION_PERMISSIONS))).toEqual([]);
    expect(Object.keys(GRAPHQL_MUTATION_PERMISSIONS).filter((name) => !mutations.has(name))).toEqual([]);
  });

  it("app.yml asks for exactly what those calls, mutations and the handled events need", () => {
    const manifest = readAppManifest();
    const events = handledEvents();
    expect(manifest.default_events.toSorted()).toEqual(events);
    expect(Object.keys(EVENT_PERMISSIONS).sort()).toEqual(events);
    expect(manifest.default_permissions).toEqual(requiredPermissions(callsInSource().keys(), events, mutationsInSource().keys()));
    expect(manifest.default_permissions).toEqual({
      checks: "write",
      contents: "write",
      issues: "write",
      merge_queues: "write",
      metadata: "read",
      pull_requests: "write",
    });
  });

  it.each([
    [["GET /repos/{owner}/{repo}/contents/{path}"], [], { metadata: "read", contents: "read" }],
    [["GET /repos/{owner}/{repo}/contents/{path}", "DELETE /repos/{owner}/{repo}/git/refs/{ref}"], [], { metadata: "read", contents: "write" }],
    [["DELETE /repos/{owner}/{repo}/git/refs/{ref}", "GET /repos/{owner}/{repo}/contents/{path}"], ["check_run"], { metadata: "read", contents: "write", checks: "read" }],
    [["GET /repos/{owner}/{repo}/installation"], [], { metadata: "read" }],
  ])("%j with events %j need %j", (calls, events, needed) => {
    expect(requiredPermissions(calls, events, [])).toEqual(needed);
  });

  it("a merge group's event needs merge queues read; adding to the queue needs it written", () => {
    expect(requiredPermissions([], ["merge_group"], [])).toEqual({ metadata: "read", merge_queues: "read" });
    expect(requiredPermissions([], [], ["enqueuePullRequest"])).toEqual({ metadata: "read", merge_queues: "write", contents: "write", pull_requests: "write" });
  });

  it("a call or event missing from the table is an error naming it", () => {
    expect(() => requiredPermissions(["GET /repos/{owner}/{repo}/branches"], [])).toThrow("GET /repos/{owner}/{repo}/branches: not in REST_CALL_PERMISSIONS");
    expect(() => requiredPermissions([], ["deployment"])).toThrow("deployment: not in EVENT_PERMISSIONS");
    expect(() => requiredPermissions([], [], ["mergePullRequest"])).toThrow("mergePullRequest: not in GRAPHQL_MUTATION_PERMISSIONS");
  });
});
