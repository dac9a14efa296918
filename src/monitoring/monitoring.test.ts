import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { MISSING_BIN, decileEdges, featureBinner, fitFeatureBaseline, fitPredictionBaseline, histogramKey, numericBin, type FeatureBaseline } from './baseline.ts';
import { fitPreprocessing } from '../models/preprocessing.ts';
import { driftStatus, psi } from './psi.ts';
import { liveQuality, rocAuc } from './quality.ts';
import { parseWindow } from './window.ts';
import { quantile, LATENCY_EDGES_MS } from './traffic.ts';
import { PredictionMonitor } from './monitor.ts';
import { applyFeedback, putSettings, windowBinCounts, PREDICTION_FEATURE } from './store.ts';
import { predictionLogPartHour } from '../store/blobs/keys.ts';
import type { MetadataStore } from '../store/metadata/metadata-store.ts';
import { openMetadataStore } from '../store/metadata/open-metadata-store.ts';
import { migrateToLatest } from '../store/metadata/migrate.ts';
import { FileBlobStore } from '../store/blobs/file-blob-store.ts';
import type { ModelVersionRecord } from '../models/registry.ts';
import { seededRandom as random } from '../training/prepare.ts';

const normal = (r: () => number) => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());

describe('baseline bins', () => {
  it('cuts numbers at their distinct deciles and bins values by binary search; NaN is missing', () => {
    const values = Float64Array.from({ length: 1000 }, (_, i) => i).sort();
    const edges = decileEdges(values);
    expect(edges).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900]);
    expect(numericBin(edges, -5)).toBe(0);
    expect(numericBin(edges, 100)).toBe(1);
    expect(numericBin(edges, 950)).toBe(9);
    expect(numericBin(edges, Number.NaN)).toBe(MISSING_BIN);
    // A constant column has one bin.
    expect(decileEdges(new Float64Array(50).fill(3))).toEqual([]);
  });

  it('counts the training rows only, with categories from the encoder, unseen and missing apart', () => {
    const numbers = Float64Array.from([1, 2, Number.NaN, 4, 100]);
    const colors = ['red', 'blue', null, 'mauve', 'RED'];
    const baseline = fitFeatureBaseline(
      [
        { name: 'x', kind: 'numeric', values: numbers },
        { name: 'color', kind: 'categorical', values: colors },
      ],
      [
        { name: 'x', kind: 'numeric', impute: 0, mean: 0, std: 1 },
        { name: 'color', kind: 'categorical', categories: ['red', 'blue'], unknown: 'zeros' },
      ],
      [0, 1, 2, 3], // row 4 is validation
    );
    expect(baseline.rows).toBe(4);
    const [x, color] = baseline.features;
    expect(x.missing).toBe(1);
    expect(x.counts.reduce((s, c) => s + c, 0)).toBe(3);
    expect(color).toMatchObject({ categories: ['red', 'blue'], counts: [1, 1, 1], missing: 1 });
    // Serving bins the same way: category case folding as the encoder does it, anything else unseen.
    const bin = featureBinner(color);
    expect(bin.bin(['TRUE', 'red', 'green', null], 1)).toBe(0);
    expect(bin.bin(['TRUE', 'red', 'green', null], 2)).toBe(2);
    expect(bin.bin(['TRUE', 'red', 'green', null], 3)).toBe(MISSING_BIN);
  });

  it('bins a datetime by its instant and by each cyclic part the encoder uses, so a shift in time or in hour of day shows', () => {
    const r = random(11);
    const DAY = 86_400_000;
    // Working-hours events over the first half of 2026; the dates vary in month and weekday, the hours in 8–11.
    const times = (n: number, shiftMs = 0, hour?: number) =>
      Float64Array.from({ length: n }, () => Date.UTC(2026, 0, 1) + Math.floor(r() * 180) * DAY + (hour ?? 8 + Math.floor(r() * 4)) * 3_600_000 + shiftMs);
    const train = times(2000);
    train[0] = Number.NaN;
    const columns = [{ name: 'at', kind: 'datetime' as const, values: train }];
    const rows = Array.from({ length: train.length }, (_, i) => i);
    const { features } = fitFeatureBaseline(columns, fitPreprocessing(columns, rows, 10).features, rows);
    expect(features.map((f) => [histogramKey(f), f.kind === 'datetime' ? f.part : f.kind, f.counts.length])).toEqual([
      ['at', 'time', 10],
      ['at\u0000month', 'month', 12],
      ['at\u0000day_of_week', 'day_of_week', 7],
      ['at\u0000hour', 'hour', 24],
    ]);
    expect(features.every((f) => f.missing === 1)).toBe(true);
    expect(features[3].counts.slice(8, 12).reduce((s, c) => s + c, 0)).toBe(1999);

    const psiOf = (feature: FeatureBaseline, live: Float64Array) => {
      const binner = featureBinner(feature);
      const counts = new Array<number>(feature.counts.length).fill(0);
      for (let i = 0; i < live.length; i++) counts[binner.bin(live, i)]++;
      return psi(feature.counts, counts);
    };
    const same = times(1000);
    expect(features.map((f) => psiOf(f, same)).every((v) => v < 0.1)).toBe(true);
    // A year later (52 weeks: the same weekdays): the instant drifts, the cyclic parts do not.
    const later = times(1000, 364 * DAY);
    expect(features.map((f) => psiOf(f, later) >= 0.2)).toEqual([true, false, false, false]);
    // The same dates at night: only the hour of day drifts.
    const night = times(1000, 0, 22);
    expect(features.map((f) => psiOf(f, night) >= 0.2)).toEqual([false, false, false, true]);
  });

  it('bins predictions by predicted class, or by the deciles of the predicted value', () => {
    const binary = fitPredictionBaseline('binary_classification', ['no', 'yes'], Float32Array.from([0.1, 0.7, 0.9, 0.2]), 1, 4);
    expect(binary).toEqual({ kind: 'label', classes: ['no', 'yes'], counts: [2, 2] });
    const multi = fitPredictionBaseline('multiclass_classification', ['a', 'b', 'c'], Float32Array.from([0.1, 0.2, 0.7, 0.8, 0.1, 0.1]), 3, 2);
    expect(multi.counts).toEqual([1, 0, 1]);
    const values = fitPredictionBaseline('regression', undefined, Float32Array.from({ length: 100 }, (_, i) => i), 1, 100);
    expect(values.kind).toBe('value');
    expect(values.counts.reduce((s, c) => s + c, 0)).toBe(100);
  });
});

