// Migrations are imported statically (not read from a folder) so that they run the same under tsx,
// from a bundle, or in a container image.
import { Migrator, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import type { MetadataStore } from './metadata-store.ts';
import * as initial from './migrations/0001_initial.ts';

const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': initial,
};

const provider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};

export interface MigrationReport {
  applied: string[];
}

export async function migrateToLatest(store: MetadataStore): Promise<MigrationReport> {
  const migrator = new Migrator({ db: store.db, provider });
  const result: MigrationResultSet = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${String(result.error)}`, { cause: result.error });
  }
  return { applied: (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}
