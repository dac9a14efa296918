import { describe, expect, it } from 'vitest';
import { readCsvBatches } from '../datasets/csv/reader.ts';
import type { ServedManifest } from '../models/manifest.ts';
import { PredictionsCsvWriter, writeFloat32 } from './predictions-csv.ts';

const text = (value: number): string => {
  const buffer = Buffer.alloc(32);
  return buffer.toString('latin1', 0, writeFloat32(buffer, 0, value));
};

/** The reference: the fewest significant digits whose correctly rounded text reads back as the float32. */
function shortest(value: number): string {
  for (let p = 1; p <= 9; p++) {
    const candidate = value.toPrecision(p);
    if (Math.fround(Number(candidate)) === value) return String(Number(candidate));
  }
  throw new Error(`no round trip for ${value}`);
}

function manifest(task: ServedManifest['task'], target: ServedManifest['target']): ServedManifest {
  return { task, target, features: [], input: { name: 'features', dtype: 'float32', shape: [null, 1], encoding: '' }, output: { name: 'output', dtype: 'float32', description: '' } };
}

async function readBack(csv: PredictionsCsvWriter, batches: Array<{ output: Float32Array; width: number; rows: number; firstRow: number }>) {
  const chunks = [csv.header(), ...batches.map((b) => csv.lines(b.output, b.width, b.rows, b.firstRow))];
  const bytes = Buffer.concat(chunks);
  const header = bytes.toString('utf8', 0, bytes.indexOf(0x0a));
  const rows: string[][] = [];
  // The header's names (quoted ones unquoted), so the dataset reader can read every column back.
  const columns = header.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/).map((h) => (h.startsWith('"') ? h.slice(1, -1).replaceAll('""', '"') : h));
  for await (const batch of readCsvBatches([bytes], { columns: columns.map((name) => ({ name, as: 'string' as const })) })) {
    for (let r = 0; r < batch.length; r++) rows.push(batch.columns.map((c) => (c as (string | null)[])[r] ?? ''));
  }
  return { header, columns, rows, bytes: bytes.toString('utf8') };
}

describe('float32 formatting', () => {
  it('prints the shortest text that reads back to the same float32, in JavaScript number notation', () => {
    expect(text(0.5)).toBe('0.5');
    expect(text(Math.fround(0.1))).toBe('0.1');
    expect(text(Math.fround(0.98765432))).toBe('0.9876543');
    expect(text(Math.fround(1 / 3))).toBe('0.33333334');
    expect(text(Math.fround(-2.5e-7))).toBe('-2.5e-7');
    expect(text(Math.fround(1.5e-6))).toBe('0.0000015');
    expect(text(Math.fround(123456.79))).toBe('123456.79');
    expect(text(Math.fround(3e21))).toBe('3e+21');
    expect(text(16777216)).toBe('16777216');
    expect(text(0)).toBe('0');
    expect(text(-0)).toBe('0');
    expect([NaN, Infinity, -Infinity].map(text)).toEqual(['NaN', 'Infinity', '-Infinity']);
    expect(text(Math.fround(1.4e-45))).toBe('1e-45'); // the smallest subnormal
    expect(text(Math.fround(3.4028235e38))).toBe('3.4028235e+38');
  });

  it('round-trips every float32 exactly and is never longer than the shortest such text (random bit patterns and probabilities)', () => {
    const bits = new Uint32Array(1);
    const f32 = new Float32Array(bits.buffer);
    let seed = 12345;
    const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
    const wrong: string[] = [];
    for (let i = 0; i < 200_000; i++) {
      bits[0] = (random() * 2 ** 32) >>> 0;
      const value = i % 2 ? f32[0] : Math.fround(random() ** 4);
      if (Number.isNaN(value)) continue;
      const printed = text(value);
      if (Math.fround(Number(printed)) !== value || printed !== shortest(value)) wrong.push(`${value} → ${printed}`);
    }
    expect(wrong.slice(0, 10)).toEqual([]);
  });
});

describe('the predictions CSV', () => {
  it('binary: row, label, probability of the label, p_<class>…, with the threshold deciding the label', async () => {
    const csv = new PredictionsCsvWriter(manifest('binary_classification', { name: 'y', kind: 'label', classes: ['no', 'yes'] }), 0.3);
    const output = new Float32Array([0.25, 0.75, 0.3]);
    const { header, rows } = await readBack(csv, [{ output, width: 1, rows: 3, firstRow: 0 }]);
    expect(header).toBe('row,label,probability,p_no,p_yes');
    expect(rows).toEqual([
      ['1', 'no', '0.75', '0.75', '0.25'],
      ['2', 'yes', '0.75', '0.25', '0.75'],
      ['3', 'yes', '0.3', '0.7', '0.3'],
    ]);
  });

  it('multiclass: labels that need quoting are quoted (RFC 4180), in the header and the rows; rows count on across batches', async () => {
    const classes = ['setosa', 'a,b', 'say "hi"'];
    const csv = new PredictionsCsvWriter(manifest('multiclass_classification', { name: 'y', kind: 'label', classes }), 0.5);
    const first = new Float32Array([0.1, 0.7, 0.2, 0.8, 0.1, 0.1]);
    const second = new Float32Array([0.2, 0.2, 0.6]);
    const { header, columns, rows } = await readBack(csv, [
      { output: first, width: 3, rows: 2, firstRow: 0 },
      { output: second, width: 3, rows: 1, firstRow: 2 },
    ]);
    expect(header).toBe('row,label,probability,p_setosa,"p_a,b","p_say ""hi"""');
    expect(columns).toEqual(['row', 'label', 'probability', 'p_setosa', 'p_a,b', 'p_say "hi"']);
    expect(rows).toEqual([
      ['1', 'a,b', '0.7', '0.1', '0.7', '0.2'],
      ['2', 'setosa', '0.8', '0.8', '0.1', '0.1'],
      ['3', 'say "hi"', '0.6', '0.2', '0.2', '0.6'],
    ]);
  });

  it('regression: row,value with each value read back to the same float32, NaN kept as NaN', async () => {
    const csv = new PredictionsCsvWriter(manifest('regression', { name: 'price', kind: 'numeric', mean: 0, std: 1 }), 0.5);
    const output = new Float32Array([1234.5677, -0.001, 1e-9, NaN, 123456789]);
    const { header, rows, bytes } = await readBack(csv, [{ output, width: 1, rows: 5, firstRow: 999_999 }]);
    expect(header).toBe('row,value');
    expect(rows.map((r) => r[0])).toEqual(['1000000', '1000001', '1000002', '1000003', '1000004']);
    expect(rows.map((r) => r[1])).toEqual(['1234.5677', '-0.001', '1e-9', '', '123456790']);
    expect(bytes).toContain('1000003,NaN\n');
    rows.forEach((r, i) => {
      if (!Number.isNaN(output[i])) expect(Math.fround(Number(r[1]))).toBe(output[i]);
    });
  });
});
