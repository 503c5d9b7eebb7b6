import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { removeTempDirs } from "../helpers/git.js";
import { fakeAgent, originBranches, runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";

let sandbox: RunnerSandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
  removeTempDirs();
});

interface WorkerJson {
  id: string;
  state: string;
  error: string | null;
}

async function onlyWorker(sb: RunnerSandbox): Promise<WorkerJson> {
  const [worker] = JSON.parse((await sb.pw(["worker", "list", "--json"])).stdout) as WorkerJson[];
  return worker!;
}

function everythingShown(sb: RunnerSandbox, id: string, ...outputs: string[]): string {
  return [...outputs, readFileSync(join(sb.home, "logs", `${id}.log`), "utf8"), ...readdirSync(join(sb.home, "logs")).map((f) => readFileSync(join(sb.home, "logs", f), "utf8"))].join("\n");
}

/**
 * Spawns one worker and waits for it; its push must have been refused: the worker is UNKNOWN,
 * origin has no new branch, and GitHub was asked nothing but the spawn's preflight read.
 */
async function spawnRefused(sb: RunnerSandbox, taskId: string, description: string) {
  const result = await sb.pw(["worker", "spawn", "--task-id", taskId, "--description", description, "--wait"]);
  expect(result.code).toBe(1);
  const worker = await onlyWorker(sb);
  expect(worker.state).toBe("UNKNOWN");
  expect(originBranches(sb.origin)).toEqual(["main"]);
  expect(sb.github.calls()).toEqual(["GET /repos/acme/widgets"]);
  return { result, worker };
}

describe("gates before every push", () => {
  it("an agent that commits a key: the branch never reaches origin, and the key is never shown", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    const leaked = join(sb.out, "leaked.json");
    sb.configure({ agents: { "code-author": fakeAgent("leak-secret.mjs", leaked) } });
    const { result, worker } = await spawnRefused(sb, "LEAK-1", "configure aws");
    expect(worker.error).toMatch(/^security-gate blocked the push: nothing was pushed/);
    expect(worker.error).toContain("config.js");

    const check = await sb.pw(["gate", "check", worker.id]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain("security-gate: failure (blocking)");
    const json = await sb.pw(["gate", "check", worker.id, "--json"]);
    expect(json.code).toBe(1);
    const results = JSON.parse(json.stdout) as Array<{ name: string; blocking: boolean }>;
    expect(results.map((r) => [r.name, r.blocking])).toEqual([
      ["security-gate", true],
      ["phase-5-to-6", false],
    ]);

    const { keyId, secret } = JSON.parse(readFileSync(leaked, "utf8")) as { keyId: string; secret: string };
    const shown = everythingShown(sb, worker.id, result.stdout, result.stderr, check.stdout, json.stdout, worker.error ?? "");
    expect(shown).toContain(keyId.slice(0, 4));
    expect(shown).not.toContain(keyId);
    expect(shown).not.toContain(secret);
    expect(shown).not.toContain(secret.slice(0, 12));
  });

  it("judges with the base branch's gate files, not ones the agent edited", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    sb.configure({ agents: { "code-author": fakeAgent("leak-secret.mjs", join(sb.out, "leaked.json"), "relax") } });
    const { worker } = await spawnRefused(sb, "LEAK-2", "relax and leak");
    expect(worker.error).toMatch(/^security-gate blocked the push/);
  });

  it("an agent that plants a command in .git/config: nothing is pushed, the file is put back, the command never runs", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    const dump = join(sb.out, "push.env");
    sb.configure({ agents: { "code-author": fakeAgent("plant-git-config.mjs", dump) } });
    const { worker } = await spawnRefused(sb, "PLANT-1", "plant a command");
    expect(worker.error).toMatch(/^git configuration changed while agents ran \(.*\.git\/config: a program to run or a place to connect\), so nothing was pushed/);
    expect(worker.error).toContain(`pw worker retry ${worker.id}`);
    expect(existsSync(dump)).toBe(false);
    expect(readFileSync(join(sb.repo, ".git", "config"), "utf8")).not.toContain("receivepack");
    expect(readFileSync(join(sb.repo, ".git", `config.pw-rejected-${worker.id}`), "utf8")).toContain("receivepack");
  });

  it("gate init writes the default files once, and --force replaces them", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    const first = await sb.pw(["gate", "init"]);
    expect(first.code).toBe(0);
    const dir = join(sb.repo, ".parallel-workers", "gates");
    expect(first.stdout).toBe(`wrote ${join(dir, "security-gate.yml")}\nwrote ${join(dir, "phase-5-to-6.yml")}\n`);
    expect(existsSync(join(dir, "phase-5-to-6.yml"))).toBe(true);
    const again = await sb.pw(["gate", "init"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("--force");
    expect((await sb.pw(["gate", "init", "--force"])).stdout).toContain("replaced");
  });

  it("a forbidden path blocks the push; a report-only rule does not", async () => {
    const sb = (sandbox = await runnerSandbox({ agents: { "code-author": fakeAgent("write-path.mjs", "deploy/.env", "DATABASE_URL=postgres://localhost/app") } }));
    expect((await sb.pw(["worker", "spawn", "--task-id", "ENV-1", "--description", "add env file", "--wait"])).code).toBe(1);
    const blocked = await onlyWorker(sb);
    expect(blocked.error).toMatch(/^security-gate blocked the push/);
    expect(blocked.error).toContain("forbidden-paths");
    expect(blocked.error).toContain("deploy/.env");

    // source without a test fails tests-changed, which only reports by default
    sb.configure({ agents: { "code-author": fakeAgent("write-path.mjs", "src/feature.ts", "export const x = 1;") } });
    expect((await sb.pw(["worker", "spawn", "--task-id", "SRC-1", "--description", "source only", "--wait"])).code).toBe(0);
    const id = (JSON.parse((await sb.pw(["worker", "list", "--json"])).stdout) as Array<{ id: string; taskId: string }>).find((w) => w.taskId === "SRC-1")!.id;
    const log = readFileSync(join(sb.home, "logs", `${id}.log`), "utf8");
    expect(log).toContain("phase-5-to-6: neutral");
    expect(log).toMatch(/tests-changed \[report only\] failed/);
  });
});