describe('PSI', () => {
  it('is zero for the same distribution, small for a sample of it, large for a shift of two standard deviations', () => {
    const r = random(7);
    const train = Float64Array.from({ length: 5000 }, () => normal(r)).sort();
    const edges = decileEdges(train);
    const histogram = (values: number[]) => {
      const counts = new Array<number>(edges.length + 1).fill(0);
      for (const v of values) counts[numericBin(edges, v)]++;
      return counts;
    };
    const expected = histogram([...train]);
    expect(psi(expected, expected)).toBeCloseTo(0, 12);
    const same = psi(expected, histogram(Array.from({ length: 1000 }, () => normal(r))));
    const shifted = psi(expected, histogram(Array.from({ length: 1000 }, () => normal(r) + 2)));
    expect(same).toBeLessThan(0.1);
    expect(shifted).toBeGreaterThan(0.2);
    expect(driftStatus(same, 1000, { warn: 0.1, drift: 0.2 })).toBe('ok');
    expect(driftStatus(shifted, 1000, { warn: 0.1, drift: 0.2 })).toBe('drift');
    expect(driftStatus(0.15, 1000, { warn: 0.1, drift: 0.2 })).toBe('warn');
    expect(driftStatus(0, 0, { warn: 0.1, drift: 0.2 })).toBe('no_data');
  });
});

