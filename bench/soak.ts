// bench/soak: mixed traffic against one `trainyard server` for a while, sampling every 10 s the
// server's RSS and open file descriptors (summed over its primary and HTTP processes, with each
// process's RSS in brackets, primary first) and the p99 latency of the requests of those 10 s. Flat
// lines are the target (no leak of memory, descriptors or time).
//
//   npx tsx bench/soak.ts [--duration 600] [--concurrency 8]
//
// Traffic: single-row predictions (most of it), small CSV uploads then deletes, dataset and job
// lists, hostile bodies (a predict body of rotating keys, a wide CSV header, an unknown model),
// job event streams opened and dropped, and a short training job every minute.
import { readFile, readdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ROOT, percentile, startServer } from './support.ts';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '600' }, concurrency: { type: 'string', default: '8' } } });
const duration = Number(values.duration) * 1000;
const concurrency = Number(values.concurrency);

const server = await startServer({ TRAINYARD_MAX_PREDICT_ROWS: '1000' });
const { base } = server;
const json = async (method: string, path: string, body?: unknown) => {
  const r = await fetch(`${base}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
};

const csv = await readFile(`${ROOT}examples/breast_cancer.csv`, 'utf8');
const [headerLine, firstLine] = csv.split('\n');
const row = Object.fromEntries(headerLine.split(',').map((h, i) => [h, Number(firstLine.split(',')[i])]).filter(([h]) => h !== 'diagnosis'));
const dataset = (await (await fetch(`${base}/v1/datasets?name=cancer`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv })).json()) as { id: string };
await json('POST', '/v1/models', { name: 'cancer', task: 'binary_classification', target: 'diagnosis', layers: [{ type: 'Linear', out_features: 16 }, { type: 'ReLU' }, { type: 'Linear', out_features: 1 }] });
const train = async () => (await json('POST', '/v1/training-jobs', { model: 'cancer', dataset: dataset.id, hyperparameters: { epochs: 3 } })).body as { id: string };
const first = await train();
for (let i = 0; i < 600; i++) {
  const job = (await json('GET', `/v1/training-jobs/${first.id}`)).body as { status: string };
  if (job.status === 'succeeded') break;
  if (job.status === 'failed') throw new Error('the first training job failed');
  await new Promise((r) => setTimeout(r, 500));
}

const rotating = JSON.stringify({ inputs: Array.from({ length: 5000 }, (_, i) => ({ [`k${i}`]: 1 })) });
const wide = `${Array.from({ length: 5000 }, (_, i) => `c${i}`).join(',')}\n${'1,'.repeat(4999)}1\n`;
const actions: Array<[number, () => Promise<unknown>]> = [
  [60, () => json('POST', '/v1/models/cancer/predict', { inputs: [row] })],
  [5, async () => {
    const made = (await (await fetch(`${base}/v1/datasets?name=soak`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'a,b\n1,2\n3,4\n' })).json()) as { id: string };
    await fetch(`${base}/v1/datasets/${made.id}`, { method: 'DELETE' });
  }],
  [10, () => json('GET', '/v1/datasets?limit=50')],
  [10, () => json('GET', '/v1/training-jobs?limit=50')],
  [3, () => fetch(`${base}/v1/models/cancer/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: rotating }).then((r) => r.text())],
  [3, () => fetch(`${base}/v1/datasets?name=wide`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: wide }).then((r) => r.text())],
  [3, () => json('POST', '/v1/models/ghost/predict', { inputs: [row] })],
  [6, async () => {
    const controller = new AbortController();
    const r = await fetch(`${base}/v1/training-jobs/${first.id}/events`, { signal: controller.signal });
    await r.body?.getReader().read();
    controller.abort();
  }],
];
const total = actions.reduce((a, [w]) => a + w, 0);
const pick = () => {
  let x = Math.random() * total;
  for (const [w, f] of actions) if ((x -= w) < 0) return f;
  return actions[0][1];
};

let latencies: number[] = [];
let errors = 0;
const started = Date.now();
const pid = server.child.pid!;

/** The server's own processes: the one started and its HTTP processes (TRAINYARD_WORKERS), not its jobs' run-job and trainer children, which come and go. */
async function serverProcesses(): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const [stat, cmdline] = await Promise.all([readFile(`/proc/${entry}/stat`, 'utf8'), readFile(`/proc/${entry}/cmdline`, 'utf8')]).catch(() => ['', '']);
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid && cmdline.includes('trainyard') && !cmdline.includes('run-job')) children.push(Number(entry));
  }
  return [pid, ...children];
}

const sample = async () => {
  let rss = 0;
  let fds = 0;
  const each: string[] = [];
  for (const id of await serverProcesses()) {
    const status = await readFile(`/proc/${id}/status`, 'utf8').catch(() => '');
    const mb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    rss += mb;
    fds += (await readdir(`/proc/${id}/fd`).catch(() => [])).length;
    each.push(mb.toFixed(0));
  }
  const sorted = latencies.sort((a, b) => a - b);
  console.log(
    `${String(Math.round((Date.now() - started) / 1000)).padStart(5)} s  rss ${rss.toFixed(0).padStart(5)} MB (${each.join(' + ')})  fds ${String(fds).padStart(4)}  requests ${String(sorted.length).padStart(6)}  p99 ${percentile(sorted, 99).toFixed(1).padStart(7)} ms  errors ${errors}`,
  );
  latencies = [];
};
console.log(`soak: ${values.duration} s, concurrency ${concurrency}, server pid ${pid} (${base})`);
const timer = setInterval(() => void sample(), 10_000);
const trainer = setInterval(() => void train().catch(() => errors++), 60_000);
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (Date.now() - started < duration) {
      const t = performance.now();
      try {
        await pick()();
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t);
    }
  }),
);
clearInterval(timer);
clearInterval(trainer);
await sample();
await server.stop();
