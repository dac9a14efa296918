// Model monitoring end to end, as a user runs it: train, turn logging on, serve rows like the training
// data (every feature ok), serve rows with one feature shifted by two standard deviations (that
// feature drifts, the others stay ok), count unseen categories and missing values, send feedback
// and read live quality, and on MariaDB + the S3-protocol server with two API servers, see drift
// aggregate both servers' traffic.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, mlp, startTestPlatform, train, uploadCsv, waitForJob, type TestPlatform } from './support/platform.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { startServerProcess } from './support/processes.ts';
import { MYSQL_SKIP_NOTE, MYSQL_URL, createTestDatabase, type TestDatabase } from './support/mysql.ts';
import { startS3Server, type S3TestServer } from './support/s3.ts';
import { seededRandom as random } from '../src/training/prepare.ts';

const FLUSH_MS = '150';
/** The flush interval of the server process killed with -9. */
const CRASH_FLUSH_MS = 400;
/** Time allowed for one flush's writes on top of the interval before rows count as lost beyond the bound. */
const FLUSH_WRITE_ALLOWANCE_MS = 600;

const normal = (r: () => number) => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
const COLORS = ['red', 'green', 'blue'];

const DAY_MS = 86_400_000;
/** 364 days: a year later on the same weekday. */
const A_YEAR_LATER_MS = 364 * DAY_MS;

interface Row {
  x1: number | null;
  x2: number;
  color: string;
  t: string | null;
}
/**
 * x1 ~ N(0, 1), x2 ~ N(5, 2) + shift·2, color uniform, t a working-hours instant (8–12 h UTC) in the
 * first half of 2026 (+ shift · 52 weeks: a shifted window); the label depends on x1 and color.
 */
function rows(r: () => number, n: number, shift = 0): Array<Row & { label: string }> {
  return Array.from({ length: n }, () => {
    const x1 = normal(r);
    const color = COLORS[Math.floor(r() * 3)];
    const t = Date.UTC(2026, 0, 1) + Math.floor(r() * 180) * DAY_MS + (8 + Math.floor(r() * 4)) * 3_600_000 + shift * A_YEAR_LATER_MS;
    return { x1, x2: 5 + 2 * normal(r) + 2 * shift, color, t: new Date(t).toISOString(), label: x1 + (color === 'red' ? 0.7 : 0) > 0.3 ? 'yes' : 'no' };
  });
}
const csv = (data: Array<Row & { label: string }>) => ['x1,x2,color,t,label', ...data.map((d) => `${d.x1},${d.x2},${d.color},${d.t},${d.label}`)].join('\n') + '\n';

interface Prediction {
  label: string;
  probability: number;
}
interface Drift {
  live_rows: number;
  status: string;
  features: Array<{ feature: string; psi: number; status: string; missing_share: { live: number }; unseen_share?: { live: number }; histogram: Array<{ bin: string; live: number }> }>;
  prediction: { status: string; live_rows: number } | null;
}

async function predictRows(base: string, path: string, data: Row[], requestId: string): Promise<Prediction[]> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({ inputs: data.map(({ x1, x2, color, t }) => ({ x1, x2, color, t })) }),
  });
  const body = (await response.json()) as { predictions: Prediction[] };
  if (response.status !== 200) throw new Error(`predict ${response.status}: ${JSON.stringify(body)}`);
  expect(response.headers.get('x-request-id')).toBe(requestId);
  return body.predictions;
}

