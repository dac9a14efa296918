import { describe, expect, it } from 'vitest';
import { createEncoder, fitPreprocessing, normalizationVectors, sortLabels, type FeatureColumn, type RawColumn } from './preprocessing.ts';

const numbers = (...values: number[]) => Float64Array.from(values);

describe('fitPreprocessing', () => {
  it('learns means, standard deviations and the imputation value from the training rows only', () => {
    const columns: FeatureColumn[] = [{ name: 'x', kind: 'numeric', values: numbers(1, 3, NaN, 1000) }];
    const pre = fitPreprocessing(columns, [0, 1, 2], 10);
    expect(pre.features[0]).toEqual({ name: 'x', kind: 'numeric', impute: 2, mean: 2, std: 1 });
  });

  it('keeps a constant column finite (std 1) instead of dividing by zero', () => {
    const pre = fitPreprocessing([{ name: 'c', kind: 'numeric', values: numbers(5, 5, 5) }], [0, 1, 2], 10);
    expect(pre.features[0]).toMatchObject({ mean: 5, std: 1 });
    const empty = fitPreprocessing([{ name: 'e', kind: 'numeric', values: numbers(NaN, NaN) }], [0, 1], 10);
    expect(empty.features[0]).toMatchObject({ impute: 0, mean: 0, std: 1 });
  });

  it('caps the one-hot vocabulary at the most frequent training values, ties by name', () => {
    const values = ['b', 'a', 'c', 'a', 'b', 'd', null, 'TRUE', 'true'];
    const pre = fitPreprocessing([{ name: 'k', kind: 'categorical', values }], values.map((_, i) => i), 3);
    expect(pre.features[0]).toEqual({ name: 'k', kind: 'categorical', categories: ['a', 'b', 'true'], unknown: 'zeros' });
    expect(pre.width).toBe(3);
  });
});

describe('createEncoder', () => {
  const columns: FeatureColumn[] = [
    { name: 'x', kind: 'numeric', values: numbers(1, 3, NaN) },
    { name: 'k', kind: 'categorical', values: ['red', 'blue', null] },
  ];
  const pre = fitPreprocessing(columns, [0, 1], 10);

  it('imputes missing numbers and one-hot encodes categories, unseen and missing ones as zeros', () => {
    const encoder = createEncoder(pre);
    const out = new Float32Array(4 * encoder.width);
    encoder.encode(
      [numbers(1, NaN, 7, 2), ['red', 'blue', 'purple', null]],
      0,
      4,
      out,
    );
    // categories sorted by count then name: blue, red
    expect(Array.from(out)).toEqual([1, 0, 1, 2, 1, 0, 7, 0, 0, 2, 0, 0]);
  });

  it('encodes listed rows (in list order) and ranges at an output offset the same as row by row', () => {
    const encoder = createEncoder(pre);
    const raw: RawColumn[] = [numbers(1, NaN, 7, 2), ['red', 'blue', 'purple', null]];
    const expected = (row: number) => {
      const one = new Float32Array(encoder.width);
      encoder.encode(raw, row, row + 1, one);
      return Array.from(one);
    };
    const gathered = new Float32Array(3 * encoder.width).fill(9);
    encoder.encodeRows(raw, Int32Array.from([3, 0, 2]), gathered);
    expect(Array.from(gathered)).toEqual([...expected(3), ...expected(0), ...expected(2)]);
    const shifted = new Float32Array(4 * encoder.width).fill(9);
    encoder.encode(raw, 1, 3, shifted, 2);
    expect(Array.from(shifted)).toEqual([9, 9, 9, 9, 9, 9, ...expected(1), ...expected(2)]);
  });

  it('passes one-hot inputs through the folded normalisation unchanged', () => {
    expect(normalizationVectors(pre)).toEqual({ mean: [2, 0, 0], std: [1, 1, 1] });
  });
});

describe('sortLabels', () => {
  it('sorts numeric labels as numbers and others as text', () => {
    expect(sortLabels(['10', '2', '1'])).toEqual(['1', '2', '10']);
    expect(sortLabels(['b', 'a'])).toEqual(['a', 'b']);
  });
});

describe('datetime features', () => {
  const day = 86_400_000;
  const t = (iso: string) => Date.parse(iso);

  it('encode days since 1970 and sin/cos of the parts that vary in training, fitted on the training rows', () => {
    // Training rows: two months, one weekday (both Mondays), midnight only → month varies, day of week and hour do not.
    const values = Float64Array.from([t('2024-01-01T00:00Z'), t('2024-04-01T00:00Z'), NaN, t('2024-07-03T18:00Z')]);
    const pre = fitPreprocessing([{ name: 'when', kind: 'datetime', values }], [0, 1, 2], 10);
    const mean = (t('2024-01-01T00:00Z') + t('2024-04-01T00:00Z')) / 2 / day;
    expect(pre.features[0]).toEqual({ name: 'when', kind: 'datetime', impute: mean, mean, std: 45.5, cycles: ['month'] });
    expect(pre.width).toBe(3);
    expect(normalizationVectors(pre)).toEqual({ mean: [mean, 0, 0], std: [45.5, 1, 1] });

    const encoder = createEncoder(pre);
    const out = new Float32Array(3 * encoder.width);
    encoder.encode([values], 1, 4, out);
    const april = (2 * Math.PI * 3) / 12;
    const july = (2 * Math.PI * 6) / 12;
    expect(Array.from(out)).toEqual(
      Array.from(Float32Array.from([t('2024-04-01T00:00Z') / day, Math.sin(april), Math.cos(april), mean, 0, 0, t('2024-07-03T18:00Z') / day, Math.sin(july), Math.cos(july)])),
    );
  });

  it('keeps every cycle that varies', () => {
    const values = Float64Array.from([t('2024-01-01T00:00Z'), t('2024-02-07T13:30Z')]);
    const pre = fitPreprocessing([{ name: 'when', kind: 'datetime', values }], [0, 1], 10);
    expect(pre.features[0]).toMatchObject({ cycles: ['month', 'day_of_week', 'hour'] });
    expect(pre.width).toBe(7);
  });
});
