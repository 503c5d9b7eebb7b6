/** A store opened on first use (src/store/lazy.ts), on a real SQLite file. */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/core/errors.js";
import { lazyStore } from "../../src/store/lazy.js";
import { openSqliteStore } from "../../src/store/sqlite-async.js";
import type { WorkerStore } from "../../src/store/store.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";

afterEach(removeTempDirs);

describe("a store opened on first use", () => {
  it("says what it is before opening, opens once for many calls, and closes what it opened", async () => {
    const file = join(tempDir("pw-lazy-"), "state.db");
    const opened: WorkerStore[] = [];
    const store = lazyStore(
      async () => {
        const real = await openSqliteStore(file);
        opened.push(real);
        return real;
      },
      { backend: "sqlite", location: file },
    );
    expect([store.backend, store.location, opened.length]).toEqual(["sqlite", file, 0]);
    // two calls at once share one open
    await Promise.all([store.createWorker({ id: "worker-lazy01" }, { source: "cli" }), store.listWorkers()]);
    expect((await store.requireWorker("worker-lazy01")).state).toBe("NEEDS_INIT");
    expect(opened).toHaveLength(1);
    await store.close();
    await expect(opened[0]!.ping()).rejects.toThrow();
  });

  it("an open that fails fails that call; the next call opens again", async () => {
    const file = join(tempDir("pw-lazy-"), "state.db");
    let tries = 0;
    const store = lazyStore(
      async () => {
        tries++;
        if (tries === 1) throw new StoreUnavailableError("database down");
        return openSqliteStore(file);
      },
      { backend: "sqlite", location: file },
    );
    await expect(store.listWorkers()).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await store.listWorkers()).toEqual([]);
    expect(tries).toBe(2);
    await store.close();
  });

  it("closing one never opened opens nothing", async () => {
    let tries = 0;
    const store = lazyStore(
      () => {
        tries++;
        return Promise.reject(new Error("never"));
      },
      { backend: "postgres", location: "postgres://pw:***@db/pw" },
    );
    await store.close();
    expect(tries).toBe(0);
  });
});
