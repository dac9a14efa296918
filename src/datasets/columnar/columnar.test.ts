// The columnar copy against the CSV reader it stands in for: whatever the copy answers must be
// exactly what readCsvBatches returns (values, NaN/null, batches), and a truncated or corrupt copy
// must be detected before a wrong row is handed out.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsvParser } from '../csv/parser.ts';
import { CsvProfiler } from '../csv/profiler.ts';
import { readCsvBatches, type CsvBatch, type CsvColumnRequest } from '../csv/reader.ts';
import { FileBlobStore } from '../../store/blobs/file-blob-store.ts';
import { ColumnarWriter, type ColumnarSummary } from './writer.ts';
import { readColumnarBatches } from './reader.ts';
import { COLUMNAR_FORMAT, ColumnarCorruptError, type ColumnarInfo } from './format.ts';
import { datasetColumnarKey } from '../../store/blobs/keys.ts';
import { datasetReadPath, readDatasetBatches, type DatasetSource } from '../read-dataset.ts';

function writeCopy(csv: string, groupRows?: number, chunk = 7): { bytes: Buffer; summary: ColumnarSummary } {
  const parts: Uint8Array[] = [];
  const writer = new ColumnarWriter((part) => parts.push(part), { groupRows });
  const parser = new CsvParser(writer, { allowHeaderOnly: true });
  const data = Buffer.from(csv);
  for (let i = 0; i < data.length; i += chunk) parser.feed(data.subarray(i, i + chunk));
  parser.finish();
  const summary = writer.finish();
  return { bytes: Buffer.concat(parts), summary };
}

async function collect(batches: AsyncIterable<CsvBatch>): Promise<CsvBatch[]> {
  const out: CsvBatch[] = [];
  for await (const batch of batches) out.push(batch);
  return out;
}

function* chunks(bytes: Buffer, size = 1000): Generator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

const fromCsv = (csv: string, columns: CsvColumnRequest[], batchRows: number) => collect(readCsvBatches([Buffer.from(csv)], { columns, batchRows }));
const fromCopy = (bytes: Buffer, columns: CsvColumnRequest[], batchRows: number, expectedRows?: number) =>
  collect(readColumnarBatches((async function* () { yield* chunks(bytes); })(), { columns, batchRows, expectedRows }));

const forms = (summary: ColumnarSummary) => Object.fromEntries(summary.columns.map((c) => [c.name, [c.form, c.exact_text]]));

const TRICKY = [
  'n,t,mixed,spelled,flag',
  '1,"a, ""quoted"" word",1,1.50,true',
  '-2.5,héllo wörld 🙂,x,007,false',
  'NA,"",,-0,TRUE',
  '  , N/A ,null,1e3,',
  'NaN,"line\nbreak",3, 2 ,False',
  '3,"x""y",4,+4,true',
  '0.000001,"\u00e9",5,"6",NA',
  '1e-7,plain,6,12345678901234567890,false',
].join('\r\n');

