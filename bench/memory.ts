// bench/memory: memory of a training job against the row count (issue 13, "data larger than memory").
//
//   npx tsx bench/memory.ts [--rows 1000000,4000000,8000000] [--epochs 2] [--threads 1]
//                           [--compare-rows 1000000] [--main-ref main] [--inference-rows 1000000,8000000]
//
// For each row count: generates a rows × 32-feature binary CSV in a temp dir (streamed to disk),
// starts `trainyard server` (local executor), uploads the CSV and runs a training job (MLP
// 32-64-64-1, batch 256, Adam, seed 42, validation_split 0.2) while sampling, every 100 ms, the
// RssAnon + RssShmem of the job process (`run-job`: data preparation, then export and publishing)
// and of the trainer (python3 -m trainyard_trainer) from /proc/PID/status; the page cache of
// memory-mapped files is not counted (the kernel can reclaim it). Prints the peaks, the epoch
// times and the validation metrics, and the slope of each peak per million rows.
// At --compare-rows it runs the same job on a checkout of --main-ref (git archive into a temp dir,
// sharing this checkout's node_modules) right after, side by side: the previous in-memory path.
// At each of --inference-rows it also runs a batch inference job over the dataset and samples its process.
import { execSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, TRAINING_HEADER, startServer, trainingRow, upload, writeCsvOnce } from './support.ts';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000,4000000,8000000' },
    epochs: { type: 'string', default: '2' },
    threads: { type: 'string', default: '1' },
    'compare-rows': { type: 'string', default: '1000000' },
    'main-ref': { type: 'string', default: 'main' },
    'inference-rows': { type: 'string', default: '1000000,8000000' },
  },
});
const SIZES = args.rows.split(',').map(Number);
const EPOCHS = Number(args.epochs);
const THREADS = String(Number(args.threads));
const COMPARE = Number(args['compare-rows']);
const INFERENCE = new Set(args['inference-rows'].split(',').map(Number));
const HYPERPARAMETERS = { epochs: EPOCHS, batch_size: 256, optimizer: { type: 'Adam', lr: 0.001 }, seed: 42, validation_split: 0.2 };
const LAYERS = [{ type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: 1 }];

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** RssAnon + RssShmem of a process in MB (null once it is gone). */
function dataMb(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
    return (kb('RssAnon') + kb('RssShmem')) / 1024;
  } catch {
    return null;
  }
}

/** The server's descendants, by role: the job process (`run-job`) and the trainer. */
function roles(root: number): { job: number[]; trainer: number[] } {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out = { job: [] as number[], trainer: [] as number[] };
  for (const pid of parent.keys()) {
    let p: number | undefined = pid;
    while (p !== undefined && p > 1 && p !== root) p = parent.get(p);
    if (p !== root || pid === root) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.includes('trainyard_trainer')) out.trainer.push(pid);
    else if (cmdline.includes('run-job')) out.job.push(pid);
  }
  return out;
}

/** Samples the job and trainer processes every 100 ms until stopped; peaks in MB. */
function sampler(root: number) {
  const peak = { job: 0, trainer: 0 };
  const timer = setInterval(() => {
    const found = roles(root);
    for (const role of ['job', 'trainer'] as const) {
      for (const pid of found[role]) peak[role] = Math.max(peak[role], dataMb(pid) ?? 0);
    }
  }, 100);
  return { stop: () => (clearInterval(timer), peak) };
}

async function post<T>(base: string, path: string, body: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as T };
}