describe('live quality', () => {
  it('scores ROC AUC as the share of positive-negative pairs ranked right (ties half)', () => {
    const points = [
      { score: 0.9, positive: true },
      { score: 0.8, positive: false },
      { score: 0.7, positive: true },
      { score: 0.5, positive: false },
      { score: 0.5, positive: true },
    ];
    // Pairs (pos, neg): (0.9,0.8)=1 (0.9,0.5)=1 (0.7,0.8)=0 (0.7,0.5)=1 (0.5,0.8)=0 (0.5,0.5)=0.5 → 3.5/6.
    expect(rocAuc(points)).toBeCloseTo(3.5 / 6, 12);
    expect(rocAuc([{ score: 1, positive: true }])).toBeNull();
  });

  it('gives accuracy, F1 and AUC for binary models and RMSE, MAE, R² for regression', () => {
    const binary = liveQuality('binary_classification', ['no', 'yes'], [
      { predicted_label: 'yes', predicted_value: 0.9, label: 'yes' },
      { predicted_label: 'yes', predicted_value: 0.6, label: 'no' },
      { predicted_label: 'no', predicted_value: 0.2, label: 'no' },
      { predicted_label: 'no', predicted_value: 0.4, label: 'yes' },
    ]);
    expect(binary.accuracy).toBe(0.5);
    expect(binary.f1).toBe(0.5); // tp 1, fp 1, fn 1
    expect(binary.roc_auc).toBe(0.75);
    const regression = liveQuality('regression', undefined, [
      { predicted_label: null, predicted_value: 1, label: '2' },
      { predicted_label: null, predicted_value: 3, label: '3' },
      { predicted_label: null, predicted_value: 5, label: '4' },
    ]);
    expect(regression.mae).toBeCloseTo(2 / 3, 12);
    expect(regression.rmse).toBeCloseTo(Math.sqrt(2 / 3), 12);
    expect(regression.r2).toBeCloseTo(1 - 2 / 2, 12);
    expect(liveQuality('binary_classification', ['no', 'yes'], [])).toEqual({});
  });
});

describe('windows and latency', () => {
  it('accepts hours and days up to 90 days and names the field otherwise', () => {
    expect(parseWindow('24h').hours).toBe(24);
    expect(parseWindow('7d').hours).toBe(168);
    for (const bad of ['', '0h', '24', '1w', '91d', '-1h', '1.5h']) {
      expect(() => parseWindow(bad), bad).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED', errors: [expect.objectContaining({ field: 'window' })] }));
    }
  });

  it('reads latency quantiles from the bucket counts', () => {
    const counts = new Array<number>(LATENCY_EDGES_MS.length + 1).fill(0);
    counts[2] = 98; // ≤ 2 ms
    counts[6] = 2; // ≤ 50 ms
    expect(quantile(counts, 0.5)).toBe(2);
    expect(quantile(counts, 0.99)).toBe(50);
    expect(quantile(new Array<number>(3).fill(0), 0.5)).toBeNull();
  });
});

