import { createPool, type PoolConnection } from 'mysql2';
import { Kysely, MysqlDialect, sql } from 'kysely';
import type { MetadataStore } from './metadata-store.ts';
import type { Database } from './schema.ts';

/**
 * Per-connection settings that make MySQL/MariaDB behave like the SQLite store:
 * - strict mode, so a value too long for its column is an error rather than silently truncated
 *   (RDS and MariaDB default to it, but a server's sql_mode is not ours to trust);
 * - UTC, so NOW() and friends agree between servers (the schema stores ISO strings anyway).
 */
const SESSION_SETUP = [
  "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_TRANS_TABLES', 'STRICT_ALL_TABLES')",
  "SET SESSION time_zone = '+00:00'",
];

export interface MysqlStoreOptions {
  /** Connections in the pool (default 10). */
  connectionLimit?: number;
}

export function openMysqlStore(url: string, options: MysqlStoreOptions = {}): MetadataStore {
  const pool = createPool({
    uri: url,
    connectionLimit: options.connectionLimit ?? 10,
    // Times are stored as ISO strings; keep any DATETIME a string too rather than a local Date.
    dateStrings: true,
    // Numbers come back as JS numbers, as they do from better-sqlite3: BIGINT columns and COUNT(*)
    // are numbers by default (exact up to 2^53, far beyond byte sizes and epoch milliseconds), and
    // decimalNumbers makes DECIMAL results (SUM(), AVG()) numbers rather than strings.
    supportBigNumbers: false,
    decimalNumbers: true,
    charset: 'utf8mb4_bin',
    // Fail fast when the database is gone so callers can back off and retry.
    connectTimeout: 5000,
    // TCP keepalive probes after 10 s idle (the OS default is 2 hours), so a connection to a
    // server that vanished without closing it (a failover) is noticed and dropped.
    enableKeepAlive: true,
    keepAliveInitialDelay: 10_000,
    // Beyond 2, connections idle for a minute are closed, so a fleet does not sit on
    // connectionLimit × processes connections. The server may also close them (a restart,
    // wait_timeout): mysql2 drops a pooled connection on its 'error' or 'end' event, so once the
    // database is back the next query opens a fresh connection and the pool recovers by itself.
    idleTimeout: 60_000,
    maxIdle: Math.min(2, options.connectionLimit ?? 10),
  });
  pool.on('connection', (connection: PoolConnection) => {
    // Queued before the first query of this connection (mysql2 runs commands in order).
    for (const statement of SESSION_SETUP) connection.query(statement, () => {});
  });
  const db = new Kysely<Database>({ dialect: new MysqlDialect({ pool }) });
  return {
    db,
    dialect: 'mysql',
    nowMs: sql<number>`cast(round(unix_timestamp(now(3)) * 1000) as signed)`,
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await db.destroy();
    },
  };
}
