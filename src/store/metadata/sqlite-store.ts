import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import type { MetadataStore } from './metadata-store.ts';
import type { Database } from './schema.ts';

const BUSY_TIMEOUT_MS = 10_000;

export async function openSqliteStore(path: string): Promise<MetadataStore> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  // The server and its job subprocesses share the file: the busy timeout turns a brief write lock
  // into a wait rather than an error, and WAL lets readers run beside one writer.
  const connection = new SQLite(path, { timeout: BUSY_TIMEOUT_MS });
  await enterWalMode(connection);
  connection.pragma('synchronous = NORMAL');
  connection.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: connection }) });
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
