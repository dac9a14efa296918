import { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { openConfiguredStore } from '../store/metadata/open-metadata-store.ts';
import { migrateToLatest } from '../store/metadata/migrate.ts';

export function migrateCommand(): Command {
  return new Command('migrate').description('Apply database migrations to TRAINYARD_DATABASE_URL and exit').action(async () => {
    const config = loadConfig();
    const store = await openConfiguredStore(config);
    try {
      const { applied } = await migrateToLatest(store);
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
    } finally {
      await store.close();
    }
  });
}