describe('columnar copy', () => {
  it('answers number and string requests exactly as readCsvBatches does, across groups and batches', async () => {
    for (const groupRows of [1, 2, 3, 100]) {
      const { bytes, summary } = writeCopy(TRICKY, groupRows);
      expect(summary.row_count).toBe(8);
      for (const batchRows of [1, 3, 8192]) {
        const strings: CsvColumnRequest[] = ['n', 't', 'mixed', 'spelled', 'flag'].map((name) => ({ name, as: 'string' }));
        const exactStrings = strings.filter((r) => summary.columns.find((c) => c.name === r.name)!.exact_text);
        expect(await fromCopy(bytes, exactStrings, batchRows, 8)).toEqual(await fromCsv(TRICKY, exactStrings, batchRows));
        const numbers: CsvColumnRequest[] = [{ name: 'spelled', as: 'number' }, { name: 'n', as: 'number' }];
        expect(await fromCopy(bytes, numbers, batchRows)).toEqual(await fromCsv(TRICKY, numbers, batchRows));
      }
    }
    const { summary } = writeCopy(TRICKY, 100);
    expect(forms(summary)).toEqual({
      n: ['number', false], // decimal literals are not checked against String(value): numbers only
      t: ['text', true],
      mixed: ['text', true], // numbers then `x` in one group: rewritten as text, exactly
      spelled: ['number', false],
      flag: ['text', true], // booleans are text: a number request reads them through the CSV
    });
  });

  it('writes the same bytes when the profiler drives it (one walk per column) as on its own, and the profile is the same', () => {
    let seed = 11;
    const random = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296;
    const cell = (kind: number, row: number): string => {
      const r = random();
      if (r < 0.03) return ['', 'NA', 'null', ' nan '][Math.floor(r * 133) % 4];
      if (kind === 0) return ((random() - 0.5) * 100).toFixed(3); // decimals, some missing
      if (kind === 1) return String(Math.floor(random() * 20) - 5); // integers
      if (kind === 2) return r < 0.05 ? ['007', '-0', '"12"', '1e3', ' 4 '][row % 5] : String(row);
      if (kind === 3) return row > 1500 && r < 0.1 ? 'text' : String(row % 7); // numbers, then text in later groups
      if (kind === 4) return r < 0.5 ? 'true' : 'false';
      if (kind === 5) return row === 3000 ? 'x' : ((random() - 0.5) * 10).toFixed(2); // decimals, then text: left out
      return `"w${Math.floor(random() * 50)}, ""q"""`;
    };
    const make = (names: string[], kinds: number[]) => {
      const rows = [names.join(',')];
      for (let row = 0; row < 6000; row++) rows.push(kinds.map((kind) => cell(kind, row)).join(','));
      return Buffer.from(rows.join('\n') + '\n');
    };
    const csv = make(['d', 'i', 'odd', 'later', 'flag', 'lost', 'text'], [0, 1, 2, 3, 4, 5, 6]);
    const numeric = make(['d', 'i', 'odd'], [0, 1, 2]); // every group all numbers: emitted in place
    for (const [groupRows, chunk, data] of [[1000, 4096, csv], [4096, 65536, csv], [65536, 1 << 20, csv], [7, 50_000, csv], [1000, 4096, numeric], [4096, 1 << 20, numeric]] as const) {
      const plainProfile = new CsvProfiler(); // the same chunks, so the same blocks (mean/std are merged per block)
      for (let i = 0; i < data.length; i += chunk) plainProfile.feed(data.subarray(i, i + chunk));
      const expected = plainProfile.finish();
      const alone = writeCopy(data.toString(), groupRows, chunk);
      const parts: Uint8Array[] = [];
      const writer = new ColumnarWriter((part) => parts.push(part), { groupRows });
      const profiler = new CsvProfiler({ copy: writer });
      for (let i = 0; i < data.length; i += chunk) profiler.feed(data.subarray(i, i + chunk));
      expect(profiler.finish()).toEqual(expected);
      expect(writer.finish()).toEqual(alone.summary);
      expect(Buffer.concat(parts).equals(alone.bytes)).toBe(true);
    }
    expect(forms(writeCopy(csv.toString(), 1000, 4096).summary)).toEqual({
      d: ['number', false],
      i: ['number', true],
      odd: ['number', false], // 007, "12", 1e3, ' 4 ': numbers, not spelled as JavaScript spells them
      later: ['mixed', true],
      flag: ['text', true],
      lost: ['mixed', false],
      text: ['text', true],
    });
  });

  it('rewrites a group as text from the saved spellings when text follows odd-looking numbers', async () => {
    const csv = ['a', '007', '-0', ' 2', '"3"', '4', 'NA', '+5', '1e3', '0012', 'word', '5.0'].join('\n');
    const { bytes, summary } = writeCopy(csv, 100, 3);
    expect(forms(summary)).toEqual({ a: ['text', true] });
    const request: CsvColumnRequest[] = [{ name: 'a', as: 'string' }];
    expect(await fromCopy(bytes, request, 4)).toEqual(await fromCsv(csv, request, 4));
  });

  it('leaves a column out of a group where text follows decimals, and only that column goes to the CSV', async () => {
    const csv = ['a,b', '1.25,x', '2,y', 'word,z', '3,w', '4,v'].join('\n');
    const { bytes, summary } = writeCopy(csv, 3);
    expect(forms(summary)).toEqual({ a: ['mixed', false], b: ['text', true] });
    const b: CsvColumnRequest[] = [{ name: 'b', as: 'string' }];
    expect(await fromCopy(bytes, b, 2)).toEqual(await fromCsv(csv, b, 2));
    await expect(fromCopy(bytes, [{ name: 'a', as: 'string' }], 2)).rejects.toBeInstanceOf(ColumnarCorruptError);
  });

  it('marks a column mixed when it switches from numbers to text in a later group, and the read goes to the CSV', () => {
    const csv = ['a,b', '1,x', '2,y', '3,z', 'four,w'].join('\n');
    const { summary } = writeCopy(csv, 2);
    expect(forms(summary)).toEqual({ a: ['mixed', true], b: ['text', true] });
    const info: ColumnarInfo = { format: COLUMNAR_FORMAT, key: 'k', size_bytes: 0, row_count: 4, groups: 2, columns: summary.columns };
    const dataset: DatasetSource = { id: 'ds', blob_key: 'c', delimiter: ',', row_count: 4, columnar_json: JSON.stringify(info) };
    expect(datasetReadPath(dataset, [{ name: 'a', as: 'number' }])).toBe('csv');
    expect(datasetReadPath(dataset, [{ name: 'a', as: 'string' }, { name: 'b', as: 'string' }])).toBe('columnar');
    expect(datasetReadPath(dataset, [{ name: 'b', as: 'number' }])).toBe('csv');
    expect(datasetReadPath({ ...dataset, columnar_json: null }, [{ name: 'b', as: 'string' }])).toBe('csv');
  });

  it('keeps numbers exact: integers, decimals, long mantissas, exponents', async () => {
    let seed = 7;
    const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
    const spellings = [
      () => String(Math.floor(random() * 1e6) - 5e5),
      () => ((random() - 0.5) * 1000).toFixed(Math.floor(random() * 8)),
      () => String((random() - 0.5) * 1e-3),
      () => String(random() * 1e20),
      () => '0.' + String(Math.floor(random() * 1e14)).padStart(14, '0'),
      () => '',
    ];
    const rows = ['x,y'];
    for (let i = 0; i < 5000; i++) rows.push(`${spellings[i % 6]()},${spellings[Math.floor(random() * 5)]()}`);
    const csv = rows.join('\n');
    const { bytes, summary } = writeCopy(csv, 777, 4096);
    expect(summary.columns.map((c) => c.form)).toEqual(['number', 'number']);
    const numbers: CsvColumnRequest[] = [{ name: 'y', as: 'number' }, { name: 'x', as: 'number' }];
    expect(await fromCopy(bytes, numbers, 1000)).toEqual(await fromCsv(csv, numbers, 1000));
    // Only numbers spelled as JavaScript spells them answer string requests.
    const exact = ['a', '0', '-1', '42', '123456789012345', '1e-7', '"7"', '', '-99'].join('\n');
    const copy = writeCopy(exact, 3);
    expect(forms(copy.summary)).toEqual({ a: ['number', true] });
    expect(await fromCopy(copy.bytes, [{ name: 'a', as: 'string' }], 2)).toEqual(await fromCsv(exact, [{ name: 'a', as: 'string' }], 2));
    for (const odd of ['0.50', '0.5', '-0', '00', '1.', '.5', '1e3', '+1', '0.0000001']) expect(forms(writeCopy(`a\n1\n${odd}`).summary)).toEqual({ a: ['number', false] });
  });

  it('handles a header-only file and an all-missing column', async () => {
    const empty = writeCopy('a,b\n');
    expect(empty.summary).toEqual({ row_count: 0, groups: 0, columns: [{ name: 'a', form: 'number', exact_text: true }, { name: 'b', form: 'number', exact_text: true }] });
    expect(await fromCopy(empty.bytes, [{ name: 'a', as: 'number' }], 10, 0)).toEqual([]);
    const missing = writeCopy('a,b\n,1\nNA,2\n,3\n', 2);
    expect(forms(missing.summary)).toEqual({ a: ['number', true], b: ['number', true] });
    const request: CsvColumnRequest[] = [{ name: 'a', as: 'string' }, { name: 'a', as: 'number' }, { name: 'b', as: 'string' }];
    expect(await fromCopy(missing.bytes, request, 2)).toEqual(await fromCsv('a,b\n,1\nNA,2\n,3\n', request, 2));
  });

  it('detects truncation, corruption and a wrong row count before handing out a wrong row', async () => {
    const { bytes } = writeCopy(TRICKY, 2);
    const request: CsvColumnRequest[] = [{ name: 't', as: 'string' }];
    const expected = await fromCsv(TRICKY, request, 2);
    const check = async (copy: Buffer, expectedRows = 8) => {
      const got: CsvBatch[] = [];
      let error: unknown = null;
      try {
        for await (const batch of readColumnarBatches((async function* () { yield* chunks(copy, 5); })(), { columns: request, batchRows: 2, expectedRows })) got.push(batch);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ColumnarCorruptError);
      expect(got).toEqual(expected.slice(0, got.length));
    };
    for (let cut = 0; cut < bytes.length; cut += 3) await check(bytes.subarray(0, cut));
    for (let at = 0; at < bytes.length; at += 11) {
      const corrupt = Buffer.from(bytes);
      corrupt[at] ^= 0x5a;
      const got: CsvBatch[] = [];
      try {
        for await (const batch of readColumnarBatches((async function* () { yield corrupt; })(), { columns: request, batchRows: 2, expectedBytes: bytes.length })) got.push(batch);
      } catch (e) {
        expect(e).toBeInstanceOf(ColumnarCorruptError);
      }
      // Padding bytes may change without harm; any row handed out is right.
      expect(got).toEqual(expected.slice(0, got.length));
    }
    await check(bytes, 9);
    await check(Buffer.concat([bytes, Buffer.from('x')]));
  });
});

