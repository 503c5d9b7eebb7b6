/** The shared store suite against SQLite, through the asynchronous port; clients of one store are stores opened on one file. */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { openSqliteStore } from "../../src/store/sqlite-async.js";
import { tempDir } from "../helpers/git.js";
import { describeStore } from "./conformance.js";

describeStore("SQLite", {
  async place() {
    const dir = tempDir("pw-store-");
    const file = join(dir, "state.db");
    return {
      open: () => openSqliteStore(file),
      remove: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
});
