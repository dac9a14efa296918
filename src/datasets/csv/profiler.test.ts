import { describe, expect, it } from 'vitest';
import { TrainyardError } from '../../errors.ts';
import { CsvProfiler } from './profiler.ts';
import { DistinctCounter } from './distinct.ts';

function profile(text: string, chunkSize = 7) {
  const profiler = new CsvProfiler();
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += chunkSize) profiler.feed(bytes.subarray(at, at + chunkSize));
  return profiler.finish();
}

describe('CsvProfiler', () => {
  it('infers types and computes statistics in one pass', () => {
    const result = profile('i,f,b,s,m,e\n1,1.5,true,x,NA,\n2,2.5,FALSE,y,,\n3,NaN,True,"x",null,\n4,-1e1,false,7,N/A,\n');
    expect(result.row_count).toBe(4);
    expect(result.delimiter).toBe(',');
    const [i, f, b, s, m, e] = result.columns;
    expect(i).toMatchObject({ name: 'i', type: 'integer', missing_count: 0, distinct_count: 4, min: 1, max: 4, mean: 2.5 });
    expect(i.std).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(f).toMatchObject({ type: 'number', missing_count: 1, distinct_count: 3, min: -10, max: 2.5 });
    expect(f.mean).toBeCloseTo((1.5 + 2.5 - 10) / 3, 12);
    expect(b).toMatchObject({ type: 'boolean', missing_count: 0, distinct_count: 2, min: null, max: null, mean: null, std: null });
    expect(s).toMatchObject({ type: 'string', distinct_count: 3, min: null, mean: null });
    expect(m).toMatchObject({ type: 'string', missing_count: 4, distinct_count: 0 });
    expect(e).toMatchObject({ type: 'string', missing_count: 4 });
  });

  it('parses numbers correctly when the delimiter is - or .', () => {
    const minus = new CsvProfiler({ delimiter: '-' });
    minus.feed(Buffer.from('a-b\n1-2.5\n3-4\n'));
    expect(minus.finish().columns.map((c) => [c.type, c.mean])).toEqual([
      ['integer', 2],
      ['number', 3.25],
    ]);
    const dot = new CsvProfiler({ delimiter: '.' });
    dot.feed(Buffer.from('a.b\n1.5\n-3.7\n'));
    expect(dot.finish().columns.map((c) => [c.type, c.min, c.max])).toEqual([
      ['integer', -3, 1],
      ['integer', 5, 7],
    ]);
  });

  it('treats a mix of numbers and booleans, or numbers then text, as string', () => {
    const result = profile('a,b\n1,1\ntrue,2\n0,x\n');
    expect(result.columns.map((c) => c.type)).toEqual(['string', 'string']);
    expect(result.columns[1].mean).toBeNull();
  });

  it('counts numbers by value and std is null for a single value', () => {
    const result = profile('x\n1\n1.0\n1e0\n');
    expect(result.columns[0]).toMatchObject({ type: 'number', distinct_count: 1, std: 0 });
    expect(profile('x\n5\n').columns[0].std).toBeNull();
  });

  it('matches a direct computation on a larger file', () => {
    let text = 'a,b\n';
    const values: number[] = [];
    for (let k = 0; k < 20_000; k++) {
      const v = ((k * 7919) % 1000) / 8 - 40;
      values.push(v);
      text += `${v},${k % 13 === 0 ? 'NA' : `cat${k % 50}`}\n`;
    }
    const result = profile(text, 4096);
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1);
    expect(result.columns[0].mean).toBeCloseTo(mean, 9);
    expect(result.columns[0].std).toBeCloseTo(Math.sqrt(variance), 9);
    expect(result.columns[0].distinct_count).toBe(new Set(values).size);
    expect(result.columns[1]).toMatchObject({ type: 'string', distinct_count: 50, missing_count: Math.ceil(20_000 / 13), distinct_exact: true });
  });

  it('rejects duplicate and empty column names, naming them', () => {
    try {
      profile('a,b,a,,c\n1,2,3,4,5\n');
      throw new Error('no error');
    } catch (error) {
      expect(error).toBeInstanceOf(TrainyardError);
      const e = error as TrainyardError;
      expect(e.code).toBe('CSV_BAD_HEADER');
      expect(e.errors).toEqual([
        { field: 'a', line: 1, message: 'duplicate column name (also column 1)' },
        { field: 'column 4', line: 1, message: 'column name is empty' },
      ]);
    }
  });
});

describe('DistinctCounter', () => {
  it('is exact up to the bound, then estimates within a few percent', () => {
    const counter = new DistinctCounter(1000);
    for (let k = 0; k < 1000; k++) counter.addNumber(k);
    for (let k = 0; k < 1000; k++) counter.addNumber(k);
    expect(counter.count()).toBe(1000);
    expect(counter.exact).toBe(true);
    for (let k = 0; k < 200_000; k++) counter.addNumber(k * 0.25);
    expect(counter.exact).toBe(false);
    expect(Math.abs(counter.count() - 200_000) / 200_000).toBeLessThan(0.03);
    const text = new DistinctCounter(100);
    for (let k = 0; k < 50_000; k++) {
      const b = Buffer.from(`value-${k % 30_000}`);
      text.addBytes(b, 0, b.length);
    }
    expect(Math.abs(text.count() - 30_000) / 30_000).toBeLessThan(0.03);
  });

  it('addNumbers counts exactly like addNumber, through the switch to the sketch', () => {
    const one = new DistinctCounter(500);
    const many = new DistinctCounter(500);
    const values = Float64Array.from({ length: 20_000 }, (_, k) => (k % 9000) * 0.5 - 1000 + (k % 3 === 0 ? -0 : 0));
    for (const v of values) one.addNumber(v);
    for (let at = 0; at < values.length; at += 1234) {
      const block = values.slice(at, at + 1234);
      many.addNumbers(block, block.length);
    }
    expect(many.count()).toBe(one.count());
    expect(many.exact).toBe(false);
  });

  it('counts 0 and -0 as one value', () => {
    const counter = new DistinctCounter(10);
    counter.addNumber(0);
    counter.addNumber(-0);
    counter.addNumber(1);
    expect(counter.count()).toBe(2);
  });
});
