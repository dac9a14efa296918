// End to end over HTTP: the registry (versions, aliases, artifacts), real-time predictions through
// ONNX Runtime, input validation against the signature, and batch inference jobs with statistics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { api, EXAMPLES, mlp, startTestPlatform, train, uploadCsv, uploadExample, waitForJob, type JobView, type TestPlatform } from './support/platform.ts';
import { jobRunners } from '../src/cli/job-kinds.ts';

let platform: TestPlatform;
let base: string;
let cancer: string;

interface Problem {
  code: string;
  detail: string;
  errors: Array<{ field: string; message: string; row?: number }>;
}
interface Predictions {
  model: string;
  version: number;
  predictions: Array<{ label?: string; probability?: number; probabilities?: Record<string, number>; value?: number }>;
}

const cancerCsv = async () => (await readFile(`${EXAMPLES}breast_cancer.csv`, 'utf8')).trim().split('\n');
async function cancerRows(count: number): Promise<Array<Record<string, number>>> {
  const lines = await cancerCsv();
  const header = lines[0].split(',');
  return lines.slice(1, count + 1).map((line) => {
    const cells = line.split(',');
    return Object.fromEntries(header.map((h, i) => [h, Number(cells[i])]).filter(([h]) => h !== 'diagnosis'));
  });
}

beforeAll(async () => {
  platform = await startTestPlatform({ env: { TRAINYARD_MAX_PREDICT_ROWS: '100', TRAINYARD_MAX_PREDICT_BYTES: String(512 * 1024), TRAINYARD_MAX_COLUMNS: '64' } });
  base = platform.url;
  cancer = (await uploadExample(base, 'breast_cancer.csv')).id;
  expect((await api(base, 'POST', '/v1/models', { name: 'cancer', task: 'binary_classification', target: 'diagnosis', layers: mlp([16], 1) })).status).toBe(201);
  for (const epochs of [8, 12]) expect((await train(base, 'cancer', cancer, { epochs, seed: epochs })).status).toBe('succeeded');
});

afterAll(async () => {
  await platform?.close();
});

describe('model registry', () => {
  it('lists versions newest first with metrics and lineage, and pages through them', async () => {
    const page = await api<{ items: Array<{ version: number; metrics: Record<string, number>; training_job_id: string; dataset_id: string }>; next_cursor: string | null }>(base, 'GET', '/v1/models/cancer/versions?limit=1');
    expect(page.body.items[0].version).toBe(2);
    expect(page.body.items[0].dataset_id).toBe(cancer);
    expect(page.body.items[0].metrics.val_accuracy).toBeGreaterThan(0.8);
    const next = await api<{ items: Array<{ version: number }>; next_cursor: string | null }>(base, 'GET', `/v1/models/cancer/versions?limit=1&cursor=${page.body.next_cursor}`);
    expect(next.body.items.map((v) => v.version)).toEqual([1]);
    expect(next.body.next_cursor).toBeNull();
  });

  it('predicts with the newest version until a production alias exists, then with the alias; aliases move', async () => {
    const [row] = await cancerRows(1);
    expect((await api<Predictions>(base, 'POST', '/v1/models/cancer/predict', { inputs: [row] })).body.version).toBe(2);
    expect((await api(base, 'PUT', '/v1/models/cancer/aliases/production', { version: 1 })).status).toBe(200);
    expect((await api<Predictions>(base, 'POST', '/v1/models/cancer/predict', { inputs: [row] })).body.version).toBe(1);
    const version = await api<{ aliases: string[] }>(base, 'GET', '/v1/models/cancer/versions/1');
    expect(version.body.aliases).toEqual(['production']);
    await api(base, 'PUT', '/v1/models/cancer/aliases/production', { version: 2 });
    expect((await api<Predictions>(base, 'POST', '/v1/models/cancer/predict', { inputs: [row] })).body.version).toBe(2);
    expect((await api<Predictions>(base, 'POST', '/v1/models/cancer/predict?alias=production', { inputs: [row] })).body.version).toBe(2);
    expect((await api(base, 'PUT', '/v1/models/cancer/aliases/staging', { version: 99 })).status).toBe(404);
  });

  it('refuses to delete an aliased version (409) and deletes an unaliased one with its artifacts', async () => {
    const refused = await api<Problem>(base, 'DELETE', '/v1/models/cancer/versions/2');
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toContain('production');
    // A third version to delete.
    expect((await train(base, 'cancer', cancer, { epochs: 2 })).status).toBe('succeeded');
    const prefix = (await platform.platform.metadata.db.selectFrom('model_versions').select('blob_prefix').where('version', '=', 3).executeTakeFirstOrThrow()).blob_prefix;
    expect(await platform.platform.blobs.list(prefix)).not.toHaveLength(0);
    expect((await api(base, 'DELETE', '/v1/models/cancer/versions/3')).status).toBe(204);
    expect((await api(base, 'GET', '/v1/models/cancer/versions/3')).status).toBe(404);
    expect(await platform.platform.blobs.list(prefix)).toHaveLength(0);
  });

  it('downloads every artifact, and manifest.json documents inputs, outputs and preprocessing', async () => {
    const version = await api<{ artifacts: Array<{ name: string; size_bytes: number }> }>(base, 'GET', '/v1/models/cancer/versions/1');
    for (const artifact of version.body.artifacts) {
      const response = await fetch(`${base}/v1/models/cancer/versions/1/artifacts/${artifact.name}`);
      expect(response.status).toBe(200);
      expect((await response.arrayBuffer()).byteLength).toBe(artifact.size_bytes);
    }
    const manifest = (await (await fetch(`${base}/v1/models/cancer/versions/1/artifacts/manifest.json`)).json()) as Record<string, unknown>;
    expect(manifest).toMatchObject({ task: 'binary_classification', input: { name: 'features', shape: [null, 30] }, target: { kind: 'label', classes: ['0', '1'] } });
    expect((manifest.features as unknown[]).length).toBe(30);
    expect((await api(base, 'GET', '/v1/models/cancer/versions/1/artifacts/nope.bin')).status).toBe(404);
  });
});

