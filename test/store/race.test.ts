import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import { pw } from "../helpers/cli.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";

/** A process that claims from the store at `file` (the built code) until nothing is left, and prints what it claimed. */
const CLAIMER = `
const { openSqliteStore } = await import(new URL("../../dist/store/sqlite-async.js", process.argv[1]).href);
const store = await openSqliteStore(process.argv[2]);
const claimed = [];
for (;;) {
  const worker = await store.claimNextWorker(process.argv[3], 60000, { repositories: ["acme/web"] });
  if (!worker) break;
  claimed.push(worker.id);
}
await store.close();
console.log(JSON.stringify(claimed));
`;

function claimer(file: string, owner: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", CLAIMER, import.meta.url, file, owner], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(stdout) as string[]) : reject(new Error(`claimer exited ${code}: ${stderr}`))));
  });
}

afterEach(removeTempDirs);

describe("racing transitions across processes", () => {
  it("lets exactly one of many processes win the same compare-and-swap", async () => {
    const home = join(tempDir(), "home");
    const store = new SqliteWorkerStore(join(home, "state.db"));
    store.createWorker({ id: "worker-race01", state: "WORKING" }, { source: "cli" });
    store.close();

    const racers = 12;
    const results = await Promise.all(
      Array.from({ length: racers }, () =>
        pw(["state", "transition", "worker-race01", "WORKING", "PR_OPEN"], { env: { PW_HOME: home } }),
      ),
    );
    const winners = results.filter((r) => r.code === 0);
    const losers = results.filter((r) => r.code !== 0);
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(racers - 1);
    for (const loser of losers) {
      expect(loser.code).toBe(1);
      expect(loser.stderr).toContain("conflict on worker-race01");
      expect(loser.stderr).toContain("it is PR_OPEN now");
    }

    const after = new SqliteWorkerStore(join(home, "state.db"));
    expect(after.getWorker("worker-race01")?.state).toBe("PR_OPEN");
    expect(after.history("worker-race01").filter((t) => t.to === "PR_OPEN")).toHaveLength(1);
    after.close();
  });

  it("gives each queued worker to exactly one of many processes claiming the next one", async () => {
    const file = join(tempDir(), "state.db");
    const store = new SqliteWorkerStore(file);
    const queued = 150;
    for (let i = 0; i < queued; i++) store.createWorker({ id: `worker-p${String(i).padStart(5, "0")}`, repo: "acme/web" }, { source: "cli" });
    store.close();

    const claims = await Promise.all(["runner-a", "runner-b", "runner-c", "runner-d"].map((owner) => claimer(file, owner)));
    const all = claims.flat();
    expect(all).toHaveLength(queued);
    expect(new Set(all).size).toBe(queued);
    const after = new SqliteWorkerStore(file);
    for (const [i, owner] of ["runner-a", "runner-b", "runner-c", "runner-d"].entries()) {
      for (const id of claims[i]!) expect(after.getWorker(id)?.owner).toBe(owner);
    }
    after.close();
  });

  it("creates the store once when many processes open a new file together", async () => {
    const home = join(tempDir(), "home");
    const ids = Array.from({ length: 8 }, (_, i) => `worker-new00${i}`);
    const results = await Promise.all(ids.map((id) => pw(["state", "set", id, "WORKING"], { env: { PW_HOME: home } })));
    expect(results.map((r) => r.code)).toEqual(ids.map(() => 0));
    const store = new SqliteWorkerStore(join(home, "state.db"));
    expect(store.listWorkers().map((w) => w.id).sort()).toEqual(ids);
    store.close();
  });
});
