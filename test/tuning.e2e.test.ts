// Tuning studies end to end over HTTP on SQLite, with real trainer processes: submission checks,
// a TPE study with an alias, trials as ordinary (filterable) training jobs, a grid whose invalid
// points fail as trials, a study whose every trial fails, cancellation, and a driver killed with
// SIGKILL mid-study that is replaced and still ends with exactly max_trials trials.
// Sized for a 2-core machine: 200 rows, 2–3 epochs, an 8-unit MLP, one trainer thread.
import { readFile, readdir } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestPlatform, type TestPlatform } from './support/platform.ts';
import { readSse, tinyCsv, uploadCsv, waitFor } from './support/processes.ts';

interface Study {
  id: string;
  status: string;
  error: string | null;
  error_code: string | null;
  attempts: number;
  model_version: number | null;
  max_trials: number;
  summary: {
    best_trial: number | null;
    best_objective: number | null;
    best_params: Record<string, unknown> | null;
    trials: Record<string, number>;
    objective_over_trials: Array<{ number: number; objective: number | null; best_so_far: number | null }>;
    trial_seconds: number;
    epochs_saved_by_pruning: number;
    param_importance: { trials_used: number; params: Array<{ param: string; importance: number }> } | null;
  };
}
interface TrialRow {
  number: number;
  state: string;
  params: Record<string, unknown>;
  objective: number | null;
  rank: number | null;
  training_job_id: string | null;
  model_version: number | null;
  curve: Record<string, number>;
  error: string | null;
}

let platform: TestPlatform;
let base: string;
let datasetId: string;

const FINISHED = ['succeeded', 'failed', 'cancelled'];
const layers = [{ type: 'Linear', out_features: 8 }, { type: 'ReLU' }, { type: 'Dropout', p: 0.1 }, { type: 'Linear', out_features: 1 }];

// Job processes read their settings from the environment (as on a real server), not from the test's config.
const savedBudget = process.env.TRAINYARD_MAX_MODEL_PARAMETERS;

beforeAll(async () => {
  process.env.TRAINYARD_MAX_MODEL_PARAMETERS = '2000';
  platform = await startTestPlatform({
    env: {
      TRAINYARD_MAX_CONCURRENT_JOBS: '2',
      TRAINYARD_TRAINER_THREADS: '1',
      TRAINYARD_JOB_STANDBY: 'false', // each job process names its job on its command line (the kill test finds it there)
      TRAINYARD_LEASE_SECONDS: '3',
      TRAINYARD_MAX_MODEL_PARAMETERS: '2000',
    },
  });
  base = platform.url;
  const upload = await uploadCsv(base, 'tiny', tinyCsv(200, 5));
  expect(upload.status).toBe(201);
  datasetId = upload.body.id;
  expect((await api(base, 'POST', '/v1/models', { name: 'tiny', task: 'binary_classification', target: 'label', layers })).status).toBe(201);
}, 60_000);

afterEach(async () => {
  // A test that failed half-way must not leave its trials holding the job slots the next one needs.
  const live = await api<{ items: Study[] }>(base, 'GET', '/v1/tuning-jobs?status=running&limit=500');
  for (const s of live.body.items ?? []) await api(base, 'POST', `/v1/tuning-jobs/${s.id}/cancel`);
});

afterAll(async () => {
  await platform?.close();
  if (savedBudget === undefined) delete process.env.TRAINYARD_MAX_MODEL_PARAMETERS;
  else process.env.TRAINYARD_MAX_MODEL_PARAMETERS = savedBudget;
});

const study = (overrides: Record<string, unknown> = {}) => ({
  model: 'tiny',
  dataset: datasetId,
  hyperparameters: { epochs: 2, batch_size: 32 },
  search_space: { 'optimizer.lr': { log_uniform: [0.001, 0.1] }, 'layers[0].out_features': { choice: [4, 8] }, 'layers[2].p': { uniform: [0, 0.5] } },
  strategy: 'tpe',
  objective: { metric: 'val_loss', direction: 'minimize' },
  max_trials: 4,
  max_parallel: 2,
  ...overrides,
});

