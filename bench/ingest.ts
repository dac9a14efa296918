// Dataset ingest benchmark: a 1,000,000-row × 32-column CSV (~250 MB) uploaded end to end over HTTP
// to a real `trainyard server` child process. Reports MB/s, the server's peak RSS (VmHWM), the p99
// latency of `GET /v1/datasets` requests made while the ingest runs, and pandas.read_csv's time on
// the same file (Debian's python3-pandas) with the ratio.
//
//   npx tsx bench/ingest.ts [--rows 1000000] [--runs 3] [--no-pandas]
//
// The file is cached in bench/.data/ (gitignored); delete it to regenerate.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest, Agent } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBenchCsv, DEFAULT_ROWS } from './ingest-data.ts';
import { ROOT, freePort, upload } from './support.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] ? args[at + 1] : fallback;
};
const ROWS = Number(option('rows', String(DEFAULT_ROWS)));
const RUNS = Number(option('runs', '3'));
const PANDAS = !args.includes('--no-pandas');


function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`));
  return match ? Number(match[1]) : NaN;
}

/** CPU seconds (user + system) per thread of a process, from /proc (clock ticks of 1/100 s). */
function threadCpu(pid: number): Map<string, { name: string; seconds: number }> {
  const out = new Map<string, { name: string; seconds: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, { name, seconds: (Number(fields[11]) + Number(fields[12])) / 100 });
    } catch {
      // the thread ended
    }
  }
  return out;
}

function cpuDelta(before: Map<string, { name: string; seconds: number }>, after: Map<string, { name: string; seconds: number }>, pid: number) {
  let total = 0;
  const threads: { name: string; seconds: number }[] = [];
  for (const [tid, now] of after) {
    const seconds = now.seconds - (before.get(tid)?.seconds ?? 0);
    total += seconds;
    if (seconds >= 0.05) threads.push({ name: tid === String(pid) ? 'main' : now.name, seconds });
  }
  threads.sort((a, b) => b.seconds - a.seconds);
  return { total, threads };
}

async function waitHealthy(url: string, child: ChildProcess): Promise<void> {
  for (let k = 0; k < 300; k++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not become healthy');
}

/** GET /v1/datasets back to back from `clients` connections until `stop` resolves; latencies in ms. */
async function probe(url: string, stop: Promise<unknown>, clients = 2): Promise<number[]> {
  const latencies: number[] = [];
  let done = false;
  void stop.finally(() => (done = true));
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const started = performance.now();
      httpRequest(`${url}/v1/datasets?limit=20`, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) latencies.push(performance.now() - started);
          resolve();
        });
      })
        .on('error', reject)
        .end();
    });
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (!done) {
        await one();
        await new Promise((r) => setTimeout(r, 10));
      }
    }),
  );
  agent.destroy();
  return latencies;
}

const percentile = (values: number[], p: number): number => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const median = (values: number[]): number => percentile(values, 50);

function pandasSeconds(path: string): { seconds: number; cpu: number } | null {
  const script =
    'import sys, time\nimport pandas as pd\nt = time.perf_counter()\nc = time.process_time()\ndf = pd.read_csv(sys.argv[1])\nprint(time.perf_counter() - t, len(df), pd.__version__, time.process_time() - c)';
  const result = spawnSync('/usr/bin/python3', ['-c', script, path], { encoding: 'utf8' });
  if (result.status !== 0) {
    process.stderr.write(`pandas failed: ${result.stderr}\n`);
    return null;
  }
  const [seconds, rows, version, cpu] = result.stdout.trim().split(/\s+/);
  process.stdout.write(`pandas ${version}: read_csv ${rows} rows in ${Number(seconds).toFixed(2)} s (CPU ${Number(cpu).toFixed(2)} s)\n`);
  return { seconds: Number(seconds), cpu: Number(cpu) };
}

async function main(): Promise<void> {
  const path = await ensureBenchCsv(join(ROOT, 'bench', '.data', `ingest-${ROWS}x32.csv`), ROWS);
  const size = statSync(path).size;
  const mb = size / 1e6;
  process.stdout.write(`file: ${path} (${mb.toFixed(1)} MB, ${ROWS} rows × 32 columns)\n`);
  process.stdout.write(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}\n`);

  const dataDir = await mkdtemp(join(tmpdir(), 'trainyard-bench-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'trainyard.mjs'), 'server'], {
    cwd: ROOT,
    env: { ...process.env, TRAINYARD_PORT: String(port), TRAINYARD_HOST: '127.0.0.1', TRAINYARD_DATA_DIR: dataDir, TRAINYARD_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const results: { seconds: number; mbps: number; p99: number; p50: number; max: number; probes: number; cpu: number }[] = [];
  let idleRss = NaN;
  let peakRss = NaN;
  try {
    await waitHealthy(url, child);
    const pid = child.pid as number;
    idleRss = statusKb(pid, 'VmRSS') / 1024;
    for (let run = 1; run <= RUNS; run++) {
      const cpuBefore = threadCpu(pid);
      const uploading = upload(url, path, 'bench');
      const latencies = await probe(url, uploading);
      const result = await uploading;
      const cpu = cpuDelta(cpuBefore, threadCpu(pid), pid);
      if (result.status !== 201) throw new Error(`upload answered ${result.status}: ${result.body.slice(0, 500)}`);
      const dataset = JSON.parse(result.body) as { row_count: number; columns: unknown[] };
      if (dataset.row_count !== ROWS || dataset.columns.length !== 32) throw new Error(`unexpected profile: ${result.body.slice(0, 300)}`);
      const entry = { seconds: result.seconds, mbps: mb / result.seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(...latencies), probes: latencies.length, cpu: cpu.total };
      results.push(entry);
      process.stdout.write(
        `run ${run}: ${entry.seconds.toFixed(2)} s, ${entry.mbps.toFixed(1)} MB/s; server CPU ${cpu.total.toFixed(2)} s (${cpu.threads.map((t) => `${t.name} ${t.seconds.toFixed(2)}`).join(', ')}); ` +
          `GET /v1/datasets during ingest: ${entry.probes} requests, p50 ${entry.p50.toFixed(1)} ms, p99 ${entry.p99.toFixed(1)} ms, max ${entry.max.toFixed(1)} ms\n`,
      );
    }
    peakRss = statusKb(pid, 'VmHWM') / 1024;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(dataDir, { recursive: true, force: true });
  }

  const best = results.reduce((a, b) => (b.mbps > a.mbps ? b : a));
  const ingestMedian = median(results.map((r) => r.seconds));
  const p99 = Math.max(...results.map((r) => r.p99));
  process.stdout.write(`\ningest: median ${ingestMedian.toFixed(2)} s = ${(mb / ingestMedian).toFixed(1)} MB/s, best ${best.mbps.toFixed(1)} MB/s (target ≥ 100)\n`);
  process.stdout.write(`server RSS: idle ${idleRss.toFixed(0)} MB, peak (VmHWM) ${peakRss.toFixed(0)} MB (target < 400)\n`);
  process.stdout.write(`GET /v1/datasets during ingest: worst run p99 ${p99.toFixed(1)} ms (target < 50)\n`);
  if (PANDAS) {
    const pandas = pandasSeconds(path);
    if (pandas !== null) {
      const cpuMedian = median(results.map((r) => r.cpu));
      process.stdout.write(
        `pandas.read_csv: ${pandas.seconds.toFixed(2)} s = ${(mb / pandas.seconds).toFixed(1)} MB/s; Trainyard ingest (median wall) is ${(pandas.seconds / ingestMedian).toFixed(2)}× pandas (target ≥ 2×)\n` +
          `CPU work: server ${cpuMedian.toFixed(2)} s (median, all threads) vs pandas ${pandas.cpu.toFixed(2)} s: the server spends ${(cpuMedian / pandas.cpu).toFixed(2)}× pandas' CPU\n`,
      );
    }
  }
  process.stdout.write(`\nrerun: npx tsx bench/ingest.ts [--rows ${ROWS}] [--runs ${RUNS}] [--no-pandas]\n`);
}

await main();
