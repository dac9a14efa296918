import { describe, expect, it } from 'vitest';
import { parseJsonRows } from './json-rows.ts';
import { columnsFromJson, columnsFromRows } from './inputs.ts';
import { formatPredictions, predictionsJson } from './predictions.ts';
import type { ServedManifest } from '../models/manifest.ts';
import type { FeatureEncoding } from '../models/preprocessing.ts';
import { TrainyardError } from '../errors.ts';

const rowsOf = (text: string) => {
  const rows = parseJsonRows(Buffer.from(text));
  return rows && rows.rows();
};

let seed = 99;
const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);

describe('parseJsonRows', () => {
  it('reads {"inputs": [rows]} to the same values JSON.parse gives (numbers bit for bit), in any layout', () => {
    const values = [0, -0, 1, -1, 0.1, 17.99, -2.5e-7, 1e21, 1.7976931348623157e308, 5e-324, 123456789012345680000, 0.30000000000000004, 'NA', '', 'größe', null, true, false];
    const inputs = Array.from({ length: 300 }, (_, r) => {
      const row: Record<string, unknown> = {};
      for (let k = 0; k < 6; k++) row[`c${(k + r) % 7}`] = random() < 0.5 ? values[Math.floor(random() * values.length)] : (random() - 0.5) * 10 ** Math.floor(random() * 40 - 20);
      return row;
    });
    for (const text of [JSON.stringify({ inputs }), JSON.stringify({ inputs }, null, 2), `\r\n\t { "inputs" :[ ${inputs.map((r) => JSON.stringify(r)).join(' ,\n')} ] } \n`]) {
      const read = rowsOf(text);
      expect(read).toBeDefined();
      const expected = (JSON.parse(text) as { inputs: Array<Record<string, unknown>> }).inputs;
      expect(read!.length).toBe(expected.length);
      read!.forEach((row, i) => {
        expect(Object.keys(row).sort()).toEqual(Object.keys(expected[i]).sort());
        for (const [key, value] of Object.entries(expected[i])) expect(Object.is(row[key], value), `${i} ${key}: ${String(row[key])} vs ${String(value)}`).toBe(true);
      });
    }
    // Number forms: exponents, long mantissas, escapes in string values.
    const forms = ['1E+2', '-0.0', '2e-400', '1e400', '0.1000000000000000055511151231257827', '9007199254740993', '1.5e22', '4.35e-23', '-12.5E-3'];
    const text = `{"inputs":[{${forms.map((f, i) => `"n${i}":${f}`).join(',')},"s":"a\\u00e9\\n\\"b\\""}]}`;
    const [row] = rowsOf(text)!;
    const [expected] = (JSON.parse(text) as { inputs: Array<Record<string, unknown>> }).inputs;
    for (const key of Object.keys(expected)) expect(Object.is(row[key], expected[key]), key).toBe(true);
    expect(rowsOf('{"inputs":[]}')).toEqual([]);
    expect(rowsOf('{"inputs":[{}, {"a":1}]}')).toEqual([{}, { a: 1 }]);
  });

  it('leaves every other body to the general parser (undefined)', () => {
    for (const text of [
      '',
      '[]',
      '"inputs"',
      '{}',
      '{"inputs":[],"other":1}',
      '{"other":1,"inputs":[]}',
      '{"inputs":{}}',
      '{"inputs":[1]}',
      '{"inputs":[null]}',
      '{"inputs":[{"a":[1]}]}',
      '{"inputs":[{"a":{"b":1}}]}',
      '{"inputs":[{"a":1,"a":2}]}',
      '{"inputs":[{"__proto__":1}]}',
      '{"inputs":[{"a\\u0062":1}]}',
      '{"inputs":[{"a":01}]}',
      '{"inputs":[{"a":1.}]}',
      '{"inputs":[{"a":-}]}',
      '{"inputs":[{"a":"x\u0001"}]}',
      '{"inputs":[{"a":"\\x"}]}',
      '{"inputs":[{"a":1},]}',
      '{"inputs":[{"a":1}] } x',
      '\ufeff{"inputs":[]}',
      '{"inputs":[{"a":nul}]}',
      '{"inputs":[{"a":1}',
    ]) {
      expect(parseJsonRows(Buffer.from(text)), text).toBeUndefined();
    }
  });
});

describe('columnsFromRows', () => {
  const features: FeatureEncoding[] = [
    { name: 'x', kind: 'numeric', impute: 0, mean: 0, std: 1 },
    { name: 'colour', kind: 'categorical', categories: ['red'], unknown: 'zeros' },
  ];

  it('gives the columns columnsFromJson gives', () => {
    const inputs = [
      { x: 1.5, colour: 'red' },
      { x: '2.5', colour: 3 },
      { x: null, colour: null },
      { x: 'NA', colour: true, extra: 'ignored' },
    ];
    const rows = parseJsonRows(Buffer.from(JSON.stringify({ inputs })))!;
    expect(columnsFromRows(rows, features)).toEqual(columnsFromJson(inputs, features));
  });

  it('reports problems exactly as columnsFromJson does (row and column named)', () => {
    const inputs = [{ x: 'large', colour: 'red' }, { colour: 'blue' }, { x: true, colour: 'red' }];
    const rows = parseJsonRows(Buffer.from(JSON.stringify({ inputs })))!;
    const error = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as TrainyardError;
      }
      throw new Error('no error');
    };
    const fast = error(() => columnsFromRows(rows, features));
    const general = error(() => columnsFromJson(inputs, features));
    expect(fast.message).toBe(general.message);
    expect(fast.errors).toEqual(general.errors);
    expect(fast.errors.map((e) => [e.row, e.field])).toEqual([
      [0, 'x'],
      [1, 'x'],
      [2, 'x'],
    ]);
  });
});

describe('predictionsJson', () => {
  const manifest = (task: ServedManifest['task'], target: ServedManifest['target']): ServedManifest => ({
    task,
    target,
    features: [],
    input: { name: 'features', dtype: 'float32', shape: [null, 1], encoding: '' },
    output: { name: 'output', dtype: 'float32', description: '' },
  });
  const outputs = (n: number) => new Float32Array(Array.from({ length: n }, (_, i) => (i === 3 ? NaN : random())));

  it('is byte for byte JSON.stringify of formatPredictions: binary, multiclass (odd class names), regression', () => {
    const cases: Array<[ServedManifest, number]> = [
      [manifest('binary_classification', { name: 'y', kind: 'label', classes: ['0', '1'] }), 1],
      [manifest('binary_classification', { name: 'y', kind: 'label', classes: ['no', 'yes "really"'] }), 1],
      [manifest('multiclass_classification', { name: 'y', kind: 'label', classes: ['b', '10', 'a\nb', '2', 'ü'] }), 5],
      [manifest('regression', { name: 'y', kind: 'numeric', mean: 0, std: 1 }), 1],
    ];
    for (const [m, width] of cases) {
      const output = outputs(20 * width);
      for (const threshold of [0, 0.3, 1]) {
        expect(predictionsJson(m, output, width, 20, threshold)).toBe(JSON.stringify(formatPredictions(m, output, width, 20, threshold)));
      }
    }
  });
});
