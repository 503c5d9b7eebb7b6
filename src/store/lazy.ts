import type { WorkerStore } from "./store.js";

/**
 * A store opened on first use: each call waits for `open`, then is the opened store's. An open
 * that fails fails that call and is tried again by the next one (a database that was down may be
 * up). `close` closes what was opened, and nothing when nothing was. For a database a command may
 * not need, or must first be reached over the network.
 */
export function lazyStore(open: () => Promise<WorkerStore>, shown: Pick<WorkerStore, "backend" | "location">): WorkerStore {
  let opening: Promise<WorkerStore> | undefined;
  const opened = (): Promise<WorkerStore> => {
    opening ??= open().catch((error: unknown) => {
      opening = undefined;
      throw error;
    });
    return opening;
  };
  return new Proxy(shown as WorkerStore, {
    get(_target, key) {
      if (key === "backend" || key === "location") return shown[key];
      // not a thenable: `await lazyStore(...)` is the store itself
      if (key === "then") return undefined;
      if (key === "close") {
        return async () => {
          const store = opening && (await opening.catch(() => undefined));
          opening = undefined;
          await store?.close();
        };
      }
      return async (...args: unknown[]) => {
        const store = await opened();
        const method = Reflect.get(store, key) as (...a: unknown[]) => Promise<unknown>;
        return method.apply(store, args);
      };
    },
  });
}
