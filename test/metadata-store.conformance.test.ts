// One suite, every MetadataStore (test/support/stores.ts): SQLite always, MariaDB when
// TRAINYARD_TEST_MYSQL_URL is set. Domain code is written once against Kysely; this suite pins the
// behaviour it may rely on to be the same on both dialects: migrations, every table round-tripping
// (JSON over 64 KB, non-ASCII text), numbers as JS numbers, the database's clock, case-sensitive
// unique names, detectable unique violations, transactions, and a ping that fails while the database
// is unreachable.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Migrator, sql, type Insertable, type Kysely, type Transaction } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConnectionError, isUniqueViolation } from '../src/store/metadata/errors.ts';
import { together, type MetadataStore } from '../src/store/metadata/metadata-store.ts';
import { openMetadataStore } from '../src/store/metadata/open-metadata-store.ts';
import { MIGRATIONS, migrateToLatest } from '../src/store/metadata/migrate.ts';
import type { Database } from '../src/store/metadata/schema.ts';
import { withRetry } from '../src/store/retry.ts';
import { MYSQL_URL, startTcpProxy } from './support/mysql.ts';
import { METADATA_STORES, type MetadataFixture } from './support/stores.ts';

const execFileAsync = promisify(execFile);
const NOW = '2026-11-26T12:00:00.000Z';
/** JSON text over 64 KB (MySQL's `text` limit), with characters outside the BMP (utf8mb4). */
function bigJson(label: string): string {
  const value = JSON.stringify({ label, note: 'é ü 中文 🚂', items: Array.from({ length: 4000 }, (_, i) => ({ i, name: `column_${i}_🚃` })) });
  expect(Buffer.byteLength(value)).toBeGreaterThan(70_000);
  return value;
}

/** One row to insert per table (generated columns left out). */
type Rows = { [T in keyof Database]: Insertable<Database[T]> };

function rows(json: string) {
  return {
    datasets: {
      id: 'ds_1',
      name: 'churn',
      version: 1,
      status: 'ready',
      format: 'csv',
      delimiter: ',',
      size_bytes: 5_000_000_000_123, // > 2^32: needs bigint
      sha256: 'a'.repeat(64),
      row_count: 3_000_000_000,
      columns_json: json,
      blob_key: 'datasets/ds_1/data.csv',
      columnar_json: json,
      created_at: NOW,
    },
    models: { id: 'mdl_1', name: 'churn-mlp', description: `Ünïcødé description 🚂 ${'x'.repeat(70_000)}`, spec_json: json, created_at: NOW },
    model_versions: {
      id: 'mv_1',
      model_name: 'churn-mlp',
      version: 1,
      training_job_id: 'job_1',
      dataset_id: 'ds_1',
      metrics_json: json,
      signature_json: json,
      artifacts_json: json,
      blob_prefix: 'models/churn-mlp/1',
      init_from_json: json,
      created_at: NOW,
    },
    model_aliases: { model_name: 'churn-mlp', alias: 'production', version: 1, updated_at: NOW },
    jobs: {
      id: 'job_1',
      kind: 'training',
      status: 'running',
      model_name: 'churn-mlp',
      dataset_id: 'ds_1',
      model_version: null,
      spec_json: json,
      progress_json: json,
      metrics_json: json,
      stats_json: json,
      error: `Traceback … ${'y'.repeat(70_000)}`,
      error_code: null,
      attempts: 1,
      max_attempts: 3,
      cancel_requested: 0,
      lease_owner: 'worker-1',
      lease_expires_at: 1_795_000_000_000, // epoch ms
      external_id: null,
      study_id: 'job_study',
      created_at: NOW,
      started_at: NOW,
      finished_at: null,
      updated_at: NOW,
    },
    job_metrics: { job_id: 'job_1', epoch: 1, metrics_json: json, created_at: NOW },
    job_checkpoints: { job_id: 'job_1', seq: 2, attempt: 2, epoch: 7, batch: 120, blob_key: 'jobs/job_1/checkpoints/2-e7.pt', sha256: 'c'.repeat(64), bytes: 5_000_000_000, created_at: NOW },
    job_events: { job_id: 'job_1', type: 'log', data_json: json, created_at: NOW },
    api_tokens: { id: 'tok_1', name: 'ci', scope: 'write', token_hash: 'h'.repeat(64), created_at: NOW, last_used_at: null, revoked_at: null },
    tuning_trials: { study_id: 'job_study', number: 0, job_id: 'job_1', state: 'succeeded', params_json: json, objective: 0.123456789012, epochs_run: 3, error: null, created_at: NOW, finished_at: NOW },
    model_monitoring: { model_name: 'churn-mlp', log_sample_rate: 0.25, retention_days: 30, updated_at: NOW },
    prediction_records: {
      model_name: 'churn-mlp',
      request_id: 'req-1',
      row_index: 3,
      version: 1,
      logged_at: NOW,
      predicted_label: 'Ünïcødé 🚂',
      predicted_value: 0.875,
      label: null,
      labelled_at: null,
    },
    // The monitor's own series use a NUL-prefixed feature name no column can have.
    drift_bins: { model_name: 'churn-mlp', version: 1, hour: '2026-12-03T15', feature: '\u0000prediction', bin: -1, count: 5_000_000_000 },
  } satisfies Rows;
}

