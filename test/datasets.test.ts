// Datasets end to end over real HTTP: a real server (startTestServer) on a temp data dir with a
// SQLite file and the file blob store. Every bad input checks the problem+json AND that nothing
// was stored (no row, no blob, no temp file).
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';
import { workerStats } from '../src/datasets/csv/worker-profiler.ts';
import { discardStaged, OFF_THREAD_MIN_BYTES, stageUpload, type Dataset } from '../src/datasets/service.ts';

const EXAMPLES = join(import.meta.dirname, '..', 'examples');

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  errors: { field: string; message: string; line?: number; row?: number }[];
}

type DatasetJson = Dataset;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field
const json = async (response: Response): Promise<any> => response.json();

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

async function filesUnder(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

describe('datasets API', () => {
  let server: TestServer;
  let blobDir: string;

  beforeAll(async () => {
    server = await startTestServer();
    blobDir = join(server.dataDir, 'blobs');
  });
  afterAll(async () => {
    await server?.close();
  });

  async function uploadRaw(body: string | Uint8Array, query: string, contentType = 'text/csv'): Promise<Response> {
    return fetch(`${server.url}/v1/datasets${query}`, { method: 'POST', headers: { 'content-type': contentType }, body });
  }

  async function uploadMultipart(body: string | Uint8Array, filename: string, fields: Record<string, string> = {}): Promise<Response> {
    const form = new FormData();
    for (const [key, value] of Object.entries(fields)) form.append(key, value);
    form.append('file', new Blob([body], { type: 'text/csv' }), filename);
    return fetch(`${server.url}/v1/datasets`, { method: 'POST', body: form });
  }

  async function created(response: Response): Promise<DatasetJson> {
    const body = await response.json();
    expect(response.status, JSON.stringify(body)).toBe(201);
    return body as DatasetJson;
  }

  async function datasetRows(): Promise<number> {
    const row = await server.platform.metadata.db.selectFrom('datasets').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Asserts a problem+json answer, and that the store is exactly as before the request. */
  async function rejected(response: Response, status: number, code: string, rowsBefore: number, filesBefore: string[]): Promise<Problem> {
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await response.json()) as Problem;
    expect(problem.status, JSON.stringify(problem)).toBe(status);
    expect(response.status).toBe(status);
    expect(problem.code).toBe(code);
    expect(problem.type).toBe(`urn:trainyard:problem:${code.toLowerCase().replaceAll('_', '-')}`);
    expect(typeof problem.detail).toBe('string');
    expect(await datasetRows()).toBe(rowsBefore);
    expect(await filesUnder(blobDir)).toEqual(filesBefore);
    return problem;
  }

  async function snapshot(): Promise<[number, string[]]> {
    return [await datasetRows(), await filesUnder(blobDir)];
  }

  describe('happy paths', () => {
    it('ingests each example file and profiles it', async () => {
      const expected: Record<string, { rows: number; columns: number; last: [string, string] }> = {
        'iris.csv': { rows: 150, columns: 5, last: ['species', 'string'] },
        'diabetes.csv': { rows: 442, columns: 11, last: ['progression', 'integer'] },
        'breast_cancer.csv': { rows: 569, columns: 31, last: ['diagnosis', 'integer'] },
      };
      for (const [file, want] of Object.entries(expected)) {
        const bytes = await readFile(join(EXAMPLES, file));
        const dataset = await created(await uploadMultipart(bytes, file));
        expect(dataset).toMatchObject({ name: file.replace('.csv', ''), version: 1, status: 'ready', format: 'csv', delimiter: ',', size_bytes: bytes.length, sha256: sha256(bytes), row_count: want.rows });
        expect(dataset.id).toMatch(/^ds_/);
        expect(new Date(dataset.created_at).toISOString()).toBe(dataset.created_at);
        expect(dataset.columns).toHaveLength(want.columns);
        const last = dataset.columns[dataset.columns.length - 1];
        expect([last.name, last.type]).toEqual(want.last);
        expect(dataset.columns.every((c) => c.missing_count === 0)).toBe(true);
        const content = await fetch(`${server.url}/v1/datasets/${dataset.id}/content`);
        expect(content.status).toBe(200);
        expect(content.headers.get('content-type')).toContain('text/csv');
        const downloaded = new Uint8Array(await content.arrayBuffer());
        expect(sha256(downloaded)).toBe(dataset.sha256);
        expect(Buffer.compare(Buffer.from(downloaded), bytes)).toBe(0);
      }
    });

    it('computes the iris profile', async () => {
      const dataset = await created(await uploadMultipart(await readFile(join(EXAMPLES, 'iris.csv')), 'iris.csv', { name: 'iris-profile' }));
      const sepal = dataset.columns[0];
      expect(sepal).toMatchObject({ name: 'sepal_length', type: 'number', missing_count: 0, distinct_count: 35, distinct_exact: true, min: 4.3, max: 7.9 });
      expect(sepal.mean).toBeCloseTo(5.843333, 5);
      expect(sepal.std).toBeCloseTo(0.828066, 5);
      expect(dataset.columns[4]).toMatchObject({ name: 'species', type: 'string', distinct_count: 3, min: null, max: null, mean: null, std: null });
    });

    it('handles quotes, CRLF, a BOM, missing tokens and a sniffed semicolon', async () => {
      const text = '\uFEFFid;label;score;ok;note\r\n1;"a;b";1,5;true;"say ""hi"""\r\n2;NA;2;FALSE;"two\r\nlines"\r\n3;c;;True;\r\n4;N/A;null;false;x\r\n';
      const dataset = await created(await uploadRaw(text, '?name=tricky'));
      expect(dataset).toMatchObject({ name: 'tricky', delimiter: ';', row_count: 4, sha256: sha256(text) });
      expect(dataset.columns.map((c) => [c.name, c.type, c.missing_count])).toEqual([
        ['id', 'integer', 0],
        ['label', 'string', 2],
        ['score', 'string', 2], // "1,5" is text with a ; delimiter
        ['ok', 'boolean', 0],
        ['note', 'string', 1],
      ]);
      const preview = await json(await fetch(`${server.url}/v1/datasets/${dataset.id}/preview?limit=3`));
      expect(preview).toEqual({
        columns: ['id', 'label', 'score', 'ok', 'note'],
        rows: [
          [1, 'a;b', '1,5', true, 'say "hi"'],
          [2, null, '2', false, 'two\r\nlines'],
          [3, 'c', null, true, null],
        ],
      });
    });

    it('accepts an explicit delimiter (tab) and application/octet-stream', async () => {
      const text = 'a\tb\n1\t2.5\n3\t4\n';
      const dataset = await created(await uploadRaw(text, '?name=tabbed&delimiter=tab', 'application/octet-stream'));
      expect(dataset.delimiter).toBe('\t');
      expect(dataset.columns.map((c) => c.type)).toEqual(['integer', 'number']);
      const forced = await created(await uploadRaw('a,b\n1,2\n', `?name=forced&delimiter=${encodeURIComponent(';')}`));
      expect(forced.columns.map((c) => c.name)).toEqual(['a,b']);
    });

    it('makes the next version for the same name, also under concurrent uploads', async () => {
      const first = await created(await uploadRaw('x\n1\n', '?name=versioned'));
      const second = await created(await uploadRaw('x\n2\n', '?name=versioned'));
      expect([first.version, second.version]).toEqual([1, 2]);
      const racing = await Promise.all(Array.from({ length: 6 }, (_, k) => uploadRaw(`x\n${k}\n`, '?name=racing').then(created)));
      expect(racing.map((d) => d.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    });

    it('lists newest first with pagination and a name filter', async () => {
      for (let k = 0; k < 5; k++) await created(await uploadRaw(`v\n${k}\n`, '?name=paged'));
      const seen: DatasetJson[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const response: Response = await fetch(`${server.url}/v1/datasets?name=paged&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(response.status).toBe(200);
        const page = (await response.json()) as { items: DatasetJson[]; next_cursor: string | null };
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items);
        cursor = page.next_cursor;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(seen.map((d) => d.version)).toEqual([5, 4, 3, 2, 1]);
      const all = await json(await fetch(`${server.url}/v1/datasets?limit=500`));
      expect(all.items.length).toBe(await datasetRows());
      const ids = all.items.map((d: DatasetJson) => d.id);
      expect([...ids].sort().reverse()).toEqual(ids);
      const bad = await fetch(`${server.url}/v1/datasets?cursor=%%%`);
      expect(bad.status).toBe(400);
      // List answers carry the column count, never the column profiles (GET /v1/datasets/{id} has them).
      expect(all.items[0].columns).toBeUndefined();
      expect(all.items[0].column_count).toBe(1);
    });

    it('gets one dataset and deletes it with its blobs', async () => {
      const dataset = await created(await uploadRaw('a,b\n1,2\n', '?name=doomed'));
      const got = await json(await fetch(`${server.url}/v1/datasets/${dataset.id}`));
      expect(got).toEqual(dataset);
      // The CSV and its columnar copy.
      expect((await filesUnder(join(blobDir, 'datasets', dataset.id))).map((f) => f.slice(f.lastIndexOf('/') + 1)).sort()).toEqual(['columns.bin', 'data.csv']);
      const response = await fetch(`${server.url}/v1/datasets/${dataset.id}`, { method: 'DELETE' });
      expect(response.status).toBe(204);
      expect(await filesUnder(join(blobDir, 'datasets', dataset.id))).toEqual([]);
      expect((await fetch(`${server.url}/v1/datasets/${dataset.id}`)).status).toBe(404);
    });

    it('refuses to delete a dataset a queued or running job uses (409 IN_USE)', async () => {
      const dataset = await created(await uploadRaw('a,b\n1,2\n', '?name=busy'));
      const now = new Date().toISOString();
      await server.platform.metadata.db
        .insertInto('jobs')
        .values({
          id: 'job_busytest0000000000000000', kind: 'training', status: 'running', model_name: 'm', dataset_id: dataset.id, model_version: null, spec_json: '{}',
          progress_json: null, metrics_json: null, stats_json: null, error: null, error_code: null, attempts: 1, max_attempts: 3, cancel_requested: 0,
          lease_owner: null, lease_expires_at: null, external_id: null, created_at: now, started_at: now, finished_at: null, updated_at: now,
        })
        .execute();
      const response = await fetch(`${server.url}/v1/datasets/${dataset.id}`, { method: 'DELETE' });
      const problem = await json(response);
      expect(response.status).toBe(409);
      expect(problem.code).toBe('IN_USE');
      expect(problem.errors[0].message).toContain('job_busytest');
      await server.platform.metadata.db.updateTable('jobs').set({ status: 'succeeded' }).where('id', '=', 'job_busytest0000000000000000').execute();
      expect((await fetch(`${server.url}/v1/datasets/${dataset.id}`, { method: 'DELETE' })).status).toBe(204);
    });

    it('profiles large uploads and chunked ones (no Content-Length) on a worker thread, with the same result as inline', async () => {
      let text = 'id,x,cat,flag\n';
      for (let k = 0; text.length < 9 * 1024 * 1024; k++) text += `${k},${(k % 1000) / 4},"c,${k % 7}",${k % 2 === 0}\n`;
      const rowsExpected = text.split('\n').length - 2;
      const jobsBefore = workerStats.jobs;
      const big = await created(await uploadRaw(text, '?name=big-offthread'));
      expect(workerStats.jobs).toBe(jobsBefore + 1);
      expect(big).toMatchObject({ row_count: rowsExpected, size_bytes: Buffer.byteLength(text), sha256: sha256(text) });
      expect(big.columns.map((c) => [c.type, c.distinct_count])).toEqual([
        ['integer', expect.any(Number)],
        ['number', 1000],
        ['string', 7],
        ['boolean', 2],
      ]);
      // Chunked (no Content-Length): its size is unknown, so it goes to the worker too, never the request thread.
      const chunked = await created(
        await fetch(`${server.url}/v1/datasets?name=big-chunked`, {
          method: 'POST',
          headers: { 'content-type': 'text/csv' },
          body: new Blob([text]).stream(),
          duplex: 'half',
        } as RequestInit),
      );
      expect(workerStats.jobs).toBe(jobsBefore + 2);
      expect(chunked).toMatchObject({ row_count: rowsExpected, sha256: big.sha256, columns: big.columns });
      // The same bytes declared small are profiled inline, and profile the same.
      const inline = await stageUpload(server.platform, Readable.from([Buffer.from(text)]), { expectedBytes: OFF_THREAD_MIN_BYTES - 1 });
      await discardStaged(server.platform, inline);
      expect(workerStats.jobs).toBe(jobsBefore + 2);
      // Equal up to floating-point summation order (blocks follow chunk boundaries).
      const strip = (columns: DatasetJson['columns']) => columns.map(({ mean: _m, std: _s, ...rest }) => rest);
      expect(strip(inline.profile.columns)).toEqual(strip(big.columns));
      inline.profile.columns.forEach((column, k) => {
        expect(column.mean ?? 0).toBeCloseTo(big.columns[k].mean ?? 0, 9);
        expect(column.std ?? 0).toBeCloseTo(big.columns[k].std ?? 0, 9);
      });
      expect(inline.sha256).toBe(big.sha256);
    });

    it('rejects a large bad upload profiled on the worker, keeping nothing, and the worker serves the next one', async () => {
      const [rowsBefore, filesBefore] = [await datasetRows(), await filesUnder(blobDir)];
      let text = 'a,b\n';
      while (text.length < 9 * 1024 * 1024) text += '1,2\n'.repeat(1000);
      const lines = text.split('\n').length - 1;
      text += '3\n' + '4,5\n'.repeat(10);
      const response = await uploadRaw(text, '?name=big-bad');
      const problem = await rejected(response, 400, 'CSV_RAGGED_ROW', rowsBefore, filesBefore);
      expect(problem.errors[0]).toMatchObject({ line: lines + 1, message: 'expected 2 fields, found 1' });
      const next = await created(await uploadRaw(text.slice(0, text.lastIndexOf('3\n')), '?name=big-good'));
      expect(next.row_count).toBe(lines - 1);
    });

    it('documents the routes in OpenAPI', async () => {
      const doc = await json(await fetch(`${server.url}/openapi.json`));
      for (const path of ['/v1/datasets', '/v1/datasets/{id}', '/v1/datasets/{id}/preview', '/v1/datasets/{id}/content']) expect(doc.paths[path], path).toBeDefined();
      const post = doc.paths['/v1/datasets'].post;
      expect(Object.keys(post.requestBody.content)).toEqual(expect.arrayContaining(['multipart/form-data', 'text/csv']));
      expect(post.responses['201']).toBeDefined();
      expect(post.responses['413']).toBeDefined();
      expect(doc.paths['/v1/datasets/{id}'].delete.responses['409']).toBeDefined();
    });
  });

  describe('bad input: problem+json naming what is wrong, nothing stored', () => {
    let rows: number;
    let files: string[];
    beforeEach(async () => {
      [rows, files] = await snapshot();
    });

    it('empty file', async () => {
      const problem = await rejected(await uploadMultipart('', 'empty.csv'), 400, 'EMPTY_FILE', rows, files);
      expect(problem.errors).toEqual([{ field: 'file', message: 'is empty' }]);
      await rejected(await uploadRaw('', '?name=empty'), 400, 'EMPTY_FILE', rows, files);
      await rejected(await uploadRaw('\r\n\n', '?name=blank'), 400, 'EMPTY_FILE', rows, files);
    });

    it('header only', async () => {
      const problem = await rejected(await uploadRaw('a,b,c\n', '?name=header'), 400, 'CSV_HEADER_ONLY', rows, files);
      expect(problem.errors[0]).toMatchObject({ field: 'file' });
    });

    it('duplicate or empty column names', async () => {
      const duplicate = await rejected(await uploadRaw('a,b,a\n1,2,3\n', '?name=dup'), 400, 'CSV_BAD_HEADER', rows, files);
      expect(duplicate.errors).toEqual([{ field: 'a', line: 1, message: 'duplicate column name (also column 1)' }]);
      const empty = await rejected(await uploadRaw('a,,c\n1,2,3\n', '?name=emptycol'), 400, 'CSV_BAD_HEADER', rows, files);
      expect(empty.errors).toEqual([{ field: 'column 2', line: 1, message: 'column name is empty' }]);
    });

    it('ragged rows name the first bad line and the counts', async () => {
      const problem = await rejected(await uploadRaw('a,b,c\n1,2,3\n4,5\n6,7,8,9\n', '?name=ragged'), 400, 'CSV_RAGGED_ROW', rows, files);
      expect(problem.errors).toEqual([{ field: 'file', line: 3, row: 2, message: 'expected 3 fields, found 2' }]);
      expect(problem.detail).toContain('line 3');
    });

    it('a quote that is never closed', async () => {
      const problem = await rejected(await uploadRaw('a,b\n1,"open\n2,3\n', '?name=quote'), 400, 'CSV_UNTERMINATED_QUOTE', rows, files);
      expect(problem.errors).toEqual([{ field: 'file', line: 2, message: 'quoted field is never closed' }]);
    });

    it('a binary file', async () => {
      const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
      const problem = await rejected(await uploadMultipart(png, 'image.csv'), 400, 'BINARY_FILE', rows, files);
      expect(problem.errors[0]).toMatchObject({ field: 'file', line: 3 }); // after the \r\n and \n in the PNG signature
    });

    it('a file that is not UTF-8, naming the line', async () => {
      const latin1 = Buffer.concat([Buffer.from('city,n\nParis,1\nMontr'), Buffer.from([0xe9]), Buffer.from('al,2\n')]);
      const problem = await rejected(await uploadRaw(latin1, '?name=latin1'), 400, 'NOT_UTF8', rows, files);
      expect(problem.errors).toEqual([{ field: 'file', line: 3, message: 'is not valid UTF-8' }]);
    });

    it('no file field', async () => {
      const form = new FormData();
      form.append('name', 'nofile');
      const problem = await rejected(await fetch(`${server.url}/v1/datasets`, { method: 'POST', body: form }), 400, 'MISSING_FILE', rows, files);
      expect(problem.errors).toEqual([{ field: 'file', message: 'is required' }]);
      await rejected(await fetch(`${server.url}/v1/datasets?name=x`, { method: 'POST' }), 400, 'MISSING_FILE', rows, files);
    });

    it('names with path separators, control, format (zero-width, bidi) or other invisible characters, or none at all', async () => {
      const hidden = ['pay\u200Broll', 'a\u200Db', 'invoice\u202Egpj.exe', 'x\u2066y\u2069', 'b\uFEFFom', 'soft\u00ADhyphen', 'line\u2028break', 'no\u00A0break', 'wide\u3000space', 'private\uE000'];
      for (const name of ['a/b', '..\\x', 'tab\there', 'bell\u0007', 'x'.repeat(201), '   ', ...hidden]) {
        const problem = await rejected(await uploadRaw('a\n1\n', `?name=${encodeURIComponent(name)}`), 400, 'INVALID_NAME', rows, files);
        expect(problem.errors[0].field).toBe('querystring.name');
      }
      const bidi = await rejected(await uploadRaw('a\n1\n', `?name=${encodeURIComponent('invoice\u202Egpj.exe')}`), 400, 'INVALID_NAME', rows, files);
      expect(bidi.detail).toContain('U+202E');
      const multipart = await rejected(await uploadMultipart('a\n1\n', 'ok.csv', { name: 'evil/../name' }), 400, 'INVALID_NAME', rows, files);
      expect(multipart.errors[0].field).toBe('name');
      const missing = await rejected(await uploadRaw('a\n1\n', ''), 400, 'INVALID_NAME', rows, files);
      expect(missing.errors[0].field).toBe('querystring.name');
      // Names in other scripts, with emoji and ordinary spaces, are fine.
      expect((await created(await uploadRaw('a\n1\n', `?name=${encodeURIComponent('données été 中文 🚂')}`))).name).toBe('données été 中文 🚂');
    });

    it('a bad delimiter or content type', async () => {
      const problem = await rejected(await uploadRaw('a\n1\n', '?name=d&delimiter=ab'), 400, 'VALIDATION_FAILED', rows, files);
      expect(problem.errors[0].field).toBe('querystring.delimiter');
      await rejected(await uploadRaw('{}', '?name=j', 'application/json'), 415, 'UNSUPPORTED_MEDIA_TYPE', rows, files);
    });

    it('unknown ids are 404 everywhere', async () => {
      for (const [method, path] of [['GET', ''], ['DELETE', ''], ['GET', '/preview'], ['GET', '/content']]) {
        const response = await fetch(`${server.url}/v1/datasets/ds_nosuchdataset${path}`, { method });
        const problem = await rejected(response, 404, 'NOT_FOUND', rows, files);
        expect(problem.detail).toContain('ds_nosuchdataset');
      }
    });

    it('an upload aborted mid-stream leaves nothing behind', async () => {
      for (const multipart of [false, true]) {
        let streaming = false;
        await new Promise<void>((resolve, reject) => {
          const socket = connect(server.port, '127.0.0.1', () => {
            const boundary = 'XBOUNDARYX';
            const head = multipart
              ? `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.csv"\r\nContent-Type: text/csv\r\n\r\na,b\n`
              : 'a,b\n';
            const contentType = multipart ? `multipart/form-data; boundary=${boundary}` : 'text/csv';
            socket.write(`POST /v1/datasets?name=aborted HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\nContent-Length: 10000000\r\n\r\n${head}`);
            let sent = 0;
            const tick = () => {
              socket.write('1,2\n'.repeat(20_000));
              sent++;
              if (sent < 5) {
                setTimeout(tick, 20);
                return;
              }
              // Cut the connection only once the upload is visibly streaming into a temp file.
              const waitForTemp = async () => {
                for (let k = 0; k < 100 && (await filesUnder(join(blobDir, '.tmp'))).length === 0; k++) await new Promise((r) => setTimeout(r, 20));
                streaming = (await filesUnder(join(blobDir, '.tmp'))).length > 0;
                socket.destroy();
              };
              void waitForTemp();
            };
            tick();
          });
          socket.on('close', () => resolve());
          socket.on('error', reject);
        });
        // The server notices the abort asynchronously; wait until the temp file is gone.
        for (let k = 0; k < 50 && (await filesUnder(blobDir)).length !== files.length; k++) await new Promise((r) => setTimeout(r, 50));
        expect(streaming, 'the upload had reached the blob store before the abort').toBe(true);
        expect(await filesUnder(blobDir)).toEqual(files);
        expect(await datasetRows()).toBe(rows);
      }
    });
  });
});

