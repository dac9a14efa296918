// bench/monitoring: what prediction logging costs serving, and how fast drift is over many logged rows.
//
//   npx tsx bench/monitoring.ts [--duration 10] [--pairs 4] [--rows 1000000] [--record-rows 800000] [--parts a,b,c]
//
// (a) Single-row predict at concurrency 16 against one server, alternating logging off and logging
//     at sample rate 1.0 for --pairs pairs (side by side in one sitting, since the machine is noisy;
//     the order within a pair alternates, since whichever runs second is slower):
//     requests/s and p99 of each, and their ratio. Target: ≥ 90 % of the throughput, p99 within 2 ms.
// (b) --rows logged rows recorded through a PredictionMonitor (the same code path as serving) into a
//     SQLite store and file blobs, flushed as serving would; then drift over the window that holds
//     them, timed; and the process's RssAnon + RssShmem before and after. Target: drift < 1 s, RSS flat.
// (c) What a prediction record's insert costs by the order of its request ids: --record-rows
//     records, one request each, with random ids (UUIDv4) and with the time-ordered ids the server
//     makes (UUIDv7), each into a fresh SQLite store, in rounds as the table grows (µs per row).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { pino } from 'pino';
import { ROOT, startServer } from './support.ts';
import { openMetadataStore } from '../src/store/metadata/open-metadata-store.ts';
import { migrateToLatest } from '../src/store/metadata/migrate.ts';
import { FileBlobStore } from '../src/store/blobs/file-blob-store.ts';
import { PredictionMonitor } from '../src/monitoring/monitor.ts';
import { insertRecords, putSettings, type PredictionRecord } from '../src/monitoring/store.ts';
import { timeOrderedId } from '../src/api/request-id.ts';
import { randomUUID } from 'node:crypto';
import { computeDrift } from '../src/monitoring/drift.ts';
import { fitFeatureBaseline, type DriftBaseline } from '../src/monitoring/baseline.ts';
import type { ModelVersionRecord } from '../src/models/registry.ts';

const { values: args } = parseArgs({ options: { duration: { type: 'string', default: '10' }, pairs: { type: 'string', default: '4' }, rows: { type: 'string', default: '1000000' }, 'record-rows': { type: 'string', default: '800000' }, parts: { type: 'string', default: 'a,b,c' } } });
const PARTS = new Set(args.parts.split(','));
const DURATION = Number(args.duration);
const PAIRS = Number(args.pairs);
const ROWS = Number(args.rows);
const RECORD_ROWS = Number(args['record-rows']);

async function json<T>(response: Response): Promise<T> {
  const body = (await response.json()) as T;
  if (!response.ok) throw new Error(`${response.status} ${JSON.stringify(body)}`);
  return body;
}

async function memory(): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return (kb('RssAnon') + kb('RssShmem')) * 1024;
}
const mb = (bytes: number) => Math.round(bytes / 1048576);

console.log(`bench/monitoring on ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}, Node ${process.version}, load ${(await readFile('/proc/loadavg', 'utf8')).trim()}`);

