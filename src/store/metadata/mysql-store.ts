import { createPool, type Pool, type PoolConnection } from 'mysql2';
import { Kysely, MysqlDialect, sql, type MysqlPool, type MysqlPoolConnection } from 'kysely';
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

/**
 * Where the connection URL comes from when it can change while the process runs (a rotated
 * password): `url(false)` on the first connection, `url(true)` after the server refused a login.
 */
export interface ConnectionSource {
  url(refresh: boolean): Promise<string>;
}

/** mysql2's code for a refused login (1045): a wrong user or password. */
const ACCESS_DENIED = 'ER_ACCESS_DENIED_ERROR';

export function openMysqlStore(location: string | ConnectionSource, options: MysqlStoreOptions = {}): MetadataStore {
  const source: ConnectionSource = typeof location === 'string' ? { url: () => Promise.resolve(location) } : location;
  const db = new Kysely<Database>({ dialect: new MysqlDialect({ pool: new RenewingPool(source, (url) => mysqlPool(url, options)) }) });
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

/**
 * A pool that survives a password change: when the server refuses a new connection's login, it
 * asks its source for the URL again and, if that changed, opens a pool with it and retries once.
 * The previous pool is ended once the connections it lent out are back (they stay logged in:
 * MySQL checks the password at login only).
 */
class RenewingPool implements MysqlPool {
  private current: Promise<{ url: string; pool: Pool }> | undefined;
  /** Every open pool, with how many of its connections are lent out. */
  private readonly lent = new Map<Pool, number>();
  private readonly retired = new Set<Pool>();

  constructor(
    private readonly source: ConnectionSource,
    private readonly create: (url: string) => Pool,
  ) {}

  getConnection(callback: (error: unknown, connection: MysqlPoolConnection) => void): void {
    this.connection().then(
      (connection) => callback(null, connection),
      (error: unknown) => callback(error, undefined as never),
    );
  }

  end(callback: (error: unknown) => void): void {
    Promise.all([...this.lent.keys()].map((pool) => pool.promise().end())).then(() => callback(null), callback);
  }

  private async connection(): Promise<MysqlPoolConnection> {
    const used = await (this.current ??= this.open(false));
    try {
      return await this.lend(used.pool);
    } catch (error) {
      if ((error as { code?: unknown }).code !== ACCESS_DENIED) throw error;
      // Another caller may have renewed the pool already; otherwise ask the source again.
      if ((await this.current) === used) {
        const renewed = this.open(true);
        this.current = renewed;
        const next = await renewed.catch(() => used);
        if (next.url === used.url) {
          if (next !== used) this.retire(next.pool);
          this.current = Promise.resolve(used);
          throw error;
        }
        this.retire(used.pool);
      }
      return this.lend((await this.current).pool);
    }
  }

  private async open(refresh: boolean): Promise<{ url: string; pool: Pool }> {
    const url = await this.source.url(refresh);
    const pool = this.create(url);
    this.lent.set(pool, 0);
    return { url, pool };
  }

  private lend(pool: Pool): Promise<MysqlPoolConnection> {
    return new Promise((resolve, reject) =>
      pool.getConnection((error, connection) => {
        if (error) return reject(error);
        this.lent.set(pool, this.lent.get(pool)! + 1);
        const query = connection.query.bind(connection) as unknown as MysqlPoolConnection['query'];
        resolve({
          query,
          release: () => {
            connection.release();
            this.lent.set(pool, this.lent.get(pool)! - 1);
            this.endIfIdle(pool);
          },
        });
      }),
    );
  }

  /** A replaced pool is ended once none of its connections is lent out. */
  private retire(pool: Pool): void {
    this.retired.add(pool);
    this.endIfIdle(pool);
  }

  private endIfIdle(pool: Pool): void {
    if (!this.retired.has(pool) || this.lent.get(pool)! > 0) return;
    this.retired.delete(pool);
    this.lent.delete(pool);
    pool.end(() => {});
  }
}

function mysqlPool(url: string, options: MysqlStoreOptions): Pool {
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
  return pool;
}
