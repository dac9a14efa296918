import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import type { MetadataStore } from './metadata-store.ts';
import type { Database } from './schema.ts';

export function openSqliteStore(path: string): MetadataStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const connection = new SQLite(path);
  // The server and its job subprocesses share the file: WAL lets readers run beside one writer,
  // and the busy timeout turns a brief write lock into a wait rather than an error.
  connection.pragma('journal_mode = WAL');
  connection.pragma('busy_timeout = 10000');
  connection.pragma('synchronous = NORMAL');
  connection.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: connection }) });
  return {
    db,
    dialect: 'sqlite',
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await db.destroy();
    },
  };
}
