// Import from object storage end to end, with real processes: a `trainyard server` (its job loop
// runs the import in a run-job subprocess) reading from the S3-protocol server, on SQLite + the file
// blob store and on MariaDB + S3 (when TRAINYARD_TEST_MYSQL_URL is set). A glob of Parquet parts
// makes one dataset profiled as the same rows uploaded at once; one object keeps its bytes; the
// allowlist refuses what is outside it at submission; and every failure (a part of another schema,
// a truncated part, a missing key, an empty prefix, the store failing mid-import, a cancel, a
// kill -9 of the process running the import) ends with a clear error and nothing partial kept.
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Server, type S3TestServer } from './support/s3.ts';
import { createTestDatabase, MYSQL_URL, type TestDatabase } from './support/mysql.ts';
import { api, descendants, readSse, startServerProcess, waitFor, type ServerProcess } from './support/processes.ts';
import { openBlobStore } from '../src/store/blobs/open-blob-store.ts';
import { loadConfig } from '../src/config.ts';
import { openPlatform } from '../src/platform.ts';
import { collectGarbage } from '../src/store/gc.ts';

interface ImportJob {
  id: string;
  status: string;
  url: string;
  error: string | null;
  error_code: string | null;
  attempts: number;
  progress: { files_done: number; files_total: number | null; bytes_done: number; bytes_total: number | null } | null;
  result: { dataset_id: string; dataset_name: string; dataset_version: number; format: string; rows: number; files: number; bytes: number } | null;
}
interface DatasetBody {
  id: string;
  row_count: number;
  sha256: string;
  format: string;
  columns: Array<{ name: string; type: string; missing_count: number; min: unknown; max: unknown; mean: number | null; std: number | null }>;
}

/** Rows `from`..`from+count` of one table: integers, decimals with nulls, dictionary text, booleans, a label. */
function part(from: number, count: number, extra = false): Uint8Array {
  const ids = Array.from({ length: count }, (_, i) => from + i);
  const columnData = [
    { name: 'id', data: ids.map((i) => BigInt(i)), type: 'INT64' as const },
    { name: 'x', data: ids.map((i) => (i % 13 === 0 ? null : ((i * 7919) % 2000) / 100 - 10)), type: 'DOUBLE' as const },
    { name: 'city', data: ids.map((i) => (i % 7 === 0 ? null : ['Zürich', 'Lagos', 'São Paulo'][i % 3])), type: 'STRING' as const },
    { name: 'flag', data: ids.map((i) => i % 3 === 0), type: 'BOOLEAN' as const },
    { name: 'label', data: ids.map((i) => ((i * 13) % 7 < 3 ? 1 : 0)), type: 'INT32' as const },
    ...(extra ? [{ name: 'surprise', data: ids.map((i) => i * 2), type: 'INT32' as const }] : []),
  ];
  return new Uint8Array(parquetWriteBuffer({ columnData, rowGroupSize: 400 }));
}

const ROWS = 600;
const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

const BACKENDS = [
  { name: 'SQLite + file blobs', mysql: false },
  ...(MYSQL_URL ? [{ name: 'MariaDB + S3 blobs', mysql: true }] : []),
];

