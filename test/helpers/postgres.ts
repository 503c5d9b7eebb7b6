/**
 * PostgreSQL for the tests of the `postgres` project: the server setup found
 * (test/setup/postgres.ts), a database of its own per test file (made before the file's tests,
 * dropped after), and a fresh schema per store the tests open.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, inject } from "vitest";

/** The server the tests use; null when the PostgreSQL tests skip (setup said why, once). */
const POSTGRES_SERVER: string | null = inject("postgresUrl") ?? null;

/** `url` with another database name. */
export function withDatabase(url: string, database: string): string {
  const next = new URL(url);
  next.pathname = `/${database}`;
  return next.toString();
}

/** Runs statements on the server's own database (to make and drop test databases). */
async function onServer(url: string, ...statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  /** The URL of this file's database (valid once the file's tests run). */
  readonly url: string;
}

/**
 * A database of its own for the calling test file, made in `beforeAll` and dropped (with any
 * connection left open) in `afterAll`; null when the PostgreSQL tests skip.
 */
export function testDatabase(): TestDatabase | null {
  const server = POSTGRES_SERVER;
  if (!server) return null;
  const name = `pw_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  const url = withDatabase(server, name);
  beforeAll(async () => {
    await onServer(server, `CREATE DATABASE ${name}`);
  });
  afterAll(async () => {
    await onServer(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
  return { url };
}

/** A schema name no other store of this run uses. */
export function freshSchema(): string {
  return `s_${randomBytes(6).toString("hex")}`;
}

/** Runs `sql` on `url` (inside `schema` when given) and returns the rows: for looking behind a store's back. */
export async function queryDatabase<T extends pg.QueryResultRow = Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = [],
  schema?: string,
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, ...(schema ? { options: `-c search_path=${schema}` } : {}) });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}
