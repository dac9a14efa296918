// bench/tuning: does a 16-trial TPE study find an objective at least as good as the default settings,
// what parallelism does it achieve, and how many trial-epochs does pruning save?
//
//   npx tsx bench/tuning.ts [--trials 16] [--parallel 2] [--epochs 30] [--datasets breast_cancer,iris,diabetes,friedman]
//                           [--strategies tpe,random]
//
// For each dataset (the shipped examples and `friedman`, a generated regression set the defaults have
// not been tuned on: y = 10 sin(π x1 x2) + 20 (x3 − 0.5)² + 10 x4 + 5 x5 + noise, with 5 noise
// columns), it starts `trainyard server` (local executor, TRAINYARD_MAX_CONCURRENT_JOBS = --parallel),
// defines an MLP (Linear 64, ReLU, Dropout 0.1, Linear 64, ReLU, Linear out), and runs:
//   1. one training job with the default settings (Adam, lr 0.001, no weight decay);
//   2. a TPE study over optimizer.lr (log 1e-4…1e-1), layers[0].out_features (16…128),
//      layers[2].p (0…0.5) and optimizer.weight_decay (log 1e-6…1e-2), without pruning;
//   3. the same study with median pruning;
//   and the same two studies with random search (--strategies). Random search asks for the same
//   trials whatever happened to the earlier ones, so its pair compares one search with and without
//   stopping: whether pruning stopped the trial that turned out best. A TPE pair compares two
//   searches (a pruned trial changes what TPE asks next).
// Prints val_loss of the default job and of each study's best trial, the studies' wall time against
// the sum of their trials' run times (the parallelism achieved), and the trial-epochs pruning saved
// and whether the pruned study lost the unpruned study's best (compared by objective).
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { ROOT, startServer, upload, writeCsvOnce } from './support.ts';

const { values: args } = parseArgs({
  options: {
    trials: { type: 'string', default: '16' },
    parallel: { type: 'string', default: '2' },
    epochs: { type: 'string', default: '30' },
    datasets: { type: 'string', default: 'breast_cancer,iris,diabetes,friedman' },
    strategies: { type: 'string', default: 'tpe,random' },
  },
});
const TRIALS = Number(args.trials);
const PARALLEL = Number(args.parallel);
const EPOCHS = Number(args.epochs);

const DATASETS: Record<string, { file: string; task: string; target: string; outputs: number }> = {
  breast_cancer: { file: join(ROOT, 'examples', 'breast_cancer.csv'), task: 'binary_classification', target: 'diagnosis', outputs: 1 },
  iris: { file: join(ROOT, 'examples', 'iris.csv'), task: 'multiclass_classification', target: 'species', outputs: 3 },
  diabetes: { file: join(ROOT, 'examples', 'diabetes.csv'), task: 'regression', target: 'progression', outputs: 1 },
  friedman: { file: join(ROOT, 'bench', '.data', 'friedman-1000.csv'), task: 'regression', target: 'y', outputs: 1 },
};

