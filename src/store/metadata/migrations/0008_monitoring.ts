// Model monitoring (src/monitoring/): per-model settings, the compact record of every logged
// prediction (what feedback joins on; the full inputs and outputs live in the prediction-log parts
// in the blob store), and the live histograms drift is computed from, one row per model version,
// hour, feature and bin, which every API server adds its counts to (no coordination between them).
import { MysqlAdapter, sql, type Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against a schema that is still being built
export async function up(db: Kysely<any>): Promise<void> {
  const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
  // As in 0001: utf8mb4 with the binary collation on MySQL, so names compare as on SQLite.
  const options = mysql ? sql`default character set utf8mb4 collate utf8mb4_bin` : sql``;
  await db.schema
    .createTable('model_monitoring')
    .addColumn('model_name', 'varchar(200)', (c) => c.primaryKey())
    .addColumn('log_sample_rate', 'double precision', (c) => c.notNull())
    .addColumn('retention_days', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .modifyEnd(options)
    .execute();

  await db.schema
    .createTable('prediction_records')
    .addColumn('model_name', 'varchar(200)', (c) => c.notNull())
    .addColumn('request_id', 'varchar(128)', (c) => c.notNull())
    .addColumn('row_index', 'integer', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('logged_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('predicted_label', 'varchar(255)')
    .addColumn('predicted_value', 'double precision', (c) => c.notNull())
    .addColumn('label', 'varchar(255)')
    .addColumn('labelled_at', 'varchar(32)')
    .addPrimaryKeyConstraint('prediction_records_pk', ['model_name', 'request_id', 'row_index'])
    .modifyEnd(options)
    .execute();
  await db.schema.createIndex('prediction_records_by_time').on('prediction_records').columns(['model_name', 'version', 'logged_at']).execute();

  await db.schema
    .createTable('drift_bins')
    .addColumn('model_name', 'varchar(200)', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('hour', 'varchar(16)', (c) => c.notNull())
    .addColumn('feature', 'varchar(255)', (c) => c.notNull())
    .addColumn('bin', 'integer', (c) => c.notNull())
    .addColumn('count', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('drift_bins_pk', ['model_name', 'version', 'hour', 'feature', 'bin'])
    .modifyEnd(options)
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('drift_bins').execute();
  await db.schema.dropTable('prediction_records').execute();
  await db.schema.dropTable('model_monitoring').execute();
}
