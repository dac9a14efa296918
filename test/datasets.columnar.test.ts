// The columnar copy end to end: written at ingest next to the CSV (inline and on the profiling
// worker, on the file store and on S3), gone with the dataset and with a failed upload, and read by
// training-data preparation and batch inference with results byte-identical to reading the CSV.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, mlp, startTestPlatform, train, uploadCsv, waitForJob, type JobView, type TestPlatform } from './support/platform.ts';
import { BLOB_STORES, type BlobFixture } from './support/stores.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { createTestDatabase, MYSQL_URL, type TestDatabase } from './support/mysql.ts';
import { acquireWorkerProfiler, workerStats, type WorkerProfiler } from '../src/datasets/csv/worker-profiler.ts';
import { columnarInfo, datasetReadPath, readDatasetBatches } from '../src/datasets/read-dataset.ts';
import { readCsvBatches, type CsvBatch, type CsvColumnRequest } from '../src/datasets/csv/reader.ts';
import { prepareTrainingData } from '../src/training/prepare.ts';
import type { BlobStore } from '../src/store/blobs/blob-store.ts';
import type { DatasetRow } from '../src/datasets/rows.ts';

async function readBlob(blobs: BlobStore, key: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of await blobs.get(key)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

async function collect(batches: AsyncIterable<CsvBatch>): Promise<CsvBatch[]> {
  const out: CsvBatch[] = [];
  for await (const batch of batches) out.push(batch);
  return out;
}

/** The first difference between two batch lists, or null (toEqual on millions of cells is too slow). */
function difference(a: CsvBatch[], b: CsvBatch[]): string | null {
  if (a.length !== b.length) return `${a.length} vs ${b.length} batches`;
  for (let i = 0; i < a.length; i++) {
    if (a[i].firstRow !== b[i].firstRow || a[i].length !== b[i].length || a[i].columns.length !== b[i].columns.length) return `batch ${i} shape`;
    for (let c = 0; c < a[i].columns.length; c++) {
      const x = a[i].columns[c];
      const y = b[i].columns[c];
      if (x.constructor !== y.constructor || x.length !== y.length) return `batch ${i} column ${c} type or length`;
      for (let r = 0; r < x.length; r++) if (!Object.is(x[r], y[r])) return `batch ${i} column ${c} row ${r}: ${String(x[r])} vs ${String(y[r])}`;
    }
  }
  return null;
}

/** Rows with decimals, integers with gaps, quoted text with commas and quotes, unicode, and a 0/1 label. */
function sampleCsv(rows: number): string {
  let text = 'x,n,city,note,label\n';
  for (let i = 0; i < rows; i++) {
    const x = (((i * 7919) % 2000) / 100 - 10).toFixed(2);
    const n = i % 11 === 0 ? 'NA' : String((i * 31) % 97);
    const city = ['Zürich', '"New York, NY"', 'São Paulo', '', '"Say ""hi"""'][i % 5];
    const note = i % 3 === 0 ? 'n/a' : `note ${i % 17}`;
    text += `${x},${n},${city},${note},${(i * 13) % 7 < 3 ? 1 : 0}\n`;
  }
  return text;
}

for (const config of BLOB_STORES) {
  // The S3 variant keeps its metadata on MariaDB when TRAINYARD_TEST_MYSQL_URL is set (migration 0002 there).
  const mysql = config.name === 's3' && MYSQL_URL !== undefined;
  describe(`columnar copy at ingest on the ${config.name} blob store${mysql ? ' and MariaDB' : ''}`, () => {
    let fixture: BlobFixture;
    let database: TestDatabase | null = null;
    let platform: TestServer;
    beforeAll(async () => {
      fixture = await config.create();
      database = mysql ? await createTestDatabase() : null;
      platform = await startTestServer({ env: { ...fixture.env, ...(database ? { TRAINYARD_DATABASE_URL: database.url } : {}) } });
    });
    afterAll(async () => {
      await platform?.close();
      await database?.drop();
      await fixture?.cleanup();
    });

    const row = (id: string): Promise<DatasetRow> => platform.platform.metadata.db.selectFrom('datasets').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const keys = () => platform.platform.blobs.list('datasets');

    it('writes the copy next to the CSV, the same bytes inline and on the worker, and deletes both', async () => {
      let text = sampleCsv(1000);
      while (text.length < 9 * 1024 * 1024) text += sampleCsv(20_000).slice(text.indexOf('\n') + 1);
      const jobsBefore = workerStats.jobs;
      // The copy is put as derived data (durable: false: not fsynced on the file store), the CSV as durable.
      const blobs = platform.platform.blobs;
      const put = blobs.put.bind(blobs);
      const puts: [string, boolean | undefined][] = [];
      blobs.put = (key, body, options) => {
        puts.push([key.slice(key.lastIndexOf('/') + 1), options?.durable]);
        return put(key, body, options);
      };
      let offThread: { id: string };
      let inline: { id: string };
      try {
        offThread = await uploadCsv(platform.url, text, 'big');
        expect(workerStats.jobs).toBe(jobsBefore + 1);
        // With every pooled worker taken, the same upload is profiled inline (the server runs in
        // this process, so holding the workers here holds the server's).
        const held: WorkerProfiler[] = [];
        for (let p = acquireWorkerProfiler(); p; p = acquireWorkerProfiler()) held.push(p);
        try {
          inline = (await (
            await fetch(`${platform.url}/v1/datasets?name=big`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: new Blob([text]).stream(), duplex: 'half' } as RequestInit)
          ).json()) as { id: string };
        } finally {
          for (const p of held) p.abandon();
        }
        expect(workerStats.jobs).toBe(jobsBefore + 1 + held.length);
      } finally {
        blobs.put = put;
      }
      expect(puts.sort()).toEqual([['columns.bin', false], ['columns.bin', false], ['data.csv', undefined], ['data.csv', undefined]]);

      for (const id of [offThread.id, inline.id]) {
        const info = columnarInfo(await row(id));
        expect(info).toMatchObject({ key: `datasets/${id}/columns.bin`, row_count: text.split('\n').length - 2 });
        expect(info!.columns.map((c) => [c.name, c.form, c.exact_text])).toEqual([
          ['x', 'number', false], // `-9.90` is not how JavaScript spells -9.9
          ['n', 'number', true],
          ['city', 'text', true],
          ['note', 'text', true],
          ['label', 'number', true],
        ]);
        expect(info!.size_bytes).toBe((await platform.platform.blobs.stat(info!.key))!.size);
      }
      const copies = [await readBlob(platform.platform.blobs, `datasets/${offThread.id}/columns.bin`), await readBlob(platform.platform.blobs, `datasets/${inline.id}/columns.bin`)];
      expect(copies[0].equals(copies[1])).toBe(true);
      expect(await keys()).toEqual(expect.arrayContaining([`datasets/${offThread.id}/columns.bin`, `datasets/${offThread.id}/data.csv`]));

      // Every request the copy can answer reads back as the CSV reader reads it.
      const dataset = await row(offThread.id);
      const requests: CsvColumnRequest[] = [
        { name: 'label', as: 'string' },
        { name: 'city', as: 'string' },
        { name: 'x', as: 'number' },
        { name: 'n', as: 'number' },
        { name: 'note', as: 'string' },
        { name: 'n', as: 'string' },
      ];
      expect(datasetReadPath(dataset, requests)).toBe('columnar');
      const csv = await collect(readCsvBatches(await platform.platform.blobs.get(dataset.blob_key), { columns: requests, batchRows: 5000 }));
      expect(difference(await collect(readDatasetBatches(platform.platform.blobs, dataset, { columns: requests, batchRows: 5000 })), csv)).toBeNull();

      for (const id of [offThread.id, inline.id]) expect((await fetch(`${platform.url}/v1/datasets/${id}`, { method: 'DELETE' })).status).toBe(204);
      expect((await keys()).filter((k) => k.includes(offThread.id) || k.includes(inline.id))).toEqual([]);
    });

    it('keeps neither blob nor row when writing the copy fails, inline or on the worker', async () => {
      const blobs = platform.platform.blobs;
      const put = blobs.put.bind(blobs);
      const before = await keys();
      const rowsBefore = (await platform.platform.metadata.db.selectFrom('datasets').select('id').execute()).length;
      blobs.put = async (key, body, options) => {
        if (!key.endsWith('/columns.bin')) return put(key, body, options);
        // Take some of the copy, then fail like a store that went away.
        for await (const _ of body as Readable) break;
        throw Object.assign(new Error('columnar write failed (injected)'), { code: 'EIO' });
      };
      try {
        for (const size of [10_000, 9 * 1024 * 1024]) {
          let text = sampleCsv(100);
          while (text.length < size) text += sampleCsv(20_000).slice(text.indexOf('\n') + 1);
          const response = await fetch(`${platform.url}/v1/datasets?name=failing`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: text });
          expect(response.status).toBeGreaterThanOrEqual(500);
          await response.arrayBuffer();
        }
      } finally {
        blobs.put = put;
      }
      expect(await keys()).toEqual(before);
      expect((await platform.platform.metadata.db.selectFrom('datasets').select('id').execute()).length).toBe(rowsBefore);
      // The next upload works.
      expect((await uploadCsv(platform.url, sampleCsv(10), 'after-failure')).id).toMatch(/^ds_/);
    });
  });
}

