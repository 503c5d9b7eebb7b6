/**
 * The shared store suite against PostgreSQL: a database for this file, a schema per test; clients
 * of one store are stores (each with its own pool of connections) opened on one schema.
 */
import { openPostgresStore } from "../../src/store/postgres.js";
import { freshSchema, queryDatabase, testDatabase } from "../helpers/postgres.js";
import { describeStore } from "./conformance.js";

const database = testDatabase();

describeStore(
  "PostgreSQL",
  database && {
    async place() {
      const schema = freshSchema();
      return {
        open: () => openPostgresStore(database.url, { schema, poolSize: 3 }),
        remove: async () => void (await queryDatabase(database.url, `DROP SCHEMA IF EXISTS ${schema} CASCADE`)),
      };
    },
  },
);