async function waitFor<T extends { status: string; error?: string | null }>(base: string, path: string): Promise<T> {
  for (;;) {
    const job = (await (await fetch(`${base}${path}`)).json()) as T;
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) {
      if (job.status !== 'succeeded') throw new Error(`${path}: ${job.status}: ${job.error}`);
      return job;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface Run {
  path: 'streaming' | 'in-memory (main)';
  rows: number;
  prepare_seconds: number;
  peak_job_mb: number;
  peak_trainer_mb: number;
  epoch_train_seconds: number[];
  epoch_seconds: number[];
  val: Record<string, number>;
  inference?: { rows: number; seconds: number; peak_mb: number };
}

async function run(csv: string, rows: number, path: Run['path'], root?: string): Promise<Run> {
  const server = await startServer({ TRAINYARD_TRAINER_THREADS: THREADS, TRAINYARD_JOB_STANDBY: 'false' }, { root });
  try {
    const uploaded = await upload(server.base, csv, 'bench');
    if (uploaded.status !== 201) throw new Error(`upload: ${uploaded.status} ${uploaded.body}`);
    const dataset = JSON.parse(uploaded.body) as { id: string };
    await post(server.base, '/v1/models', { name: 'bench', task: 'binary_classification', target: 'label', layers: LAYERS });
    const watch = sampler(server.child.pid!);
    const job = await post<{ id: string }>(server.base, '/v1/training-jobs', { model: 'bench', dataset: dataset.id, hyperparameters: HYPERPARAMETERS });
    if (job.status !== 202) throw new Error(`submit: ${JSON.stringify(job.body)}`);
    const done = await waitFor<{ status: string; error: string | null; stats: { timings: Record<string, number> } }>(server.base, `/v1/training-jobs/${job.body.id}`);
    const peak = watch.stop();
    const events = await (await fetch(`${server.base}/v1/training-jobs/${job.body.id}/events`)).text();
    const epochs = [...events.matchAll(/^event: epoch\ndata: (.*)$/gm)].map((m) => JSON.parse(m[1]) as { train_seconds: number; seconds: number; val: Record<string, number> });
    const last = epochs.at(-1)!;
    const result: Run = {
      path,
      rows,
      prepare_seconds: Number(done.stats.timings.prepare_seconds.toFixed(1)),
      peak_job_mb: Math.round(peak.job),
      peak_trainer_mb: Math.round(peak.trainer),
      epoch_train_seconds: epochs.map((e) => Number(e.train_seconds.toFixed(2))),
      epoch_seconds: epochs.map((e) => Number(e.seconds.toFixed(2))),
      val: Object.fromEntries(['loss', 'accuracy', 'roc_auc', 'f1'].map((k) => [k, Number(last.val[k].toFixed(4))])),
    };
    if (path === 'streaming' && INFERENCE.has(rows)) {
      const started = performance.now();
      const watchInference = sampler(server.child.pid!);
      const inference = await post<{ id: string }>(server.base, '/v1/inference-jobs', { model: 'bench', dataset: dataset.id });
      if (inference.status !== 202) throw new Error(`inference: ${JSON.stringify(inference.body)}`);
      const finished = await waitFor<{ status: string; error: string | null; stats: { rows: number } }>(server.base, `/v1/inference-jobs/${inference.body.id}`);
      result.inference = { rows: finished.stats.rows, seconds: Number(((performance.now() - started) / 1000).toFixed(1)), peak_mb: Math.round(watchInference.stop().job) };
    }
    console.log(JSON.stringify(result));
    return result;
  } finally {
    await server.stop();
  }
}

/** Main's tree (git archive), sharing this checkout's node_modules. */
async function mainCheckout(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-main-'));
  execSync(`git -C ${ROOT} archive ${args['main-ref']} | tar -x -C ${dir}`);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}`;
console.log(`machine: ${machine}, load at start ${loadavg()}, ${new Date().toISOString()}`);
const work = await mkdtemp(join(tmpdir(), 'bench-memory-'));
const runs: Run[] = [];
try {
  for (const rows of SIZES) {
    const csv = join(work, `train-${rows}.csv`);
    await writeCsvOnce(csv, TRAINING_HEADER, rows, trainingRow);
    console.log(`${rows} rows: ${(statSync(csv).size / 1e6).toFixed(0)} MB CSV, load ${loadavg()}`);
    runs.push(await run(csv, rows, 'streaming'));
    if (rows === COMPARE) {
      const main = await mainCheckout();
      try {
        runs.push(await run(csv, rows, 'in-memory (main)', main));
      } finally {
        await rm(main, { recursive: true, force: true });
      }
    }
    await rm(csv, { force: true });
  }
} finally {
  await rm(work, { recursive: true, force: true });
}

const streaming = runs.filter((r) => r.path === 'streaming');
const slope = (key: 'peak_job_mb' | 'peak_trainer_mb') => {
  if (streaming.length < 2) return null;
  const [a, b] = [streaming[0], streaming.at(-1)!];
  return Number(((b[key] - a[key]) / ((b.rows - a.rows) / 1e6)).toFixed(1));
};
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const compared = runs.find((r) => r.path !== 'streaming');
const base = streaming.find((r) => r.rows === compared?.rows);
console.log(
  JSON.stringify(
    {
      machine,
      date: new Date().toISOString(),
      load_at_end: loadavg(),
      epochs: EPOCHS,
      threads: Number(THREADS),
      runs,
      slope_mb_per_million_rows: { job: slope('peak_job_mb'), trainer: slope('peak_trainer_mb') },
      epoch_train_seconds_per_million_rows: streaming.map((r) => ({ rows: r.rows, seconds: Number((mean(r.epoch_train_seconds) / (r.rows / 1e6)).toFixed(2)) })),
      vs_in_memory:
        compared && base
          ? {
              rows: base.rows,
              peak_job_ratio: Number((base.peak_job_mb / compared.peak_job_mb).toFixed(3)),
              peak_trainer_ratio: Number((base.peak_trainer_mb / compared.peak_trainer_mb).toFixed(3)),
              epoch_train_ratio: Number((mean(base.epoch_train_seconds) / mean(compared.epoch_train_seconds)).toFixed(3)),
              epoch_ratio: Number((mean(base.epoch_seconds) / mean(compared.epoch_seconds)).toFixed(3)),
              val_difference: Object.fromEntries(Object.keys(base.val).map((k) => [k, Number((base.val[k] - compared.val[k]).toFixed(4))])),
            }
          : null,
    },
    null,
    2,
  ),
);
console.log(`rerun: npx tsx bench/memory.ts --rows ${args.rows} --epochs ${EPOCHS} --threads ${THREADS} --compare-rows ${COMPARE} --main-ref ${args['main-ref']} --inference-rows ${args['inference-rows']}`);
