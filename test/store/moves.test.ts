/** The worker moves (src/store/moves.ts) against SQLite, through the asynchronous port; PostgreSQL runs the same cases in postgres-conformance.test.ts. */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { openSqliteStore } from "../../src/store/sqlite-async.js";
import { tempDir } from "../helpers/git.js";
import { describeMoves } from "./moves-cases.js";

describeMoves("SQLite", {
  async place() {
    const dir = tempDir("pw-moves-");
    const file = join(dir, "state.db");
    return {
      open: () => openSqliteStore(file),
      remove: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
});