/** Drift once the servers have flushed `rows` live rows (flushes run every FLUSH_MS). */
async function driftWhen(base: string, path: string, rows: number): Promise<Drift> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { status, body } = await api<Drift>(base, 'GET', path);
    expect(status).toBe(200);
    if (body.live_rows >= rows || Date.now() > deadline) return body;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('model monitoring on SQLite and files', () => {
  let platform: TestPlatform;
  let base: string;
  const r = random(42);
  const served: Array<{ id: string; truth: string; predicted: Prediction }> = [];
  let crashStartedAt = new Date();

  beforeAll(async () => {
    // Both versions train at once (the slowest part of this file is the trainers starting up).
    platform = await startTestPlatform({ env: { TRAINYARD_MONITORING_FLUSH_MS: FLUSH_MS, TRAINYARD_MAX_CONCURRENT_JOBS: '2' } });
    base = platform.url;
    const dataset = await uploadCsv(base, csv(rows(r, 800)), 'monitored');
    expect((await api(base, 'POST', '/v1/models', { name: 'watched', task: 'binary_classification', target: 'label', layers: mlp([8], 1) })).status).toBe(201);
    const jobs = await Promise.all([1, 2].map((seed) => train(base, 'watched', dataset.id, { epochs: 3, seed })));
    expect(jobs.map((j) => j.status)).toEqual(['succeeded', 'succeeded']);
  }, 180_000);

  afterAll(async () => {
    await platform?.close();
  });

  it('is off by default, and refuses a sample rate outside 0..1 or a model that does not exist', async () => {
    expect((await api<{ log_sample_rate: number }>(base, 'GET', '/v1/models/watched/monitoring')).body.log_sample_rate).toBe(0);
    const bad = await api<{ errors: Array<{ field: string }> }>(base, 'PUT', '/v1/models/watched/monitoring', { log_sample_rate: 1.5 });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body.errors)).toContain('log_sample_rate');
    expect((await api(base, 'PUT', '/v1/models/nope/monitoring', { log_sample_rate: 1 })).status).toBe(404);
    // Nothing is logged while it is off.
    await predictRows(base, '/v1/models/watched/versions/1/predict', rows(r, 5), 'before-on');
    const on = await api<{ log_sample_rate: number; retention_days: number }>(base, 'PUT', '/v1/models/watched/monitoring', { log_sample_rate: 1, retention_days: 7 });
    expect(on.body).toMatchObject({ log_sample_rate: 1, retention_days: 7 });
  });

  it('sees no drift in rows like the training data', async () => {
    for (let i = 0; i < 6; i++) {
      const data = rows(r, 100);
      const predictions = await predictRows(base, '/v1/models/watched/versions/1/predict', data, `same-${i}`);
      predictions.forEach((p, row) => served.push({ id: `same-${i}`, truth: data[row].label, predicted: p }));
    }
    const drift = await driftWhen(base, '/v1/models/watched/versions/1/drift?window=24h', 600);
    expect(drift.live_rows).toBe(600);
    // A datetime feature is watched as its instant and as each cyclic part the model uses.
    expect(drift.features.map((f) => [f.feature, f.status])).toEqual([
      ['x1', 'ok'],
      ['x2', 'ok'],
      ['color', 'ok'],
      ['t', 'ok'],
      ['t.month', 'ok'],
      ['t.day_of_week', 'ok'],
      ['t.hour', 'ok'],
    ]);
    expect(drift.prediction?.status).toBe('ok');
    expect(drift.status).toBe('ok');
  });

  it('flags the features shifted (x2 by two standard deviations, t by a year), and counts unseen categories and missing values', async () => {
    await predictRows(base, '/v1/models/watched/versions/2/predict', rows(r, 500, 1), 'shifted');
    let drift = await driftWhen(base, '/v1/models/watched/versions/2/drift', 500);
    const status = Object.fromEntries(drift.features.map((f) => [f.feature, f.status]));
    // A year later on the same weekdays and hours: the instant drifts, its cyclic parts do not.
    expect(status).toEqual({ x1: 'ok', x2: 'drift', color: 'ok', t: 'drift', 't.month': 'ok', 't.day_of_week': 'ok', 't.hour': 'ok' });
    expect(drift.features.find((f) => f.feature === 'x2')!.psi).toBeGreaterThan(0.5);
    const t = drift.features.find((f) => f.feature === 't')!;
    expect(t).toMatchObject({ kind: 'datetime', column: 't', part: 'time' });
    // Everything served falls after the last training decile (bins are labelled with ISO instants).
    expect(t.histogram.at(-2)).toMatchObject({ bin: expect.stringMatching(/^≥ 2026-0\d-\d\dT/), live: 1 });

    const odd = rows(r, 50).map((row, i) => ({ ...row, x1: i < 10 ? null : row.x1, color: i < 20 ? 'purple' : row.color, t: i < 5 ? null : row.t }));
    await predictRows(base, '/v1/models/watched/versions/2/predict', odd, 'odd');
    drift = await driftWhen(base, '/v1/models/watched/versions/2/drift', 550);
    const x1 = drift.features.find((f) => f.feature === 'x1')!;
    const color = drift.features.find((f) => f.feature === 'color')!;
    expect(x1.missing_share.live).toBeCloseTo(10 / 550, 6);
    expect(color.unseen_share?.live).toBeCloseTo(20 / 550, 6);
    expect(drift.features.find((f) => f.feature === 't.hour')!.missing_share.live).toBeCloseTo(5 / 550, 6);
  });

  it('joins feedback to logged predictions and reports live quality; unknown ids write nothing', async () => {
    const unknown = await api<{ code: string; errors: Array<{ field: string }> }>(base, 'POST', '/v1/models/watched/feedback', [
      { request_id: 'same-0', row: 0, label: served[0].truth },
      { request_id: 'before-on', row: 0, label: 'yes' },
    ]);
    expect(unknown.status).toBe(400);
    expect(unknown.body.code).toBe('UNKNOWN_PREDICTION');
    expect(unknown.body.errors.map((e) => e.field)).toEqual(['[1].request_id']);
    const none = await api<{ labelled_rows: number }>(base, 'GET', '/v1/models/watched/versions/1/quality');
    expect(none.body.labelled_rows).toBe(0);

    const feedback = served.slice(0, 300).map((s, i) => ({ request_id: s.id, row: i % 100, label: s.truth }));
    expect((await api(base, 'POST', '/v1/models/watched/feedback', feedback)).body).toEqual({ updated: 300 });
    const quality = await api<{ labelled_rows: number; metrics: Record<string, number> }>(base, 'GET', '/v1/models/watched/versions/1/quality?window=1h');
    expect(quality.body.labelled_rows).toBe(300);
    const scored = served.slice(0, 300);
    const correct = scored.filter((s) => s.predicted.label === s.truth).length;
    expect(quality.body.metrics.accuracy).toBeCloseTo(correct / 300, 10);
    const tp = scored.filter((s) => s.predicted.label === 'yes' && s.truth === 'yes').length;
    const fp = scored.filter((s) => s.predicted.label === 'yes' && s.truth === 'no').length;
    const fn = scored.filter((s) => s.predicted.label === 'no' && s.truth === 'yes').length;
    expect(quality.body.metrics.f1).toBeCloseTo((2 * tp) / (2 * tp + fp + fn), 10);
    // AUC by brute force over every positive-negative pair.
    const score = (s: (typeof scored)[number]) => (s.predicted.label === 'yes' ? s.predicted.probability : 1 - s.predicted.probability);
    const positives = scored.filter((s) => s.truth === 'yes').map(score);
    const negatives = scored.filter((s) => s.truth === 'no').map(score);
    let wins = 0;
    for (const p of positives) for (const n of negatives) wins += p > n ? 1 : p === n ? 0.5 : 0;
    expect(quality.body.metrics.roc_auc).toBeCloseTo(wins / (positives.length * negatives.length), 5);
  });

  it('keeps the served rows as JSON Lines parts, and logs batch inference jobs too', async () => {
    const keys = await platform.platform.blobs.list('monitoring/watched/logs');
    let lines = 0;
    for (const key of keys) {
      const chunks: Buffer[] = [];
      for await (const chunk of await platform.platform.blobs.get(key)) chunks.push(chunk as Buffer);
      lines += Buffer.concat(chunks).toString('utf8').trim().split('\n').length;
    }
    expect(lines).toBe(600 + 550);

    const dataset = await uploadCsv(base, csv(rows(r, 40)), 'to-score');
    const job = await api<{ id: string }>(base, 'POST', '/v1/inference-jobs', { model: 'watched', version: 1, dataset: dataset.id });
    expect((await waitForJob(base, job.body.id, { kind: 'inference' })).status).toBe('succeeded');
    const records = await platform.platform.metadata.db.selectFrom('prediction_records').select('row_index').where('request_id', '=', job.body.id).execute();
    expect(records.map((x) => x.row_index).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('loses at most the last flush interval of logged rows to a kill -9, and every part written reads whole', async () => {
    // A server process on the same stores, flushing every CRASH_FLUSH_MS, serves one request at a
    // time (so the order requests were answered is the order their rows were buffered) and is
    // killed with -9 between two flushes.
    crashStartedAt = new Date();
    const crashing = await startServerProcess(
      { TRAINYARD_DATABASE_URL: platform.config.databaseUrl, TRAINYARD_BLOB_URL: platform.config.blobUrl, TRAINYARD_EXECUTOR: 'queue', TRAINYARD_MONITORING_FLUSH_MS: String(CRASH_FLUSH_MS) },
      { name: 'crash-server', readyTimeoutMs: 100_000 },
    );
    const answered: Array<{ id: string; at: number }> = [];
    let killedAt = 0;
    try {
      // The first request loads the version (model and baseline); the timed traffic starts after it.
      await predictRows(crashing.url, '/v1/models/watched/versions/2/predict', rows(r, 5), 'before-crash');
      const started = Date.now();
      for (let i = 0; Date.now() - started < 3.4 * CRASH_FLUSH_MS; i++) {
        await predictRows(crashing.url, '/v1/models/watched/versions/2/predict', rows(r, 5), `crash-${i}`);
        answered.push({ id: `crash-${i}`, at: Date.now() });
      }
      crashing.kill('SIGKILL');
      killedAt = Date.now();
      await crashing.exited;
    } finally {
      await crashing.stop();
    }

    // Every part in the store reads whole: the file store renames a part into place once written.
    const logged = new Map<string, number>();
    /** The crash server's parts, by its flush sequence (the part name ends in it). */
    const flushes: Array<{ sequence: number; ids: Set<string> }> = [];
    for (const key of await platform.platform.blobs.list('monitoring/watched/logs')) {
      const chunks: Buffer[] = [];
      for await (const chunk of await platform.platform.blobs.get(key)) chunks.push(chunk as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      expect(text.endsWith('\n'), key).toBe(true);
      const ids = new Set<string>();
      for (const line of text.trim().split('\n')) {
        const { request_id: id } = JSON.parse(line) as { request_id: string };
        if (!id.startsWith('crash-')) continue;
        logged.set(id, (logged.get(id) ?? 0) + 1);
        ids.add(id);
      }
      if (ids.size > 0) flushes.push({ sequence: Number(/-(\d+)\.jsonl$/.exec(key)![1]), ids });
    }
    // What survived is whole requests, a prefix of what was answered; what was lost was answered in
    // the last flush interval (plus the time a flush takes to write, generous on a loaded machine).
    expect([...logged.values()].every((n) => n === 5)).toBe(true);
    const kept = answered.filter((a) => logged.has(a.id));
    expect(kept.length).toBeGreaterThan(0);
    expect(kept).toEqual(answered.slice(0, kept.length));
    expect(logged.size).toBe(kept.length);
    const lost = answered.slice(kept.length);
    for (const { id, at } of lost) expect(killedAt - at, `${id} was answered ${killedAt - at} ms before the kill and lost`).toBeLessThanOrEqual(CRASH_FLUSH_MS + FLUSH_WRITE_ALLOWANCE_MS);
    // A flush writes its part, then the records feedback joins on: every flush's records are there
    // but perhaps the last one's, which the kill may have cut between the two.
    const records = await platform.platform.metadata.db.selectFrom('prediction_records').select('request_id').distinct().where('model_name', '=', 'watched').where('request_id', 'like', 'crash-%').execute();
    const recorded = new Set(records.map((x) => x.request_id));
    expect([...recorded].every((id) => logged.has(id))).toBe(true);
    flushes.sort((a, b) => a.sequence - b.sequence);
    for (const flush of flushes.slice(0, -1)) expect([...flush.ids].filter((id) => !recorded.has(id))).toEqual([]);
  }, 150_000);

  it('exports PSI per feature on /metrics, and answers bad windows and old versions clearly', async () => {
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/trainyard_feature_psi\{model="watched",version="2",feature="x2"\} (\d|\.)+/);
    expect(metrics).toMatch(/trainyard_live_quality\{model="watched",version="1",metric="accuracy"\}/);
    expect(metrics).toMatch(/trainyard_prediction_log_rows_total\{outcome="logged"\} \d+/);
    const bad = await api<{ errors: Array<{ field: string }> }>(base, 'GET', '/v1/models/watched/versions/1/drift?window=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].field).toBe('window');
    expect((await api(base, 'GET', '/v1/models/watched/versions/9/drift')).status).toBe(404);
    const traffic = await api<{ hours: Array<{ version: number; rows: number; latency_ms: { p99: number | null } }> }>(base, 'GET', '/v1/models/watched/monitoring/traffic');
    expect(traffic.body.hours.filter((h) => h.version === 1).reduce((s, h) => s + h.rows, 0)).toBe(640);
    expect(traffic.body.hours[0].latency_ms.p99).toBeGreaterThan(0);
  });

  it('exports what was served, with the feedback labels as the target, into a new dataset version', async () => {
    const bad = await api<{ errors: Array<{ field: string }> }>(base, 'POST', '/v1/models/watched/prediction-logs/export', { name: 'served', from: '2026-12-03T10:00:00Z', to: '2026-12-03T09:00:00Z' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].field).toBe('from');
    // Up to the crash test's traffic (the range's end is exclusive; its start defaults to the beginning).
    const created = await api<{ id: string; status: string }>(base, 'POST', '/v1/models/watched/prediction-logs/export', { name: 'served', to: crashStartedAt.toISOString() });
    expect(created.status).toBe(202);
    let job: { status: string; error: string | null; result: { dataset_id: string; dataset_version: number; rows: number } | null } | undefined;
    for (let i = 0; i < 600 && !['succeeded', 'failed', 'cancelled'].includes(job?.status ?? ''); i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      job = (await api<NonNullable<typeof job>>(base, 'GET', `/v1/export-jobs/${created.body.id}`)).body;
    }
    expect(job?.status, job?.error ?? '').toBe('succeeded');
    // 600 + 550 served in real time and 40 by the batch job (the 5 served before logging was on are not there).
    expect(job!.result!.rows).toBe(1190);
    const dataset = await api<{ columns: Array<{ name: string; type: string; missing_count: number }> }>(base, 'GET', `/v1/datasets/${job!.result!.dataset_id}`);
    expect(dataset.body.columns.map((c) => [c.name, c.type])).toEqual([
      ['x1', 'number'],
      ['x2', 'number'],
      ['color', 'string'],
      ['t', 'datetime'],
      ['label', 'string'],
    ]);
    expect(dataset.body.columns.find((c) => c.name === 'label')!.missing_count).toBe(1190 - 300);
    // The labels are the ones sent as feedback, on the rows they were sent for.
    const content = await (await fetch(`${base}/v1/datasets/${job!.result!.dataset_id}/content`)).text();
    const labelled = content.trim().split('\n').slice(1).filter((line) => !line.endsWith(','));
    expect(labelled).toHaveLength(300);
    const truth = new Map(served.slice(0, 300).map((s, i) => [`${s.id}/${i % 100}`, s.truth]));
    expect(new Set(labelled.map((line) => line.split(',').at(-1)))).toEqual(new Set(truth.values()));
  });

  it('deletes what monitoring holds with the model', async () => {
    expect((await api(base, 'DELETE', '/v1/models/watched')).status).toBe(204);
    expect(await platform.platform.blobs.list('monitoring/watched')).toEqual([]);
    expect(await platform.platform.metadata.db.selectFrom('drift_bins').select('bin').where('model_name', '=', 'watched').execute()).toEqual([]);
  });
});

describe.skipIf(!MYSQL_URL)(`model monitoring on MariaDB and S3 with two API servers${MYSQL_SKIP_NOTE}`, () => {
  let db: TestDatabase;
  let s3: S3TestServer;
  let first: TestPlatform;
  let second: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    s3 = await startS3Server();
    // Both servers run in this process: the SDK reads the keys from its environment.
    for (const [name, value] of Object.entries(s3.env)) if (name.startsWith('AWS_')) process.env[name] = value;
    const env = { ...s3.env, TRAINYARD_DATABASE_URL: db.url, TRAINYARD_MONITORING_FLUSH_MS: FLUSH_MS };
    first = await startTestPlatform({ env });
    second = await startTestServer({ env });
    const r = random(7);
    const dataset = await uploadCsv(first.url, csv(rows(r, 400)), 'fleet-data');
    expect((await api(first.url, 'POST', '/v1/models', { name: 'fleet', task: 'binary_classification', target: 'label', layers: mlp([8], 1) })).status).toBe(201);
    expect((await train(first.url, 'fleet', dataset.id, { epochs: 2 })).status).toBe('succeeded');
  }, 180_000);

  afterAll(async () => {
    await second?.close();
    await first?.close();
    await s3?.stop();
    await db?.drop();
  });

  it('sums both servers’ traffic into one drift view', async () => {
    expect((await api(second.url, 'PUT', '/v1/models/fleet/monitoring', { log_sample_rate: 1 })).status).toBe(200);
    const r = random(9);
    await predictRows(first.url, '/v1/models/fleet/predict', rows(r, 200), 'a-1');
    await predictRows(second.url, '/v1/models/fleet/predict', rows(r, 200, 1), 'b-1');
    const drift = await driftWhen(first.url, '/v1/models/fleet/versions/1/drift', 400);
    expect(drift.live_rows).toBe(400);
    expect(drift.features.find((f) => f.feature === 'x2')!.status).not.toBe('ok');
    const feedback = await api(first.url, 'POST', '/v1/models/fleet/feedback', [
      { request_id: 'a-1', row: 3, label: 'yes' },
      { request_id: 'b-1', row: 4, label: 'no' },
    ]);
    expect(feedback.status).toBe(200);
    expect((await second.platform.blobs.list('monitoring/fleet/logs')).length).toBeGreaterThanOrEqual(2);
  });
});