describe('real-time predictions', () => {
  it('answers JSON and CSV bodies with the same label and probabilities', async () => {
    const rows = await cancerRows(5);
    const json = await api<Predictions>(base, 'POST', '/v1/models/cancer/versions/1/predict', { inputs: rows });
    expect(json.status).toBe(200);
    expect(json.body.predictions).toHaveLength(5);
    for (const p of json.body.predictions) {
      expect(['0', '1']).toContain(p.label);
      expect(p.probability).toBeCloseTo(p.probabilities![p.label!], 6);
      expect(p.probabilities!['0'] + p.probabilities!['1']).toBeCloseTo(1, 5);
    }
    const csv = (await cancerCsv()).slice(0, 6).join('\n');
    const response = await fetch(`${base}/v1/models/cancer/versions/1/predict`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv });
    expect(response.status).toBe(200);
    const fromCsv = (await response.json()) as Predictions;
    expect(fromCsv.predictions).toEqual(json.body.predictions);
  });

  it('types numeric strings and missing values the same way in JSON as in CSV', async () => {
    const [row] = await cancerRows(1);
    const asStrings = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, String(v)]));
    const a = await api<Predictions>(base, 'POST', '/v1/models/cancer/versions/1/predict', { inputs: [row] });
    const b = await api<Predictions>(base, 'POST', '/v1/models/cancer/versions/1/predict', { inputs: [asStrings] });
    expect(b.body.predictions).toEqual(a.body.predictions);
    const missing = await api<Predictions>(base, 'POST', '/v1/models/cancer/versions/1/predict', { inputs: [{ ...row, radius_mean: null, area_mean: 'NA' }] });
    expect(missing.status).toBe(200);
  });

  it('applies the threshold for binary models', async () => {
    const rows = await cancerRows(20);
    const low = await api<Predictions>(base, 'POST', '/v1/models/cancer/versions/1/predict?threshold=0', { inputs: rows });
    expect(low.body.predictions.every((p) => p.label === '1')).toBe(true);
    const high = await api<Predictions>(base, 'POST', '/v1/models/cancer/versions/1/predict?threshold=1', { inputs: rows });
    expect(high.body.predictions.filter((p) => p.label === '1').length).toBeLessThanOrEqual(1);
  });

  it('names the row and column of a missing column or a mistyped value (400)', async () => {
    const [row] = await cancerRows(1);
    const { texture_mean: _dropped, ...withoutTexture } = row;
    const missing = await api<Problem>(base, 'POST', '/v1/models/cancer/predict', { inputs: [row, withoutTexture] });
    expect(missing.status).toBe(400);
    expect(missing.body.code).toBe('INVALID_INPUT');
    expect(missing.body.errors).toEqual([{ field: 'texture_mean', row: 1, message: expect.stringContaining('missing') }]);
    const mistyped = await api<Problem>(base, 'POST', '/v1/models/cancer/predict', { inputs: [{ ...row, area_mean: 'large' }] });
    expect(mistyped.status).toBe(400);
    expect(mistyped.body.errors[0]).toMatchObject({ field: 'area_mean', row: 0 });
    expect(mistyped.body.detail).toContain('large');
    const csv = (await cancerCsv()).slice(0, 3);
    csv[2] = csv[2].replace(/^[^,]+/, 'oops');
    const response = await fetch(`${base}/v1/models/cancer/predict`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv.join('\n') });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as Problem;
    expect(problem.errors[0].field).toBe('radius_mean');
  });

  it('reads a JSON body the same in any layout, and answers bodies of another shape as the schema and JSON parser do (400)', async () => {
    // 30 rows (over 16 KiB): large bodies are read from their bytes into columns, small ones by JSON.parse.
    const rows = await cancerRows(30);
    const post = async (body: string) => {
      const response = await fetch(`${base}/v1/models/cancer/versions/1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      return { status: response.status, body: (await response.json()) as Predictions & Problem };
    };
    const compact = await post(JSON.stringify({ inputs: rows }));
    expect(compact.status).toBe(200);
    const small = await post(JSON.stringify({ inputs: rows.slice(0, 3) }));
    expect(compact.body.predictions.slice(0, 3)).toEqual(small.body.predictions);
    const pretty = await post(JSON.stringify({ inputs: rows }, null, 2).replace('"radius_mean"', '"radius\\u005fmean"'));
    expect(pretty.body).toEqual(compact.body);
    const other = await post(JSON.stringify({ inputs: rows, other: 1 }));
    expect(other.status).toBe(400);
    expect(other.body.errors).toEqual([{ field: 'body.other', message: 'is not a known property' }]);
    const notRow = await post(JSON.stringify({ inputs: [...rows, 5] }));
    expect(notRow.status).toBe(400);
    expect(notRow.body.errors[0].field).toBe('body.inputs.30');
    const poisoned = await post(`{"inputs":[${rows.map((r) => JSON.stringify(r)).join(',')},{"__proto__":{"x":1},${JSON.stringify(rows[0]).slice(1)}]}`);
    expect(poisoned.status).toBe(400);
    expect(poisoned.body.code).toBe('VALIDATION_FAILED');
    const mistyped = await post(JSON.stringify({ inputs: [...rows.slice(0, 29), { ...rows[29], area_mean: 'large' }] }));
    expect(mistyped.body.errors).toEqual([{ field: 'area_mean', row: 29, message: expect.stringContaining('large') }]);
    expect((await post(`{"inputs":[${rows.map((r) => JSON.stringify(r)).join(',')},{"radius_mean":01}]}`)).body.code).toBe('VALIDATION_FAILED');
  });

  it('rejects empty inputs (400) and too many rows for one request (413)', async () => {
    expect((await api<Problem>(base, 'POST', '/v1/models/cancer/predict', { inputs: [] })).status).toBe(400);
    const rows = await cancerRows(1);
    const tooMany = await api<Problem>(base, 'POST', '/v1/models/cancer/predict', { inputs: Array(101).fill(rows[0]) });
    expect(tooMany.status).toBe(413);
    expect(tooMany.body.code).toBe('TOO_MANY_ROWS');
    expect(tooMany.body.detail).toContain('inference-jobs');
  });

  it('caps the predict body (TRAINYARD_MAX_PREDICT_BYTES) and the distinct keys of its rows (TRAINYARD_MAX_COLUMNS), JSON and CSV', async () => {
    const [row] = await cancerRows(1);
    const big = JSON.stringify({ inputs: Array(99).fill({ ...row, padding: 'x'.repeat(6000) }) });
    expect(big.length).toBeGreaterThan(512 * 1024);
    const tooBig = await fetch(`${base}/v1/models/cancer/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    expect(tooBig.status).toBe(413);
    expect(tooBig.headers.get('content-type')).toContain('application/problem+json');
    const csv = await fetch(`${base}/v1/models/cancer/predict`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: `a\n${'1\n'.repeat(300_000)}` });
    expect(csv.status).toBe(413);
    // Rows rotating through more distinct keys than the cap: 400 naming the limit, on either reader
    // (the column reader from 16 KiB, the general parser below it).
    for (const count of [100, 2000]) {
      const rotating = await api<Problem>(base, 'POST', '/v1/models/cancer/predict', { inputs: Array.from({ length: count }, (_, i) => ({ ...row, [`extra_${i}`]: 1 })).slice(0, 100) });
      expect(rotating.status).toBe(400);
      expect(rotating.body.detail).toContain('TRAINYARD_MAX_COLUMNS');
    }
  });

  it('looks the model up before reading the body: an unknown model answers 404 even to a body it could not parse', async () => {
    for (const path of ['/v1/models/ghost/predict', '/v1/models/cancer/versions/42/predict', '/v1/models/cancer/predict?alias=canary']) {
      const response = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"inputs":[${'{"a":1},'.repeat(10_000)}` });
      expect(response.status, path).toBe(404);
    }
  });

  it('answers 404 for an unknown model, version or alias', async () => {
    const [row] = await cancerRows(1);
    expect((await api(base, 'POST', '/v1/models/ghost/predict', { inputs: [row] })).status).toBe(404);
    expect((await api(base, 'POST', '/v1/models/cancer/versions/42/predict', { inputs: [row] })).status).toBe(404);
    expect((await api(base, 'POST', '/v1/models/cancer/predict?alias=canary', { inputs: [row] })).status).toBe(404);
  });

  it('keeps serving other models when one version’s artifact is missing, answering 500 MODEL_UNAVAILABLE and counting it', async () => {
    expect((await api(base, 'POST', '/v1/models', { name: 'broken', task: 'binary_classification', target: 'diagnosis', layers: mlp([4], 1) })).status).toBe(201);
    expect((await train(base, 'broken', cancer, { epochs: 1 })).status).toBe('succeeded');
    const prefix = (await platform.platform.metadata.db.selectFrom('model_versions').select('blob_prefix').where('model_name', '=', 'broken').executeTakeFirstOrThrow()).blob_prefix;
    await platform.platform.blobs.put(`${prefix}/model.onnx`, 'this is not an onnx file');
    const [row] = await cancerRows(1);
    const broken = await api<Problem>(base, 'POST', '/v1/models/broken/predict', { inputs: [row] });
    expect(broken.status).toBe(500);
    expect(broken.body.code).toBe('MODEL_UNAVAILABLE');
    expect(broken.body.detail).toContain('broken version 1');
    expect((await api(base, 'POST', '/v1/models/cancer/predict', { inputs: [row] })).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/trainyard_model_load_failures_total\{model="broken"\} 1/);
  });
});

describe('categorical features and regression', () => {
  it('one-hot encodes text columns, imputes blanks, maps unseen categories to zeros and predicts values', async () => {
    const colours = ['red', 'green', 'blue'];
    const lines = ['size,colour,weight,price'];
    let seed = 3;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let i = 0; i < 300; i++) {
      const size = random() * 10;
      const colour = colours[i % 3];
      const weight = random() * 5;
      const price = 3 * size + (colour === 'red' ? 10 : colour === 'green' ? 0 : -5) + weight + random();
      lines.push(`${i % 17 === 0 ? '' : size.toFixed(3)},${i % 23 === 0 ? 'NA' : colour},${weight.toFixed(3)},${price.toFixed(3)}`);
    }
    lines.push('1,red,1,'); // a row without a target: left out and counted
    const dataset = await uploadCsv(base, lines.join('\n') + '\n', 'prices');
    expect((await api(base, 'POST', '/v1/models', { name: 'prices', task: 'regression', target: 'price', layers: mlp([16], 1) })).status).toBe(201);
    const job = await train(base, 'prices', dataset.id, { epochs: 80, batch_size: 16, optimizer: { lr: 0.01 } });
    expect(job.status, JSON.stringify(job)).toBe('succeeded');
    expect(job.stats).toMatchObject({ dropped_missing_target: 1 });
    expect(job.metrics!.val_r2).toBeGreaterThan(0.8);

    const version = await api<{ signature: { inputs: Array<{ name: string; kind: string; categories?: string[] }> } }>(base, 'GET', '/v1/models/prices/versions/1');
    expect(version.body.signature.inputs.find((i) => i.name === 'colour')).toMatchObject({ kind: 'categorical', categories: expect.arrayContaining(colours) });

    const answer = await api<Predictions>(base, 'POST', '/v1/models/prices/predict', {
      inputs: [
        { size: 5, colour: 'red', weight: 2 },
        { size: 5, colour: 'blue', weight: 2 },
        { size: 5, colour: 'purple', weight: 2 },
        { size: null, colour: null, weight: 2 },
      ],
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const [red, blue, unseen, blank] = answer.body.predictions.map((p) => p.value!);
    expect(red - blue).toBeGreaterThan(8);
    for (const v of [unseen, blank]) expect(Number.isFinite(v)).toBe(true);
  });
});

describe('batch inference jobs', () => {
  it('predicts a whole dataset with per-label counts and the positive rate at a threshold, and streams the output CSV', async () => {
    const created = await api<JobView & { output: string | null }>(base, 'POST', '/v1/inference-jobs', { model: 'cancer', version: 1, dataset: cancer, threshold: 0.3 });
    expect(created.status).toBe(202);
    const job = (await waitForJob(base, created.body.id, { kind: 'inference' })) as JobView & { output: string; stats: Record<string, unknown> };
    expect(job.status, JSON.stringify(job)).toBe('succeeded');
    expect(job.stats).toMatchObject({ rows: 569, threshold: 0.3, positive_label: '1' });
    const byLabel = job.stats.by_label as Record<string, number>;
    expect(byLabel['0'] + byLabel['1']).toBe(569);
    expect(job.stats.positive_count).toBe(byLabel['1']);
    expect(job.stats.positive_rate).toBeCloseTo(byLabel['1'] / 569, 10);

    const output = await fetch(`${base}${job.output}`);
    expect(output.headers.get('content-type')).toMatch(/text\/csv/);
    const lines = (await output.text()).trim().split('\n');
    expect(lines[0]).toBe('row,label,probability,p_0,p_1');
    expect(lines).toHaveLength(570);
    expect(lines[1].startsWith('1,')).toBe(true);
    expect(lines.filter((l) => l.split(',')[1] === '1')).toHaveLength(byLabel['1']);

    // The same rows through the real-time API give the same probabilities.
    const realtime = await api<Predictions>(base, 'POST', '/v1/models/cancer/versions/1/predict?threshold=0.3', { inputs: await cancerRows(3) });
    realtime.body.predictions.forEach((p, i) => expect(Number(lines[i + 1].split(',')[4])).toBeCloseTo(p.probabilities!['1'], 6));
  });

  it('refuses a dataset that lacks a feature column, and an unknown model', async () => {
    const partial = await uploadCsv(base, 'radius_mean,texture_mean\n1,2\n', 'partial');
    const refused = await api<Problem>(base, 'POST', '/v1/inference-jobs', { model: 'cancer', dataset: partial.id });
    expect(refused.status).toBe(400);
    expect(refused.body.errors.map((e) => e.field)).toContain('perimeter_mean');
    expect((await api(base, 'POST', '/v1/inference-jobs', { model: 'ghost', dataset: cancer })).status).toBe(404);
  });

  it('answers 409 for the output of a job that has not succeeded, and cancels a queued job', async () => {
    await platform.loop.stop();
    try {
      const created = await api<JobView>(base, 'POST', '/v1/inference-jobs', { model: 'cancer', dataset: cancer });
      expect((await api(base, 'GET', `/v1/inference-jobs/${created.body.id}/output`)).status).toBe(409);
      const cancelled = await api<JobView>(base, 'POST', `/v1/inference-jobs/${created.body.id}/cancel`);
      expect(cancelled.body.status).toBe('cancelled');
      const list = await api<{ items: JobView[] }>(base, 'GET', '/v1/inference-jobs?status=cancelled');
      expect(list.body.items.map((j) => j.id)).toContain(created.body.id);
    } finally {
      const { JobLoop } = await import('../src/jobs/loop.ts');
      platform.loop = new JobLoop(platform.platform, { role: 'local', concurrency: 1, niceness: 0, pollMs: 200, runners: jobRunners() });
      platform.loop.start();
    }
  });
});

describe('batch inference over a CSV sent with the request', () => {
  it('stores the CSV as a dataset and predicts it', async () => {
    const csv = (await cancerCsv()).slice(0, 11).join('\n') + '\n';
    const response = await fetch(`${base}/v1/inference-jobs?model=cancer&version=1&name=uploaded-rows`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv });
    const created = (await response.json()) as JobView & { dataset: string };
    expect(response.status, JSON.stringify(created)).toBe(202);
    const job = await waitForJob(base, created.id, { kind: 'inference' });
    expect(job.status).toBe('succeeded');
    expect(job.stats).toMatchObject({ rows: 10 });
    const dataset = await api<{ name: string; row_count: number }>(base, 'GET', `/v1/datasets/${created.dataset}`);
    expect(dataset.body).toMatchObject({ name: 'uploaded-rows', row_count: 10 });
  });

  it('needs ?model= and an existing model before anything is stored', async () => {
    const before = (await api<{ items: unknown[] }>(base, 'GET', '/v1/datasets?limit=500')).body.items.length;
    const noModel = await fetch(`${base}/v1/inference-jobs`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'a,b\n1,2\n' });
    expect(noModel.status).toBe(400);
    const ghost = await fetch(`${base}/v1/inference-jobs?model=ghost`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'a,b\n1,2\n' });
    expect(ghost.status).toBe(404);
    expect((await api<{ items: unknown[] }>(base, 'GET', '/v1/datasets?limit=500')).body.items).toHaveLength(before);
    // An invalid ?name= is refused before the upload is stored; a CSV lacking the model's columns
    // is stored, refused, and removed again: no row and no blob stays behind either way.
    const blobs = await platform.platform.blobs.list('datasets');
    const badName = await fetch(`${base}/v1/inference-jobs?model=cancer&name=${encodeURIComponent('bad/name')}`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'a,b\n1,2\n' });
    expect(badName.status).toBe(400);
    const lacking = await fetch(`${base}/v1/inference-jobs?model=cancer`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'a,b\n1,2\n' });
    expect(lacking.status).toBe(400);
    expect((await api<{ items: unknown[] }>(base, 'GET', '/v1/datasets?limit=500')).body.items).toHaveLength(before);
    expect(await platform.platform.blobs.list('datasets')).toEqual(blobs);
  });
});

describe('the model session cache', () => {
  it('evicts least recently used sessions beyond its memory bound without failing runs in flight', async () => {
    const { ModelCache } = await import('../src/inference/model-cache.ts');
    const { getVersion } = await import('../src/models/registry.ts');
    const { db } = platform.platform.metadata;
    const [v1, v2] = [await getVersion(db, 'cancer', 1), await getVersion(db, 'cancer', 2)];
    const cache = new ModelCache(platform.platform.blobs, 1); // room for one session at a time
    const width = 30;
    const run = (version: typeof v1) => cache.use(version, async (model) => (await model.run(new Float32Array(width), 1)).output[0]);
    // Interleaved concurrent uses of two versions: each load evicts the other, while it is in use.
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => run(i % 2 ? v1 : v2)));
    expect(results.every((p) => p >= 0 && p <= 1)).toBe(true);
    expect(cache.size).toBe(1);
    expect(await run(v1)).toBeCloseTo(results[1], 6);
    await cache.close();
  });
});