async function waitForStudy(id: string, timeoutMs = 240_000): Promise<Study> {
  return waitFor(
    `study ${id} to end`,
    async () => {
      const { body } = await api<Study>(base, 'GET', `/v1/tuning-jobs/${id}`);
      return FINISHED.includes(body.status) ? body : undefined;
    },
    timeoutMs,
    300,
  );
}

async function trialsOf(id: string): Promise<TrialRow[]> {
  const res = await api<{ items: TrialRow[] }>(base, 'GET', `/v1/tuning-jobs/${id}/trials`);
  expect(res.status).toBe(200);
  return res.body.items;
}

describe('submitting a study', () => {
  it.each([
    [{ search_space: {} }, 'search_space'],
    [{ search_space: { 'optimizer.lr': { uniform: [0.1, 0.01] } } }, 'search_space.optimizer.lr'],
    [{ search_space: { 'optimizer.lr': { log_uniform: [0, 0.1] } } }, 'search_space.optimizer.lr'],
    [{ search_space: { 'optimizer.learning_rate': { uniform: [0.01, 0.1] } } }, 'search_space.optimizer.learning_rate'],
    [{ search_space: { 'layers[4].out_features': { choice: [4] } } }, 'search_space.layers[4].out_features'],
    [{ search_space: { 'layers[0].out_features': { choice: [4, 500] } } }, 'search_space.layers[0].out_features'], // over the parameter budget on this data
    [{ max_trials: 0 }, 'max_trials'],
    [{ objective: { metric: 'val_rmse' } }, 'objective.metric'],
    [{ pruning: { rule: 'median', min_epochs: 2 } }, 'pruning.min_epochs'],
  ])('refuses %j with a 400 naming %s, and queues nothing', async (overrides, field) => {
    const res = await api<{ errors: Array<{ field: string; message: string }>; detail: string }>(base, 'POST', '/v1/tuning-jobs', study(overrides));
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.errors.map((e) => e.field.replace(/^body[./]/, '').replaceAll('/', '.'))).toContain(field);
    const list = await api<{ items: unknown[] }>(base, 'GET', '/v1/tuning-jobs?limit=500');
    expect(list.body.items.filter((s) => (s as Study).status === 'queued')).toHaveLength(0);
  });

  it('answers 404 for an unknown model', async () => {
    expect((await api(base, 'POST', '/v1/tuning-jobs', study({ model: 'nope' }))).status).toBe(404);
  });
});

describe('a TPE study', { timeout: 300_000 }, () => {
  let done: Study;

  it('runs max_trials trials as training jobs, records the best version and points the alias at it', async () => {
    const created = await api<Study>(base, 'POST', '/v1/tuning-jobs', study({ alias: 'tuned', seed: 3 }));
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    expect(created.headers.get('location')).toBe(`/v1/tuning-jobs/${created.body.id}`);
    const events = readSse(`${base}/v1/tuning-jobs/${created.body.id}/events`, 240_000);
    done = await waitForStudy(created.body.id);
    expect(done.status, JSON.stringify(done)).toBe('succeeded');
    expect(done.summary.trials).toMatchObject({ total: 4, succeeded: 4, running: 0 });
    expect(done.summary.param_importance).toBeNull(); // fewer than 6 succeeded trials: no estimate

    const trials = await trialsOf(done.id);
    expect(trials.map((t) => t.number).sort()).toEqual([0, 1, 2, 3]);
    expect(trials[0].rank).toBe(1);
    const objectives = trials.map((t) => t.objective!);
    expect(objectives).toEqual([...objectives].sort((a, b) => a - b));
    expect(done.summary.best_objective).toBe(objectives[0]);
    expect(done.summary.best_params).toEqual(trials[0].params);
    expect(done.model_version).toBe(trials[0].model_version);
    for (const t of trials) {
      expect(t.params['optimizer.lr']).toBeGreaterThanOrEqual(0.001);
      expect([4, 8]).toContain(t.params['layers[0].out_features']);
      expect(Object.keys(t.curve)).toEqual(['1', '2']);
    }

    // Trials are ordinary training jobs, linked to the study and filterable.
    const jobs = await api<{ items: Array<{ id: string; study_id: string; status: string; hyperparameters: { optimizer: { lr: number } } }> }>(base, 'GET', `/v1/training-jobs?study=${done.id}`);
    expect(jobs.body.items.map((j) => j.id).sort()).toEqual(trials.map((t) => t.training_job_id).sort());
    for (const j of jobs.body.items) {
      expect(j.study_id).toBe(done.id);
      expect(j.hyperparameters.optimizer.lr).toBe(trials.find((t) => t.training_job_id === j.id)!.params['optimizer.lr']);
    }
    const version = await api<{ aliases: string[]; training_job_id: string }>(base, 'GET', `/v1/models/tiny/versions/${done.model_version}`);
    expect(version.body.aliases).toContain('tuned');
    expect(version.body.training_job_id).toBe(trials[0].training_job_id);

    const stream = await events;
    expect(stream.filter((e) => e.event === 'trial' && (e.data as { state: string }).state === 'succeeded')).toHaveLength(4);
    expect(stream.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });
  });

  it('lists studies and answers 409 to cancelling a finished one', async () => {
    const list = await api<{ items: Study[] }>(base, 'GET', '/v1/tuning-jobs?status=succeeded');
    expect(list.body.items.map((s) => s.id)).toContain(done.id);
    expect((await api(base, 'POST', `/v1/tuning-jobs/${done.id}/cancel`)).status).toBe(409);
    expect((await api(base, 'GET', '/v1/tuning-jobs/tun_nope')).status).toBe(404);
  });
});

