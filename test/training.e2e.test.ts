// End to end over HTTP with the real trainer: define models, train them on the shipped datasets,
// watch the jobs, and check the saved versions reproduce the trained network.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { api, mlp, startTestPlatform, train, uploadCsv, uploadExample, waitForJob, type JobView, type TestPlatform } from './support/platform.ts';
import { prepareTrainingData, splitDraw } from '../src/training/prepare.ts';
import { readFloat32Npy } from '../src/training/npy.ts';
import { TRAINER_PACKAGE_DIR } from '../src/training/trainer-process.ts';
import { jobRunners } from '../src/cli/job-kinds.ts';

let platform: TestPlatform;
let base: string;
const datasets: Record<string, string> = {};

beforeAll(async () => {
  platform = await startTestPlatform();
  base = platform.url;
  for (const file of ['breast_cancer.csv', 'iris.csv', 'diabetes.csv']) datasets[file] = (await uploadExample(base, file)).id;
});

afterAll(async () => {
  await platform?.close();
});

async function readBlob(key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await platform.platform.blobs.get(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('training the shipped datasets', () => {
  let binaryJob: JobView;

  it('trains a binary MLP on breast_cancer.csv to ≥ 0.95 validation accuracy and records version 1', async () => {
    expect((await api(base, 'POST', '/v1/models', { name: 'cancer', task: 'binary_classification', target: 'diagnosis', layers: mlp([32, 16], 1) })).status).toBe(201);
    binaryJob = await train(base, 'cancer', datasets['breast_cancer.csv'], { epochs: 30, batch_size: 32, seed: 7 });
    expect(binaryJob.status, JSON.stringify(binaryJob)).toBe('succeeded');
    expect(binaryJob.metrics!.val_accuracy).toBeGreaterThanOrEqual(0.95);
    for (const metric of ['val_precision', 'val_recall', 'val_f1', 'val_roc_auc', 'train_loss']) expect(binaryJob.metrics).toHaveProperty(metric);
    expect(binaryJob.model_version).toBe(1);
    expect(binaryJob.attempts).toBe(1);

    const version = await api<{ artifacts: Array<{ name: string; sha256: string; size_bytes: number }>; dataset_id: string; training_job_id: string; metrics: Record<string, number> }>(
      base,
      'GET',
      '/v1/models/cancer/versions/1',
    );
    expect(version.status).toBe(200);
    expect(version.body.training_job_id).toBe(binaryJob.id);
    expect(version.body.dataset_id).toBe(datasets['breast_cancer.csv']);
    expect(version.body.artifacts.map((a) => a.name).sort()).toEqual(expect.arrayContaining(['manifest.json', 'model.onnx', 'model.pt', 'state_dict.pt']));

    const onnx = await fetch(`${base}/v1/models/cancer/versions/1/artifacts/model.onnx`);
    const bytes = Buffer.from(await onnx.arrayBuffer());
    const { createHash } = await import('node:crypto');
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(version.body.artifacts.find((a) => a.name === 'model.onnx')!.sha256);
  });

  it('exports model.onnx and model.pt that reproduce the trained network on the validation rows (1e-4), and the API predicts the same', async () => {
    const version = await api<{ artifacts: Array<{ name: string }> }>(base, 'GET', '/v1/models/cancer/versions/1');
    expect(version.status).toBe(200);
    const row = await platform.platform.metadata.db.selectFrom('model_versions').select('blob_prefix').where('model_name', '=', 'cancer').executeTakeFirstOrThrow();
    const reference = readFloat32Npy(await readBlob(`${row.blob_prefix}/reference_outputs.npy`));
    const rows = reference.shape[0];
    expect(rows).toBeGreaterThan(50);

    // Data preparation is deterministic for a seed: rebuild the validation tensors the job trained on.
    const dir = await mkdtemp(join(tmpdir(), 'parity-'));
    try {
      const dataset = await platform.platform.metadata.db.selectFrom('datasets').selectAll().where('id', '=', datasets['breast_cancer.csv']).executeTakeFirstOrThrow();
      const columns = JSON.parse(dataset.columns_json) as Array<{ name: string; type: string }>;
      await prepareTrainingData({
        blobs: platform.platform.blobs,
        blobKey: dataset.blob_key,
        delimiter: dataset.delimiter,
        rowCount: dataset.row_count,
        columns,
        task: 'binary_classification',
        target: 'diagnosis',
        features: columns.map((c) => c.name).filter((n) => n !== 'diagnosis'),
        maxCategories: 50,
        validationSplit: 0.2,
        seed: 7,
        jobDir: dir,
      });
      const valX = readFloat32Npy(await readFile(join(dir, 'val_x.npy')));
      const width = valX.shape[1];

      const session = await ort.InferenceSession.create(Buffer.from(await (await fetch(`${base}/v1/models/cancer/versions/1/artifacts/model.onnx`)).arrayBuffer()));
      const out = await session.run({ features: new ort.Tensor('float32', valX.data.slice(0, rows * width), [rows, width]) });
      const onnx = out.output.data as Float32Array;
      for (let i = 0; i < rows; i++) expect(Math.abs(onnx[i] - reference.data[i])).toBeLessThan(1e-4);

      await writeFile(join(dir, 'model.pt'), Buffer.from(await (await fetch(`${base}/v1/models/cancer/versions/1/artifacts/model.pt`)).arrayBuffer()));
      const script = `import numpy as np, torch\nx = torch.from_numpy(np.load('${dir}/val_x.npy')[:${rows}])\nm = torch.jit.load('${dir}/model.pt')\nm.eval()\nnp.save('${dir}/pt_out.npy', m(x).detach().numpy().astype('float32'))\n`;
      execFileSync('/usr/bin/python3', ['-c', script], { cwd: TRAINER_PACKAGE_DIR });
      const torchOut = readFloat32Npy(await readFile(join(dir, 'pt_out.npy')));
      for (let i = 0; i < rows; i++) expect(Math.abs(torchOut.data[i] - reference.data[i])).toBeLessThan(1e-4);

      // Serving parity: raw CSV rows of the validation split through the API (TypeScript preprocessing + ONNX).
      const csv = (await readFile(join(EXAMPLES_DIR, 'breast_cancer.csv'), 'utf8')).trim().split('\n');
      const header = csv[0].split(',');
      // The validation rows: those whose seeded draw is below the split, in file order.
      const valRows = Array.from({ length: dataset.row_count }, (_, i) => i).filter((i) => splitDraw(7, i) < 0.2);
      const inputs = valRows.slice(0, rows).map((index) => {
        const cells = csv[index + 1].split(',');
        return Object.fromEntries(header.map((h, j) => [h, Number(cells[j])]).filter(([h]) => h !== 'diagnosis'));
      });
      const predicted = await api<{ predictions: Array<{ probabilities: Record<string, number> }> }>(base, 'POST', '/v1/models/cancer/versions/1/predict', { inputs });
      expect(predicted.status).toBe(200);
      predicted.body.predictions.forEach((p, i) => expect(Math.abs(p.probabilities['1'] - reference.data[i])).toBeLessThan(1e-4));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports per-epoch metrics, logs and an SSE stream for the job', async () => {
    const history = await api<{ epochs: Array<{ epoch: number; metrics: Record<string, number> }> }>(base, 'GET', `/v1/training-jobs/${binaryJob.id}/metrics`);
    expect(history.body.epochs.map((e) => e.epoch)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(history.body.epochs[0].metrics).toHaveProperty('val_loss');

    const logs = await fetch(`${base}/v1/training-jobs/${binaryJob.id}/logs`);
    expect(logs.headers.get('content-type')).toMatch(/text\/plain/);
    expect(await logs.text()).toMatch(/prepared \d+ training and \d+ validation rows/);

    const events = await (await fetch(`${base}/v1/training-jobs/${binaryJob.id}/events`)).text();
    const types = [...events.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(types[0]).toBe('status');
    expect(types.filter((t) => t === 'epoch')).toHaveLength(30);
    expect(types.at(-1)).toBe('end');
    expect(events).toContain('"status":"succeeded"');

    const resumed = await (await fetch(`${base}/v1/training-jobs/${binaryJob.id}/events`, { headers: { 'last-event-id': '2' } })).text();
    expect(resumed).not.toMatch(/^id: 1$/m);
  });

  it('trains a multiclass MLP on iris.csv (string labels) to ≥ 0.90 validation accuracy', async () => {
    expect((await api(base, 'POST', '/v1/models', { name: 'iris', task: 'multiclass_classification', target: 'species', layers: mlp([16], 3) })).status).toBe(201);
    const job = await train(base, 'iris', datasets['iris.csv'], { epochs: 60, batch_size: 16, optimizer: { lr: 0.01 } });
    expect(job.status, JSON.stringify(job)).toBe('succeeded');
    expect(job.metrics!.val_accuracy).toBeGreaterThanOrEqual(0.9);
    expect(job.metrics).toHaveProperty('val_macro_f1');
    const version = await api<{ signature: { output: { classes: string[] } } }>(base, 'GET', '/v1/models/iris/versions/1');
    expect(version.body.signature.output.classes).toEqual(['setosa', 'versicolor', 'virginica']);
  });

  it('trains a regression MLP on diabetes.csv and reports RMSE, MAE and R² > 0.3', async () => {
    expect((await api(base, 'POST', '/v1/models', { name: 'diabetes', task: 'regression', target: 'progression', layers: mlp([32], 1) })).status).toBe(201);
    const job = await train(base, 'diabetes', datasets['diabetes.csv'], { epochs: 60, batch_size: 32, optimizer: { lr: 0.005 } });
    expect(job.status, JSON.stringify(job)).toBe('succeeded');
    expect(job.metrics!.val_r2).toBeGreaterThan(0.3);
    expect(job.metrics!.val_rmse).toBeGreaterThan(0);
    expect(job.metrics).toHaveProperty('val_mae');
  });

  it('lists jobs filtered by status, model and dataset, with pagination', async () => {
    const byModel = await api<{ items: JobView[] }>(base, 'GET', '/v1/training-jobs?model=iris');
    expect(byModel.body.items.map((j) => j.id)).toHaveLength(1);
    const succeeded = await api<{ items: JobView[]; next_cursor: string | null }>(base, 'GET', '/v1/training-jobs?status=succeeded&limit=2');
    expect(succeeded.body.items).toHaveLength(2);
    expect(succeeded.body.next_cursor).not.toBeNull();
    const next = await api<{ items: JobView[] }>(base, 'GET', `/v1/training-jobs?status=succeeded&limit=2&cursor=${succeeded.body.next_cursor}`);
    expect(next.body.items.length).toBeGreaterThanOrEqual(1);
    expect(next.body.items[0].id).not.toBe(succeeded.body.items[1].id);
    const byDataset = await api<{ items: JobView[] }>(base, 'GET', `/v1/training-jobs?dataset=${datasets['diabetes.csv']}`);
    expect(byDataset.body.items).toHaveLength(1);
  });
});

const EXAMPLES_DIR = new URL('../examples/', import.meta.url).pathname;

describe('datetime features: train/serve parity', () => {
  // A Parquet upload with a TIMESTAMP column (typed `datetime` by its schema), a number and a category;
  // the label depends on the month and the hour, so the cyclic parts matter.
  const ROWS = 400;
  const start = Date.UTC(2024, 0, 1);
  const whens = Array.from({ length: ROWS }, (_, i) => start + ((i * 7_919_993) % 366) * 86_400_000 + ((i * 37) % 24) * 3_600_000 + (i % 4) * 900_000);
  const xs = Array.from({ length: ROWS }, (_, i) => ((i * 7919) % 1000) / 100 - 5);
  const colors = Array.from({ length: ROWS }, (_, i) => ['red', 'green', 'blue'][i % 3]);
  const labels = whens.map((w, i) => {
    const d = new Date(w);
    return (d.getUTCHours() >= 12 ? 1 : 0) ^ (d.getUTCMonth() >= 6 ? 1 : 0) ^ (xs[i] > 4 ? 1 : 0);
  });
  const iso = (ms: number) => new Date(ms).toISOString();

  it('trains on a Parquet datetime column, and ONNX, JSON predict and CSV predict reproduce the trainer on the validation rows', async () => {
    const { parquetWriteBuffer } = await import('hyparquet-writer');
    const bytes = new Uint8Array(
      parquetWriteBuffer({
        columnData: [
          { name: 'when', data: whens.map((w) => new Date(w)), type: 'TIMESTAMP' },
          { name: 'x', data: xs, type: 'DOUBLE' },
          { name: 'color', data: colors, type: 'STRING' },
          { name: 'label', data: labels, type: 'INT32' },
        ],
      }),
    );
    const uploaded = await fetch(`${base}/v1/datasets?name=events`, { method: 'POST', headers: { 'content-type': 'application/vnd.apache.parquet' }, body: bytes });
    const dataset = (await uploaded.json()) as { id: string; columns: Array<{ name: string; type: string; min: unknown; max: unknown }> };
    expect(uploaded.status, JSON.stringify(dataset)).toBe(201);
    expect(dataset.columns[0]).toMatchObject({ name: 'when', type: 'datetime', min: iso(Math.min(...whens)), max: iso(Math.max(...whens)) });

    expect((await api(base, 'POST', '/v1/models', { name: 'events', task: 'binary_classification', target: 'label', layers: mlp([16], 1) })).status).toBe(201);
    const job = await train(base, 'events', dataset.id, { epochs: 5, batch_size: 32, seed: 7 });
    expect(job.status, JSON.stringify(job)).toBe('succeeded');
    const version = await api<{ signature: { inputs: Array<{ name: string; type: string; kind: string }> } }>(base, 'GET', '/v1/models/events/versions/1');
    expect(version.body.signature.inputs[0]).toEqual({ name: 'when', type: 'datetime', kind: 'datetime' });
    const manifest = await api<{ features: Array<{ kind: string; cycles?: string[] }> }>(base, 'GET', '/v1/models/events/versions/1/artifacts/manifest.json');
    expect(manifest.body.features[0]).toMatchObject({ kind: 'datetime', cycles: ['month', 'day_of_week', 'hour'] });

    const row = await platform.platform.metadata.db.selectFrom('model_versions').select('blob_prefix').where('model_name', '=', 'events').executeTakeFirstOrThrow();
    const reference = readFloat32Npy(await readBlob(`${row.blob_prefix}/reference_outputs.npy`));
    const rows = reference.shape[0];
    expect(rows).toBeGreaterThan(20);
    const stored = await platform.platform.metadata.db.selectFrom('datasets').selectAll().where('id', '=', dataset.id).executeTakeFirstOrThrow();
    const dir = await mkdtemp(join(tmpdir(), 'parity-dt-'));
    try {
      await prepareTrainingData({
        blobs: platform.platform.blobs,
        blobKey: stored.blob_key,
        delimiter: stored.delimiter,
        rowCount: stored.row_count,
        datasetId: stored.id,
        columnarJson: stored.columnar_json,
        format: stored.format,
        columnsJson: stored.columns_json,
        columns: dataset.columns,
        task: 'binary_classification',
        target: 'label',
        features: ['when', 'x', 'color'],
        maxCategories: 50,
        validationSplit: 0.2,
        seed: 7,
        jobDir: dir,
      });
      const valX = readFloat32Npy(await readFile(join(dir, 'val_x.npy')));
      const width = valX.shape[1];
      expect(width).toBe(7 + 1 + 3);
      const session = await ort.InferenceSession.create(Buffer.from(await (await fetch(`${base}/v1/models/events/versions/1/artifacts/model.onnx`)).arrayBuffer()));
      const onnx = (await session.run({ features: new ort.Tensor('float32', valX.data.slice(0, rows * width), [rows, width]) })).output.data as Float32Array;
      for (let i = 0; i < rows; i++) expect(Math.abs(onnx[i] - reference.data[i])).toBeLessThan(1e-4);

      // Serving: the validation rows as ISO text, through JSON and through a CSV body.
      const valRows = Array.from({ length: ROWS }, (_, i) => i).filter((i) => splitDraw(7, i) < 0.2).slice(0, rows);
      const inputs = valRows.map((i) => ({ when: iso(whens[i]), x: xs[i], color: colors[i] }));
      const json = await api<{ predictions: Array<{ probabilities: Record<string, number> }> }>(base, 'POST', '/v1/models/events/versions/1/predict', { inputs });
      expect(json.status, JSON.stringify(json.body)).toBe(200);
      json.body.predictions.forEach((p, i) => expect(Math.abs(p.probabilities['1'] - reference.data[i])).toBeLessThan(1e-4));
      const csvBody = 'when,x,color\n' + valRows.map((i) => `${iso(whens[i])},${xs[i]},${colors[i]}`).join('\n') + '\n';
      const csv = await fetch(`${base}/v1/models/events/versions/1/predict`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csvBody });
      const csvPredictions = (await csv.json()) as { predictions: Array<{ probabilities: Record<string, number> }> };
      expect(csv.status, JSON.stringify(csvPredictions)).toBe(200);
      csvPredictions.predictions.forEach((p, i) => expect(Math.abs(p.probabilities['1'] - reference.data[i])).toBeLessThan(1e-4));

      // Text that is not a datetime is a 400 naming the column and row, in JSON and in CSV.
      const bad = await api<{ code: string; errors: Array<{ field: string; row: number }> }>(base, 'POST', '/v1/models/events/versions/1/predict', { inputs: [inputs[0], { ...inputs[1], when: 'yesterday' }] });
      expect(bad.status).toBe(400);
      expect(bad.body.errors[0]).toMatchObject({ field: 'when', row: 1 });
      const badCsv = await fetch(`${base}/v1/models/events/versions/1/predict`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'when,x,color\n2024-13-01,1,red\n' });
      expect(badCsv.status).toBe(400);
      expect(((await badCsv.json()) as { errors: Array<{ field: string }> }).errors[0].field).toBe('when');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('images stored as pixel columns', () => {
  it('trains Unflatten + Conv2d + MaxPool2d on 8×8 images stored as 64 columns', async () => {
    // Two classes: a bright horizontal bar or a bright vertical bar, with noise.
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const lines = [[...Array.from({ length: 64 }, (_, i) => `p${i}`), 'label'].join(',')];
    for (let n = 0; n < 240; n++) {
      const vertical = n % 2 === 0;
      const at = Math.floor(random() * 8);
      const pixels = Array.from({ length: 64 }, (_, i) => {
        const r = Math.floor(i / 8);
        const c = i % 8;
        return ((vertical ? c === at : r === at) ? 1 : 0) + random() * 0.3;
      });
      lines.push([...pixels.map((p) => p.toFixed(3)), vertical ? 'vertical' : 'horizontal'].join(','));
    }
    const dataset = await uploadCsv(base, lines.join('\n') + '\n', 'bars');
    const layers = [
      { type: 'Unflatten', dim: 1, unflattened_size: [1, 8, 8] },
      { type: 'Conv2d', out_channels: 4, kernel_size: 3, padding: 1 },
      { type: 'ReLU' },
      { type: 'MaxPool2d', kernel_size: 2 },
      { type: 'Flatten' },
      { type: 'Linear', out_features: 1 },
    ];
    const created = await api<{ shapes: Array<{ output: Array<number | null> }> }>(base, 'POST', '/v1/models', { name: 'bars', task: 'binary_classification', target: 'label', layers });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const job = await train(base, 'bars', dataset.id, { epochs: 15, batch_size: 16, optimizer: { lr: 0.01 } });
    expect(job.status, JSON.stringify(job)).toBe('succeeded');
    expect(job.metrics!.val_accuracy).toBeGreaterThanOrEqual(0.9);
  });
});

describe('failures a user can act on', () => {
  it('fails a job whose loss becomes NaN (lr 1e6) at once, with a message saying so, without retrying', async () => {
    expect((await api(base, 'POST', '/v1/models', { name: 'unstable', task: 'regression', target: 'progression', layers: mlp([64, 64], 1) })).status).toBe(201);
    const job = await train(base, 'unstable', datasets['diabetes.csv'], { epochs: 20, optimizer: { type: 'SGD', lr: 1e6 } });
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(/NaN|nan|infinite/i);
    expect(job.error_code).toBe('NAN_LOSS');
    expect(job.attempts).toBe(1);
    expect(job.model_version).toBeNull();
  });

  it('cancels a running job: the trainer is gone within seconds, the job is cancelled and no version is recorded', async () => {
    expect((await api(base, 'POST', '/v1/models', { name: 'slow', task: 'binary_classification', target: 'diagnosis', layers: mlp([256, 256], 1) })).status).toBe(201);
    const created = await api<JobView>(base, 'POST', '/v1/training-jobs', { model: 'slow', dataset: datasets['breast_cancer.csv'], hyperparameters: { epochs: 5000, batch_size: 8 } });
    expect(created.status).toBe(202);
    await waitForJob(base, created.body.id, { until: (j) => (j.progress?.epoch ?? 0) >= 1 });
    const cancelled = await api<JobView & { cancel_requested: boolean }>(base, 'POST', `/v1/training-jobs/${created.body.id}/cancel`);
    expect(cancelled.status).toBe(202);
    const started = Date.now();
    const job = await waitForJob(base, created.body.id, { timeoutMs: 20_000 });
    expect(job.status).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(job.model_version).toBeNull();
    // The trainer and the job process exit within seconds of the cancel.
    const deadline = Date.now() + 10_000;
    while (processesMentioning(created.body.id).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(processesMentioning(created.body.id)).toEqual([]);
    expect((await api(base, 'GET', '/v1/models/slow/versions')).body).toMatchObject({ items: [] });
    expect((await api(base, 'POST', `/v1/training-jobs/${created.body.id}/cancel`)).status).toBe(409);
  });

  it('stops at max_runtime_seconds with the best weights so far, as a truncated run', async () => {
    const job = await train(base, 'slow', datasets['breast_cancer.csv'], { epochs: 5000, batch_size: 8, max_runtime_seconds: 12 });
    expect(job.status, JSON.stringify(job)).toBe('succeeded');
    expect(job.stats).toMatchObject({ truncated: true });
    expect((job.stats as { epochs_run: number }).epochs_run).toBeLessThan(5000);
    expect(job.model_version).toBe(1);
  }, 120_000);

  it('cancels a queued job immediately', async () => {
    const created = await api<JobView>(base, 'POST', '/v1/training-jobs', { model: 'slow', dataset: datasets['breast_cancer.csv'], hyperparameters: { epochs: 1 } });
    const cancelled = await api<JobView>(base, 'POST', `/v1/training-jobs/${created.body.id}/cancel`);
    expect(cancelled.status).toBe(202);
    expect(['cancelled', 'running']).toContain(cancelled.body.status);
    expect((await waitForJob(base, created.body.id)).status).toBe('cancelled');
  });

  it('hands a claimed job to the loop\'s waiting `run-job --standby` process, and starts a new standby once it exits', async () => {
    const alive = (pid: number) => processesMentioning('run-job --standby').some((line) => line.startsWith(`${pid} `));
    const standbyAfter = async (other?: number) => {
      for (let i = 0; i < 200 && (!platform.loop.standbyPid || platform.loop.standbyPid === other || !alive(platform.loop.standbyPid)); i++) await new Promise((r) => setTimeout(r, 100));
      return platform.loop.standbyPid;
    };
    const first = await standbyAfter();
    expect(first).toBeDefined();
    const warmBefore = platform.loop.starts.warm;
    expect((await api(base, 'POST', '/v1/models', { name: 'cancer-warm', task: 'binary_classification', target: 'diagnosis', layers: mlp([8], 1) })).status).toBe(201);
    const job = await train(base, 'cancer-warm', datasets['breast_cancer.csv'], { epochs: 1 });
    expect(job.status, JSON.stringify(job)).toBe('succeeded');
    expect(platform.loop.starts.warm).toBe(warmBefore + 1);
    // It ran the job and exits (the job is recorded as succeeded a moment before the process ends).
    for (let i = 0; i < 100 && alive(first!); i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive(first!)).toBe(false);
    const next = await standbyAfter(first);
    expect(next).toBeDefined();
    expect(next).not.toBe(first);
  });

  it('answers 409 when deleting a dataset or model that a queued job uses', async () => {
    await platform.loop.stop();
    try {
      const created = await api<JobView>(base, 'POST', '/v1/training-jobs', { model: 'iris', dataset: datasets['iris.csv'] });
      expect(created.status).toBe(202);
      const model = await api<{ code: string }>(base, 'DELETE', '/v1/models/iris');
      expect(model.status).toBe(409);
      expect(model.body.code).toBe('IN_USE');
      const dataset = await api<{ code: string }>(base, 'DELETE', `/v1/datasets/${datasets['iris.csv']}`);
      expect(dataset.status).toBe(409);
      await api(base, 'POST', `/v1/training-jobs/${created.body.id}/cancel`);
    } finally {
      const { JobLoop } = await import('../src/jobs/loop.ts');
      platform.loop = new JobLoop(platform.platform, { role: 'local', concurrency: 1, niceness: 0, pollMs: 200, runners: jobRunners() });
      platform.loop.start();
    }
  });
});

function processesMentioning(text: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', text], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter((line) => line && !line.includes('pgrep'));
  } catch {
    return [];
  }
}

describe('bad model definitions and jobs are 400s naming the layer and the reason', () => {
  const define = (body: Record<string, unknown>) => api<{ code: string; detail: string; errors: Array<{ field: string; message: string }> }>(base, 'POST', '/v1/models', body);
  const base_ = { task: 'binary_classification', target: 'diagnosis' };

  it.each([
    ['an unknown layer type', { name: 'bad1', layers: [{ type: 'Linearr', out_features: 1 }] }, 'layers[0].type'],
    ['an unknown argument', { name: 'bad2', layers: [{ type: 'Linear', out_features: 1, outfeatures: 3 }] }, 'layers[0].outfeatures'],
    ['an ill-typed argument', { name: 'bad3', layers: [{ type: 'Linear', out_features: 'ten' }] }, 'layers[0].out_features'],
    ['an empty layer list', { name: 'bad4', layers: [] }, 'layers'],
    ['a shape mismatch between layers', { name: 'bad5', layers: [{ type: 'Linear', out_features: 8 }, { type: 'Linear', in_features: 4, out_features: 1 }] }, 'layers[1].in_features'],
    ['too many parameters', { name: 'bad6', layers: [{ type: 'Linear', in_features: 30, out_features: 100000 }, { type: 'Linear', out_features: 100000 }, { type: 'Linear', out_features: 1 }] }, 'layers'],
  ])('rejects %s', async (_what, body, field) => {
    const response = await define({ ...base_, ...body });
    expect(response.status, JSON.stringify(response.body)).toBe(400);
    expect(response.body.errors.map((e) => e.field).join(' ')).toContain(field);
  });

  const submit = async (model: Record<string, unknown>, dataset: string) => {
    const created = await define(model);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return api<{ code: string; detail: string; errors: Array<{ field: string }> }>(base, 'POST', '/v1/training-jobs', { model: model.name, dataset });
  };

  it('rejects a target that is not in the dataset', async () => {
    const r = await submit({ name: 'nt', task: 'regression', target: 'nope', layers: mlp([4], 1) }, datasets['diabetes.csv']);
    expect(r.status).toBe(400);
    expect(r.body.errors[0].field).toBe('model.target');
    expect(r.body.detail).toContain('nope');
  });

  it('rejects classification on a continuous target', async () => {
    const r = await submit({ name: 'cc', task: 'multiclass_classification', target: 'bmi', layers: mlp([4], 3) }, datasets['diabetes.csv']);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('INCOMPATIBLE_DATASET');
    const binary = await submit({ name: 'cb', task: 'binary_classification', target: 'bmi', layers: mlp([4], 1) }, datasets['diabetes.csv']);
    expect(binary.status).toBe(400);
    expect(binary.body.detail).toMatch(/exactly 2 distinct values/);
  });

  it('rejects regression on a string target', async () => {
    const r = await submit({ name: 'rs', task: 'regression', target: 'species', layers: mlp([4], 1) }, datasets['iris.csv']);
    expect(r.status).toBe(400);
    expect(r.body.detail).toMatch(/numeric target/);
  });

  it('rejects a model whose layers do not fit the dataset width, naming the layer', async () => {
    const r = await submit({ name: 'width', task: 'regression', target: 'progression', layers: [{ type: 'Linear', in_features: 5, out_features: 1 }] }, datasets['diabetes.csv']);
    expect(r.status).toBe(400);
    expect(r.body.errors[0].field).toBe('model.layers[0].in_features');
    expect(r.body.detail).toMatch(/10 inputs/);
  });

  it('rejects a multiclass model whose last layer does not output one score per class', async () => {
    const r = await submit({ name: 'classes', task: 'multiclass_classification', target: 'species', layers: mlp([4], 2) }, datasets['iris.csv']);
    expect(r.status).toBe(400);
    expect(r.body.detail).toMatch(/3/);
  });

  it('rejects unknown hyperparameters and models or datasets that do not exist', async () => {
    const unknownHp = await api<{ errors: Array<{ field: string }> }>(base, 'POST', '/v1/training-jobs', { model: 'cancer', dataset: datasets['breast_cancer.csv'], hyperparameters: { epochz: 3 } });
    expect(unknownHp.status).toBe(400);
    expect(unknownHp.body.errors[0].field).toContain('epochz');
    expect((await api(base, 'POST', '/v1/training-jobs', { model: 'ghost', dataset: datasets['breast_cancer.csv'] })).status).toBe(404);
    expect((await api(base, 'POST', '/v1/training-jobs', { model: 'cancer', dataset: 'ds_doesnotexist' })).status).toBe(404);
    expect((await api(base, 'GET', '/v1/training-jobs/job_nope')).status).toBe(404);
  });
});
