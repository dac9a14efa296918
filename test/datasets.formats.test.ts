// Parquet and JSON Lines uploads end to end over real HTTP, on the file blob store with SQLite and
// on the S3-protocol server (with MariaDB when TRAINYARD_TEST_MYSQL_URL is set): types from the
// Parquet schema, the same profile as the same data uploaded as CSV, the original bytes kept, the
// columnar copy read back as the original reads, training data prepared identically, and every bad
// input a 400 naming the column or line with nothing left behind (no row, no blob, no staging file).
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOB_STORES, type BlobFixture } from './support/stores.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { createTestDatabase, MYSQL_URL, type TestDatabase } from './support/mysql.ts';
import { readDatasetBatches } from '../src/datasets/read-dataset.ts';
import { readTableSourceBatches } from '../src/datasets/table/source.ts';
import type { CsvBatch, CsvColumnRequest } from '../src/datasets/csv/reader.ts';
import { prepareTrainingData } from '../src/training/prepare.ts';
import type { Dataset } from '../src/datasets/service.ts';
import type { DatasetRow } from '../src/datasets/rows.ts';

const ROWS = 3000;
const CITIES = ['Zürich', 'New York, NY', 'São Paulo', 'Lagos', 'say "hi"'];

/** One table, as columns: integers with nulls, decimals, text (dictionary-encoded), booleans, a 0/1 label. */
function table(rows = ROWS) {
  const id: number[] = [];
  const n: (number | null)[] = [];
  const x: (number | null)[] = [];
  const city: (string | null)[] = [];
  const flag: (boolean | null)[] = [];
  const label: number[] = [];
  for (let i = 0; i < rows; i++) {
    id.push(i);
    n.push(i % 11 === 0 ? null : (i * 31) % 97);
    x.push(i % 13 === 0 ? null : ((i * 7919) % 2000) / 100 - 10);
    city.push(i % 7 === 0 ? null : CITIES[i % 5]);
    flag.push(i % 17 === 0 ? null : i % 3 === 0);
    label.push((i * 13) % 7 < 3 ? 1 : 0);
  }
  return { id, n, x, city, flag, label };
}

function parquetOf(t: ReturnType<typeof table>, rowGroupSize = 1000, compression: Pick<Parameters<typeof parquetWriteBuffer>[0], 'codec' | 'compressors'> = {}): Uint8Array {
  return new Uint8Array(
    parquetWriteBuffer({
      columnData: [
        { name: 'id', data: t.id, type: 'INT64' as const },
        { name: 'n', data: t.n, type: 'INT32' as const },
        { name: 'x', data: t.x, type: 'DOUBLE' as const },
        { name: 'city', data: t.city, type: 'STRING' as const },
        { name: 'flag', data: t.flag, type: 'BOOLEAN' as const },
        { name: 'label', data: t.label, type: 'INT32' as const },
      ].map((c) => ({ ...c, data: c.name === 'id' ? (c.data as number[]).map((v) => BigInt(v)) : c.data })),
      rowGroupSize,
      ...compression,
    }),
  );
}

const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

function csvOf(t: ReturnType<typeof table>): string {
  let text = 'id,n,x,city,flag,label\n';
  for (let i = 0; i < t.id.length; i++) {
    text += [t.id[i], t.n[i] ?? '', t.x[i] ?? '', t.city[i] === null ? '' : quote(t.city[i]!), t.flag[i] ?? '', t.label[i]].join(',') + '\n';
  }
  return text;
}

function jsonlOf(t: ReturnType<typeof table>): string {
  let text = '';
  for (let i = 0; i < t.id.length; i++) {
    // Keys vary: nulls are left out on some lines, written out on others.
    const row: Record<string, unknown> = { id: t.id[i] };
    if (t.n[i] !== null || i % 2 === 0) row.n = t.n[i];
    if (t.x[i] !== null) row.x = t.x[i];
    row.city = t.city[i];
    if (t.flag[i] !== null) row.flag = t.flag[i];
    row.label = t.label[i];
    text += JSON.stringify(row) + (i % 100 === 0 ? '\r\n' : '\n');
  }
  return text;
}

