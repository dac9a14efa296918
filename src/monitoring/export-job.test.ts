// The export job's attempts over real stores (SQLite, file blobs), run in this process the way the
// job engine runs them: nothing an attempt stages outlives it, whether it fails, is cancelled, or is
// killed (the next attempt clears what a killed one left, or finishes with the dataset it recorded).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config.ts';
import { openPlatform, type Platform } from '../platform.ts';
import { insertJobReferences } from '../../test/support/job-references.ts';
import { createJob, getJobRow } from '../jobs/jobs.ts';
import { claimById, newLeaseOwner, requeue } from '../jobs/queue.ts';
import { EventSink } from '../jobs/context.ts';
import type { BlobStore } from '../store/blobs/blob-store.ts';
import { predictionLogPartKey } from '../store/blobs/keys.ts';
import { jobDatasetId } from '../ids.ts';
import { exportJobRunner, type ExportJobResult, type ExportJobSpec } from './export-job.ts';
import { exportPredictionLogs } from './export.ts';

const HOUR = new Date().toISOString().slice(0, 13);
const SPEC: ExportJobSpec = { target: 'label', name: 'served', from: new Date(0).toISOString(), to: new Date(Date.now() + 3600_000).toISOString() };

describe('the export job', () => {
  let dir: string;
  let platform: Platform;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trainyard-export-'));
    platform = await openPlatform(loadConfig({ TRAINYARD_DATA_DIR: dir, TRAINYARD_LOG_LEVEL: 'silent' }), { migrate: true });
    await insertJobReferences(platform.metadata.db, { model: 'm' });
    const time = new Date().toISOString();
    for (const part of [1, 2]) {
      const lines = Array.from({ length: 50 }, (_, row) => JSON.stringify({ time, model: 'm', version: 1, request_id: `r${part}`, row, latency_ms: 1, inputs: { x: row, c: 'a' }, output: { value: 1 } }));
      await platform.blobs.put(predictionLogPartKey('m', HOUR, `part-${part}`), lines.join('\n') + '\n');
    }
  });
  afterEach(async () => {
    await platform.close();
    await rm(dir, { recursive: true, force: true });
  });

  const newJob = async () => (await createJob(platform.metadata, { kind: 'export', model: 'm', spec: SPEC, maxAttempts: 3 })).id;

  /** Claims the job and runs one attempt of it, with `blobs` in place of the store when given. */
  async function attempt(id: string, options: { blobs?: BlobStore; signal?: AbortSignal } = {}): Promise<void> {
    const owner = newLeaseOwner('test');
    const job = await claimById(platform.metadata, id, owner, 60_000);
    if (!job) throw new Error(`job ${id} is not queued`);
    const events = new EventSink(platform, id);
    try {
      await exportJobRunner.run({ platform: { ...platform, blobs: options.blobs ?? platform.blobs }, job, owner, signal: options.signal ?? new AbortController().signal, events });
    } finally {
      await events.stop();
    }
  }

  const datasetKeys = () => platform.blobs.list('datasets/');
  const datasetRows = () => platform.metadata.db.selectFrom('datasets').select(['id', 'name', 'version']).execute();

  it('keeps nothing of an attempt that fails while staging', async () => {
    const failing: BlobStore = Object.assign(Object.create(platform.blobs) as BlobStore, {
      put: (key: string, ...rest: Parameters<BlobStore['put']> extends [string, ...infer R] ? R : never) =>
        key.endsWith('columns.bin') ? Promise.reject(new Error('disk full')) : platform.blobs.put(key, ...rest),
    });
    await expect(attempt(await newJob(), { blobs: failing })).rejects.toThrow();
    expect(await datasetKeys()).toEqual([]);
    expect(await datasetRows()).toEqual([]);
  });

  it('keeps nothing of an attempt cancelled mid-export', async () => {
    const cancel = new AbortController();
    let reads = 0;
    // The second part read (the first pass's second) cancels the job.
    const cancelling: BlobStore = Object.assign(Object.create(platform.blobs) as BlobStore, {
      get: (key: string) => {
        if (++reads === 3) cancel.abort('cancelled');
        return platform.blobs.get(key);
      },
    });
    await expect(attempt(await newJob(), { blobs: cancelling, signal: cancel.signal })).rejects.toThrow(/stopped/);
    expect(reads).toBeGreaterThanOrEqual(3);
    expect(await datasetKeys()).toEqual([]);
    expect(await datasetRows()).toEqual([]);
  });

  it('clears what a killed attempt staged before exporting again', async () => {
    const id = await newJob();
    const staged = jobDatasetId(id);
    // Attempt 1 is killed with -9 mid-export: half a CSV and a columnar copy are left, no row.
    await claimById(platform.metadata, id, 'killed-worker', 60_000);
    await platform.blobs.put(`datasets/${staged}/data.csv`, 'x,c,label\n0,a,\n1,');
    await platform.blobs.put(`datasets/${staged}/columns.bin`, 'torn');
    await requeue(platform.metadata, id, 'killed-worker', 'its worker died');

    await attempt(id);
    const job = await getJobRow(platform.metadata.db, id);
    expect(job.status).toBe('succeeded');
    expect(JSON.parse(job.stats_json!)).toMatchObject({ dataset_id: staged, rows: 100 } satisfies Partial<ExportJobResult>);
    expect(await datasetRows()).toEqual([{ id: staged, name: 'served', version: 1 }]);
    expect(await datasetKeys()).toEqual([`datasets/${staged}/columns.bin`, `datasets/${staged}/data.csv`]);
    const chunks: Buffer[] = [];
    for await (const chunk of await platform.blobs.get(`datasets/${staged}/data.csv`)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString('utf8').trim().split('\n')).toHaveLength(101);
  });

  it('finishes with the dataset a killed attempt recorded, instead of exporting it twice', async () => {
    const id = await newJob();
    await claimById(platform.metadata, id, 'killed-worker', 60_000);
    // Attempt 1 records the dataset and is killed before it can finish the job.
    const request = { model: 'm', target: SPEC.target, name: SPEC.name, datasetId: jobDatasetId(id), from: new Date(SPEC.from), to: new Date(SPEC.to) };
    await exportPredictionLogs(platform, request, new AbortController().signal);
    await requeue(platform.metadata, id, 'killed-worker', 'its worker died');

    await attempt(id);
    const job = await getJobRow(platform.metadata.db, id);
    expect(job.status).toBe('succeeded');
    expect(JSON.parse(job.stats_json!)).toMatchObject({ dataset_id: jobDatasetId(id), dataset_version: 1, rows: 100 });
    expect(await datasetRows()).toEqual([{ id: jobDatasetId(id), name: 'served', version: 1 }]);
  });
});
