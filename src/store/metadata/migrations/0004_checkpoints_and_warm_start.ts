// Issue 13. `job_checkpoints`: the checkpoints a training job has stored in the blob store (under
// jobs/<id>/checkpoints/), newest last by `seq`; the job keeps the last two while it runs and deletes
// them all when it ends. `model_versions.init_from_json`: the version a warm-started training began
// from ({model, version}), part of the new version's lineage; null for a version trained from scratch.
import { MysqlAdapter, sql, type Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against a schema that is still being built
export async function up(db: Kysely<any>): Promise<void> {
  const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
  // As in 0001: utf8mb4 with the binary collation on MySQL, so ids compare as on SQLite.
  const options = mysql ? sql`default character set utf8mb4 collate utf8mb4_bin` : sql``;
  await db.schema
    .createTable('job_checkpoints')
    .addColumn('job_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('epoch', 'integer', (c) => c.notNull())
    .addColumn('batch', 'integer', (c) => c.notNull())
    .addColumn('blob_key', 'varchar(512)', (c) => c.notNull())
    .addColumn('sha256', 'varchar(64)', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('job_checkpoints_pk', ['job_id', 'seq'])
    .modifyEnd(options)
    .execute();
  // mediumtext, as every JSON column (0001): MySQL's `text` stops at 64 KB.
  await db.schema.alterTable('model_versions').addColumn('init_from_json', sql`mediumtext`).execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('model_versions').dropColumn('init_from_json').execute();
  await db.schema.dropTable('job_checkpoints').execute();
}