async function collect(batches: AsyncIterable<CsvBatch>): Promise<CsvBatch[]> {
  const out: CsvBatch[] = [];
  for await (const batch of batches) out.push(batch);
  return out;
}

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Profiles with mean and std to 12 significant digits (blocks of a different size sum in another order). */
const rounded = (columns: Dataset['columns']) =>
  columns.map((c) => ({ ...c, mean: c.mean === null ? null : Number(c.mean.toPrecision(12)), std: c.std === null ? null : Number(c.std.toPrecision(12)) }));

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

for (const config of BLOB_STORES) {
  const mysql = config.name === 's3' && MYSQL_URL !== undefined;
  describe(`Parquet and JSON Lines uploads on the ${config.name} blob store${mysql ? ' and MariaDB' : ''}`, () => {
    let fixture: BlobFixture;
    let database: TestDatabase | null = null;
    let server: TestServer;
    beforeAll(async () => {
      fixture = await config.create();
      database = mysql ? await createTestDatabase() : null;
      server = await startTestServer({ env: { ...fixture.env, ...(database ? { TRAINYARD_DATABASE_URL: database.url } : {}) } });
    });
    afterAll(async () => {
      await server?.close();
      await database?.drop();
      await fixture?.cleanup();
    });

    const row = (id: string): Promise<DatasetRow> => server.platform.metadata.db.selectFrom('datasets').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const post = (body: Uint8Array | string | FormData, query: string, contentType?: string) =>
      fetch(`${server.url}/v1/datasets${query}`, { method: 'POST', headers: contentType ? { 'content-type': contentType } : {}, body });
    async function created(response: Response): Promise<Dataset> {
      const body = await response.json();
      expect(response.status, JSON.stringify(body)).toBe(201);
      return body as Dataset;
    }
    const state = async () => ({
      rows: Number((await server.platform.metadata.db.selectFrom('datasets').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n),
      blobs: await server.platform.blobs.list('datasets'),
      staging: await filesUnder(join(server.dataDir, 'tmp')),
    });
    async function rejected(response: Response, code: string, before: Awaited<ReturnType<typeof state>>) {
      const problem = (await response.json()) as { status: number; code: string; detail: string; errors: { field: string; line?: number; message: string }[] };
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect(problem.code, JSON.stringify(problem)).toBe(code);
      expect(problem.status).toBe(400);
      expect(await state()).toEqual(before);
      return problem;
    }

    it('ingests Parquet with types from its schema and the same profile as the same data in CSV', async () => {
      const t = table();
      const parquet = parquetOf(t);
      const pq = await created(await post(parquet, '?name=pq', 'application/vnd.apache.parquet'));
      const csv = await created(await post(csvOf(t), '?name=csv', 'text/csv'));
      expect(pq).toMatchObject({ format: 'parquet', delimiter: '', row_count: ROWS, size_bytes: parquet.length, sha256: sha256(parquet) });
      expect(pq.columns.map((c) => [c.name, c.type])).toEqual([
        ['id', 'integer'],
        ['n', 'integer'],
        ['x', 'number'],
        ['city', 'string'],
        ['flag', 'boolean'],
        ['label', 'integer'],
      ]);
      // The same statistics as the CSV (whose types are inferred: the same here).
      expect(rounded(pq.columns)).toEqual(rounded(csv.columns));

      // The original bytes come back, as Parquet.
      const content = await fetch(`${server.url}/v1/datasets/${pq.id}/content`);
      expect(content.headers.get('content-type')).toBe('application/vnd.apache.parquet');
      expect(content.headers.get('content-disposition')).toContain('pq-v1.parquet');
      expect(sha256(new Uint8Array(await content.arrayBuffer()))).toBe(pq.sha256);

      // The preview is typed like a CSV's.
      const preview = await (await fetch(`${server.url}/v1/datasets/${pq.id}/preview?limit=3`)).json();
      const csvPreview = await (await fetch(`${server.url}/v1/datasets/${csv.id}/preview?limit=3`)).json();
      expect(preview).toEqual(csvPreview);

      // The columnar copy answers reads as the Parquet original does, and as the CSV does.
      const dataset = await row(pq.id);
      expect(JSON.parse(dataset.columnar_json!).columns.map((c: { form: string }) => c.form)).toEqual(['number', 'number', 'number', 'text', 'text', 'number']);
      const requests: CsvColumnRequest[] = [
        { name: 'x', as: 'number' },
        { name: 'city', as: 'string' },
        { name: 'n', as: 'number' },
        { name: 'flag', as: 'string' },
        { name: 'label', as: 'string' },
        { name: 'id', as: 'number' },
      ];
      const fromCopy = await collect(readDatasetBatches(server.platform.blobs, dataset, { columns: requests, batchRows: 700 }));
      const fromOriginal = await collect(
        readTableSourceBatches(server.platform.blobs, { id: pq.id, format: 'parquet', blob_key: dataset.blob_key, names: pq.columns.map((c) => c.name) }, requests, 700),
      );
      const fromCsv = await collect(readDatasetBatches(server.platform.blobs, await row(csv.id), { columns: requests, batchRows: 700 }));
      expect(fromCopy.length).toBe(Math.ceil(ROWS / 700));
      expect(fromCopy).toEqual(fromOriginal);
      expect(fromCopy).toEqual(fromCsv);
      // Booleans read as numbers (1/0), which the copy stores as text: the original answers.
      const flags = await collect(readDatasetBatches(server.platform.blobs, dataset, { columns: [{ name: 'flag', as: 'number' }] }));
      expect(Array.from((flags[0].columns[0] as Float64Array).subarray(0, 4))).toEqual([NaN, 0, 0, 1]);
    });

    it('prepares training data from Parquet and JSON Lines exactly as from the CSV', async () => {
      const t = table();
      const ids = [
        (await created(await post(parquetOf(t, 700), '?name=prep-pq', 'application/vnd.apache.parquet'))).id,
        (await created(await post(jsonlOf(t), '?name=prep-jsonl', 'application/x-ndjson'))).id,
        (await created(await post(csvOf(t), '?name=prep-csv', 'text/csv'))).id,
      ];
      const outputs: Buffer[][] = [];
      for (const id of ids) {
        const dataset = await row(id);
        const jobDir = await mkdtemp(join(tmpdir(), 'prep-'));
        try {
          await prepareTrainingData({
            blobs: server.platform.blobs,
            blobKey: dataset.blob_key,
            delimiter: dataset.delimiter,
            rowCount: Number(dataset.row_count),
            datasetId: id,
            columnarJson: dataset.columnar_json,
            format: dataset.format,
            columnsJson: dataset.columns_json,
            columns: JSON.parse(dataset.columns_json),
            task: 'binary_classification',
            target: 'label',
            features: ['n', 'x', 'city', 'flag'],
            maxCategories: 20,
            validationSplit: 0.2,
            seed: 7,
            jobDir,
          });
          outputs.push(await Promise.all(['train_x', 'train_y', 'val_x', 'val_y'].map((f) => readFile(join(jobDir, `${f}.npy`)))));
        } finally {
          await rm(jobDir, { recursive: true, force: true });
        }
      }
      expect(outputs[0].map(sha256)).toEqual(outputs[2].map(sha256));
      expect(outputs[1].map(sha256)).toEqual(outputs[2].map(sha256));
    });

    it('reads gzip and brotli Parquet pages as it reads snappy ones', async () => {
      const t = table(2000);
      const snappy = await created(await post(parquetOf(t), '?name=snappy', 'application/vnd.apache.parquet'));
      for (const [codec, compress] of [['GZIP', gzipSync], ['BROTLI', brotliCompressSync]] as const) {
        const bytes = parquetOf(t, 1000, { codec, compressors: { [codec]: (input: Uint8Array) => compress(input) } });
        const dataset = await created(await post(bytes, `?name=${codec.toLowerCase()}`, 'application/vnd.apache.parquet'));
        expect(dataset.row_count).toBe(2000);
        expect(dataset.columns).toEqual(snappy.columns);
      }
    });

    it('takes Parquet as a multipart file named .parquet, and JSON Lines named .jsonl', async () => {
      const form = new FormData();
      form.append('file', new Blob([parquetOf(table(50))]), 'events.parquet');
      expect(await created(await post(form, ''))).toMatchObject({ name: 'events', format: 'parquet', row_count: 50 });
      const lines = new FormData();
      lines.append('file', new Blob([jsonlOf(table(40))]), 'clicks.jsonl');
      expect(await created(await post(lines, ''))).toMatchObject({ name: 'clicks', format: 'jsonl', row_count: 40 });
    });

    it('infers JSON Lines types from the values, with varying keys as missing values', async () => {
      const text = '{"a": 1, "b": "x", "when": "2026-01-01"}\n\n{"a": 2.5, "c": true}\n{"b": null, "c": false, "d": "NA"}\n';
      const ds = await created(await post(text, '?name=lines', 'application/x-ndjson'));
      expect(ds).toMatchObject({ format: 'jsonl', row_count: 3 });
      expect(ds.columns.map((c) => [c.name, c.type, c.missing_count])).toEqual([
        ['a', 'number', 1],
        ['b', 'string', 2],
        ['when', 'datetime', 2],
        ['c', 'boolean', 1],
        ['d', 'string', 3],
      ]);
      expect(ds.columns[2]).toMatchObject({ min: '2026-01-01T00:00:00.000Z', max: '2026-01-01T00:00:00.000Z', mean: null });
      const preview = (await (await fetch(`${server.url}/v1/datasets/${ds.id}/preview`)).json()) as { rows: unknown[][] };
      expect(preview.rows).toEqual([
        [1, 'x', '2026-01-01', null, null],
        [2.5, null, null, true, null],
        [null, null, null, false, null],
      ]);
    });

    it('downloads any dataset as Parquet with ?format=parquet: the same rows and types, a Parquet upload its own bytes', async () => {
      const t = table(2500);
      const csvText = csvOf(t).replace('id,n,x,city,flag,label\n', 'id,n,x,city,flag,label,when\n').split('\n');
      // A datetime column too: dates for every row but the missing ones.
      const lines = csvText.filter((l) => l !== '').map((line, i) => (i === 0 ? line : `${line},${i % 9 === 0 ? '' : `2026-01-${String((i % 28) + 1).padStart(2, '0')}T0${i % 10}:30:00Z`}`));
      const csv = await created(await post(lines.join('\n') + '\n', '?name=to-parquet', 'text/csv'));
      expect(csv.columns.map((c) => c.type)).toEqual(['integer', 'integer', 'number', 'string', 'boolean', 'integer', 'datetime']);
      const response = await fetch(`${server.url}/v1/datasets/${csv.id}/content?format=parquet`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/vnd.apache.parquet');
      const bytes = new Uint8Array(await response.arrayBuffer());
      // Uploaded again, the Parquet profiles as the CSV did.
      const back = await created(await post(bytes, '?name=from-parquet', 'application/vnd.apache.parquet'));
      expect(back.row_count).toBe(csv.row_count);
      expect(rounded(back.columns)).toEqual(rounded(csv.columns));
      const a = await (await fetch(`${server.url}/v1/datasets/${csv.id}/preview?limit=50`)).json();
      const b = await (await fetch(`${server.url}/v1/datasets/${back.id}/preview?limit=50`)).json();
      // Datetimes come back as ISO text of the same instants.
      const when = (rows: unknown[][]) => rows.map((r) => (r[6] === null ? null : Date.parse(r[6] as string)));
      expect(when((b as { rows: unknown[][] }).rows)).toEqual(when((a as { rows: unknown[][] }).rows));
      expect((b as { rows: unknown[][] }).rows.map((r) => r.slice(0, 6))).toEqual((a as { rows: unknown[][] }).rows.map((r) => r.slice(0, 6)));

      const pq = parquetOf(table(10));
      const original = await created(await post(pq, '?name=pq-again', 'application/vnd.apache.parquet'));
      const same = new Uint8Array(await (await fetch(`${server.url}/v1/datasets/${original.id}/content?format=parquet`)).arrayBuffer());
      expect(sha256(same)).toBe(sha256(pq));
    });

    it('refuses nested, binary, truncated and non-Parquet files naming the cause, keeping nothing', async () => {
      const before = await state();
      const nested = new Uint8Array(
        parquetWriteBuffer({
          columnData: [
            { name: 'a', data: [1, 2] },
            { name: 'tags', data: [{ x: 1 }, null] },
          ],
          schema: [
            { name: 'root', num_children: 2 },
            { name: 'a', type: 'INT32', repetition_type: 'OPTIONAL' },
            { name: 'tags', num_children: 1, repetition_type: 'OPTIONAL' },
            { name: 'x', type: 'INT32', repetition_type: 'OPTIONAL' },
          ],
        }),
      );
      const problem = await rejected(await post(nested, '?name=bad', 'application/vnd.apache.parquet'), 'UNSUPPORTED_COLUMN', before);
      expect(problem.errors[0].field).toBe('tags');
      expect(problem.detail).toContain('nested');

      const whole = parquetOf(table(200));
      await rejected(await post(whole.subarray(0, whole.length - 100), '?name=bad', 'application/vnd.apache.parquet'), 'INVALID_PARQUET', before);
      await rejected(await post('id,x\n1,2\n', '?name=bad', 'application/vnd.apache.parquet'), 'INVALID_PARQUET', before);
      // A corrupt page in the middle: the footer reads, the data does not.
      const corrupt = Uint8Array.from(whole);
      corrupt.fill(0xff, 200, 400);
      await rejected(await post(corrupt, '?name=bad', 'application/vnd.apache.parquet'), 'INVALID_PARQUET', before);
      // Binary data in a byte-array column (text in one would be read as text), past the first row group.
      const rows = 3000;
      const blobs = Array.from({ length: rows }, (_, i) => (i === 2500 ? Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0xff) : new TextEncoder().encode(`k${i}`)));
      const binary = new Uint8Array(parquetWriteBuffer({ columnData: [{ name: 'id', data: Array.from({ length: rows }, (_, i) => i), type: 'INT32' }, { name: 'blob', data: blobs, type: 'BYTE_ARRAY' }], rowGroupSize: 1000 }));
      const refused = await rejected(await post(binary, '?name=bad', 'application/vnd.apache.parquet'), 'UNSUPPORTED_COLUMN', before);
      expect(refused.errors[0].field).toBe('blob');
    });

    it('keeps nothing when a Parquet upload is cut off mid-stream, or is larger than the limit', async () => {
      const before = await state();
      const whole = parquetOf(table(3000));
      await new Promise<void>((resolve, reject) => {
        const socket = connect(server.port, '127.0.0.1', () => {
          socket.write(`POST /v1/datasets?name=cut HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.apache.parquet\r\nContent-Length: ${whole.length}\r\n\r\n`);
          socket.write(whole.subarray(0, whole.length >> 1));
          // Cut once the upload is visibly streaming into its staging file.
          void (async () => {
            for (let k = 0; k < 200 && (await state()).staging.length === 0; k++) await new Promise((r) => setTimeout(r, 10));
            socket.destroy();
          })();
        });
        socket.on('close', () => resolve());
        socket.on('error', reject);
      });
      for (let k = 0; k < 100 && JSON.stringify(await state()) !== JSON.stringify(before); k++) await new Promise((r) => setTimeout(r, 50));
      expect(await state()).toEqual(before);

      const small = await startTestServer({ env: { ...fixture.env, ...(database ? { TRAINYARD_DATABASE_URL: database.url } : {}), TRAINYARD_MAX_UPLOAD_BYTES: String(whole.length - 1) } });
      try {
        const response = await fetch(`${small.url}/v1/datasets?name=big`, { method: 'POST', headers: { 'content-type': 'application/vnd.apache.parquet' }, body: new Blob([whole]).stream(), duplex: 'half' } as RequestInit);
        expect(response.status).toBe(413);
        expect(((await response.json()) as { code: string }).code).toBe('UPLOAD_TOO_LARGE');
        expect(await filesUnder(join(small.dataDir, 'tmp'))).toEqual([]);
      } finally {
        await small.close();
      }
      expect(await state()).toEqual(before);
    });

    it('refuses malformed JSON Lines naming the line and key, keeping nothing', async () => {
      const before = await state();
      let problem = await rejected(await post('{"a": 1}\n{"a": 2,}\n', '?name=bad', 'application/x-ndjson'), 'INVALID_JSONL', before);
      expect(problem.errors[0]).toMatchObject({ field: 'file', line: 2 });
      problem = await rejected(await post('{"a": 1}\n{"a": 2}\n{"a": 3, "tags": [1, 2]}\n', '?name=bad', 'application/x-ndjson'), 'INVALID_JSONL', before);
      expect(problem.errors[0]).toMatchObject({ field: 'tags', line: 3 });
      expect(problem.detail).toBe('line 3, key "tags": the value is an array; values must be numbers, text, true/false or null');
      problem = await rejected(await post('[1, 2]\n', '?name=bad', 'application/x-ndjson'), 'INVALID_JSONL', before);
      expect(problem.errors[0].line).toBe(1);
      await rejected(await post('\n\n', '?name=bad', 'application/x-ndjson'), 'EMPTY_FILE', before);
    });
  });
}
