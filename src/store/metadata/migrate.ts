// Migrations are imported statically (not read from a folder) so that they run the same under tsx,
// from a bundle, or in a container image.
import { Migrator, sql, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import type { MetadataStore } from './metadata-store.ts';
import * as initial from './migrations/0001_initial.ts';
import * as datasetColumnar from './migrations/0002_dataset_columnar.ts';
import * as jobsAnyKind from './migrations/0003_jobs_any_kind.ts';
import * as checkpointsAndWarmStart from './migrations/0004_checkpoints_and_warm_start.ts';
import * as tuning from './migrations/0006_tuning.ts';
import * as datasetColumnCount from './migrations/0007_dataset_column_count.ts';
import * as monitoring from './migrations/0008_monitoring.ts';

/** Every migration by name, in order (exported for tests that start from an older schema). */
export const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': initial,
  '0002_dataset_columnar': datasetColumnar,
  '0003_jobs_any_kind': jobsAnyKind,
  '0004_checkpoints_and_warm_start': checkpointsAndWarmStart,
  '0006_tuning': tuning,
  '0007_dataset_column_count': datasetColumnCount,
  '0008_monitoring': monitoring,
};

const provider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};

export interface MigrationReport {
  applied: string[];
}

/**
 * Applies every pending migration. Safe to run from several processes at once (servers starting
 * together): on MySQL Kysely serialises them with a lock row; on SQLite, where Kysely takes no
 * lock and runs DDL outside a transaction, the whole run is one `BEGIN IMMEDIATE` transaction, so
 * a second process waits for the first (busy_timeout) and a failed migration leaves no half schema.
 */
export async function migrateToLatest(store: MetadataStore): Promise<MigrationReport> {
  // Unordered: numbers were handed out to parallel branches, so a database that already ran 0006–0008
  // meets 0004 later; each migration touches only its own tables and columns.
  const migrator = new Migrator({ db: store.db, provider, allowUnorderedMigrations: true });
  let result: MigrationResultSet;
  if (store.dialect === 'sqlite') {
    // better-sqlite3 gives Kysely a single connection, so the Migrator's statements all run
    // inside this transaction. Nothing else uses the store while it migrates (startup).
    await sql`begin immediate`.execute(store.db);
    try {
      result = await migrator.migrateToLatest();
    } catch (error) {
      await sql`rollback`.execute(store.db);
      throw error;
    }
    await sql.raw(result.error ? 'rollback' : 'commit').execute(store.db);
  } else {
    result = await migrator.migrateToLatest();
  }
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${String(result.error)}`, { cause: result.error });
  }
  return { applied: (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}
