/**
 * The shared store suite against PostgreSQL: a database for this file, a schema per test; clients
 * of one store are stores (each with its own pool of connections) opened on one schema. The worker
 * moves (src/store/moves.ts) run here too.
 */
import { openPostgresStore } from "../../src/store/postgres.js";
import { freshSchema, queryDatabase, testDatabase } from "../helpers/postgres.js";
import { describeStore, type StoreBackend } from "./conformance.js";
import { describeMoves } from "./moves-cases.js";

const database = testDatabase();

const backend: StoreBackend | null = database && {
  async place() {
    const schema = freshSchema();
    return {
      open: () => openPostgresStore(database.url, { schema, poolSize: 3 }),
      remove: async () => void (await queryDatabase(database.url, `DROP SCHEMA IF EXISTS ${schema} CASCADE`)),
    };
  },
};

describeStore("PostgreSQL", backend);
describeMoves("PostgreSQL", backend);