/** Runs migrateToLatest in a separate Node process (as a second server would) and returns its report. */
async function migrateInChild(url: string, startAt: number): Promise<{ applied: string[] }> {
  const script = `
    import { openMetadataStore } from ${JSON.stringify(new URL('../src/store/metadata/open-metadata-store.ts', import.meta.url).href)};
    import { migrateToLatest } from ${JSON.stringify(new URL('../src/store/metadata/migrate.ts', import.meta.url).href)};
    const store = await openMetadataStore(process.env.DB_URL);
    await new Promise((resolve) => setTimeout(resolve, Number(process.env.START_AT) - Date.now()));
    try { process.stdout.write(JSON.stringify(await migrateToLatest(store))); } finally { await store.close(); }
  `;
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, DB_URL: url, START_AT: String(startAt) },
    timeout: 45_000,
  });
  return JSON.parse(stdout) as { applied: string[] };
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the statement to fail');
    },
    (error: unknown) => error,
  );
}

for (const config of METADATA_STORES) {
  describe.skipIf(config.skip)(`MetadataStore conformance: ${config.name}${config.skip ? ` (skipped: ${config.skip})` : ''}`, () => {
    let fixture: MetadataFixture;
    let store: MetadataStore;
    let db: Kysely<Database>;

    beforeAll(async () => {
      fixture = await config.create();
      store = await fixture.open();
      db = store.db;
    });
    afterAll(async () => {
      await fixture?.cleanup();
    });

    it(`is the ${config.name} dialect and answers ping`, async () => {
      expect(store.dialect).toBe(config.name);
      await store.ping();
    });

    it('tells the database’s clock (what leases go by) in epoch milliseconds, near this machine’s and never going back', async () => {
      const read = async () => (await sql<{ now: number }>`select ${store.nowMs} as now`.execute(db)).rows[0].now;
      const [a, b] = [await read(), await read()];
      expect(Number.isInteger(a)).toBe(true);
      expect(Math.abs(a - Date.now())).toBeLessThan(60_000);
      expect(b).toBeGreaterThanOrEqual(a);
    });

    it('applies migrations, then re-applies them as a no-op', async () => {
      const first = await migrateToLatest(store);
      // Every migration, in name order (each issue's migration adds one).
      expect(first.applied).toEqual(Object.keys(MIGRATIONS).sort());
      expect(first.applied.slice(0, 3)).toEqual(['0001_initial', '0002_dataset_columnar', '0003_jobs_any_kind']);
      expect(await migrateToLatest(store)).toEqual({ applied: [] });
      // A second process (another API server starting) sees nothing to do either.
      const other = await fixture.open();
      expect(await migrateToLatest(other)).toEqual({ applied: [] });
      await other.close();
      for (const table of ['datasets', 'models', 'model_versions', 'model_aliases', 'jobs', 'job_metrics', 'job_events', 'api_tokens'] as const) {
        const { count } = await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
        expect(count, table).toBe(0);
      }
    });

    // SQLite runs together()'s statements without a transaction; on MySQL two transactions that
    // lock two rows in opposite orders deadlock for real, and InnoDB rolls one back.
    it.runIf(config.name === 'mysql')('runs again a transaction that lost a deadlock, so both sides commit', async () => {
      const other = await fixture.open();
      await sql`create table deadlock_probe (id int primary key, v int not null)`.execute(db);
      await sql`insert into deadlock_probe values (1, 0), (2, 0)`.execute(db);
      const deferred = () => {
        let resolve!: () => void;
        return { promise: new Promise<void>((r) => (resolve = r)), resolve: () => resolve() };
      };
      const [firstHolds, secondHolds] = [deferred(), deferred()];
      const bump = (q: Kysely<Database> | Transaction<Database>, id: number) => sql`update deadlock_probe set v = v + 1 where id = ${id}`.execute(q);
      let runs = 0;
      const crossing = (s: MetadataStore, first: number, mine: ReturnType<typeof deferred>, theirs: ReturnType<typeof deferred>) =>
        together(s, async (q) => {
          runs++;
          await bump(q, first);
          mine.resolve();
          await theirs.promise;
          await bump(q, 3 - first);
        });
      await Promise.all([crossing(store, 1, firstHolds, secondHolds), crossing(other, 2, secondHolds, firstHolds)]);
      expect(runs).toBe(3); // one side ran twice
      const { rows } = await sql<{ v: number }>`select v from deadlock_probe order by id`.execute(db);
      expect(rows.map((r) => Number(r.v))).toEqual([2, 2]);
      await sql`drop table deadlock_probe`.execute(db);
    });

    it('round-trips a row of every table, JSON over 64 KB and non-ASCII text intact', async () => {
      const json = bigJson(config.name);
      const all = rows(json);
      for (const [table, row] of Object.entries(all)) {
        await db.insertInto(table as keyof Database).values(row as never).execute();
      }
      for (const [table, row] of Object.entries(all)) {
        const got = await db
          .selectFrom(table as keyof Database)
          .selectAll()
          .executeTakeFirstOrThrow();
        expect(got, table).toMatchObject(row);
      }
      const event = await db.selectFrom('job_events').selectAll().executeTakeFirstOrThrow();
      expect(typeof event.seq).toBe('number');
    });

    it('returns numbers, not strings or bigints: bigint columns, COUNT, SUM, MAX', async () => {
      const dataset = await db.selectFrom('datasets').select(['size_bytes', 'row_count', 'version']).where('id', '=', 'ds_1').executeTakeFirstOrThrow();
      expect(dataset).toEqual({ size_bytes: 5_000_000_000_123, row_count: 3_000_000_000, version: 1 });
      const job = await db.selectFrom('jobs').select(['lease_expires_at', 'attempts', 'cancel_requested']).executeTakeFirstOrThrow();
      expect(job).toEqual({ lease_expires_at: 1_795_000_000_000, attempts: 1, cancel_requested: 0 });

      const aggregates = await db
        .selectFrom('datasets')
        .select((eb) => [
          eb.fn.countAll().as('n'),
          eb.fn.sum('size_bytes').as('total'),
          eb.fn.max('size_bytes').as('largest'),
          eb.fn.avg('version').as('mean_version'),
        ])
        .executeTakeFirstOrThrow();
      expect(aggregates).toEqual({ n: 1, total: 5_000_000_000_123, largest: 5_000_000_000_123, mean_version: 1 });
      const raw = await sql<{ n: unknown; s: unknown }>`select count(*) as n, sum(size_bytes) as s from datasets`.execute(db);
      expect(raw.rows[0]).toEqual({ n: 1, s: 5_000_000_000_123 });
    });

    it('auto-increments job_events.seq in insertion order', async () => {
      for (let i = 0; i < 3; i++) {
        await db.insertInto('job_events').values({ job_id: 'job_seq', type: 'epoch', data_json: `{"i":${i}}`, created_at: NOW }).execute();
      }
      const events = await db.selectFrom('job_events').select(['seq', 'data_json']).where('job_id', '=', 'job_seq').orderBy('seq').execute();
      expect(events.map((e) => JSON.parse(e.data_json).i)).toEqual([0, 1, 2]);
      expect(events[1]!.seq).toBeGreaterThan(events[0]!.seq);
    });

    it('compares names case-sensitively, as SQLite does (Churn ≠ churn)', async () => {
      const base = rows('{}').datasets;
      await db.insertInto('datasets').values({ ...base, id: 'ds_case', name: 'Churn' }).execute();
      const found = await db.selectFrom('datasets').select('id').where('name', '=', 'CHURN').execute();
      expect(found).toEqual([]);
      expect((await db.selectFrom('datasets').select('id').where('name', '=', 'Churn').execute()).map((r) => r.id)).toEqual(['ds_case']);
    });

    describe('unique violations are detectable with isUniqueViolation', () => {
      const base = rows('{}');
      it.each([
        ['datasets (name, version)', () => db.insertInto('datasets').values({ ...base.datasets, id: 'ds_dup' }).execute()],
        ['datasets primary key', () => db.insertInto('datasets').values({ ...base.datasets, version: 99 }).execute()],
        ['models name', () => db.insertInto('models').values({ ...base.models, id: 'mdl_dup' }).execute()],
        ['model_versions (model_name, version)', () => db.insertInto('model_versions').values({ ...base.model_versions, id: 'mv_dup', training_job_id: 'job_x' }).execute()],
        ['model_versions training_job_id', () => db.insertInto('model_versions').values({ ...base.model_versions, id: 'mv_dup2', version: 2 }).execute()],
        ['model_aliases primary key', () => db.insertInto('model_aliases').values(base.model_aliases).execute()],
        ['job_metrics (job_id, epoch)', () => db.insertInto('job_metrics').values(base.job_metrics).execute()],
        ['api_tokens token_hash', () => db.insertInto('api_tokens').values({ ...base.api_tokens, id: 'tok_dup' }).execute()],
      ])('%s', async (_name, insert) => {
        const error = await caught(insert());
        expect(isUniqueViolation(error)).toBe(true);
        expect(isUniqueViolation(new Error('wrapped', { cause: error }))).toBe(true);
        expect(isConnectionError(error)).toBe(false);
      });

      it('other errors are not unique violations', async () => {
        const notNull = await caught(db.insertInto('models').values({ ...base.models, id: 'mdl_nn', name: null as unknown as string }).execute());
        expect(isUniqueViolation(notNull)).toBe(false);
        const syntax = await caught(sql`select * from no_such_table`.execute(db));
        expect(isUniqueViolation(syntax)).toBe(false);
        expect(isConnectionError(syntax)).toBe(false);
      });
    });

    it('rolls a failed transaction back', async () => {
      const base = rows('{}').models;
      const error = await caught(
        db.transaction().execute(async (trx) => {
          await trx.insertInto('models').values({ ...base, id: 'mdl_tx', name: 'in-transaction' }).execute();
          await trx.insertInto('models').values({ ...base, id: 'mdl_tx2' }).execute(); // duplicate name
        }),
      );
      expect(isUniqueViolation(error)).toBe(true);
      expect(await db.selectFrom('models').select('id').where('name', '=', 'in-transaction').execute()).toEqual([]);
    });

    if (config.name === 'sqlite') {
      it('ping fails once the store is closed (SQLite has no server to lose)', async () => {
        const other = await openMetadataStore(fixture.url);
        await other.ping();
        await other.close();
        await expect(other.ping()).rejects.toThrow();
      });
    }

    it('migration 0003 keeps the jobs and indexes of an older database, and lets a job name no model or dataset', async () => {
      const old = await config.create();
      try {
        const o = await old.open();
        const migrator = new Migrator({ db: o.db, provider: { getMigrations: async () => MIGRATIONS } });
        expect((await migrator.migrateTo('0002_dataset_columnar')).error).toBeUndefined();
        // A job row as 0002 knew it (study_id came with 0006).
        const { study_id: _study, ...existing } = rows('{"epochs":3}').jobs;
        await o.db.insertInto('jobs').values(existing).execute();
        expect((await migrateToLatest(o)).applied[0]).toBe('0003_jobs_any_kind');
        expect(await o.db.selectFrom('jobs').selectAll().where('id', '=', existing.id).executeTakeFirstOrThrow()).toMatchObject(existing);
        const indexes =
          o.dialect === 'sqlite'
            ? (await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'jobs' and name like 'jobs_%'`.execute(o.db)).rows.map((r) => r.name)
            : (await sql<{ Key_name: string }>`show index from jobs`.execute(o.db)).rows.map((r) => r.Key_name).filter((n) => n !== 'PRIMARY');
        expect([...new Set(indexes)].sort()).toEqual(['jobs_dataset', 'jobs_kind_id', 'jobs_model', 'jobs_status_created', 'jobs_study']);
        const kind = 'a-kind-of-exactly-32-characters!';
        expect(kind).toHaveLength(32);
        await o.db.insertInto('jobs').values({ ...existing, id: 'job_no_refs', kind, model_name: null, dataset_id: null }).execute();
        expect(await o.db.selectFrom('jobs').select(['kind', 'model_name', 'dataset_id']).where('id', '=', 'job_no_refs').executeTakeFirstOrThrow()).toEqual({ kind, model_name: null, dataset_id: null });
      } finally {
        await old.cleanup();
      }
    });

    it('two processes migrating a fresh database at once both succeed, applying each migration once', async () => {
      const fresh = await config.create();
      try {
        // Both start migrating at the same moment, once their (slow) startup is behind them.
        const startAt = Date.now() + 4000;
        const reports = await Promise.all([migrateInChild(fresh.url, startAt), migrateInChild(fresh.url, startAt)]);
        expect(reports.flatMap((r) => r.applied).filter((m) => m === '0001_initial')).toEqual(['0001_initial']);
        const a = await fresh.open();
        expect(await migrateToLatest(a)).toEqual({ applied: [] });
        await a.db.insertInto('api_tokens').values(rows('{}').api_tokens).execute();
      } finally {
        await fresh.cleanup();
      }
    }, 60_000);

    if (config.name === 'mysql') {
      it('ping fails fast while the server is unreachable, and the pool recovers when it is back', async () => {
        const proxy = await startTcpProxy(new URL(MYSQL_URL!).host);
        const viaProxy = await openMetadataStore(proxy.via(fixture.url));
        try {
          // Several pooled connections, all to be cut.
          await Promise.all(Array.from({ length: 4 }, () => sql`select sleep(0.05)`.execute(viaProxy.db)));
          await proxy.down();
          const started = Date.now();
          const error = await caught(viaProxy.ping());
          expect(isConnectionError(error), String(error)).toBe(true);
          const again = await caught(viaProxy.db.selectFrom('datasets').selectAll().execute());
          expect(isConnectionError(again), String(again)).toBe(true);
          expect(Date.now() - started).toBeLessThan(6000);

          setTimeout(() => void proxy.up(), 1500);
          await withRetry(() => viaProxy.ping(), { attempts: 10, baseMs: 200 });
          // Every later query works without retrying: no dead connection is handed out.
          for (let i = 0; i < 8; i++) {
            const { count } = await viaProxy.db.selectFrom('datasets').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
            expect(count).toBeGreaterThan(0);
          }
          await Promise.all(Array.from({ length: 6 }, () => viaProxy.ping()));
        } finally {
          await viaProxy.close();
          await proxy.close();
        }
      });

      it('a store on a port nobody listens on fails ping within seconds', async () => {
        const url = new URL(fixture.url);
        url.host = '127.0.0.1:9';
        const dead = await openMetadataStore(url.toString());
        const started = Date.now();
        const error = await caught(dead.ping());
        expect(isConnectionError(error), String(error)).toBe(true);
        expect(Date.now() - started).toBeLessThan(6000);
        await dead.close();
      });
    }
  });
}
