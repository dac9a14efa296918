// The metadata store: a Kysely instance over one of two dialects, plus the little each dialect
// must do differently (opening, pinging). Domain code imports only this interface; open-metadata-store.ts
// picks the implementation a URL names.
import { setTimeout as sleep } from 'node:timers/promises';
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
export async function together<T>(store: MetadataStore, work: (q: Kysely<Database> | Transaction<Database>) => Promise<T>): Promise<T> {
  if (store.dialect === 'sqlite') return work(store.db);
  // InnoDB resolves a deadlock by rolling one transaction back whole (ER_LOCK_DEADLOCK), and asks
  // that it be run again; `work` is only statements, so running it again is safe.
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.db.transaction().execute(work);
    } catch (error) {
      if (attempt > DEADLOCK_RETRIES || (error as { errno?: unknown }).errno !== ER_LOCK_DEADLOCK) throw error;
      await sleep(Math.random() * 20 * attempt);
    }
  }
}

const ER_LOCK_DEADLOCK = 1213;
/** Runs of a transaction after the first that a deadlock may take. */
const DEADLOCK_RETRIES = 3;
