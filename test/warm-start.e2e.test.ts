// Warm start (issue 13): `init_from` trains from an earlier version's weights and reuses its fitted
// preprocessing; a version that does not fit is a 400 INIT_FROM_MISMATCH at submission naming the
// field; the new version records init_from in its lineage. Real trainer, tiny data, 1–2 epochs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, mlp, startTestPlatform, uploadCsv, waitForJob, type JobView, type TestPlatform } from './support/platform.ts';
import { tinyCsv } from './support/processes.ts';

interface Version {
  version: number;
  init_from: { model: string; version: number } | null;
}

interface Problem {
  type: string;
  errors: Array<{ field: string; message: string }>;
}

const ROWS = [
  { x1: 0.5, x2: -1.2, x3: 3 },
  { x1: -1.5, x2: 0.3, x3: 8.5 },
];

describe('warm start from an earlier version (init_from)', { timeout: 300_000 }, () => {
  let platform: TestPlatform;
  let first: string;
  let second: string;

  beforeAll(async () => {
    platform = await startTestPlatform();
    first = (await uploadCsv(platform.url, tinyCsv(300, 1), 'monthly')).id;
    // Next month's data: shifted, so statistics fitted on it would differ from the first month's.
    second = (await uploadCsv(platform.url, tinyCsv(300, 2).replace(/,(-?\d+\.\d+),(yes|no)$/gm, (_, x3: string, label: string) => `,${(Number(x3) + 50).toFixed(3)},${label}`), 'monthly')).id;
    const created = await api(platform.url, 'POST', '/v1/models', { name: 'churn', task: 'binary_classification', target: 'label', layers: mlp([8], 1) });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const job = await submit({ model: 'churn', dataset: first, hyperparameters: { epochs: 2 } });
    expect((await waitForJob(platform.url, job.id, { timeoutMs: 240_000 })).status).toBe('succeeded');
  }, 300_000);

  afterAll(async () => {
    await platform?.close();
  });

  async function submit(body: Record<string, unknown>): Promise<JobView & { init_from: unknown }> {
    const res = await api<JobView & { init_from: unknown }>(platform.url, 'POST', '/v1/training-jobs', body);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return res.body;
  }

  async function manifest(model: string, version: number): Promise<{ features: unknown; normalization: { mean: number[] } }> {
    return (await api<{ features: unknown; normalization: { mean: number[] } }>(platform.url, 'GET', `/v1/models/${model}/versions/${version}/artifacts/manifest.json`)).body;
  }

  async function predict(model: string, version: number): Promise<Array<{ probability: number }>> {
    const res = await api<{ predictions: Array<{ probability: number }> }>(platform.url, 'POST', `/v1/models/${model}/versions/${version}/predict`, { inputs: ROWS });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.predictions;
  }

  it('starts from the version’s weights and reuses its fitted preprocessing on the new data; the new version records init_from', async () => {
    // A learning rate so small that training cannot move the weights: the new version must predict as the old one.
    const job = await submit({ model: 'churn', dataset: second, init_from: { model: 'churn', version: 1 }, hyperparameters: { epochs: 1, optimizer: { type: 'SGD', lr: 1e-12 } } });
    expect(job.init_from).toEqual({ model: 'churn', version: 1 });
    const done = await waitForJob(platform.url, job.id, { timeoutMs: 240_000 });
    expect(done.status, JSON.stringify(done)).toBe('succeeded');
    const version = (await api<Version>(platform.url, 'GET', `/v1/models/churn/versions/${done.model_version}`)).body;
    expect(version.init_from).toEqual({ model: 'churn', version: 1 });
    expect((await api<Version>(platform.url, 'GET', '/v1/models/churn/versions/1')).body.init_from).toBeNull();
    // Features keep their meaning: the first month's statistics, not the shifted second month's.
    const before = await manifest('churn', 1);
    const after = await manifest('churn', done.model_version!);
    expect(after.features).toEqual(before.features);
    expect(after.normalization.mean).toEqual(before.normalization.mean);
    const [old, now] = [await predict('churn', 1), await predict('churn', done.model_version!)];
    now.forEach((p, i) => expect(p.probability).toBeCloseTo(old[i].probability, 5));
  });

  it('takes an alias as well as a version number', async () => {
    expect((await api(platform.url, 'PUT', '/v1/models/churn/aliases/production', { version: 1 })).status).toBe(200);
    const job = await submit({ model: 'churn', dataset: second, init_from: { model: 'churn', alias: 'production' }, hyperparameters: { epochs: 1 } });
    expect(job.init_from).toEqual({ model: 'churn', version: 1 });
    expect((await waitForJob(platform.url, job.id, { timeoutMs: 240_000 })).status).toBe('succeeded');
  });

  it('refuses at submission, naming the field, a version whose layers or features do not fit the model', async () => {
    await api(platform.url, 'POST', '/v1/models', { name: 'wider', task: 'binary_classification', target: 'label', layers: mlp([16], 1) });
    const wider = await api<Problem>(platform.url, 'POST', '/v1/training-jobs', { model: 'wider', dataset: second, init_from: { model: 'churn', version: 1 } });
    expect(wider.status).toBe(400);
    expect(wider.body.type).toMatch(/INIT_FROM_MISMATCH|init-from-mismatch/i);
    expect(wider.body.errors[0].field).toBe('model.layers[0]');

    await api(platform.url, 'POST', '/v1/models', { name: 'narrower', task: 'binary_classification', target: 'label', features: ['x1', 'x2'], layers: mlp([8], 1) });
    const narrower = await api<Problem>(platform.url, 'POST', '/v1/training-jobs', { model: 'narrower', dataset: second, init_from: { model: 'churn', version: 1 } });
    expect(narrower.status).toBe(400);
    expect(narrower.body.errors[0].field).toBe('model.features');

    const missing = await api<Problem>(platform.url, 'POST', '/v1/training-jobs', { model: 'churn', dataset: second, init_from: { model: 'churn', version: 99 } });
    expect(missing.status).toBe(404);
  });
});