describe('wide CSV headers', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { TRAINYARD_MAX_COLUMNS: '100' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('caps columns (TRAINYARD_MAX_COLUMNS) and the errors one answer lists; keeps nothing', async () => {
    const before = await filesUnder(join(server.dataDir, 'blobs'));
    // 100,001 empty header names in a 200 KB upload: one short answer.
    const empty = `${','.repeat(100_000)}\n${','.repeat(100_000)}\n`;
    const tooWide = await fetch(`${server.url}/v1/datasets?name=wide`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: empty });
    const text = await tooWide.text();
    expect(tooWide.status).toBe(400);
    expect(text.length).toBeLessThan(5000);
    expect(JSON.parse(text)).toMatchObject({ code: 'CSV_BAD_HEADER', errors: [{ field: 'header', message: expect.stringContaining('TRAINYARD_MAX_COLUMNS') }] });
    // Under the cap, 60 empty names: every problem counted, the first 20 listed.
    const sixty = await fetch(`${server.url}/v1/datasets?name=empty`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: `${','.repeat(59)}\n${','.repeat(59)}\n` });
    const problem = await json(sixty);
    expect(sixty.status).toBe(400);
    expect(problem.errors).toHaveLength(20);
    expect(problem.detail).toContain('60 problems, the first 20 listed');
    const ok = await fetch(`${server.url}/v1/datasets?name=ok`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: `${Array.from({ length: 100 }, (_, i) => `c${i}`).join(',')}\n${'1,'.repeat(99)}1\n` });
    expect(ok.status).toBe(201);
    const rows = await server.platform.metadata.db.selectFrom('datasets').select('name').execute();
    expect(rows.map((r) => r.name)).toEqual(['ok']);
    expect((await filesUnder(join(server.dataDir, 'blobs'))).length).toBe(before.length + 2);
  });
});

