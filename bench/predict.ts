// bench/predict: serving throughput and latency with the breast-cancer MLP, with one HTTP process and
// with one per core, side by side in the same sitting.
//
//   npx tsx bench/predict.ts [--rows 1000000] [--duration 10] [--only single,thousand,job,training,floor]
//                            [--workers 1,<cores>] [--load wrk|autocannon]
//
// One server per --workers entry (TRAINYARD_WORKERS), all on one data directory: the first trains the
// model (it runs the job loop); the others only serve. Each measurement runs against each server in
// turn: (a) single-row predict over HTTP at concurrency 1, 16 and 64 (requests/s, p50, p99);
// (b) 1,000-row requests at concurrency 4 and 16 with a JSON body and at 16 with a CSV body (rows/s,
// and the server's CPU time per request, all its processes); (c) a batch inference job over a
// rows-long file (rows/s, and the job process's CPU seconds and peak RSS); (d) the in-process ONNX
// Runtime floor for the same shapes; and (e) the single-row p99 while a training job runs on the
// same machine. --only runs some of them (the model is trained either way), e.g. --only thousand,job.
// The load generator is wrk (1 thread) when it is installed, else autocannon in this process, which
// needs most of a core itself: on 2 cores it leaves the server less than wrk does.
// Targets (2 cores): single-row ≥ 5,000 req/s at concurrency 16 with p99 < 10 ms; ≥ 200,000 rows/s
// for 1,000-row requests; batch job ≥ 300,000 rows/s with RSS under 500 MB. With one HTTP process per
// core: single-row at concurrency 16 ≥ 1.6× the one-process figure with p99 < 10 ms, and 1,000-row
// requests at concurrency 16 ≥ 1.6× the one-process rows/s with p99 < 50 ms.
import { execFile, execFileSync } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import * as ort from 'onnxruntime-node';
import { ROOT, startServer, writeCsvOnce, type BenchServer } from './support.ts';

const PARTS = ['single', 'thousand', 'job', 'training', 'floor'] as const;
const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    duration: { type: 'string', default: '10' },
    only: { type: 'string', default: PARTS.join(',') },
    workers: { type: 'string', default: `1,${availableParallelism()}` },
    load: { type: 'string', default: hasWrk() ? 'wrk' : 'autocannon' },
  },
});
const WORKERS = args.workers.split(',').map(Number);
if (WORKERS.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--workers takes HTTP process counts, e.g. 1,2; got ${args.workers}`);
if (args.load !== 'wrk' && args.load !== 'autocannon') throw new Error(`--load takes wrk or autocannon; got ${args.load}`);
const ROWS = Number(args.rows);
const DURATION = Number(args.duration);
const only = new Set(args.only.split(','));
for (const part of only) if (!(PARTS as readonly string[]).includes(part)) throw new Error(`--only takes ${PARTS.join(', ')}; got ${part}`);

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

function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // wrk --version prints its banner and exits 1.
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

interface LoadResult {
  connections: number;
  requests_per_second: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}

async function load(url: string, body: string, connections: number, seconds = DURATION, type = 'application/json'): Promise<LoadResult> {
  if (args.load === 'wrk') return wrk(url, body, connections, seconds, type);
  const result = await autocannon({ url, method: 'POST', headers: { 'content-type': type }, body, connections, duration: seconds });
  return { connections, requests_per_second: Math.round(result.requests.average), p50_ms: result.latency.p50, p99_ms: result.latency.p99, errors: result.errors + result.non2xx };
}

let scripts = 0;
/** wrk, one thread, POSTing `body` (through a Lua script) on `connections` connections. */
async function wrk(url: string, body: string, connections: number, seconds: number, type: string): Promise<LoadResult> {
  const script = `${tmpdir()}/bench-predict-${process.pid}-${++scripts}.lua`;
  await writeFile(script, `wrk.method = "POST"\nwrk.headers["Content-Type"] = "${type}"\nwrk.body = [==[${body}]==]\n`);
  try {
    const { stdout } = await promisify(execFile)('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', script, url], { maxBuffer: 1 << 20 });
    const ms = (percent: number) => {
      const match = new RegExp(`^\\s+${percent}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(stdout);
      if (!match) throw new Error(`no ${percent}% latency in wrk's output:\n${stdout}`);
      return Number((Number(match[1]) * { us: 0.001, ms: 1, s: 1000 }[match[2] as 'us' | 'ms' | 's']).toFixed(2));
    };
    const count = (pattern: RegExp) => Number(pattern.exec(stdout)?.[1] ?? 0);
    const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
    return {
      connections,
      requests_per_second: Math.round(count(/Requests\/sec:\s+([\d.]+)/)),
      p50_ms: ms(50),
      p99_ms: ms(99),
      errors: count(/Non-2xx or 3xx responses: (\d+)/) + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
    };
  } finally {
    await rm(script, { force: true });
  }
}