// (a) Serving with and without logging ------------------------------------------------------------
if (PARTS.has('a')) {
  const source = readFileSync(join(ROOT, 'examples', 'breast_cancer.csv'), 'utf8').trim().split('\n');
  const header = source[0].split(',');
  const row = Object.fromEntries(header.map((h, i) => [h, Number(source[1].split(',')[i])]).filter(([h]) => h !== 'diagnosis'));
  const server = await startServer({ TRAINYARD_MONITORING_FLUSH_MS: '2000' });
  try {
    const { base } = server;
    const post = (path: string, body: unknown, method = 'POST') => fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const dataset = await json<{ id: string }>(await fetch(`${base}/v1/datasets?name=cancer`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: source.join('\n') + '\n' }));
    await json(await post('/v1/models', { name: 'cancer', task: 'binary_classification', target: 'diagnosis', layers: [{ type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: 1 }] }));
    const job = await json<{ id: string }>(await post('/v1/training-jobs', { model: 'cancer', dataset: dataset.id, hyperparameters: { epochs: 5 } }));
    for (;;) {
      const state = await json<{ status: string }>(await fetch(`${base}/v1/training-jobs/${job.id}`));
      if (state.status === 'succeeded') break;
      if (['failed', 'cancelled'].includes(state.status)) throw new Error(`training ${state.status}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const load = async () => {
      const result = await autocannon({ url: `${base}/v1/models/cancer/predict`, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [row] }), connections: 16, duration: DURATION });
      return { rps: Math.round(result.requests.average), p99: result.latency.p99, errors: result.errors + result.non2xx };
    };
    const setRate = async (rate: number) => {
      await json(await post('/v1/models/cancer/monitoring', { log_sample_rate: rate }, 'PUT'));
      await new Promise((r) => setTimeout(r, 6000)); // every process's settings cache (5 s) has expired
    };
    await load(); // warm-up
    const rows: Array<{ pair: number; off: { rps: number; p99: number }; on: { rps: number; p99: number } }> = [];
    // The order alternates (off → on, then on → off): the second run of a pair came out about 3 %
    // slower than the first even with both off, so a fixed order counted that against logging.
    const run = async (rate: number) => {
      await setRate(rate);
      return load();
    };
    for (let pair = 1; pair <= PAIRS; pair++) {
      const offFirst = pair % 2 === 1;
      const first = await run(offFirst ? 0 : 1);
      const second = await run(offFirst ? 1 : 0);
      const [off, on] = offFirst ? [first, second] : [second, first];
      rows.push({ pair, off, on });
      console.log(`pair ${pair} (${offFirst ? 'off first' : 'on first'}): off ${off.rps} req/s p99 ${off.p99} ms | logging 1.0 ${on.rps} req/s p99 ${on.p99} ms | ratio ${(on.rps / off.rps).toFixed(3)} | errors ${off.errors + on.errors}`);
    }
    const median = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      const middle = Math.floor(sorted.length / 2);
      return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    };
    console.log(`median throughput ratio (logging / off): ${median(rows.map((r) => r.on.rps / r.off.rps)).toFixed(3)}; median p99 difference: ${median(rows.map((r) => r.on.p99 - r.off.p99)).toFixed(2)} ms`);
  } finally {
    await server.stop();
  }
}

// (b) Drift over many logged rows ------------------------------------------------------------------
if (PARTS.has('b')) {
  const dir = await mkdtemp(join(tmpdir(), 'trainyard-bench-monitoring-'));
  try {
    const metadata = await openMetadataStore(`sqlite:${join(dir, 'db.sqlite')}`);
    await migrateToLatest(metadata);
    const blobs = new FileBlobStore(join(dir, 'blobs'));
    const FEATURES = 32;
    const names = Array.from({ length: FEATURES }, (_, i) => `f${i}`);
    // A baseline fitted on 10,000 standard-normal rows, written where serving reads it.
    const trainColumns = names.map((name) => ({ name, kind: 'numeric' as const, values: Float64Array.from({ length: 10_000 }, () => Math.random() * 2 - 1) }));
    const fitted = fitFeatureBaseline(trainColumns, trainColumns.map((c) => ({ name: c.name, kind: 'numeric' as const, impute: 0, mean: 0, std: 1 })), Int32Array.from({ length: 10_000 }, (_, i) => i));
    const baseline: DriftBaseline = { format_version: 1, rows: fitted.rows, features: fitted.features, prediction: { kind: 'label', classes: ['no', 'yes'], counts: [5000, 5000] } };
    const version: ModelVersionRecord = {
      model: 'bench', version: 1, training_job_id: 'job_bench', dataset_id: 'ds_bench', metrics: {}, artifacts: [], aliases: [], blob_prefix: 'models/bench/1', init_from: null, created_at: new Date().toISOString(),
      signature: { inputs: [], output: { task: 'binary_classification', target: 'y', classes: ['no', 'yes'] } },
    };
    await blobs.put('models/bench/1/baseline.json', JSON.stringify(baseline));
    await putSettings(metadata, 'bench', { log_sample_rate: 1, retention_days: 30 });
    const monitor = new PredictionMonitor({ metadata, blobs, logger: pino({ level: 'silent' }) }, { flushMs: 1000, maxQueuedRows: 50_000, settingsTtlMs: 60_000 });
    const record = (await monitor.recorder(version, { requestId: 'bench' }))!;
    const manifest = { task: 'binary_classification', features: names.map((name) => ({ name, kind: 'numeric' })), target: { kind: 'label', classes: ['no', 'yes'] } };
    const BATCH = 1000;
    const columns = names.map(() => new Float64Array(BATCH));
    const output = new Float32Array(BATCH);
    const before = await memory();
    let peak = before;
    const started = performance.now();
    for (let done = 0; done < ROWS; done += BATCH) {
      for (const column of columns) for (let i = 0; i < BATCH; i++) column[i] = Math.random() * 2 - 1 + (done > ROWS / 2 ? 0.5 : 0);
      for (let i = 0; i < BATCH; i++) output[i] = Math.random();
      record({ manifest, columns, rows: BATCH, output, width: 1, firstRow: done, latencyMs: 1 });
      if (monitor.backlog >= 20_000) await monitor.flush();
      peak = Math.max(peak, await memory());
    }
    await monitor.close();
    const logSeconds = (performance.now() - started) / 1000;
    const after = await memory();
    const timings: number[] = [];
    let report;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      report = await computeDrift(metadata, { model: 'bench', version: 1, baseline, window: '24h', from: new Date(Date.now() - 24 * 3600_000), thresholds: { warn: 0.1, drift: 0.2 } });
      timings.push(performance.now() - t);
    }
    console.log(`logged ${ROWS} rows × ${FEATURES} features in ${logSeconds.toFixed(1)} s (${Math.round(ROWS / logSeconds)} rows/s, written as parts, records and bins); dropped ${monitor.counters.dropped}`);
    console.log(`drift over the ${report!.live_rows} live rows: ${timings.map((t) => t.toFixed(0)).join(', ')} ms (5 runs); status ${report!.status}`);
    console.log(`RssAnon+RssShmem: ${mb(before)} MB before, peak ${mb(peak)} MB, ${mb(after)} MB after`);
    await metadata.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// (c) Record inserts by request-id order --------------------------------------------------------------
if (PARTS.has('c')) {
  for (const [label, id] of [['random ids (v4)', randomUUID], ['time-ordered ids (v7)', () => timeOrderedId()]] as const) {
    const recordDir = await mkdtemp(join(tmpdir(), 'trainyard-bench-records-'));
    try {
      const metadata = await openMetadataStore(`sqlite:${join(recordDir, 'db.sqlite')}`);
      await migrateToLatest(metadata);
      const ROUND = RECORD_ROWS / 4;
      const perRow: string[] = [];
      for (let round = 0; round < 4; round++) {
        let spent = 0;
        for (let done = 0; done < ROUND; done += 10_000) {
          const time = new Date().toISOString();
          const records: PredictionRecord[] = Array.from({ length: 10_000 }, () => ({ model_name: 'bench', request_id: id(), row_index: 0, version: 1, logged_at: time, predicted_label: 'yes', predicted_value: Math.random() }));
          const started = performance.now();
          await insertRecords(metadata, records);
          spent += performance.now() - started;
        }
        perRow.push(((spent * 1000) / ROUND).toFixed(1));
      }
      console.log(`record inserts, ${label}: ${perRow.join(', ')} µs a row over each quarter of ${RECORD_ROWS} rows`);
      await metadata.close();
    } finally {
      await rm(recordDir, { recursive: true, force: true });
    }
  }
}
