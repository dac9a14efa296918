import { createPool } from 'mysql2';
import { Kysely, MysqlDialect, sql } from 'kysely';
import type { MetadataStore } from './metadata-store.ts';
import type { Database } from './schema.ts';

export function openMysqlStore(url: string): MetadataStore {
  const pool = createPool({
    uri: url,
    connectionLimit: 10,
    // Times are stored as ISO strings; keep any DATETIME a string too rather than a local Date.
    dateStrings: true,
    // Fail fast when the database is gone so callers can back off and retry.
    connectTimeout: 5000,
    enableKeepAlive: true,
  });
  const db = new Kysely<Database>({ dialect: new MysqlDialect({ pool }) });
  return {
    db,
    dialect: 'mysql',
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await db.destroy();
    },
  };
}