describe('trials that fail', { timeout: 400_000 }, () => {
  it('runs a grid to its end when it is smaller than max_trials', async () => {
    const created = await api<Study>(
      base,
      'POST',
      '/v1/tuning-jobs',
      study({
        strategy: 'grid',
        search_space: { 'layers[0].out_features': { choice: [4, 40] } },
        hyperparameters: { epochs: 1 },
        max_trials: 10,
      }),
    );
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    expect(created.body.max_trials).toBe(2); // the grid's size
    const done = await waitForStudy(created.body.id);
    expect(done.status).toBe('succeeded');
    expect(done.summary.trials).toMatchObject({ total: 2, succeeded: 2 });
  });

  it('fails the study with the first error when every trial fails', async () => {
    // Each width fits alone (the other layer at 4); together they exceed the 2000-parameter budget.
    await api(base, 'POST', '/v1/models', { name: 'wide', task: 'binary_classification', target: 'label', layers: [{ type: 'Linear', out_features: 4 }, { type: 'ReLU' }, { type: 'Linear', out_features: 4 }, { type: 'ReLU' }, { type: 'Linear', out_features: 1 }] });
    const failing = await api<Study>(base, 'POST', '/v1/tuning-jobs', {
      ...study({ model: 'wide', strategy: 'grid', max_trials: 1, max_parallel: 1 }),
      search_space: { 'layers[0].out_features': { choice: [60] }, 'layers[2].out_features': { choice: [60] } },
    });
    expect(failing.status, JSON.stringify(failing.body)).toBe(202);
    const done = await waitForStudy(failing.body.id);
    expect(done.status).toBe('failed');
    expect(done.error_code).toBe('TRIALS_FAILED');
    expect(done.error).toMatch(/every trial failed; trial 0 \(the first\) failed with: these parameters make an invalid training job: .*parameters/);
    const [trial] = await trialsOf(done.id);
    expect(trial).toMatchObject({ state: 'failed', training_job_id: null });
  });
});

