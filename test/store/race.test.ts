import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteWorkerStore } from "../../src/store/sqlite.js";
import { pw } from "../helpers/cli.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";

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
