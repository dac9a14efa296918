import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql, type SqliteDatabase } from 'kysely';
import type { MetadataStore } from './metadata-store.ts';
import type { Database } from './schema.ts';

const BUSY_TIMEOUT_MS = 10_000;
/** Prepared statements kept per connection (see cachingStatements). */
const STATEMENT_CACHE_SIZE = 200;

export async function openSqliteStore(path: string): Promise<MetadataStore> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  // The server and its job subprocesses share the file: the busy timeout turns a brief write lock
  // into a wait rather than an error, and WAL lets readers run beside one writer.
  const connection = new SQLite(path, { timeout: BUSY_TIMEOUT_MS });
  await enterWalMode(connection);
  connection.pragma('synchronous = NORMAL');
  connection.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingStatements(connection, STATEMENT_CACHE_SIZE) }) });
  return {
    db,
    dialect: 'sqlite',
    // Julian days since 1970-01-01 (2440587.5), in milliseconds ('now' has millisecond precision).
    nowMs: sql<number>`cast(round((julianday('now') - 2440587.5) * 86400000) as integer)`,
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await db.destroy();
    },
  };
}

/**
 * Switching a fresh file to WAL takes an exclusive lock. When two processes open a new database at
 * once (a server and `trainyard migrate`, two API servers), SQLite answers one of them SQLITE_BUSY
 * at once instead of waiting, because waiting could deadlock; so retry until the busy timeout.
 */
async function enterWalMode(connection: SQLite.Database): Promise<void> {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      connection.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw error;
      await sleep(10);
    }
  }
}

/**
 * The connection as Kysely's dialect sees it, with its prepared statements kept by SQL text (least
 * recently used out first). Kysely prepares every query it runs anew, and SQLite's parsing is a real
 * share of a small query's cost and most of a many-row insert's (a 500-row prediction-record insert
 * spent as long in prepare as in running); the same texts come back all the time (claims,
 * heartbeats, log inserts). Sharing a statement is safe because Kysely runs one query at a time on
 * its single SQLite connection, a stream included.
 */
export function cachingStatements(connection: SQLite.Database, size: number): SqliteDatabase {
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => connection.close(),
    prepare(text) {
      let statement = statements.get(text);
      if (statement) statements.delete(text);
      else statement = connection.prepare(text);
      statements.set(text, statement);
      if (statements.size > size) statements.delete(statements.keys().next().value as string);
      return statement;
    },
  };
}