describe('pruning', { timeout: 600_000 }, () => {
  it('stops a trial that is behind the median and counts the epochs it saved', async () => {
    // A grid of two learning rates in seed 0's order: 0.05 first (it learns), then 0.00001 (it
    // barely moves), judged against the first at each epoch once that one has finished. One row per
    // batch makes an epoch take long enough (≈ 160 steps) that the driver's poll (1 s) and the
    // sampler's answer land within a few dozen epochs: with 5 batches an epoch, a fast machine ran
    // over 100 epochs before the decision arrived, and the count below measured its speed instead.
    const created = await api<Study>(
      base,
      'POST',
      '/v1/tuning-jobs',
      study({
        strategy: 'grid',
        seed: 0,
        search_space: { 'optimizer.lr': { choice: [0.05, 0.00001] } },
        hyperparameters: { epochs: 100, batch_size: 1 },
        max_parallel: 1,
        pruning: { rule: 'median', startup_trials: 1, warmup_epochs: 0 },
      }),
    );
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const done = await waitForStudy(created.body.id, 540_000);
    expect(done.status, JSON.stringify(done)).toBe('succeeded');
    const trials = await trialsOf(done.id);
    expect(trials.map((t) => [t.params['optimizer.lr'], t.state])).toEqual([
      [0.05, 'succeeded'],
      [0.00001, 'pruned'],
    ]);
    const pruned = trials[1];
    expect(Object.values(pruned.curve)).toContain(pruned.objective); // its value when it was stopped
    expect(done.summary.trials).toMatchObject({ succeeded: 1, pruned: 1 });
    expect(done.summary.epochs_saved_by_pruning).toBeGreaterThan(50);
    expect(done.summary.best_trial).toBe(0);
    const job = await api<{ status: string }>(base, 'GET', `/v1/training-jobs/${pruned.training_job_id}`);
    expect(job.body.status).toBe('cancelled');
  });
});

describe('stopping a study', { timeout: 600_000 }, () => {
  it('cancels every running trial when the study is cancelled', async () => {
    const created = await api<Study>(base, 'POST', '/v1/tuning-jobs', study({ hyperparameters: { epochs: 400, batch_size: 8 }, max_trials: 6 }));
    expect(created.status).toBe(202);
    await waitFor(
      'a trial to train',
      async () => {
        const jobs = await api<{ items: Array<{ status: string; progress: unknown }> }>(base, 'GET', `/v1/training-jobs?study=${created.body.id}`);
        return jobs.body.items.some((j) => j.status === 'running' && j.progress !== null);
      },
      240_000,
      300,
    );
    const cancelled = await api<Study>(base, 'POST', `/v1/tuning-jobs/${created.body.id}/cancel`);
    expect(cancelled.status).toBe(202);
    const done = await waitForStudy(created.body.id, 60_000);
    expect(done.status).toBe('cancelled');
    await waitFor(
      'every trial job to stop',
      async () => {
        const jobs = await api<{ items: Array<{ status: string }> }>(base, 'GET', `/v1/training-jobs?study=${created.body.id}`);
        return jobs.body.items.every((j) => j.status === 'cancelled');
      },
      60_000,
      300,
    );
    expect((await trialsOf(created.body.id)).every((t) => t.state === 'cancelled')).toBe(true);
  });

  it('survives kill -9 of its driver: another driver carries on and the study ends with exactly max_trials trials', async () => {
    const created = await api<Study>(base, 'POST', '/v1/tuning-jobs', study({ strategy: 'random', max_trials: 4, max_parallel: 2, hyperparameters: { epochs: 2, batch_size: 32 } }));
    expect(created.status).toBe(202);
    const id = created.body.id;
    await waitFor('two trials to start', async () => (await trialsOf(id)).length >= 2, 120_000, 200);
    const driver = await waitFor('the driver process', () => processWithArgument(id), 30_000, 200);
    process.kill(driver, 'SIGKILL');
    const done = await waitForStudy(id);
    expect(done.status, JSON.stringify(done)).toBe('succeeded');
    expect(done.attempts).toBeGreaterThanOrEqual(2);
    const trials = await trialsOf(id);
    expect(trials.map((t) => t.number).sort()).toEqual([0, 1, 2, 3]);
    const jobs = await api<{ items: Array<{ id: string }> }>(base, 'GET', `/v1/training-jobs?study=${id}`);
    expect(jobs.body.items.map((j) => j.id).sort()).toEqual(trials.map((t) => t.training_job_id).sort());
    expect(new Set(trials.map((t) => t.training_job_id)).size).toBe(4);
    expect(done.summary.trials).toMatchObject({ total: 4, succeeded: 4 });
  });
});

/** The pid of a process whose command line has this argument (a `run-job <id>` process). */
async function processWithArgument(argument: string): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').includes(argument) && cmdline.includes('run-job')) return Number(entry);
  }
  return undefined;
}
