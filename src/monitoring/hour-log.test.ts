import { describe, expect, it } from 'vitest';
import { HourLog, type LogManifest } from './hour-log.ts';

const noBinners = { features: new Map(), prediction: null };
const parse = (text: string) => text.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);

describe('HourLog', () => {
  it('keeps every row as it grows past its first buffers, and formats any range of them as lines and records', () => {
    const manifest: LogManifest = { task: 'multiclass_classification', features: [{ name: 'x', kind: 'numeric' }, { name: 'c', kind: 'categorical' }, { name: 'at', kind: 'datetime' }], target: { kind: 'label', classes: ['a', 'b', 'c'] } };
    const log = new HourLog('m', 2, '2026-12-04T10', manifest, noBinners);
    const rows = 1000;
    const time = Date.parse('2026-12-04T10:11:12.345Z');
    // Requests of 7 rows each; the winning class cycles; every 5th input missing.
    for (let start = 0; start < rows; start += 7) {
      const n = Math.min(7, rows - start);
      const output = new Float32Array(n * 3);
      for (let i = 0; i < n; i++) output[i * 3 + ((start + i) % 3)] = 0.5 + ((start + i) % 10) / 40;
      const x = Float64Array.from({ length: n }, (_, i) => ((start + i) % 5 === 0 ? Number.NaN : (start + i) * 1.5));
      const c = Array.from({ length: n }, (_, i) => ((start + i) % 5 === 0 ? null : `k${start + i}`));
      const at = Float64Array.from({ length: n }, (_, i) => time + (start + i) * 1000);
      for (let i = 0; i < n; i++) log.add({ time: time + start, requestId: `req-${start}`, firstRow: 0, latencyMs: 1.25, columns: [x, c, at], output, width: 3, threshold: 0.5 }, i);
    }
    expect(log.length).toBe(rows);
    const lines = [...parse(log.lines(0, 300)), ...parse(log.lines(300, rows))];
    const records = [...log.records(0, 512), ...log.records(512, rows)];
    expect(lines).toHaveLength(rows);
    expect(records).toHaveLength(rows);
    for (let k = 0; k < rows; k++) {
      const start = k - (k % 7);
      const missing = k % 5 === 0;
      const probability = Math.fround(0.5 + (k % 10) / 40);
      expect(lines[k]).toEqual({
        time: new Date(time + start).toISOString(),
        model: 'm',
        version: 2,
        request_id: `req-${start}`,
        row: k % 7,
        latency_ms: 1.25,
        inputs: { x: missing ? null : k * 1.5, c: missing ? null : `k${k}`, at: new Date(time + k * 1000).toISOString() },
        output: { label: ['a', 'b', 'c'][k % 3], probability },
      });
      expect(records[k]).toEqual({ model_name: 'm', request_id: `req-${start}`, row_index: k % 7, version: 2, logged_at: new Date(time + start).toISOString(), predicted_label: ['a', 'b', 'c'][k % 3], predicted_value: probability });
    }
  });

  it("labels a binary classifier's rows by the request's threshold, and logs a regression's value", () => {
    const binary = new HourLog('m', 1, 'h', { task: 'binary_classification', features: [], target: { kind: 'label', classes: ['no', 'yes'] } }, noBinners);
    const output = Float32Array.of(0.6, 0.9);
    for (let i = 0; i < 2; i++) binary.add({ time: 0, requestId: 'r', firstRow: 10, latencyMs: 1, columns: [], output, width: 1, threshold: 0.7 }, i);
    const [first, second] = parse(binary.lines(0, 2));
    expect(first).toMatchObject({ row: 10, inputs: {}, output: { label: 'no', probability: 1 - Math.fround(0.6) } });
    expect(second).toMatchObject({ row: 11, output: { label: 'yes', probability: Math.fround(0.9) } });
    expect(binary.records(0, 2).map((r) => [r.predicted_label, r.predicted_value])).toEqual([['no', Math.fround(0.6)], ['yes', Math.fround(0.9)]]);

    const regression = new HourLog('r', 1, 'h', { task: 'regression', features: [{ name: 'x', kind: 'numeric' }], target: { kind: 'number' } }, noBinners);
    regression.add({ time: 0, requestId: 'r', firstRow: 0, latencyMs: 1, columns: [Float64Array.of(3)], output: Float32Array.of(-2.5), width: 1, threshold: 0.5 }, 0);
    expect(parse(regression.lines(0, 1))[0]).toMatchObject({ inputs: { x: 3 }, output: { value: -2.5 } });
    expect(regression.records(0, 1)[0]).toMatchObject({ predicted_label: null, predicted_value: -2.5 });
  });
});