describe('preparation and batch inference read the copy with byte-identical results', () => {
  let platform: TestPlatform;
  let scratch: string;
  beforeAll(async () => {
    platform = await startTestPlatform();
    scratch = await mkdtemp(join(tmpdir(), 'trainyard-columnar-prepare-'));
  });
  afterAll(async () => {
    await platform?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  const db = () => platform.platform.metadata.db;
  const row = (id: string): Promise<DatasetRow> => db().selectFrom('datasets').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  async function filesOf(dir: string): Promise<Record<string, Buffer>> {
    const out: Record<string, Buffer> = {};
    for (const name of (await readdir(dir)).sort()) out[name] = await readFile(join(dir, name));
    return out;
  }

  it('gives the same tensors, the same model inputs and the same predictions with and without the copy', async () => {
    const text = sampleCsv(3000);
    const withCopy = await uploadCsv(platform.url, text, 'same');
    const withoutCopy = await uploadCsv(platform.url, text, 'same');
    await db().updateTable('datasets').set({ columnar_json: null }).where('id', '=', withoutCopy.id).execute();

    // Preparation, for a classifier (label read as text) and a regression (label read as a number).
    for (const [task, target] of [['binary_classification', 'label'], ['regression', 'n']] as const) {
      const outputs: Array<Record<string, Buffer>> = [];
      const preprocessing: unknown[] = [];
      for (const id of [withCopy.id, withoutCopy.id]) {
        const dataset = await row(id);
        const jobDir = await mkdtemp(join(scratch, 'job-'));
        const columns = JSON.parse(dataset.columns_json) as Array<{ name: string; type: string }>;
        const prepared = await prepareTrainingData({
          blobs: platform.platform.blobs,
          blobKey: dataset.blob_key,
          delimiter: dataset.delimiter,
          rowCount: dataset.row_count,
          datasetId: dataset.id,
          columnarJson: dataset.columnar_json,
          columns,
          task,
          target,
          features: columns.map((c) => c.name).filter((n) => n !== target),
          maxCategories: 50,
          validationSplit: 0.2,
          seed: 5,
          jobDir,
        });
        outputs.push(await filesOf(jobDir));
        preprocessing.push(prepared);
      }
      expect(Object.keys(outputs[0])).toEqual(['train_x.npy', 'train_y.npy', 'val_x.npy', 'val_y.npy']);
      for (const name of Object.keys(outputs[0])) expect(outputs[0][name].equals(outputs[1][name]), name).toBe(true);
      expect(preprocessing[0]).toEqual(preprocessing[1]);
    }
    const features: CsvColumnRequest[] = [
      { name: 'x', as: 'number' },
      { name: 'n', as: 'number' },
      { name: 'city', as: 'string' },
      { name: 'note', as: 'string' },
      { name: 'label', as: 'string' },
    ];
    expect(datasetReadPath(await row(withCopy.id), features)).toBe('columnar');
    expect(datasetReadPath(await row(withoutCopy.id), features)).toBe('csv');

    // A model trained on the data, then batch inference over both datasets.
    expect((await api(platform.url, 'POST', '/v1/models', { name: 'same', task: 'binary_classification', target: 'label', layers: mlp([8], 1) })).status).toBe(201);
    const trained = await train(platform.url, 'same', withCopy.id, { epochs: 2, seed: 3 });
    expect(trained.status, JSON.stringify(trained)).toBe('succeeded');
    const predict = async (dataset: string): Promise<string> => {
      const created = await api<JobView>(platform.url, 'POST', '/v1/inference-jobs', { model: 'same', dataset });
      expect(created.status).toBe(202);
      const job = (await waitForJob(platform.url, created.body.id, { kind: 'inference' })) as JobView & { output: string };
      expect(job.status, JSON.stringify(job)).toBe('succeeded');
      return (await fetch(`${platform.url}${job.output}`)).text();
    };
    const fromCopy = await predict(withCopy.id);
    expect(fromCopy.split('\n')).toHaveLength(3002);
    expect(await predict(withoutCopy.id)).toBe(fromCopy);

    // A truncated copy: the job notices, reads the CSV instead, and predicts the same.
    const key = columnarInfo(await row(withCopy.id))!.key;
    const bytes = await readBlob(platform.platform.blobs, key);
    await platform.platform.blobs.put(key, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    expect(await predict(withCopy.id)).toBe(fromCopy);
  });
});
