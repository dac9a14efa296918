// Jobs of any kind: a job kind is whatever string a runner registers with the engine (src/jobs/),
// and kinds other than training and inference (imports, tuning studies, exports) may refer to no
// model or no dataset. So `jobs.model_name` and `jobs.dataset_id` become nullable, and `kind`
// widens from 16 to 32 characters.
// MySQL changes the columns in place; SQLite cannot change a column's NOT NULL, so the table is
// rebuilt (new table, copy, drop, rename, indexes again), inside the one transaction that
// migrateToLatest() holds on SQLite.
import { MysqlAdapter, sql, type Kysely } from 'kysely';

const json = sql`mediumtext`;
const text = sql`mediumtext`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against a schema that is still being built
type AnyDb = Kysely<any>;

const COLUMNS = [
  'id', 'kind', 'status', 'model_name', 'dataset_id', 'model_version', 'spec_json', 'progress_json', 'metrics_json', 'stats_json', 'error', 'error_code',
  'attempts', 'max_attempts', 'cancel_requested', 'lease_owner', 'lease_expires_at', 'external_id', 'created_at', 'started_at', 'finished_at', 'updated_at',
] as const;

async function rebuildSqlite(db: AnyDb, refs: 'nullable' | 'required', kindLength: number): Promise<void> {
  await db.schema
    .createTable('jobs_0003')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('kind', sql.raw(`varchar(${kindLength})`), (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('model_name', 'varchar(200)', (c) => (refs === 'required' ? c.notNull() : c))
    .addColumn('dataset_id', 'varchar(64)', (c) => (refs === 'required' ? c.notNull() : c))
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
    .execute();
  const columns = sql.join(COLUMNS.map((c) => sql.ref(c)));
  await sql`insert into jobs_0003 (${columns}) select ${columns} from jobs`.execute(db);
  await db.schema.dropTable('jobs').execute();
  await db.schema.alterTable('jobs_0003').renameTo('jobs').execute();
  await createIndexes(db);
}

/** The indexes 0001 made on jobs (dropped with the old table on SQLite). */
async function createIndexes(db: AnyDb): Promise<void> {
  await db.schema.createIndex('jobs_status_created').on('jobs').columns(['status', 'created_at']).execute();
  await db.schema.createIndex('jobs_model').on('jobs').columns(['model_name', 'id']).execute();
  await db.schema.createIndex('jobs_dataset').on('jobs').columns(['dataset_id', 'id']).execute();
  await db.schema.createIndex('jobs_kind_id').on('jobs').columns(['kind', 'id']).execute();
}

const isMysql = (db: AnyDb) => db.getExecutor().adapter instanceof MysqlAdapter;

export async function up(db: AnyDb): Promise<void> {
  if (!isMysql(db)) return rebuildSqlite(db, 'nullable', 32);
  // MODIFY without NOT NULL makes the column nullable; the table's utf8mb4_bin collation stays.
  await db.schema
    .alterTable('jobs')
    .modifyColumn('kind', 'varchar(32)', (c) => c.notNull())
    .modifyColumn('model_name', 'varchar(200)')
    .modifyColumn('dataset_id', 'varchar(64)')
    .execute();
}

/** Only while no job lacks a model or a dataset, and no kind is longer than 16 characters. */
export async function down(db: AnyDb): Promise<void> {
  if (!isMysql(db)) return rebuildSqlite(db, 'required', 16);
  await db.schema
    .alterTable('jobs')
    .modifyColumn('kind', 'varchar(16)', (c) => c.notNull())
    .modifyColumn('model_name', 'varchar(200)', (c) => c.notNull())
    .modifyColumn('dataset_id', 'varchar(64)', (c) => c.notNull())
    .execute();
}