async function api<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const json = (await res.json()) as T;
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function until<T extends { status: string }>(get: () => Promise<T>): Promise<T> {
  for (;;) {
    const value = await get();
    if (['succeeded', 'failed', 'cancelled'].includes(value.status)) return value;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

interface StudyView {
  status: string;
  error: string | null;
  started_at: string;
  finished_at: string;
  summary: { best_objective: number | null; best_params: Record<string, unknown>; trial_seconds: number; epochs_run: number; epochs_saved_by_pruning: number; trials: Record<string, number> };
}

async function study(base: string, name: string, datasetId: string, strategy: string, pruning: boolean): Promise<StudyView> {
  const created = await api<{ id: string }>(base, 'POST', '/v1/tuning-jobs', {
    model: name,
    dataset: datasetId,
    hyperparameters: { epochs: EPOCHS, seed: 1 },
    search_space: {
      'optimizer.lr': { log_uniform: [0.0001, 0.1] },
      'layers[0].out_features': { int_uniform: [16, 128], step: 16 },
      'layers[2].p': { uniform: [0, 0.5] },
      'optimizer.weight_decay': { log_uniform: [0.000001, 0.01] },
    },
    strategy,
    objective: { metric: 'val_loss' },
    max_trials: TRIALS,
    max_parallel: PARALLEL,
    seed: 1,
    ...(pruning ? { pruning: { rule: 'median' } } : {}),
  });
  return until(() => api<StudyView>(base, 'GET', `/v1/tuning-jobs/${created.id}`));
}

await writeCsvOnce(DATASETS.friedman.file, 'x1,x2,x3,x4,x5,n1,n2,n3,n4,n5,y', 1000, (_, random) => {
  const x = Array.from({ length: 10 }, () => random());
  const y = 10 * Math.sin(Math.PI * x[0] * x[1]) + 20 * (x[2] - 0.5) ** 2 + 10 * x[3] + 5 * x[4] + (random() - 0.5);
  return [...x.map((v) => v.toFixed(5)), y.toFixed(5)].join(',');
});

console.log(`bench/tuning: ${TRIALS} trials, ${PARALLEL} in parallel, ${EPOCHS} epochs; load average at start ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
const server = await startServer({ TRAINYARD_MAX_CONCURRENT_JOBS: String(PARALLEL), TRAINYARD_TRAINER_THREADS: '1' });
try {
  for (const name of args.datasets.split(',')) {
    const d = DATASETS[name];
    if (!d) throw new Error(`unknown dataset ${name} (known: ${Object.keys(DATASETS).join(', ')})`);
    const up = await upload(server.base, d.file, name);
    const dataset = JSON.parse(up.body) as { id: string };
    const layers = [{ type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Dropout', p: 0.1 }, { type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: d.outputs }];
    await api(server.base, 'POST', '/v1/models', { name, task: d.task, target: d.target, layers });
    const job = await api<{ id: string }>(server.base, 'POST', '/v1/training-jobs', { model: name, dataset: dataset.id, hyperparameters: { epochs: EPOCHS, seed: 1 } });
    const baseline = await until(() => api<{ status: string; metrics: Record<string, number> }>(server.base, 'GET', `/v1/training-jobs/${job.id}`));
    console.log(`\n${name} (${d.task}): val_loss default ${baseline.metrics?.val_loss?.toFixed(4)}`);
    for (const strategy of args.strategies.split(',')) {
      const plain = await study(server.base, name, dataset.id, strategy, false);
      const pruned = await study(server.base, name, dataset.id, strategy, true);
      const wall = (s: StudyView) => (Date.parse(s.finished_at) - Date.parse(s.started_at)) / 1000;
      for (const [label, s] of [[strategy, plain], [`${strategy} + median pruning`, pruned]] as const) {
        console.log(
          `  ${label}: ${s.status}, best val_loss ${s.summary.best_objective?.toFixed(4)} ${JSON.stringify(s.summary.best_params)}; ` +
            `wall ${wall(s).toFixed(0)} s, trials ${s.summary.trial_seconds.toFixed(0)} s (parallelism ${(s.summary.trial_seconds / wall(s)).toFixed(2)}); ` +
            `epochs run ${s.summary.epochs_run}, saved by pruning ${s.summary.epochs_saved_by_pruning}; trials ${JSON.stringify(s.summary.trials)}`,
        );
      }
      const lost = (pruned.summary.best_objective ?? Infinity) > (plain.summary.best_objective ?? Infinity) * 1.02;
      const same = JSON.stringify(pruned.summary.best_params) === JSON.stringify(plain.summary.best_params);
      console.log(`  ${strategy}: pruning ${lost ? 'LOST the best trial (over 2% worse)' : same ? 'kept the same best trial' : 'kept a best within 2% of the unpruned study'}`);
    }
  }
  console.log(`\nload average at end ${loadavg().map((l) => l.toFixed(1)).join(' ')}\nrerun: npx tsx bench/tuning.ts --trials ${TRIALS} --parallel ${PARALLEL} --epochs ${EPOCHS} --datasets ${args.datasets} --strategies ${args.strategies}`);
} finally {
  await server.stop();
}