describe('PredictionMonitor', () => {
  let dir: string;
  let metadata: MetadataStore;
  let blobs: FileBlobStore;
  const version: ModelVersionRecord = {
    model: 'm',
    version: 1,
    training_job_id: 'job_1',
    dataset_id: 'ds_1',
    metrics: {},
    signature: { inputs: [], output: { task: 'binary_classification', target: 'y', classes: ['no', 'yes'] } },
    artifacts: [],
    aliases: [],
    blob_prefix: 'models/m/job_1-a1',
    init_from: null,
    created_at: new Date().toISOString(),
  };
  const manifest = { task: 'binary_classification', features: [{ name: 'x', kind: 'numeric' }, { name: 'c', kind: 'categorical' }], target: { kind: 'label', classes: ['no', 'yes'] } };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trainyard-monitor-'));
    metadata = await openMetadataStore(`sqlite:${join(dir, 'db.sqlite')}`);
    await migrateToLatest(metadata);
    blobs = new FileBlobStore(join(dir, 'blobs'));
    const baseline = {
      format_version: 1,
      rows: 10,
      features: [
        { name: 'x', kind: 'numeric', edges: [0], counts: [5, 5], missing: 0 },
        { name: 'c', kind: 'categorical', categories: ['a'], counts: [10, 0], missing: 0 },
      ],
      prediction: { kind: 'label', classes: ['no', 'yes'], counts: [5, 5] },
    };
    await blobs.put(`${version.blob_prefix}/baseline.json`, JSON.stringify(baseline));
  });
  afterEach(async () => {
    await metadata.close();
    await rm(dir, { recursive: true, force: true });
  });

  const batch = (rows: number) => ({
    manifest,
    columns: [Float64Array.from({ length: rows }, (_, i) => (i % 2 ? 1 : Number.NaN)), Array.from({ length: rows }, (_, i) => (i % 3 ? 'a' : 'zz'))],
    rows,
    output: Float32Array.from({ length: rows }, (_, i) => (i % 2 ? 0.8 : 0.3)),
    width: 1,
    latencyMs: 1.5,
  });

  it('logs nothing while monitoring is off', async () => {
    const monitor = new PredictionMonitor({ metadata, blobs, logger: pino({ level: 'silent' }) });
    expect(await monitor.recorder(version, { requestId: 'r1' })).toBeUndefined();
  });

  it('writes JSON Lines parts, records and histogram counts on flush, and feedback joins the records', async () => {
    await putSettings(metadata, 'm', { log_sample_rate: 1, retention_days: 30 });
    const monitor = new PredictionMonitor({ metadata, blobs, logger: pino({ level: 'silent' }) });
    const record = await monitor.recorder(version, { requestId: 'r1' });
    record!(batch(6));
    expect(monitor.backlog).toBe(6);
    await monitor.flush();
    expect(monitor.backlog).toBe(0);
    const parts = await blobs.list('monitoring/m/logs');
    expect(parts).toHaveLength(1);
    expect(predictionLogPartHour(parts[0])).toBe(new Date().toISOString().slice(0, 13));
    const chunks: Buffer[] = [];
    for await (const chunk of await blobs.get(parts[0])) chunks.push(chunk as Buffer);
    const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(6);
    expect(lines[1]).toMatchObject({ model: 'm', version: 1, request_id: 'r1', row: 1, latency_ms: 1.5, inputs: { x: 1, c: 'a' }, output: { label: 'yes' } });
    expect(lines[0]).toMatchObject({ inputs: { x: null, c: 'zz' }, output: { label: 'no', probability: expect.closeTo(0.7, 5) } });

    const counts = await windowBinCounts(metadata, 'm', 1, '2000-01-01T00');
    expect(Object.fromEntries(counts.get('x')!)).toEqual({ [MISSING_BIN]: 3, 1: 3 });
    expect(Object.fromEntries(counts.get('c')!)).toEqual({ 0: 4, 1: 2 });
    expect(Object.fromEntries(counts.get(PREDICTION_FEATURE)!)).toEqual({ 0: 3, 1: 3 });

    expect(await applyFeedback(metadata, 'm', [{ request_id: 'r1', row: 0, label: 'no' }, { request_id: 'nope', row: 0, label: 'no' }])).toEqual({ unknown: [1] });
    const labelled = await metadata.db.selectFrom('prediction_records').select('label').where('label', 'is not', null).execute();
    expect(labelled).toHaveLength(0); // all or nothing
    expect(await applyFeedback(metadata, 'm', [{ request_id: 'r1', row: 5, label: 'yes' }])).toEqual({ unknown: [] });
    await monitor.close();
  });

  it('writes lines that parse back: names that need escaping, datetimes as ISO text, a non-finite number or a missing value as null', async () => {
    await putSettings(metadata, 'm', { log_sample_rate: 1, retention_days: 30 });
    const monitor = new PredictionMonitor({ metadata, blobs, logger: pino({ level: 'silent' }) });
    const record = await monitor.recorder(version, { requestId: 'r"2' });
    const odd = { ...manifest, features: [{ name: 'say "hi"\n', kind: 'numeric' }, { name: 'when', kind: 'datetime' }, { name: 'c', kind: 'categorical' }] };
    const when = Date.parse('2026-03-01T12:00:00.000Z');
    record!({ manifest: odd, columns: [Float64Array.of(1.5, Number.POSITIVE_INFINITY), Float64Array.of(when, Number.NaN), ['a', null]], rows: 2, output: Float32Array.of(0.9, 0.1), width: 1, latencyMs: 2 });
    await monitor.flush();
    const [part] = await blobs.list('monitoring/m/logs');
    const chunks: Buffer[] = [];
    for await (const chunk of await blobs.get(part)) chunks.push(chunk as Buffer);
    const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ request_id: 'r"2', row: 0, inputs: { 'say "hi"\n': 1.5, when: '2026-03-01T12:00:00.000Z', c: 'a' }, output: { label: 'yes' } });
    expect(lines[1]).toMatchObject({ row: 1, inputs: { 'say "hi"\n': null, when: null, c: null } });
    await monitor.close();
  });

  it('writes every number back exactly, and text with any character', async () => {
    await putSettings(metadata, 'm', { log_sample_rate: 1, retention_days: 30 });
    const monitor = new PredictionMonitor({ metadata, blobs, logger: pino({ level: 'silent' }) });
    const record = await monitor.recorder(version, { requestId: 'r3' });
    const numbers = [0.1 + 0.2, -0, -17.25, 1e21, 5e-324, Number.MAX_VALUE, 123456789012345680000, -1e-7];
    const texts = ['plain', 'quote " backslash \\ tab \t', 'line\nbreak \u2028 \u0000', 'ünïcødé 🙂', '', '{"json":true}', '__proto__', 'null'];
    record!({ manifest, columns: [Float64Array.from(numbers), texts], rows: numbers.length, output: Float32Array.from(numbers, (_, i) => i / 8), width: 1, latencyMs: 0.125 });
    await monitor.flush();
    const [part] = await blobs.list('monitoring/m/logs');
    const chunks: Buffer[] = [];
    for await (const chunk of await blobs.get(part)) chunks.push(chunk as Buffer);
    const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { inputs: { x: number; c: string }; latency_ms: number; output: { probability: number } });
    expect(lines.map((l) => l.inputs.x)).toEqual(numbers.map((n) => (Object.is(n, -0) ? 0 : n)));
    expect(lines.map((l) => l.inputs.c)).toEqual(texts);
    expect(lines.every((l) => l.latency_ms === 0.125)).toBe(true);
    expect(lines[2].output.probability).toBe(1 - Math.fround(2 / 8));
    await monitor.close();
  });

  it('writes a flush of many rows whole and in order, and keeps rows logged while it runs for the next one', async () => {
    await putSettings(metadata, 'm', { log_sample_rate: 1, retention_days: 30 });
    const monitor = new PredictionMonitor({ metadata, blobs, logger: pino({ level: 'silent' }) }, { flushMs: 60_000, maxQueuedRows: 50_000, settingsTtlMs: 5000 });
    const record = await monitor.recorder(version, { requestId: 'r4' });
    for (let start = 0; start < 3000; start += 100) record!({ ...batch(100), firstRow: start });
    const flushing = monitor.flush();
    record!({ ...batch(5), firstRow: 3000 }); // arrives while the first flush is writing
    await flushing;
    await monitor.close();
    const parts = (await blobs.list('monitoring/m/logs')).sort();
    expect(parts).toHaveLength(2);
    const rowsOf = async (key: string) => {
      const chunks: Buffer[] = [];
      for await (const chunk of await blobs.get(key)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8').trimEnd().split('\n').map((l) => (JSON.parse(l) as { row: number }).row);
    };
    const firstRows = await rowsOf(parts.find((p) => p.endsWith('-0.jsonl'))!);
    expect(firstRows).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(await rowsOf(parts.find((p) => p.endsWith('-1.jsonl'))!)).toEqual([3000, 3001, 3002, 3003, 3004]);
    expect(await metadata.db.selectFrom('prediction_records').select('row_index').execute()).toHaveLength(3005);
  });

  it('drops and counts rows beyond its buffer instead of waiting', async () => {
    await putSettings(metadata, 'm', { log_sample_rate: 1, retention_days: 30 });
    const monitor = new PredictionMonitor({ metadata, blobs, logger: pino({ level: 'silent' }) }, { flushMs: 60_000, maxQueuedRows: 10, settingsTtlMs: 5000 });
    const record = await monitor.recorder(version, { requestId: 'r2' });
    record!(batch(25));
    expect(monitor.counters).toMatchObject({ logged: 10, dropped: 15 });
    await monitor.close();
    expect(await metadata.db.selectFrom('prediction_records').select('row_index').execute()).toHaveLength(10);
  });

  it('samples by the rate', async () => {
    await putSettings(metadata, 'm', { log_sample_rate: 0.25, retention_days: 30 });
    const monitor = new PredictionMonitor({ metadata, blobs, logger: pino({ level: 'silent' }) });
    const record = await monitor.recorder(version, { requestId: 'r3' });
    record!(batch(4000));
    expect(monitor.counters.logged).toBeGreaterThan(850);
    expect(monitor.counters.logged).toBeLessThan(1150);
    await monitor.close();
  });
});
