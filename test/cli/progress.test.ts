import { describe, expect, it } from "vitest";
import { ProgressView } from "../../src/cli/progress.js";
import type { Worker } from "../../src/core/worker.js";
import { workerRecord } from "../helpers/workers.js";

function worker(id: string, state: Worker["state"], extra: Partial<Worker> = {}): Worker {
  const now = new Date().toISOString();
  return workerRecord({ id, taskId: id.toUpperCase(), state, repo: "acme/web", agent: "code-author", createdAt: now, updatedAt: now, ...extra });
}

class Sink {
  text = "";
  constructor(readonly isTTY: boolean) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

describe("progress view", () => {
  it("on a terminal, redraws one line per worker in place", () => {
    const sink = new Sink(true);
    const view = new ProgressView(sink as unknown as NodeJS.WriteStream);
    view.update([worker("worker-aaaaa1", "NEEDS_INIT"), worker("worker-aaaaa2", "WORKING")], () => undefined);
    view.update([worker("worker-aaaaa1", "WORKING"), worker("worker-aaaaa2", "PR_OPEN", { prUrl: "https://x/pull/1" })], () => undefined);
    // the second draw moves the cursor up two lines and clears each line it rewrites
    expect(sink.text).toContain("\x1b[2F");
    expect(sink.text.split("\x1b[2K")).toHaveLength(5);
    expect(sink.text).toContain("https://x/pull/1");
  });

  it("elsewhere, prints a plain line only when a worker's line changes", () => {
    const sink = new Sink(false);
    const view = new ProgressView(sink as unknown as NodeJS.WriteStream);
    const waiting = (w: Worker) => (w.state === "NEEDS_INIT" ? "TASK-0 (PR_OPEN)" : undefined);
    view.update([worker("worker-aaaaa1", "NEEDS_INIT")], waiting);
    view.update([worker("worker-aaaaa1", "NEEDS_INIT")], waiting);
    view.update([worker("worker-aaaaa1", "UNKNOWN", { error: "agent made no changes\nmore" })], waiting);
    const lines = sink.text.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^worker-aaaaa1 {2}WORKER-AAAAA1 {2}NEEDS_INIT\s+\d+s {2}waiting for TASK-0 \(PR_OPEN\)$/);
    expect(lines[1]).toMatch(/UNKNOWN\s+\d+s {2}agent made no changes$/);
    expect(sink.text).not.toContain("\x1b[");
  });
});
