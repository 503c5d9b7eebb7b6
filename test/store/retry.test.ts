/** Riding out an unavailable store: tried again with backoff, said once a while, other failures at once. */
import { describe, expect, it } from "vitest";
import { StoreError, StoreUnavailableError, TransitionConflictError } from "../../src/core/errors.js";
import { outageReports, patientStore, retryWhileUnavailable } from "../../src/store/retry.js";

/** A call that fails with `failures` in turn, then answers `answer`. */
function failing<T>(failures: Error[], answer: T): { call: () => Promise<T>; calls: () => number } {
  let calls = 0;
  return {
    call: async () => {
      const failure = failures[calls++];
      if (failure) throw failure;
      return answer;
    },
    calls: () => calls,
  };
}

const down = () => new StoreUnavailableError("database postgres://pw:***@db/pw is unreachable (connect ECONNREFUSED)");

describe("retryWhileUnavailable", () => {
  it("tries again while the store is unavailable, says so at the first failure, and when it is back", async () => {
    const { call, calls } = failing([down(), down(), down()], "done");
    const reports: Array<[string, number]> = [];
    let recovered: number | undefined;
    const answer = await retryWhileUnavailable(call, {
      initialDelayMs: 1,
      report: (error, unavailableMs) => reports.push([error.message, unavailableMs]),
      recovered: (unavailableMs) => (recovered = unavailableMs),
    });
    expect(answer).toBe("done");
    expect(calls()).toBe(4);
    expect(reports).toEqual([[down().message, 0]]);
    expect(recovered).toBeGreaterThanOrEqual(0);
  });

  it("says so again once per interval while it lasts", async () => {
    const { call } = failing([down(), down(), down()], 1);
    let reports = 0;
    await retryWhileUnavailable(call, { initialDelayMs: 1, reportEveryMs: 0, report: () => reports++ });
    expect(reports).toBe(3);
  });

  it("throws any other failure at once", async () => {
    for (const failure of [new TransitionConflictError("worker-aaaaaa", "WORKING", "PR_OPEN", "UNKNOWN"), new StoreError("database x: syntax"), new Error("bug")]) {
      const { call, calls } = failing([failure], 1);
      await expect(retryWhileUnavailable(call, { initialDelayMs: 1 })).rejects.toBe(failure);
      expect(calls()).toBe(1);
    }
  });

  it("stops when aborted, with the last failure", async () => {
    const aborted = new AbortController();
    const failure = down();
    const call = async () => {
      aborted.abort();
      throw failure;
    };
    await expect(retryWhileUnavailable(call, { initialDelayMs: 60_000, signal: aborted.signal })).rejects.toBe(failure);
  });
});

describe("outageReports", () => {
  it("says an outage once for every call that waits on it, and once that it is over", async () => {
    const lines: string[] = [];
    const log = { warn: (_: unknown, message: string) => lines.push(`warn ${message}`), info: (_: unknown, message: string) => lines.push(`info ${message}`) };
    const reports = outageReports(log, "runner");
    let outage = true;
    const call = (answer: number) => async () => {
      if (outage) throw down();
      return answer;
    };
    const answers = Promise.all([1, 2, 3].map((n) => retryWhileUnavailable(call(n), { initialDelayMs: 1, maxDelayMs: 5, ...reports })));
    await new Promise((resolve) => setTimeout(resolve, 50));
    outage = false;
    expect(await answers).toEqual([1, 2, 3]);
    expect(lines).toEqual(["warn runner: the store is unavailable; waiting for it, nothing is lost", "info runner: the store answers again"]);
  });
});

describe("patientStore", () => {
  it("runs every call again while the store is unavailable, but a health check answers at once", async () => {
    let failures = 2;
    const store = {
      async getWorker(id: string) {
        if (failures-- > 0) throw down();
        return { id };
      },
      async ping() {
        throw down();
      },
    };
    const patient = patientStore(store, { initialDelayMs: 1 });
    expect(await patient.getWorker("worker-aaaaaa")).toEqual({ id: "worker-aaaaaa" });
    await expect(patient.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    // other failures are not tried again
    const broken = patientStore({ getWorker: async () => Promise.reject(new StoreError("bad")) }, { initialDelayMs: 1 });
    await expect(broken.getWorker()).rejects.toBeInstanceOf(StoreError);
  });
});