describe.each(BACKENDS)('import from S3 ($name)', ({ mysql }) => {
  let s3: S3TestServer;
  let client: S3Client;
  let db: TestDatabase | undefined;
  let server: ServerProcess;
  let env: Record<string, string>;

  const put = (key: string, body: Uint8Array | string) => client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
  const submit = (name: string, url: string) => api<ImportJob>(server.url, 'POST', '/v1/datasets/import', { name, url });
  const finished = (id: string, timeoutMs = 150_000) =>
    waitFor(
      `import job ${id} to finish`,
      async () => {
        const job = (await api<ImportJob>(server.url, 'GET', `/v1/import-jobs/${id}`)).body;
        return ['succeeded', 'failed', 'cancelled'].includes(job.status) ? job : undefined;
      },
      timeoutMs,
      200,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${server.tail(60)}`);
    });
  const blobUrl = () => (mysql ? `${s3.bucketUrl}` : `file://${join(server.dataDir, 'blobs')}`);
  /** Dataset blobs under datasets/ whose dataset has no row, and files left in the local staging. */
  async function leftovers(): Promise<{ orphanKeys: string[]; staging: string[] }> {
    const blobs = await openBlobStore(blobUrl(), { s3Endpoint: s3.endpoint });
    const keys = await blobs.list('datasets');
    const page = (await api<{ items: Array<{ id: string }> }>(server.url, 'GET', '/v1/datasets?limit=200')).body;
    const ids = new Set(page.items.map((d) => d.id));
    const staging = await readdir(join(server.dataDir, 'tmp', 'uploads')).catch(() => [] as string[]);
    return { orphanKeys: keys.filter((k) => !ids.has(k.split('/')[1])), staging };
  }
  async function expectNothingKept(name: string) {
    const listed = (await api<{ items: unknown[] }>(server.url, 'GET', `/v1/datasets?name=${encodeURIComponent(name)}`)).body;
    expect(listed.items).toEqual([]);
    await waitFor('the failed import’s blobs and staging to be gone', async () => {
      const left = await leftovers();
      return left.orphanKeys.length === 0 && left.staging.length === 0 ? true : undefined;
    }, 10_000);
  }

  beforeAll(async () => {
    s3 = await startS3Server();
    client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: s3.credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });
    for (let p = 0; p < 3; p++) await put(`data/events/part-${p}.parquet`, part(p * ROWS, ROWS));
    await put('data/whole.parquet', part(0, 3 * ROWS));
    await put('data/mixed/part-0.parquet', part(0, ROWS));
    await put('data/mixed/part-1.parquet', part(ROWS, ROWS, true));
    const truncated = part(0, ROWS);
    await put('data/truncated/part-0.parquet', part(ROWS, ROWS));
    await put('data/truncated/part-1.parquet', truncated.subarray(0, truncated.length - 100));
    await put('data/one.csv', 'a,b,label\n1,x,0\n2,y,1\n3,z,0\n');
    await put('data/lines/a.jsonl', '{"a":1,"label":0}\n{"a":2,"label":1}');
    await put('data/lines/b.jsonl', '{"a":3,"label":0,"b":"new"}\n');
    await put('data-secret/x.parquet', part(0, 10));
    if (mysql) db = await createTestDatabase();
    const stores: Record<string, string> = mysql
      ? { ...s3.env, TRAINYARD_DATABASE_URL: db!.url }
      : { TRAINYARD_S3_ENDPOINT: s3.endpoint, AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey, AWS_REGION: 'us-east-1' };
    env = { ...stores, TRAINYARD_IMPORT_ALLOW: `s3://${s3.bucket}/data`, TRAINYARD_MAX_ATTEMPTS: '2' };
    server = await startServerProcess(env, { readyTimeoutMs: 150_000 });
  }, 300_000);

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
    client?.destroy();
    await s3?.stop();
  });

  it('imports a glob of Parquet parts as one dataset with the profile of the same rows uploaded at once, and names the version', async () => {
    const submitted = await submit('events', `s3://${s3.bucket}/data/events/part-*.parquet`);
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    expect(submitted.headers.get('location')).toBe(`/v1/import-jobs/${submitted.body.id}`);
    const job = await finished(submitted.body.id);
    expect(job.status, job.error ?? '').toBe('succeeded');
    expect(job.result).toMatchObject({ dataset_name: 'events', dataset_version: 1, format: 'parquet', rows: 3 * ROWS, files: 3 });
    expect(job.progress).toMatchObject({ files_done: 3, files_total: 3, bytes_done: job.result!.bytes, bytes_total: job.result!.bytes });

    const imported = (await api<DatasetBody>(server.url, 'GET', `/v1/datasets/${job.result!.dataset_id}`)).body;
    const whole = await finished((await submit('whole', `s3://${s3.bucket}/data/whole.parquet`)).body.id);
    expect(whole.status, whole.error ?? '').toBe('succeeded');
    const single = (await api<DatasetBody>(server.url, 'GET', `/v1/datasets/${whole.result!.dataset_id}`)).body;
    expect(imported.row_count).toBe(3 * ROWS);
    expect(imported.columns.map((c) => [c.name, c.type])).toEqual([['id', 'integer'], ['x', 'number'], ['city', 'string'], ['flag', 'boolean'], ['label', 'integer']]);
    for (const [k, column] of imported.columns.entries()) {
      const rounded = (c: DatasetBody['columns'][number]) => ({ ...c, mean: c.mean === null ? null : Number(c.mean.toFixed(9)), std: c.std === null ? null : Number(c.std.toFixed(9)) });
      expect(rounded(column)).toEqual(rounded(single.columns[k]));
    }
    const preview = (await api<{ rows: unknown[][] }>(server.url, 'GET', `/v1/datasets/${imported.id}/preview?limit=${ROWS + 2}`)).body;
    expect(preview.rows.slice(ROWS - 1, ROWS + 1).map((r) => r[0])).toEqual([ROWS - 1, ROWS]);
    // One object keeps its bytes; the parts' original is one Parquet file of all rows.
    const original = new Uint8Array(await (await fetch(`${server.url}/v1/datasets/${single.id}/content`)).arrayBuffer());
    expect(sha256(original)).toBe(sha256(part(0, 3 * ROWS)));
    const combined = new Uint8Array(await (await fetch(`${server.url}/v1/datasets/${imported.id}/content`)).arrayBuffer());
    expect(sha256(combined)).toBe(imported.sha256);

    // The same name again is the next version; the events stream ends like any job's; the list has both.
    const again = await finished((await submit('events', `s3://${s3.bucket}/data/events/`)).body.id);
    expect(again.result).toMatchObject({ dataset_version: 2, rows: 3 * ROWS });
    const events = await readSse(`${server.url}/v1/import-jobs/${again.id}/events`);
    expect(events.filter((e) => e.event === 'status').map((e) => (e.data as { status: string }).status)).toContain('succeeded');
    const listed = (await api<{ items: ImportJob[] }>(server.url, 'GET', '/v1/import-jobs?status=succeeded')).body;
    expect(listed.items.map((j) => j.id)).toEqual(expect.arrayContaining([job.id, again.id]));
  }, 300_000);

  it('imports one CSV object byte for byte, and JSON Lines parts as their concatenation', async () => {
    const csv = await finished((await submit('one', `s3://${s3.bucket}/data/one.csv`)).body.id);
    expect(csv.status, csv.error ?? '').toBe('succeeded');
    const dataset = (await api<DatasetBody>(server.url, 'GET', `/v1/datasets/${csv.result!.dataset_id}`)).body;
    expect(dataset).toMatchObject({ format: 'csv', row_count: 3, sha256: sha256('a,b,label\n1,x,0\n2,y,1\n3,z,0\n') });
    const lines = await finished((await submit('lines', `s3://${s3.bucket}/data/lines/*.jsonl`)).body.id);
    expect(lines.status, lines.error ?? '').toBe('succeeded');
    const jsonl = (await api<DatasetBody>(server.url, 'GET', `/v1/datasets/${lines.result!.dataset_id}`)).body;
    expect(jsonl.row_count).toBe(3);
    expect(jsonl.columns.map((c) => c.name)).toEqual(['a', 'label', 'b']);
  }, 300_000);

  it('refuses at submission what is malformed (400) or outside TRAINYARD_IMPORT_ALLOW (403), prefix by whole segments', async () => {
    for (const url of [`s3://${s3.bucket}/data-secret/x.parquet`, `s3://${s3.bucket}/data*`, `s3://${s3.bucket}/`, 's3://another-bucket/data/x.parquet']) {
      const res = await submit('nope', url);
      expect(res.status, url).toBe(403);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect((res.body as unknown as { code: string }).code).toBe('IMPORT_NOT_ALLOWED');
    }
    for (const url of ['https://example.com/x.parquet', `s3://${s3.bucket}/data/../data-secret/x.parquet`, `s3://${s3.bucket}/data//x.parquet`, `s3://${s3.bucket}/data/*/x.parquet`, 's3://B/x.parquet', `s3://${s3.bucket}/data/notes.docx`, `s3://${s3.bucket}/data/a%2F..%2Fb.csv`]) {
      const res = await submit('nope', url);
      expect(res.status, url).toBe(400);
      expect((res.body as unknown as { code: string }).code, url).toBe('INVALID_IMPORT_URL');
    }
    expect((await api(server.url, 'GET', '/v1/import-jobs')).body).toMatchObject({ items: expect.any(Array) });
  });

  it('fails the job naming the part whose schema differs, or that is truncated, keeping nothing', async () => {
    const mixed = await finished((await submit('mixed', `s3://${s3.bucket}/data/mixed/*.parquet`)).body.id);
    expect(mixed).toMatchObject({ status: 'failed', error_code: 'BAD_DATA', attempts: 1 });
    expect(mixed.error).toContain(`s3://${s3.bucket}/data/mixed/part-1.parquet`);
    expect(mixed.error).toContain('surprise');
    await expectNothingKept('mixed');
    const truncated = await finished((await submit('truncated', `s3://${s3.bucket}/data/truncated/*.parquet`)).body.id);
    expect(truncated).toMatchObject({ status: 'failed', error_code: 'BAD_DATA' });
    expect(truncated.error).toContain(`s3://${s3.bucket}/data/truncated/part-1.parquet`);
    await expectNothingKept('truncated');
  }, 300_000);

  it('fails the job naming a missing key or a prefix that matches nothing', async () => {
    const missing = await finished((await submit('missing', `s3://${s3.bucket}/data/nothing-here.parquet`)).body.id);
    expect(missing).toMatchObject({ status: 'failed', error_code: 'BAD_DATA' });
    expect(missing.error).toContain(`s3://${s3.bucket}/data/nothing-here.parquet: no such object`);
    const empty = await finished((await submit('empty', `s3://${s3.bucket}/data/none/*.parquet`)).body.id);
    expect(empty).toMatchObject({ status: 'failed', error_code: 'BAD_DATA' });
    expect(empty.error).toContain('matches no objects');
  }, 300_000);

  it('fails the job when the object store fails mid-import (retried, then failed), keeping nothing', async () => {
    s3.setFault({ status: 500, match: (req) => req.method === 'GET' && (req.url ?? '').includes('/data/events/part-2.parquet') });
    try {
      const job = await finished((await submit('flaky', `s3://${s3.bucket}/data/events/*.parquet`)).body.id);
      expect(job).toMatchObject({ status: 'failed', error_code: 'INFRASTRUCTURE', attempts: 2 });
      expect(job.error).toContain('part-2.parquet');
    } finally {
      s3.setFault(null);
    }
    await expectNothingKept('flaky');
  }, 300_000);

  it('cancels an import mid-way, keeping nothing', async () => {
    s3.setFault({ status: 0, stallMs: 4000, match: (req) => req.method === 'GET' && (req.url ?? '').includes('/data/events/part-1.parquet') });
    try {
      const job = (await submit('cancelled', `s3://${s3.bucket}/data/events/*.parquet`)).body;
      await waitFor('the import to reach part 1', () => s3.requests.some((r) => r.startsWith('GET') && r.includes('/data/events/part-1.parquet')) || undefined, 30_000, 50);
      expect((await api(server.url, 'POST', `/v1/import-jobs/${job.id}/cancel`)).status).toBe(202);
      expect((await finished(job.id)).status).toBe('cancelled');
    } finally {
      s3.setFault(null);
    }
    await expectNothingKept('cancelled');
  }, 300_000);

  it('survives a kill -9 of the process running the import: retried to one dataset, and gc removes what the killed attempt staged', async () => {
    const before = s3.requests.length;
    s3.setFault({ status: 0, stallMs: 3000, match: (req) => req.method === 'GET' && (req.url ?? '').includes('/data/events/part-1.parquet') });
    let job: ImportJob;
    try {
      job = (await submit('killed', `s3://${s3.bucket}/data/events/*.parquet`)).body;
      await waitFor('the import to reach part 1', () => s3.requests.slice(before).some((r) => r.startsWith('GET') && r.includes('/data/events/part-1.parquet')) || undefined, 30_000, 50);
      const children = await descendants(server.pid);
      expect(children.length).toBeGreaterThan(0);
      for (const pid of children) process.kill(pid, 'SIGKILL');
    } finally {
      s3.setFault(null);
    }
    const done = await finished(job.id);
    expect(['succeeded', 'failed']).toContain(done.status);
    const named = (await api<{ items: Array<{ id: string }> }>(server.url, 'GET', '/v1/datasets?name=killed')).body.items;
    expect(named.length).toBe(done.status === 'succeeded' ? 1 : 0);
    if (done.status === 'succeeded') expect(done.attempts).toBe(2);
    // What the killed attempt staged has no row: gc (any age) removes it, and keeps the dataset.
    const platform = await openPlatform(loadConfig({ ...process.env, ...env, TRAINYARD_DATA_DIR: server.dataDir, TRAINYARD_LOG_LEVEL: 'silent' }), { migrate: false });
    try {
      await collectGarbage(platform, { dryRun: false, minAgeMs: 0 });
    } finally {
      await platform.close();
    }
    expect(await leftovers()).toEqual({ orphanKeys: [], staging: [] });
    if (done.status === 'succeeded') expect((await api(server.url, 'GET', `/v1/datasets/${named[0].id}/preview?limit=1`)).status).toBe(200);
  }, 300_000);
});
