// bench/predict: serving throughput and latency with the breast-cancer MLP.
//
//   npx tsx bench/predict.ts [--rows 1000000] [--duration 10]
//
// In one run: (a) single-row predict over HTTP at concurrency 1, 16 and 64 (requests/s, p50, p99);
// (b) 1,000-row requests (rows/s); (c) a batch inference job over a rows-long file (rows/s and the
// job process's peak RSS); (d) the in-process ONNX Runtime floor for the same shapes; and (e) the
// single-row p99 while a training job runs on the same machine.
// Targets (2 cores): single-row ≥ 5,000 req/s at concurrency 16 with p99 < 10 ms; ≥ 200,000 rows/s
// for 1,000-row requests; batch job ≥ 300,000 rows/s with RSS under 500 MB.
import { createReadStream, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import * as ort from 'onnxruntime-node';
import { ROOT, startServer, writeCsvOnce } from './support.ts';

const { values: args } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, duration: { type: 'string', default: '10' } } });
const ROWS = Number(args.rows);
const DURATION = Number(args.duration);

const source = readFileSync(join(ROOT, 'examples', 'breast_cancer.csv'), 'utf8').trim().split('\n');
const header = source[0].split(',');
const features = header.filter((h) => h !== 'diagnosis');
const sampleRows = source.slice(1).map((line) => {
  const cells = line.split(',');
  return Object.fromEntries(header.map((h, i) => [h, Number(cells[i])]).filter(([h]) => h !== 'diagnosis'));
});

async function json<T>(response: Response): Promise<T> {
  const body = (await response.json()) as T;
  if (!response.ok) throw new Error(`${response.status} ${JSON.stringify(body)}`);
  return body;
}

async function waitJob(base: string, kind: string, id: string, onTick?: () => Promise<void>): Promise<Record<string, unknown>> {
  for (;;) {
    const job = await json<Record<string, unknown>>(await fetch(`${base}/v1/${kind}-jobs/${id}`));
    if (['succeeded', 'failed', 'cancelled'].includes(String(job.status))) return job;
    await onTick?.();
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function load(url: string, body: string, connections: number, seconds = DURATION) {
  const result = await autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections, duration: seconds });
  return { connections, requests_per_second: Math.round(result.requests.average), p50_ms: result.latency.p50, p99_ms: result.latency.p99, errors: result.errors + result.non2xx };
}

/** Peak resident memory of processes under `pid` whose command line mentions `needle` (VmHWM). */
async function peakRss(needle: string): Promise<number> {
  let peak = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (!cmd.includes(needle)) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    peak = Math.max(peak, kb * 1024);
  }
  return peak;
}

const bigCsv = join(ROOT, 'bench', '.data', `predict-${ROWS}.csv`);
console.log(`generating ${bigCsv} (once) …`);
await writeCsvOnce(bigCsv, features.join(','), ROWS, (r, random) => {
  const row = sampleRows[r % sampleRows.length];
  return features.map((f) => (row[f] * (0.98 + random() * 0.04)).toPrecision(5)).join(',');
});

const server = await startServer();
const { base } = server;
try {
  const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const cancer = await json<{ id: string }>(await fetch(`${base}/v1/datasets?name=cancer`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: source.join('\n') + '\n' }));
  const layers = [{ type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: 1 }];
  await json(await post('/v1/models', { name: 'cancer', task: 'binary_classification', target: 'diagnosis', layers }));
  const trained = await json<{ id: string }>(await post('/v1/training-jobs', { model: 'cancer', dataset: cancer.id, hyperparameters: { epochs: 20 } }));
  const trainedJob = await waitJob(base, 'training', trained.id);
  if (trainedJob.status !== 'succeeded') throw new Error(`training failed: ${JSON.stringify(trainedJob)}`);
  const predictUrl = `${base}/v1/models/cancer/predict`;
  const oneRow = JSON.stringify({ inputs: [sampleRows[0]] });
  const thousand = JSON.stringify({ inputs: Array.from({ length: 1000 }, (_, i) => sampleRows[i % sampleRows.length]) });
  await load(predictUrl, oneRow, 4, 2); // warm-up

  console.log('single-row predict …');
  const single = [];
  for (const c of [1, 16, 64]) single.push(await load(predictUrl, oneRow, c));
  console.log('1,000-row predict …');
  const batchRequests = await load(predictUrl, thousand, 4);

  console.log(`batch inference job over ${ROWS} rows …`);
  const upload = await json<{ id: string }>(
    await fetch(`${base}/v1/datasets?name=big`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: createReadStream(bigCsv) as unknown as ReadableStream, duplex: 'half' } as RequestInit),
  );
  const inference = await json<{ id: string }>(await post('/v1/inference-jobs', { model: 'cancer', dataset: upload.id }));
  let rss = 0;
  const startedJob = performance.now();
  const inferenceJob = await waitJob(base, 'inference', inference.id, async () => {
    rss = Math.max(rss, await peakRss(inference.id));
  });
  const jobSeconds = (performance.now() - startedJob) / 1000;
  const stats = inferenceJob.stats as { rows: number; rows_per_second: number; seconds: number };

  console.log('predict while a training job runs …');
  const busy = await json<{ id: string }>(await post('/v1/training-jobs', { model: 'cancer', dataset: cancer.id, hyperparameters: { epochs: 400, batch_size: 16 } }));
  await new Promise((r) => setTimeout(r, 4000));
  const whileTraining = await load(predictUrl, oneRow, 16);
  await post(`/v1/training-jobs/${busy.id}/cancel`, {});

  console.log('in-process ONNX Runtime floor …');
  const onnx = Buffer.from(await (await fetch(`${base}/v1/models/cancer/versions/1/artifacts/model.onnx`)).arrayBuffer());
  const session = await ort.InferenceSession.create(onnx, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1 });
  const floor = async (rows: number, iterations: number) => {
    const input = new ort.Tensor('float32', new Float32Array(rows * features.length).fill(1), [rows, features.length]);
    for (let i = 0; i < 100; i++) await session.run({ features: input });
    const t = performance.now();
    for (let i = 0; i < iterations; i++) await session.run({ features: input });
    const seconds = (performance.now() - t) / 1000;
    return { rows, runs_per_second: Math.round(iterations / seconds), rows_per_second: Math.round((iterations * rows) / seconds) };
  };
  const floors = [await floor(1, 20000), await floor(1000, 2000), await floor(8192, 300)];

  const report = {
    machine: `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown CPU'}`,
    date: new Date().toISOString(),
    single_row_http: single,
    thousand_row_http: { ...batchRequests, rows_per_second: batchRequests.requests_per_second * 1000 },
    batch_job: { rows: stats.rows, job_seconds_submit_to_done: Number(jobSeconds.toFixed(2)), rows_per_second_in_job: stats.rows_per_second, peak_rss_mb: Math.round(rss / 2 ** 20) },
    single_row_http_while_training: whileTraining,
    onnx_runtime_floor: floors,
  };
  console.log(JSON.stringify(report, null, 2));
  console.log(`rerun: npx tsx bench/predict.ts --rows ${ROWS} --duration ${DURATION}`);
} finally {
  await server.stop();
}
