// The initial schema. Written for both SQLite and MySQL/MariaDB: indexed text is varchar with a
// length (MySQL cannot index unbounded text), JSON is mediumtext (SQLite accepts the name and gives
// it TEXT affinity), and auto-increment is spelled per dialect by Kysely's column builder.
// Free text is mediumtext too: MySQL's `text` stops at 64 KB where SQLite has no limit.
// On MySQL every table is utf8mb4 with the binary collation, so names compare the way SQLite
// compares them: case-sensitively ('Churn' and 'churn' are two datasets) and without padding.
import { MysqlAdapter, sql, type CreateTableBuilder, type Kysely } from 'kysely';

const json = sql`mediumtext`;
const text = sql`mediumtext`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
function tableOptions(db: Kysely<any>) {
  const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
  return <T extends string, C extends string>(builder: CreateTableBuilder<T, C>): CreateTableBuilder<T, C> =>
    mysql ? builder.modifyEnd(sql`default character set utf8mb4 collate utf8mb4_bin`) : builder;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against a schema that is still being built
export async function up(db: Kysely<any>): Promise<void> {
  const options = tableOptions(db);
  await db.schema
    .createTable('datasets')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(200)', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('status', 'varchar(32)', (c) => c.notNull())
    .addColumn('format', 'varchar(32)', (c) => c.notNull())
    .addColumn('delimiter', 'varchar(8)', (c) => c.notNull())
    .addColumn('size_bytes', 'bigint', (c) => c.notNull())
    .addColumn('sha256', 'varchar(64)', (c) => c.notNull())
    .addColumn('row_count', 'bigint', (c) => c.notNull())
    .addColumn('columns_json', json, (c) => c.notNull())
    .addColumn('blob_key', 'varchar(512)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addUniqueConstraint('datasets_name_version', ['name', 'version'])
    .$call(options)
    .execute();

  await db.schema
    .createTable('models')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(200)', (c) => c.notNull().unique())
    .addColumn('description', text)
    .addColumn('spec_json', json, (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .$call(options)
    .execute();

  await db.schema
    .createTable('model_versions')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('model_name', 'varchar(200)', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('training_job_id', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('dataset_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('metrics_json', json, (c) => c.notNull())
    .addColumn('signature_json', json, (c) => c.notNull())
    .addColumn('artifacts_json', json, (c) => c.notNull())
    .addColumn('blob_prefix', 'varchar(512)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addUniqueConstraint('model_versions_model_version', ['model_name', 'version'])
    .$call(options)
    .execute();

  await db.schema
    .createTable('model_aliases')
    .addColumn('model_name', 'varchar(200)', (c) => c.notNull())
    .addColumn('alias', 'varchar(100)', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('model_aliases_pk', ['model_name', 'alias'])
    .$call(options)
    .execute();

  await db.schema
    .createTable('jobs')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('kind', 'varchar(16)', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('model_name', 'varchar(200)', (c) => c.notNull())
    .addColumn('dataset_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('model_version', 'integer')
    .addColumn('spec_json', json, (c) => c.notNull())
    .addColumn('progress_json', json)
    .addColumn('metrics_json', json)
    .addColumn('stats_json', json)
    .addColumn('error', text)
    .addColumn('error_code', 'varchar(64)')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', (c) => c.notNull())
    .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('lease_owner', 'varchar(128)')
    .addColumn('lease_expires_at', 'bigint')
    .addColumn('external_id', 'varchar(128)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('started_at', 'varchar(32)')
    .addColumn('finished_at', 'varchar(32)')
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .$call(options)
    .execute();
  await db.schema.createIndex('jobs_status_created').on('jobs').columns(['status', 'created_at']).execute();
  await db.schema.createIndex('jobs_model').on('jobs').columns(['model_name', 'id']).execute();
  await db.schema.createIndex('jobs_dataset').on('jobs').columns(['dataset_id', 'id']).execute();
  await db.schema.createIndex('jobs_kind_id').on('jobs').columns(['kind', 'id']).execute();

  await db.schema
    .createTable('job_metrics')
    .addColumn('job_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('epoch', 'integer', (c) => c.notNull())
    .addColumn('metrics_json', json, (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('job_metrics_pk', ['job_id', 'epoch'])
    .$call(options)
    .execute();

  await db.schema
    .createTable('job_events')
    .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('job_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('type', 'varchar(32)', (c) => c.notNull())
    .addColumn('data_json', json, (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .$call(options)
    .execute();
  await db.schema.createIndex('job_events_job_seq').on('job_events').columns(['job_id', 'seq']).execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(200)', (c) => c.notNull())
    .addColumn('scope', 'varchar(16)', (c) => c.notNull())
    .addColumn('token_hash', 'varchar(128)', (c) => c.notNull().unique())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('last_used_at', 'varchar(32)')
    .addColumn('revoked_at', 'varchar(32)')
    .$call(options)
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['api_tokens', 'job_events', 'job_metrics', 'jobs', 'model_aliases', 'model_versions', 'models', 'datasets']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
