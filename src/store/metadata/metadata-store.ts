// The metadata store: a Kysely instance over one of two dialects, plus the little each dialect
// must do differently (opening, pinging). Domain code imports only this interface; open-metadata-store.ts
// picks the implementation a URL names.
import type { Kysely, RawBuilder, Transaction } from 'kysely';
import type { Database } from './schema.ts';

export type DialectName = 'sqlite' | 'mysql';

export interface MetadataStore {
  readonly db: Kysely<Database>;
  readonly dialect: DialectName;
  /**
   * The database's clock in epoch milliseconds, as an SQL expression. Leases are set and judged by it,
   * so processes whose own clocks disagree (other machines, containers) still agree on expiry.
   */
  readonly nowMs: RawBuilder<number>;
  /** Cheap round trip used by /readyz. Throws when the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Runs `work` so that its statements commit together: one transaction on MySQL, where other
 * servers and workers see none of them until all are done. On SQLite the statements run one after
 * another on the store's connection: SQLite serialises writers, and a multi-statement transaction
 * would deadlock two connections of one process (tests, benchmarks), one holding the write lock
 * while the other blocks the event loop in better-sqlite3's busy wait.
 */
export function together<T>(store: MetadataStore, work: (q: Kysely<Database> | Transaction<Database>) => Promise<T>): Promise<T> {
  return store.dialect === 'sqlite' ? work(store.db) : store.db.transaction().execute(work);
}
