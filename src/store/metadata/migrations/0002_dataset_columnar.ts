// Datasets get a columnar copy (src/datasets/columnar/format.ts), written at ingest next to the CSV.
// `columnar_json` describes it: the blob key, its size, rows and groups, and per column how the
// copy stores it (`number`, `text` or `mixed`, and whether its text is exact). Null for datasets
// ingested before this migration (and for any without a usable copy): readers use the CSV.
// Nullable mediumtext, added without a default, so the statement is the same on SQLite and MySQL.
import { sql, type Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against a schema that is still being built
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('datasets').addColumn('columnar_json', sql`mediumtext`).execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('datasets').dropColumn('columnar_json').execute();
}