/** CPU seconds (user + system, all threads) that process `pid` has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime (fields 14, 15) in 1/100 s
}

/** CPU seconds of the server: its own process and its HTTP processes (not its job processes). */
async function serverCpuSeconds(pid: number): Promise<number> {
  let total = await cpuSeconds(pid);
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || (await parentOf(Number(entry))) !== pid) continue;
    const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (args.includes('server') && !args.includes('run-job')) total += await cpuSeconds(Number(entry)).catch(() => 0);
  }
  return total;
}

/** `load`, plus the server's CPU milliseconds per request and rows/s for `rows`-row bodies. */
async function loadRows(url: string, body: string, type: string, rows: number, pid: number, connections: number) {
  const before = await serverCpuSeconds(pid);
  const started = performance.now();
  const result = await load(url, body, connections, DURATION, type);
  const seconds = (performance.now() - started) / 1000;
  const cpu = (await serverCpuSeconds(pid)) - before;
  const requests = result.requests_per_second * seconds;
  return { ...result, rows_per_second: result.requests_per_second * rows, server_cpu_ms_per_request: Number(((cpu * 1000) / requests).toFixed(2)) };
}

/** The parent pid of `pid` (0 when it is gone). */
async function parentOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return Number(stat.split(') ')[1]?.split(' ')[1] ?? 0);
}

/**
 * The server's `run-job` processes (a job runs in one, started for it or waiting as the standby,
 * whose command line does not name the job): per pid, its peak resident memory (VmHWM) and CPU
 * seconds so far, folded into `seen` (the largest values observed).
 */
async function observeJobProcesses(serverPid: number, seen: Map<number, { rss: number; cpu: number }>): Promise<void> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (!cmd.includes('run-job')) continue;
    let ancestor = Number(entry);
    for (let depth = 0; depth < 4 && ancestor > 1 && ancestor !== serverPid; depth++) ancestor = await parentOf(ancestor);
    if (ancestor !== serverPid) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    const rss = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    const cpu = await cpuSeconds(Number(entry)).catch(() => 0);
    const before = seen.get(Number(entry)) ?? { rss: 0, cpu: 0 };
    seen.set(Number(entry), { rss: Math.max(before.rss, rss), cpu: Math.max(before.cpu, cpu) });
  }
}

const bigCsv = join(ROOT, 'bench', '.data', `predict-${ROWS}.csv`);

