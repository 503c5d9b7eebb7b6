/**
 * `pw loop` as a person and a pipe see it: readable lines or JSON lines, and, when it stops, a
 * summary of its workers with an exit code that says whether one failed in this run. The built
 * CLI as a child process, a real repository with a bare origin, the GitHub stand-in, real agents.
 */
import { afterEach, describe, expect, it } from "vitest";
import { removeTempDirs } from "../helpers/git.js";
import { fakeAgent, runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";

let sandbox: RunnerSandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
  removeTempDirs();
});

interface WorkerJson {
  id: string;
  taskId: string;
  state: string;
}

async function idOf(sb: RunnerSandbox, taskId: string): Promise<string> {
  const workers = JSON.parse((await sb.pw(["worker", "list", "--json"])).stdout) as WorkerJson[];
  const found = workers.find((w) => w.taskId === taskId);
  if (!found) throw new Error(`no worker for ${taskId}`);
  return found.id;
}

function spawn(sb: RunnerSandbox, taskId: string, ...extra: string[]) {
  return sb.pw(["worker", "spawn", "--task-id", taskId, "--description", `do ${taskId}`, ...extra]);
}

describe("pw loop --until-idle", () => {
  it("ends with a summary and exits 1 only for a worker that failed in this run", async () => {
    const sb = (sandbox = await runnerSandbox({
      agents: { "code-author": fakeAgent("write-file.mjs"), idle: fakeAgent("no-changes.mjs") },
    }));
    // a failure from before this run: reported in the counts, not as this run's
    expect((await spawn(sb, "OLD-1", "--agent", "idle", "--wait")).code).toBe(1);
    for (const [task, ...extra] of [["OK-1"], ["BAD-1", "--agent", "idle"], ["DEP-1", "--depends-on", "BAD-1"]] as const) {
      expect((await spawn(sb, task, ...extra)).code).toBe(0);
    }
    const [old, bad, dep] = [await idOf(sb, "OLD-1"), await idOf(sb, "BAD-1"), await idOf(sb, "DEP-1")];

    const pretty = await sb.pw(["loop", "--poll-interval", "0.1", "--until-idle", "--log-format", "pretty"]);
    expect(pretty.code).toBe(1);
    expect(pretty.stderr).toBe(
      `pw: worker ${bad} failed in this run: \`pw worker logs ${bad}\` shows why; \`pw worker retry ${bad}\` runs it again\n`,
    );
    const lines = pretty.stdout.trimEnd().split("\n");
    const summaryAt = lines.findIndex((line) => line.startsWith("runner summary:"));
    expect(lines.slice(summaryAt)).toEqual([
      "runner summary: 4 workers: 1 NEEDS_INIT, 1 PR_OPEN, 2 UNKNOWN",
      "waiting:",
      `  ${dep}  DEP-1  waits for BAD-1 (UNKNOWN) to be merged`,
      "failed in this run:",
      `  ${bad}  BAD-1  agent made no changes`,
      `    \`pw worker logs ${bad}\` shows why; \`pw worker retry ${bad}\` runs it again`,
    ]);
    const logLines = lines.slice(0, summaryAt);
    // one readable line per event: time, level, component, worker and task, message
    expect(logLines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: runner: runner [a-z0-9.-]+ started /);
    expect(logLines).toContainEqual(expect.stringMatching(new RegExp(`ERROR: runner ${bad} BAD-1: state WORKING -> UNKNOWN `)));
    expect(logLines).toContainEqual(expect.stringMatching(/INFO: runner worker-[a-z0-9]{6} OK-1: state WORKING -> PR_OPEN /));
    for (const line of logLines) {
      expect(() => JSON.parse(line)).toThrow();
      expect(line).not.toContain("\u001b[");
    }
    expect(pretty.stdout).not.toContain(`${old}  OLD-1`);
    // the failed worker says what to run next wherever it is looked at
    expect((await sb.pw(["worker", "get", bad])).stdout).toContain(`\nnext         \`pw worker logs ${bad}\` shows why; \`pw worker retry ${bad}\` runs it again\n`);

    // piped without --log-format: JSON lines, the summary one of them; the old failures do not fail it
    const json = await sb.pw(["loop", "--poll-interval", "0.1", "--until-idle"]);
    expect(json.stderr).toBe("");
    expect(json.code).toBe(0);
    const records = json.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.at(-1)).toMatchObject({
      level: 30,
      component: "runner",
      msg: "runner summary",
      workers: { NEEDS_INIT: 1, PR_OPEN: 1, UNKNOWN: 2 },
      waiting: [{ worker_id: dep, task_id: "DEP-1", waits_for: "BAD-1 (UNKNOWN)" }],
      failed: [],
    });
  });

  it("reports a failure as a JSON error line when piped, and PW_LOG_FORMAT=pretty gives readable lines", async () => {
    const sb = (sandbox = await runnerSandbox({ agents: { "code-author": fakeAgent("no-changes.mjs") } }));
    expect((await spawn(sb, "BAD-2")).code).toBe(0);
    const bad = await idOf(sb, "BAD-2");
    const json = await sb.pw(["loop", "--poll-interval", "0.1", "--until-idle"]);
    expect(json.code).toBe(1);
    expect(json.stderr).toContain(`pw: worker ${bad} failed in this run`);
    const summary = JSON.parse(json.stdout.trimEnd().split("\n").at(-1)!) as Record<string, unknown>;
    expect(summary).toMatchObject({ level: 50, msg: "runner summary", failed: [{ worker_id: bad, task_id: "BAD-2", error: "agent made no changes" }] });

    const pretty = await sb.pw(["loop", "--max-iterations", "1"], { PW_LOG_FORMAT: "pretty" });
    expect(pretty.code).toBe(0);
    expect(pretty.stdout.trimEnd().split("\n").at(-1)).toBe("runner summary: 1 worker: 1 UNKNOWN");
  });

  it("refuses an unknown --log-format or PW_LOG_FORMAT with exit 2 before it starts", async () => {
    const sb = (sandbox = await runnerSandbox({ agents: { "code-author": fakeAgent("write-file.mjs") } }));
    expect((await spawn(sb, "NOT-RUN")).code).toBe(0);
    const flag = await sb.pw(["loop", "--until-idle", "--log-format", "fancy"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/^pw: error: option '--log-format <format>' argument 'fancy' is invalid\. Allowed choices are pretty, json\.\n$/);
    const env = await sb.pw(["loop", "--until-idle"], { PW_LOG_FORMAT: "fancy" });
    expect(env.code).toBe(2);
    expect(env.stderr).toBe('pw: environment variable PW_LOG_FORMAT "fancy" is not a log format: use pretty or json\n');
    expect(env.stdout).toBe("");
    const workers = JSON.parse((await sb.pw(["worker", "list", "--json"])).stdout) as WorkerJson[];
    expect(workers.map((w) => w.state)).toEqual(["NEEDS_INIT"]);
  });
});
