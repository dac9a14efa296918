// Scale-out benchmark (issue 5): how fast the jobs table works as a queue, and what MariaDB + S3
// cost against the embedded defaults (SQLite + local files) for ingest and predict.
//
//   npx tsx bench/scale.ts [--jobs 3000] [--claimers 1,2,4] [--ingest-rows 200000] [--seconds 5] [--no-http]
//
// 1. Queue throughput: `--jobs` queued rows in a fresh MariaDB database; 1, 2 and 4 claimers in this
//    process, each with its own connection pool (as separate workers would have), call claimNext()
//    (the exact claim workers run: SELECT … FOR UPDATE SKIP LOCKED + UPDATE + the status event)
//    until the queue is empty. Reports claims/s and per-claim latency, and checks that no job was
//    claimed twice (ids unique across claimers, every row attempts = 1). The same on SQLite for
//    reference. Target (issue 5): ≥ 200 claims/s on MariaDB.
// 2. Ingest and predict throughput over HTTP, in the same run, on file + SQLite and on S3 (s3rver
//    on 127.0.0.1) + MariaDB: a raw text/csv upload of `--ingest-rows` rows (MB/s, best of 3), and
//    autocannon against POST /v1/models/{name}/predict (1 row and 100 rows per request,
//    10 connections, `--seconds` each, best of 2) after training a small model with the real
//    trainer. Both stacks run side by side and are measured in alternation, so a busy machine slows
//    both alike. Ratios are S3 + MariaDB over file + SQLite.
//
// MariaDB: TRAINYARD_BENCH_MYSQL_URL, else TRAINYARD_TEST_MYSQL_URL, else mysql://root@127.0.0.1:3306/test
// (a database named trainyard_bench_<time> is created on that server and dropped at the end).
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { createConnection } from 'mysql2/promise';
import { loadConfig } from '../src/config.ts';
import { openPlatform, type Platform } from '../src/platform.ts';
import { buildApp } from '../src/api/app.ts';
import { ALL_ROUTES } from '../src/api/routes/index.ts';
import { startExecutor } from '../src/jobs/executors/from-config.ts';
import { jobRunners } from '../src/cli/job-kinds.ts';
import { type MetadataStore } from '../src/store/metadata/metadata-store.ts';
import { openMetadataStore } from '../src/store/metadata/open-metadata-store.ts';
import { migrateToLatest } from '../src/store/metadata/migrate.ts';
import { claimNext, newLeaseOwner } from '../src/jobs/queue.ts';
import { newId } from '../src/ids.ts';
import { startS3Server } from '../test/support/s3.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] ? args[at + 1]! : fallback;
};
const JOBS = Number(option('jobs', '3000'));
const CLAIMERS = option('claimers', '1,2,4').split(',').map(Number);
const INGEST_ROWS = Number(option('ingest-rows', '200000'));
const SECONDS = Number(option('seconds', '5'));
const HTTP = !args.includes('--no-http');
const MYSQL_URL = process.env.TRAINYARD_BENCH_MYSQL_URL || process.env.TRAINYARD_TEST_MYSQL_URL || 'mysql://root@127.0.0.1:3306/test';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const log = (line: string) => process.stdout.write(`${line}\n`);
const round = (x: number, digits = 1) => Number(x.toFixed(digits));

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

// ---- a fresh MariaDB database -----------------------------------------------------------------

async function createBenchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = new URL(MYSQL_URL);
  admin.pathname = '/';
  const name = `trainyard_bench_${Math.floor(Date.now() / 1000)}_${process.pid}`;
  const connection = await createConnection({ uri: admin.toString() });
  await connection.query(`CREATE DATABASE \`${name}\``);
  await connection.end();
  const url = new URL(MYSQL_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = await createConnection({ uri: admin.toString() });
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    },
  };
}

// ---- 1. queue throughput ----------------------------------------------------------------------

async function seedJobs(store: MetadataStore, count: number): Promise<void> {
  const base = Date.now() - count * 10;
  for (let start = 0; start < count; start += 500) {
    const rows = [];
    for (let i = start; i < Math.min(count, start + 500); i++) {
      const at = new Date(base + i * 10).toISOString();
      rows.push({
        id: newId('job'),
        kind: i % 4 === 3 ? 'inference' : 'training',
        status: 'queued',
        model_name: `bench-${i % 7}`,
        dataset_id: 'ds_bench',
        model_version: null,
        spec_json: JSON.stringify({ hyperparameters: { epochs: 1 } }),
        progress_json: null,
        metrics_json: null,
        stats_json: null,
        error: null,
        error_code: null,
        attempts: 0,
        max_attempts: 3,
        cancel_requested: 0,
        lease_owner: null,
        lease_expires_at: null,
        external_id: null,
        created_at: at,
        started_at: null,
        finished_at: null,
        updated_at: at,
      });
    }
    await store.db.insertInto('jobs').values(rows).execute();
  }
}

