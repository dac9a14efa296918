// Tuning studies (src/tuning/). A study is a job of kind `tuning` (its spec_json holds the search
// space, objective and budget); its trials are ordinary training jobs, linked back by
// `jobs.study_id` (indexed, for `GET /v1/training-jobs?study=`). `tuning_trials` is the leaderboard
// and the sampler's history: one row per trial number, unique per study, so a driver that restarts
// (or two that briefly overlap) can never create trial n twice. `job_id` is chosen before either
// row is written, so the trial row can go first and a driver that died before writing its job
// creates exactly that job on restart.
import { MysqlAdapter, sql, type Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against a schema that is still being built
export async function up(db: Kysely<any>): Promise<void> {
  const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
  await db.schema.alterTable('jobs').addColumn('study_id', 'varchar(64)').execute();
  await db.schema.createIndex('jobs_study').on('jobs').columns(['study_id', 'id']).execute();
  await db.schema
    .createTable('tuning_trials')
    .addColumn('study_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('number', 'integer', (c) => c.notNull())
    .addColumn('job_id', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('state', 'varchar(16)', (c) => c.notNull())
    .addColumn('params_json', sql`mediumtext`, (c) => c.notNull())
    .addColumn('objective', 'double precision')
    .addColumn('epochs_run', 'integer')
    .addColumn('error', sql`mediumtext`)
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('finished_at', 'varchar(32)')
    .addPrimaryKeyConstraint('tuning_trials_pk', ['study_id', 'number'])
    .$call((builder) => (mysql ? builder.modifyEnd(sql`default character set utf8mb4 collate utf8mb4_bin`) : builder))
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('tuning_trials').ifExists().execute();
  await db.schema.dropIndex('jobs_study').on('jobs').execute();
  await db.schema.alterTable('jobs').dropColumn('study_id').execute();
}