describe('readDatasetBatches', () => {
  let root: string;
  let blobs: FileBlobStore;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'trainyard-columnar-'));
    blobs = new FileBlobStore(root);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function store(csv: string, copy: Buffer, summary: ColumnarSummary): Promise<DatasetSource> {
    await blobs.put('datasets/ds_1/data.csv', csv);
    await blobs.put(datasetColumnarKey('ds_1'), copy);
    const info: ColumnarInfo = { format: COLUMNAR_FORMAT, key: datasetColumnarKey('ds_1'), size_bytes: copy.length, row_count: summary.row_count, groups: summary.groups, columns: summary.columns };
    return { id: 'ds_1', blob_key: 'datasets/ds_1/data.csv', delimiter: ',', row_count: summary.row_count, columnar_json: JSON.stringify(info) };
  }

  const rows = ['a,b,c'];
  for (let i = 0; i < 1000; i++) rows.push(`${i},${(i * 0.37).toFixed(2)},${i % 7 === 0 ? 'NA' : `"s${i % 13}"`}`);
  const csv = rows.join('\n');
  const request: CsvColumnRequest[] = [{ name: 'c', as: 'string' }, { name: 'b', as: 'number' }, { name: 'a', as: 'string' }];

  it('reads the copy when it answers, the CSV otherwise, with the same batches', async () => {
    const { bytes, summary } = writeCopy(csv, 300, 65536);
    const dataset = await store(csv, bytes, summary);
    const expected = await fromCsv(csv, request, 128);
    expect(datasetReadPath(dataset, request)).toBe('columnar');
    expect(await collect(readDatasetBatches(blobs, dataset, { columns: request, batchRows: 128 }))).toEqual(expected);
    expect(await collect(readDatasetBatches(blobs, { ...dataset, columnar_json: null }, { columns: request, batchRows: 128 }))).toEqual(expected);
    // A number request on a text column goes to the CSV, whose error names the row and line.
    await expect(collect(readDatasetBatches(blobs, dataset, { columns: [{ name: 'c', as: 'number' }] }))).rejects.toThrow(/column "c", row 2 \(line 3\)/);
  });

  it('carries on from the CSV when the copy is truncated, corrupt or gone, and logs it', async () => {
    const { bytes, summary } = writeCopy(csv, 300, 65536);
    const expected = await fromCsv(csv, request, 128);
    for (const copy of [bytes.subarray(0, bytes.length - 20), bytes.subarray(0, 5000), Buffer.concat([bytes.subarray(0, 9000), Buffer.from([1]), bytes.subarray(9001)])]) {
      const dataset = await store(csv, copy, summary);
      const warnings: object[] = [];
      const got = await collect(readDatasetBatches(blobs, dataset, { columns: request, batchRows: 128, logger: { warn: (o) => warnings.push(o) } }));
      expect(got).toEqual(expected);
      expect(warnings).toHaveLength(1);
    }
    const dataset = await store(csv, bytes, summary);
    await blobs.delete(datasetColumnarKey('ds_1'));
    expect(await collect(readDatasetBatches(blobs, dataset, { columns: request, batchRows: 128 }))).toEqual(expected);
  });
});
