import { describe, expect, it } from 'vitest';
import { TrainyardError } from '../../errors.ts';
import { readCsvBatches, readCsvHeader, readCsvRows, type CsvBatch } from './reader.ts';

function chunks(text: string, size = 5): Buffer[] {
  const bytes = Buffer.from(text);
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, at + size));
  return out;
}

async function* asyncChunks(text: string, size = 5): AsyncIterable<Buffer> {
  for (const chunk of chunks(text, size)) yield chunk;
}

async function all(iterable: AsyncIterable<CsvBatch>): Promise<CsvBatch[]> {
  const out: CsvBatch[] = [];
  for await (const batch of iterable) out.push(batch);
  return out;
}

async function rejection(promise: Promise<unknown>): Promise<TrainyardError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TrainyardError);
    return error as TrainyardError;
  }
  throw new Error('expected a rejection');
}

describe('readCsvBatches', () => {
  const text = 'x,label,y,flag\n1,a,2.5,true\n2,"b,c",NA,false\n,NA,3,\n4,d,5,TRUE\n5,e,6,false\n';

  it('reads requested columns in order, in batches, with NaN and null for missing', async () => {
    const batches = await all(
      readCsvBatches(asyncChunks(text), {
        columns: [
          { name: 'y', as: 'number' },
          { name: 'label', as: 'string' },
          { name: 'x', as: 'number' },
          { name: 'flag', as: 'number' },
        ],
        batchRows: 2,
      }),
    );
    expect(batches.map((b) => [b.firstRow, b.length])).toEqual([
      [0, 2],
      [2, 2],
      [4, 1],
    ]);
    expect(Array.from(batches[0].columns[0] as Float64Array)).toEqual([2.5, NaN]);
    expect(batches[0].columns[1]).toEqual(['a', 'b,c']);
    expect(batches[1].columns[1]).toEqual([null, 'd']);
    expect(Array.from(batches[1].columns[2] as Float64Array)).toEqual([NaN, 4]);
    expect(Array.from(batches[1].columns[3] as Float64Array)).toEqual([NaN, 1]);
    expect(batches[2].columns[0]).toBeInstanceOf(Float64Array);
    expect(Array.from(batches[2].columns[0] as Float64Array)).toEqual([6]);
  });

  it('works from a sync iterable with an explicit delimiter', async () => {
    const batches = await all(readCsvBatches(chunks('a;b\n1;x\n'), { delimiter: ';', columns: [{ name: 'a', as: 'number' }] }));
    expect(Array.from(batches[0].columns[0] as Float64Array)).toEqual([1]);
  });

  it('names missing columns', async () => {
    const error = await rejection(all(readCsvBatches(asyncChunks(text), { columns: [{ name: 'nope', as: 'number' }, { name: 'x', as: 'number' }, { name: 'z', as: 'string' }] })));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.errors).toEqual([
      { field: 'nope', message: 'column is missing' },
      { field: 'z', message: 'column is missing' },
    ]);
  });

  it('names the column, row and line of a non-number', async () => {
    const error = await rejection(all(readCsvBatches(asyncChunks('a,b\n1,2\n"multi\nline",3\n4,oops\n'), { columns: [{ name: 'b', as: 'number' }] })));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.errors).toEqual([{ field: 'b', row: 3, line: 5, message: '"oops" is not a number' }]);
  });

  it('yields nothing for a header-only file', async () => {
    expect(await all(readCsvBatches(asyncChunks('a,b\n'), { columns: [{ name: 'a', as: 'number' }] }))).toEqual([]);
  });
});

describe('readCsvHeader and readCsvRows', () => {
  it('reads the header and sniffs the delimiter', async () => {
    expect(await readCsvHeader(asyncChunks('\uFEFFa|b|c\n1|2|3\n'))).toEqual({ columns: ['a', 'b', 'c'], delimiter: '|' });
  });

  it('reads typed rows up to a limit', async () => {
    const result = await readCsvRows(asyncChunks('n,s,b,i\n1.5,x,true,3\nNA,"y ""z""",false,\n3,w,true,5\n'), { limit: 2, types: ['number', 'string', 'boolean', 'integer'] });
    expect(result).toEqual({
      columns: ['n', 's', 'b', 'i'],
      rows: [
        [1.5, 'x', true, 3],
        [null, 'y "z"', false, null],
      ],
    });
  });
});
