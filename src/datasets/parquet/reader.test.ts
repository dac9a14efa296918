import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openParquet, readParquetBatches } from './reader.ts';

describe('Parquet reader', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trainyard-parquet-reader-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads column chunks that span many pages, required or optional, every value in its row', async () => {
    const rows = 40_000;
    const x = Float64Array.from({ length: rows }, (_, i) => i * 0.25 - 7);
    const n = Array.from({ length: rows }, (_, i) => (i % 9 === 0 ? null : BigInt(i * 3)));
    const word = Array.from({ length: rows }, (_, i) => (i % 5 === 0 ? null : `w${i}`));
    // Small pages (4 KiB) so that every column chunk has dozens; a REQUIRED column's pages came
    // to the reader as separate pieces, and only the last one was kept.
    const bytes = parquetWriteBuffer({
      columnData: [
        { name: 'x', data: x, type: 'DOUBLE', nullable: false },
        { name: 'n', data: n, type: 'INT64' },
        { name: 'word', data: word, type: 'STRING' },
      ],
      rowGroupSize: [15_000],
      pageSize: 4096,
    } as Parameters<typeof parquetWriteBuffer>[0]);
    const path = join(dir, 'pages.parquet');
    await writeFile(path, new Uint8Array(bytes));
    const table = await openParquet(path);
    expect(table.metadata.row_groups.length).toBe(3);
    const seen = { x: [] as number[], n: [] as number[], word: [] as (string | null)[] };
    for await (const batch of readParquetBatches(table)) {
      const [cx, cn, cw] = batch.columns;
      if (cx.kind !== 'numbers' || cn.kind !== 'numbers' || cw.kind !== 'values') throw new Error('unexpected column kinds');
      seen.x.push(...cx.values);
      seen.n.push(...cn.values);
      seen.word.push(...(cw.values as (string | null)[]));
    }
    expect(seen.x).toEqual([...x]);
    expect(seen.n).toEqual(n.map((v) => (v === null ? NaN : Number(v))));
    expect(seen.word).toEqual(word);
  });
});