describe('datasets API with a small upload limit', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { TRAINYARD_MAX_UPLOAD_BYTES: '1000' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  async function state(): Promise<[number, string[]]> {
    const row = await server.platform.metadata.db.selectFrom('datasets').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    return [Number(row.n), await filesUnder(join(server.dataDir, 'blobs'))];
  }

  it('answers 413 for a file over TRAINYARD_MAX_UPLOAD_BYTES and keeps nothing', async () => {
    const big = 'a,b\n' + '12345,67890\n'.repeat(200);
    const ok = 'a,b\n' + '1,2\n'.repeat(100);
    const raw = await fetch(`${server.url}/v1/datasets?name=big`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: big });
    expect(raw.status).toBe(413);
    expect((await json(raw)).code).toBe('UPLOAD_TOO_LARGE');
    expect(await state()).toEqual([0, []]);

    const form = new FormData();
    form.append('file', new Blob([big]), 'big.csv');
    const multipart = await fetch(`${server.url}/v1/datasets`, { method: 'POST', body: form });
    const problem = await json(multipart);
    expect(multipart.status).toBe(413);
    expect(problem.code).toBe('UPLOAD_TOO_LARGE');
    expect(problem.errors[0].field).toBe('file');
    expect(await state()).toEqual([0, []]);

    // A chunked body (no Content-Length) is cut off while streaming.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${server.url}/v1/datasets?name=chunked`, { method: 'POST', headers: { 'content-type': 'text/csv', 'transfer-encoding': 'chunked' } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write(big.slice(0, 600));
      setTimeout(() => req.end(big.slice(600)), 20);
    });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body).code).toBe('UPLOAD_TOO_LARGE');
    expect(await state()).toEqual([0, []]);

    const fits = await fetch(`${server.url}/v1/datasets?name=fits`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: ok });
    expect(fits.status).toBe(201);
  });
});

describe('the README upload command', () => {
  it('works as written: curl -X POST -T streams a text/csv body (plain -T would PUT, 404)', async () => {
    const { execFile } = await import('node:child_process');
    const { writeFile, mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const readme = await readFile(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const command = /`(curl -X POST -H 'content-type: text\/csv' -T file\.csv\s+'http:\/\/127\.0\.0\.1:8080\/v1\/datasets\?name=x')`/.exec(readme);
    expect(command, 'the README shows the upload command').not.toBeNull();
    const server = await startTestServer();
    try {
      const dir = await mkdtemp(join(tmpdir(), 'readme-curl-'));
      await writeFile(join(dir, 'file.csv'), 'a,b\n1,2\n');
      const args = ['-sS', '-X', 'POST', '-H', 'content-type: text/csv', '-T', 'file.csv', `${server.url}/v1/datasets?name=x`];
      const out = await new Promise<string>((resolve, reject) => execFile('curl', args, { cwd: dir }, (error, stdout) => (error ? reject(error) : resolve(stdout))));
      expect(JSON.parse(out)).toMatchObject({ name: 'x', row_count: 1 });
    } finally {
      await server.close();
    }
  });
});
