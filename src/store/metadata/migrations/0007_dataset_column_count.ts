// Datasets get `column_count`, so that list answers can say how many columns a dataset has without
// reading (or sending) its column profiles, which can be megabytes for a wide CSV. Backfilled from
// columns_json for datasets ingested before this migration; new rows always set it.
import type { Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against a schema that is still being built
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('datasets').addColumn('column_count', 'integer').execute();
  // In pages by id, so a large table is never held in memory at once.
  let after = '';
  for (;;) {
    const rows = (await db.selectFrom('datasets').select(['id', 'columns_json']).where('id', '>', after).orderBy('id').limit(200).execute()) as Array<{ id: string; columns_json: string }>;
    if (rows.length === 0) break;
    for (const row of rows) {
      const count = (JSON.parse(row.columns_json) as unknown[]).length;
      await db.updateTable('datasets').set({ column_count: count }).where('id', '=', row.id).execute();
    }
    after = rows[rows.length - 1].id;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('datasets').dropColumn('column_count').execute();
}