async function resetQueue(store: MetadataStore): Promise<void> {
  await store.db.deleteFrom('job_events').execute();
  await store.db.updateTable('jobs').set({ status: 'queued', attempts: 0, lease_owner: null, lease_expires_at: null, started_at: null }).execute();
}

interface QueueResult {
  dialect: string;
  claimers: number;
  jobs: number;
  seconds: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
  doubleClaims: number;
  perClaimer: number[];
}

async function queueRun(dialect: string, url: string, store: MetadataStore, claimers: number): Promise<QueueResult> {
  await resetQueue(store);
  const stores = await Promise.all(Array.from({ length: claimers }, () => openMetadataStore(url)));
  const claimed: string[][] = stores.map(() => []);
  const latencies: number[] = [];
  // Warm each pool (connection set-up is not part of a claim).
  await Promise.all(stores.map((s) => s.ping()));
  const started = performance.now();
  await Promise.all(
    stores.map(async (s, k) => {
      const owner = newLeaseOwner(`bench-${k}`);
      for (;;) {
        const t = performance.now();
        const job = await claimNext(s, owner, 600_000);
        latencies.push(performance.now() - t);
        if (!job) break;
        claimed[k]!.push(job.id);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(stores.map((s) => s.close()));

  const all = claimed.flat();
  const unique = new Set(all);
  const wrong = await store.db.selectFrom('jobs').select((eb) => eb.fn.countAll<number>().as('n')).where((eb) => eb.or([eb('attempts', '!=', 1), eb('status', '!=', 'running')])).executeTakeFirstOrThrow();
  const events = await store.db.selectFrom('job_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const doubleClaims = all.length - unique.size + Number(wrong.n) + Math.abs(Number(events.n) - JOBS);
  if (unique.size !== JOBS) throw new Error(`${dialect} ×${claimers}: claimed ${unique.size} of ${JOBS} jobs`);
  latencies.sort((x, y) => x - y);
  return {
    dialect,
    claimers,
    jobs: all.length,
    seconds: round(seconds, 2),
    perSecond: Math.round(all.length / seconds),
    p50ms: round(quantile(latencies, 0.5), 2),
    p99ms: round(quantile(latencies, 0.99), 2),
    doubleClaims,
    perClaimer: claimed.map((c) => c.length),
  };
}

async function queueBench(mysqlUrl: string): Promise<QueueResult[]> {
  const results: QueueResult[] = [];
  const sqliteDir = await mkdtemp(join(tmpdir(), 'trainyard-bench-sqlite-'));
  try {
    for (const [dialect, url] of [
      ['mariadb', mysqlUrl],
      ['sqlite', `sqlite:${join(sqliteDir, 'queue.db')}`],
    ] as const) {
      const store = await openMetadataStore(url);
      try {
        await migrateToLatest(store);
        await seedJobs(store, JOBS);
        for (const c of CLAIMERS) {
          const r = await queueRun(dialect, url, store, c);
          results.push(r);
          log(`queue ${dialect} ×${c}: ${r.perSecond} claims/s (${r.jobs} in ${r.seconds} s; p50 ${r.p50ms} ms, p99 ${r.p99ms} ms; per claimer ${r.perClaimer.join('/')}; double claims ${r.doubleClaims})`);
        }
      } finally {
        await store.close();
      }
    }
  } finally {
    await rm(sqliteDir, { recursive: true, force: true });
  }
  return results;
}

// ---- 2. ingest and predict over HTTP ----------------------------------------------------------

function benchCsv(rows: number): Buffer {
  let state = 12345;
  const random = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const parts = ['x1,x2,x3,x4,x5,x6,city,label\n'];
  const cities = ['berlin', 'paris', 'rome', 'madrid', 'vienna'];
  for (let i = 0; i < rows; i++) {
    const x = [random() * 4 - 2, random() * 4 - 2, random() * 10, random(), random() * 100, random() - 0.5];
    const label = x[0]! + 0.5 * x[1]! + (random() - 0.5) * 0.3 > 0 ? 'yes' : 'no';
    parts.push(`${x.map((v) => v.toFixed(4)).join(',')},${cities[i % 5]},${label}\n`);
  }
  return Buffer.from(parts.join(''));
}

interface StackResult {
  stack: string;
  ingestMB: number;
  ingestMBps: number;
  ingestSeconds: number;
  predict1: { rps: number; p99ms: number };
  predict100: { rps: number; rowsPerSecond: number; p99ms: number };
}

interface Stack {
  name: string;
  url: string;
  close(): Promise<void>;
}

/** An API server in this process on the given stores, with the local executor (to train the model). */
async function openStack(name: string, env: Record<string, string>): Promise<Stack> {
  const dataDir = await mkdtemp(join(tmpdir(), 'trainyard-bench-stack-'));
  const config = loadConfig({
    TRAINYARD_DATA_DIR: dataDir,
    TRAINYARD_LOG_LEVEL: 'silent',
    TRAINYARD_EXECUTOR: 'local',
    TRAINYARD_TRAINER_THREADS: '1',
    TRAINYARD_AUTH: 'off',
    ...env,
  });
  const platform: Platform = await openPlatform(config, { migrate: true });
  const executor = await startExecutor(platform, jobRunners());
  const app = await buildApp(platform, { routes: ALL_ROUTES, executor });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  return {
    name,
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    async close() {
      await app.close();
      await executor.stop();
      await platform.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function json(url: string, method: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function cannon(url: string, body: string): Promise<{ rps: number; p99ms: number }> {
  const result = await autocannon({
    url,
    method: 'POST',
    connections: 10,
    duration: SECONDS,
    headers: { 'content-type': 'application/json' },
    body,
  });
  if (result.errors + result.non2xx > 0) throw new Error(`predict: ${result.non2xx} non-2xx and ${result.errors} errors`);
  return { rps: Math.round(result.requests.average), p99ms: result.latency.p99 };
}

async function trainModel(stack: Stack, train: Buffer): Promise<void> {
  const upload = await fetch(`${stack.url}/v1/datasets?name=train`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: train });
  const dataset = (await upload.json()) as { id: string };
  const model = await json(`${stack.url}/v1/models`, 'POST', {
    name: 'bench',
    task: 'binary_classification',
    target: 'label',
    layers: [{ type: 'Linear', out_features: 32 }, { type: 'ReLU' }, { type: 'Linear', out_features: 1 }],
  });
  if (model.status !== 201) throw new Error(`${stack.name}: create model answered ${model.status}`);
  const job = await json(`${stack.url}/v1/training-jobs`, 'POST', { model: 'bench', dataset: dataset.id, hyperparameters: { epochs: 2 } });
  for (;;) {
    const state = await json(`${stack.url}/v1/training-jobs/${String(job.body.id)}`, 'GET');
    if (state.body.status === 'succeeded') return;
    if (state.body.status === 'failed') throw new Error(`${stack.name}: training failed: ${String(state.body.error)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Both stacks side by side, measured in alternation (A, B, A, B …) so that a busy machine slows
 * both alike; each figure is the best of its rounds.
 */
async function stacksBench(stacks: Stack[], csv: Buffer, train: Buffer): Promise<StackResult[]> {
  const results = new Map<string, StackResult>(
    stacks.map((s) => [s.name, { stack: s.name, ingestMB: round(csv.length / 1e6), ingestMBps: 0, ingestSeconds: Infinity, predict1: { rps: 0, p99ms: 0 }, predict100: { rps: 0, rowsPerSecond: 0, p99ms: 0 } }]),
  );
  for (let run = 0; run < 3; run++) {
    for (const stack of stacks) {
      const started = performance.now();
      const res = await fetch(`${stack.url}/v1/datasets?name=ingest`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv });
      const seconds = (performance.now() - started) / 1000;
      if (res.status !== 201) throw new Error(`${stack.name}: upload answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
      const r = results.get(stack.name)!;
      if (seconds < r.ingestSeconds) Object.assign(r, { ingestSeconds: round(seconds, 2), ingestMBps: round(csv.length / 1e6 / seconds) });
    }
  }
  for (const stack of stacks) {
    const r = results.get(stack.name)!;
    log(`ingest ${stack.name}: ${r.ingestMBps} MB/s (${r.ingestMB} MB, best of 3: ${r.ingestSeconds} s)`);
  }

  // A small model on each, trained by the real trainer through the local executor.
  for (const stack of stacks) await trainModel(stack, train);
  const row = { x1: 0.5, x2: -0.2, x3: 3.1, x4: 0.4, x5: 42, x6: 0.1, city: 'paris' };
  const one = JSON.stringify({ inputs: [row] });
  const hundred = JSON.stringify({ inputs: Array.from({ length: 100 }, (_, i) => ({ ...row, x1: i / 50 - 1 })) });
  for (const stack of stacks) {
    const warm = await json(`${stack.url}/v1/models/bench/predict`, 'POST', { inputs: [row] });
    if (warm.status !== 200) throw new Error(`${stack.name}: predict answered ${warm.status}: ${JSON.stringify(warm.body)}`);
  }
  for (let round_ = 0; round_ < 2; round_++) {
    for (const [body, key] of [
      [one, 'predict1'],
      [hundred, 'predict100'],
    ] as const) {
      for (const stack of stacks) {
        const m = await cannon(`${stack.url}/v1/models/bench/predict`, body);
        const r = results.get(stack.name)!;
        if (key === 'predict1' && m.rps > r.predict1.rps) r.predict1 = m;
        if (key === 'predict100' && m.rps > r.predict100.rps) r.predict100 = { ...m, rowsPerSecond: m.rps * 100 };
      }
    }
  }
  for (const stack of stacks) {
    const r = results.get(stack.name)!;
    log(`predict ${stack.name}: 1 row ${r.predict1.rps} req/s (p99 ${r.predict1.p99ms} ms); 100 rows ${r.predict100.rps} req/s = ${r.predict100.rowsPerSecond} rows/s (p99 ${r.predict100.p99ms} ms)`);
  }
  return stacks.map((s) => results.get(s.name)!);
}

// ---- main -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  log(`bench/scale: ${cpus().length} cores, node ${process.version}, ${new Date().toISOString()}`);
  log(`MariaDB server: ${MYSQL_URL.replace(/\/\/[^@]*@/, '//')}; ${JOBS} jobs per queue run`);
  const queueDb = await createBenchDatabase();
  let queue: QueueResult[];
  try {
    queue = await queueBench(queueDb.url);
  } finally {
    await queueDb.drop();
  }

  let stacks: StackResult[] = [];
  if (HTTP) {
    const csv = benchCsv(INGEST_ROWS);
    const train = benchCsv(2000);
    const dir = await mkdtemp(join(tmpdir(), 'trainyard-bench-files-'));
    const s3 = await startS3Server();
    const stackDb = await createBenchDatabase();
    const open: Stack[] = [];
    try {
      open.push(await openStack('file + SQLite', { TRAINYARD_DATABASE_URL: `sqlite:${join(dir, 'trainyard.db')}`, TRAINYARD_BLOB_URL: `file://${join(dir, 'blobs')}` }));
      open.push(await openStack('S3 + MariaDB', { TRAINYARD_DATABASE_URL: stackDb.url, ...s3.env }));
      stacks = await stacksBench(open, csv, train);
    } finally {
      for (const stack of open) await stack.close();
      await s3.stop();
      await stackDb.drop();
      await rm(dir, { recursive: true, force: true });
    }
  }

  log('\n## Results (markdown)\n');
  log('| store | claimers | claims/s | p50 ms | p99 ms | jobs per claimer | double claims |');
  log('| --- | ---: | ---: | ---: | ---: | --- | ---: |');
  for (const r of queue) log(`| ${r.dialect} | ${r.claimers} | ${r.perSecond} | ${r.p50ms} | ${r.p99ms} | ${r.perClaimer.join(' / ')} | ${r.doubleClaims} |`);
  if (stacks.length === 2) {
    const [files, cloud] = stacks as [StackResult, StackResult];
    const ratio = (x: number, y: number) => `${(x / y).toFixed(2)}×`;
    log('');
    log(`| measure | file + SQLite | S3 + MariaDB | S3 + MariaDB / file + SQLite |`);
    log('| --- | ---: | ---: | ---: |');
    log(`| ingest, ${files.ingestMB} MB CSV (MB/s) | ${files.ingestMBps} | ${cloud.ingestMBps} | ${ratio(cloud.ingestMBps, files.ingestMBps)} |`);
    log(`| predict, 1 row (req/s) | ${files.predict1.rps} | ${cloud.predict1.rps} | ${ratio(cloud.predict1.rps, files.predict1.rps)} |`);
    log(`| predict, 1 row p99 (ms) | ${files.predict1.p99ms} | ${cloud.predict1.p99ms} | ${ratio(cloud.predict1.p99ms, files.predict1.p99ms)} |`);
    log(`| predict, 100 rows (rows/s) | ${files.predict100.rowsPerSecond} | ${cloud.predict100.rowsPerSecond} | ${ratio(cloud.predict100.rowsPerSecond, files.predict100.rowsPerSecond)} |`);
    log(`| predict, 100 rows p99 (ms) | ${files.predict100.p99ms} | ${cloud.predict100.p99ms} | ${ratio(cloud.predict100.p99ms, files.predict100.p99ms)} |`);
  }
  const mariadb = queue.filter((r) => r.dialect === 'mariadb');
  const failures = [
    ...queue.filter((r) => r.doubleClaims > 0).map((r) => `${r.dialect} ×${r.claimers}: ${r.doubleClaims} double claims`),
    ...mariadb.filter((r) => r.perSecond < 200).map((r) => `mariadb ×${r.claimers}: ${r.perSecond} claims/s is below the 200/s target`),
  ];
  log(failures.length ? `\nFAILED: ${failures.join('; ')}` : '\nOK: no double claims; MariaDB ≥ 200 claims/s at every concurrency');
  process.exitCode = failures.length ? 1 : 0;
}

await main();