// The first server trains the model and runs every job (its job loop); the others share its data
// directory and only serve (queue executor), so each measurement can run against each in turn.
const server = await startServer({ TRAINYARD_WORKERS: String(WORKERS[0]) });
const { base } = server;
const servers: Array<{ workers: number; server: BenchServer }> = [{ workers: WORKERS[0], server }];
try {
  const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const cancer = await json<{ id: string }>(await fetch(`${base}/v1/datasets?name=cancer`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: source.join('\n') + '\n' }));
  const layers = [{ type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: 1 }];
  await json(await post('/v1/models', { name: 'cancer', task: 'binary_classification', target: 'diagnosis', layers }));
  const trained = await json<{ id: string }>(await post('/v1/training-jobs', { model: 'cancer', dataset: cancer.id, hyperparameters: { epochs: 20 } }));
  const trainedJob = await waitJob(base, 'training', trained.id);
  if (trainedJob.status !== 'succeeded') throw new Error(`training failed: ${JSON.stringify(trainedJob)}`);
  for (const workers of WORKERS.slice(1)) {
    servers.push({ workers, server: await startServer({ TRAINYARD_WORKERS: String(workers), TRAINYARD_EXECUTOR: 'queue' }, { dataDir: server.dataDir }) });
  }
  const predictPath = '/v1/models/cancer/predict';
  const oneRow = JSON.stringify({ inputs: [sampleRows[0]] });
  const thousandRows = Array.from({ length: 1000 }, (_, i) => sampleRows[i % sampleRows.length]);
  const thousand = JSON.stringify({ inputs: thousandRows });
  const thousandCsv = [features.join(','), ...thousandRows.map((row) => features.map((f) => row[f]).join(','))].join('\n') + '\n';
  // Warm-up: every HTTP process loads the model on its first request.
  for (const { server: s } of servers) await load(`${s.base}${predictPath}`, oneRow, 16, 2);
  const report: Record<string, unknown> = {
    machine: `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown CPU'}`,
    date: new Date().toISOString(),
    load_generator: args.load === 'wrk' ? 'wrk -t1' : 'autocannon (in the bench process)',
    loadavg_at_start: loadavg().map((l) => Number(l.toFixed(2))),
  };
  /** Runs `measure` against each server in turn: `{ "1": …, "2": … }` by HTTP process count. */
  const each = async <T>(measure: (s: BenchServer) => Promise<T>): Promise<Record<string, T>> => {
    const out: Record<string, T> = {};
    for (const { workers, server: s } of servers) {
      out[workers] = await measure(s);
      console.log(`  ${workers} HTTP process(es): ${JSON.stringify(out[workers])}`);
    }
    return out;
  };

  if (only.has('single')) {
    console.log('single-row predict …');
    report.single_row_http = await each(async (s) => {
      const single = [];
      for (const c of [1, 16, 64]) single.push(await load(`${s.base}${predictPath}`, oneRow, c));
      return single;
    });
  }
  if (only.has('thousand')) {
    console.log('1,000-row predict, JSON and CSV bodies …');
    report.thousand_row_http_json = await each(async (s) => {
      await load(`${s.base}${predictPath}`, thousand, 4, 2); // warm-up
      return [await loadRows(`${s.base}${predictPath}`, thousand, 'application/json', 1000, s.child.pid!, 4), await loadRows(`${s.base}${predictPath}`, thousand, 'application/json', 1000, s.child.pid!, 16)];
    });
    report.thousand_row_http_csv = await each(async (s) => {
      await load(`${s.base}${predictPath}`, thousandCsv, 4, 2, 'text/csv');
      return loadRows(`${s.base}${predictPath}`, thousandCsv, 'text/csv', 1000, s.child.pid!, 16);
    });
  }
  if (servers.length > 1 && (only.has('single') || only.has('thousand'))) report.cluster_vs_one_process = speedups(report);
  if (only.has('job')) await batchJob();
  if (only.has('training')) {
    console.log('predict while a training job runs …');
    const busy = await json<{ id: string }>(await post('/v1/training-jobs', { model: 'cancer', dataset: cancer.id, hyperparameters: { epochs: 400, batch_size: 16 } }));
    await new Promise((r) => setTimeout(r, 4000));
    report.single_row_http_while_training = await each((s) => load(`${s.base}${predictPath}`, oneRow, 16));
    await post(`/v1/training-jobs/${busy.id}/cancel`, {});
  }
  if (only.has('floor')) await onnxFloor();
  report.loadavg_at_end = loadavg().map((l) => Number(l.toFixed(2)));

  console.log(JSON.stringify(report, null, 2));
  console.log(`rerun: npx tsx bench/predict.ts --rows ${ROWS} --duration ${DURATION} --only ${[...only].join(',')} --workers ${WORKERS.join(',')} --load ${args.load}`);

  async function batchJob() {
    console.log(`generating ${bigCsv} (once) …`);
    await writeCsvOnce(bigCsv, features.join(','), ROWS, (r, random) => {
      const row = sampleRows[r % sampleRows.length];
      return features.map((f) => (row[f] * (0.98 + random() * 0.04)).toPrecision(5)).join(',');
    });
    console.log(`batch inference job over ${ROWS} rows …`);
    const upload = await json<{ id: string }>(
      await fetch(`${base}/v1/datasets?name=big`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: createReadStream(bigCsv) as unknown as ReadableStream, duplex: 'half' } as RequestInit),
    );
    const inference = await json<{ id: string }>(await post('/v1/inference-jobs', { model: 'cancer', dataset: upload.id }));
    const processes = new Map<number, { rss: number; cpu: number }>();
    const startedJob = performance.now();
    const inferenceJob = await waitJob(base, 'inference', inference.id, () => observeJobProcesses(server.child.pid!, processes));
    // The job's process is the busiest one (its CPU as last seen, polled every 100 ms; start-up included).
    const busiest = [...processes.values()].reduce((a, b) => (b.cpu > a.cpu ? b : a), { rss: 0, cpu: 0 });
    const rss = Math.max(0, ...[...processes.values()].map((p) => p.rss));
    const jobSeconds = (performance.now() - startedJob) / 1000;
    if (inferenceJob.status !== 'succeeded') throw new Error(`inference failed: ${JSON.stringify(inferenceJob)}`);
    const stats = inferenceJob.stats as { rows: number; rows_per_second: number; seconds: number };
    report.batch_job = { rows: stats.rows, job_seconds_submit_to_done: Number(jobSeconds.toFixed(2)), rows_per_second_in_job: stats.rows_per_second, peak_rss_mb: Math.round(rss / 2 ** 20), job_process_cpu_seconds: Number(busiest.cpu.toFixed(2)) };
  }

  async function onnxFloor() {
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
    report.onnx_runtime_floor = [await floor(1, 20000), await floor(1000, 2000), await floor(8192, 300)];
  }
} finally {
  for (const { server: s } of servers.reverse()) await s.stop();
}

/** The last server's figures at concurrency 16 against the first's (the targets). */
function speedups(report: Record<string, unknown>): Record<string, unknown> {
  const [one, many] = [String(WORKERS[0]), String(WORKERS.at(-1))];
  const out: Record<string, unknown> = { compared: `${many} HTTP processes vs ${one}` };
  const single = report.single_row_http as Record<string, LoadResult[]> | undefined;
  if (single) {
    const [a, b] = [single[one].find((r) => r.connections === 16)!, single[many].find((r) => r.connections === 16)!];
    out.single_row_c16 = { speedup: Number((b.requests_per_second / a.requests_per_second).toFixed(2)), p99_ms: b.p99_ms, target: '≥ 1.6×, p99 < 10 ms' };
  }
  const thousand = report.thousand_row_http_json as Record<string, Array<LoadResult & { rows_per_second: number }>> | undefined;
  if (thousand) {
    const [a, b] = [thousand[one].find((r) => r.connections === 16)!, thousand[many].find((r) => r.connections === 16)!];
    out.thousand_rows_json_c16 = { speedup: Number((b.rows_per_second / a.rows_per_second).toFixed(2)), p99_ms: b.p99_ms, target: '≥ 1.6×, p99 < 50 ms' };
  }
  return out;
}
