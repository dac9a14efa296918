import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openParquet, readParquetBatches } from './reader.ts';

/**
 * A Zstandard frame that stores `input` in raw (uncompressed) blocks: valid zstd that any decoder
 * must read, made without a zstd encoder (Node 20 has none).
 */
function zstdRawFrame(input: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0xa0)]; // magic; single segment, 4-byte content size
  const size = new Uint8Array(4);
  new DataView(size.buffer).setUint32(0, input.length, true);
  parts.push(size);
  const BLOCK = 128 * 1024;
  for (let at = 0; at < input.length || at === 0; at += BLOCK) {
    const block = input.subarray(at, at + BLOCK);
    const last = at + BLOCK >= input.length ? 1 : 0;
    const header = (block.length << 3) | last; // block type 0: raw
    parts.push(Uint8Array.of(header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff), block);
  }
  return Buffer.concat(parts);
}

/** Real zstd compression through the zstd command, where this machine has it. */
const zstdCommand = (input: Uint8Array): Uint8Array => spawnSync('zstd', ['-q', '-c', '-3'], { input, maxBuffer: 1 << 28 }).stdout;

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

  const codecs: Array<[string, 'GZIP' | 'BROTLI' | 'ZSTD', (input: Uint8Array) => Uint8Array]> = [
    ['gzip', 'GZIP', (input) => gzipSync(input)],
    ['brotli', 'BROTLI', (input) => brotliCompressSync(input)],
    ['zstd in raw blocks', 'ZSTD', zstdRawFrame],
    ...(existsSync('/usr/bin/zstd') ? [['zstd (Polars\' default)', 'ZSTD', zstdCommand] as [string, 'ZSTD', (input: Uint8Array) => Uint8Array]] : []),
  ];
  it.each(codecs)('reads pages compressed with %s', async (label, codec, compress) => {
    const rows = 5000;
    const x = Array.from({ length: rows }, (_, i) => (i % 7 === 0 ? null : (i % 50) / 4));
    const word = Array.from({ length: rows }, (_, i) => ['alpha', 'beta', 'gamma'][i % 3]);
    const bytes = parquetWriteBuffer({
      columnData: [
        { name: 'x', data: x, type: 'DOUBLE' },
        { name: 'word', data: word, type: 'STRING' },
      ],
      codec,
      compressors: { [codec]: compress },
      pageSize: 8192,
    } as Parameters<typeof parquetWriteBuffer>[0]);
    const path = join(dir, `${codec}-${label.length}.parquet`);
    await writeFile(path, new Uint8Array(bytes));
    const table = await openParquet(path);
    expect(table.metadata.row_groups[0].columns[0].meta_data?.codec).toBe(codec);
    const seen = { x: [] as number[], word: [] as (string | null)[] };
    for await (const batch of readParquetBatches(table)) {
      const [cx, cw] = batch.columns;
      if (cx.kind !== 'numbers' || cw.kind !== 'values') throw new Error('unexpected column kinds');
      seen.x.push(...cx.values);
      seen.word.push(...(cw.values as (string | null)[]));
    }
    expect(seen.x).toEqual(x.map((v) => v ?? NaN));
    expect(seen.word).toEqual(word);
  });

  it('refuses a zstd, gzip or brotli page that inflates to less or more than its stated size, naming the column', async () => {
    const rows = 3000;
    const x = Float64Array.from({ length: rows }, (_, i) => i);
    for (const [codec, compress] of [['ZSTD', zstdRawFrame], ['GZIP', (input: Uint8Array) => gzipSync(input)], ['BROTLI', (input: Uint8Array) => brotliCompressSync(input)]] as const) {
      // Each page's data compressed from only its first half, or from itself twice: well-formed, but
      // short of or past the size its header states.
      const wrong = { short: (input: Uint8Array) => compress(input.subarray(0, input.length >> 1)), long: (input: Uint8Array) => compress(Buffer.concat([input, input])) };
      for (const [how, compressor] of Object.entries(wrong)) {
        const bytes = parquetWriteBuffer({ columnData: [{ name: 'x', data: x, type: 'DOUBLE', nullable: false }], codec, compressors: { [codec]: compressor } } as Parameters<typeof parquetWriteBuffer>[0]);
        const path = join(dir, `${how}-${codec}.parquet`);
        await writeFile(path, new Uint8Array(bytes));
        const table = await openParquet(path);
        const read = async () => {
          for await (const _ of readParquetBatches(table));
        };
        await expect(read(), `${how} ${codec}`).rejects.toMatchObject({ code: 'INVALID_PARQUET', message: expect.stringContaining('column "x"') });
      }
    }
  });

  it('refuses an LZ4 file naming the codec', async () => {
    const bytes = parquetWriteBuffer({ columnData: [{ name: 'x', data: Float64Array.of(1, 2, 3), type: 'DOUBLE', nullable: false }], codec: 'LZ4_RAW', compressors: { LZ4_RAW: (input: Uint8Array) => input } } as Parameters<typeof parquetWriteBuffer>[0]);
    const path = join(dir, 'lz4.parquet');
    await writeFile(path, new Uint8Array(bytes));
    const table = await openParquet(path);
    const read = async () => {
      for await (const _ of readParquetBatches(table));
    };
    await expect(read()).rejects.toMatchObject({ code: 'INVALID_PARQUET', message: expect.stringContaining('LZ4_RAW') });
  });

  it('reads unannotated byte-array text as text (as Hive and Impala write strings), and refuses binary data naming the column', async () => {
    const encode = (text: string) => new TextEncoder().encode(text);
    const write = async (name: string, data: Array<Uint8Array | null>) => {
      const path = join(dir, `${name}.parquet`);
      await writeFile(path, new Uint8Array(parquetWriteBuffer({ columnData: [{ name, data, type: 'BYTE_ARRAY' }] } as Parameters<typeof parquetWriteBuffer>[0])));
      return openParquet(path);
    };
    const text = await write('city', [encode('Zürich'), null, encode('São Paulo')]);
    expect(text.fields).toEqual([{ name: 'city', type: 'string' }]);
    const values: unknown[] = [];
    for await (const batch of readParquetBatches(text)) values.push(...(batch.columns[0] as { values: unknown[] }).values);
    expect(values).toEqual(['Zürich', null, 'São Paulo']);

    const binary = await write('thumbnail', [encode('fine'), Uint8Array.of(0xff, 0xd8, 0xff, 0xe0)]);
    const read = async () => {
      for await (const _ of readParquetBatches(binary));
    };
    await expect(read()).rejects.toMatchObject({ code: 'UNSUPPORTED_COLUMN', errors: [{ field: 'thumbnail' }] });
  });
});
