// trainyard gc over real stores: a file store and the S3-protocol server, with a real SQLite
// metadata store. Orphans are made the way crashes make them: blobs written, no row recorded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, utimes, writeFile, mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config.ts';
import { openPlatform, type Platform } from '../platform.ts';
import { newId, idTime, jobDatasetId } from '../ids.ts';
import { collectGarbage } from './gc.ts';
import { startS3Server, type S3TestServer } from '../../test/support/s3.ts';
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import type { S3BlobStore } from './blobs/s3-blob-store.ts';

const DAY = 24 * 3_600_000;

async function seed(platform: Platform) {
  const old = Date.now() - 2 * DAY;
  const kept = newId('ds', old);
  const orphan = newId('ds', old);
  const fresh = newId('ds'); // an upload that may still be recording its row
  const job = newId('job', old);
  const orphanJob = newId('job', old);
  const now = new Date(old).toISOString();
  await platform.metadata.db
    .insertInto('datasets')
    .values({ id: kept, name: 'kept', version: 1, status: 'ready', format: 'csv', delimiter: ',', size_bytes: 4, sha256: 'x', row_count: 1, columns_json: '[]', blob_key: `datasets/${kept}/data.csv`, columnar_json: null, column_count: 0, created_at: now })
    .execute();
  for (const id of [kept, orphan, fresh]) await platform.blobs.put(`datasets/${id}/data.csv`, 'a\n1\n');
  await platform.blobs.put(`datasets/${orphan}/columns.bin`, 'x');
  await platform.blobs.put(`jobs/${orphanJob}/log.txt`, 'log');
  await platform.blobs.put(`models/m/${job}-a1/model.onnx`, 'onnx'); // its job row is gone too
  await platform.blobs.put('notes/readme.txt', 'not ours');
  // An export job queued long ago and running now: what it stages is not an orphan.
  const exporting = newId('job', old);
  await platform.metadata.db
    .insertInto('jobs')
    .values({ id: exporting, kind: 'export', status: 'running', spec_json: '{}', attempts: 1, max_attempts: 3, cancel_requested: 0, created_at: now, updated_at: now })
    .execute();
  await platform.blobs.put(`datasets/${jobDatasetId(exporting)}/data.csv`, 'a\n1\n');
  // Checkpoints of a training job still running are kept; those of one the reaper failed are not.
  const training = newId('job', old);
  const reaped = newId('job', old);
  for (const [id, status] of [[training, 'running'], [reaped, 'failed']] as const) {
    await platform.metadata.db
      .insertInto('jobs')
      .values({ id, kind: 'training', status, spec_json: '{}', attempts: 1, max_attempts: 3, cancel_requested: 0, created_at: now, updated_at: now })
      .execute();
    await platform.blobs.put(`jobs/${id}/checkpoints/1-e1.pt`, 'pt');
  }
  await platform.blobs.put(`jobs/${reaped}/log.txt`, 'log');
  return { kept, orphan, fresh, job, orphanJob, exporting: jobDatasetId(exporting), training, reaped };
}

describe('idTime', () => {
  it('reads back the time newId encoded', () => {
    expect(idTime(newId('ds', 1_700_000_000_123))).toBe(1_700_000_000_123);
    expect(idTime('nope')).toBeUndefined();
  });
});

for (const kind of ['file', 's3'] as const) {
  describe(`trainyard gc on the ${kind} store`, () => {
    let dir: string;
    let s3: S3TestServer | undefined;
    let platform: Platform;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'trainyard-gc-'));
      const env: Record<string, string> = { TRAINYARD_DATA_DIR: dir, TRAINYARD_LOG_LEVEL: 'silent' };
      if (kind === 's3') {
        s3 = await startS3Server();
        Object.assign(env, s3.env);
        Object.assign(process.env, s3.env); // the SDK reads the keys from the environment
      }
      platform = await openPlatform(loadConfig(env), { migrate: true });
    });
    afterAll(async () => {
      await platform?.close();
      await s3?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('lists orphans with --dry-run, then removes exactly them: never a referenced, young or foreign blob', async () => {
      const ids = await seed(platform);
      const before = await platform.blobs.list('');
      const dry = await collectGarbage(platform, { dryRun: true, minAgeMs: DAY });
      expect(dry.orphans.map((o) => o.prefix).sort()).toEqual([`datasets/${ids.orphan}`, `jobs/${ids.orphanJob}`, `jobs/${ids.reaped}/checkpoints`, `models/m/${ids.job}-a1`].sort());
      expect(dry.orphans.find((o) => o.prefix === `datasets/${ids.orphan}`)!.keys).toBe(2);
      expect(dry.young).toBe(1);
      expect(dry.unknown).toEqual(['notes/readme.txt']);
      expect(await platform.blobs.list('')).toEqual(before);
      const real = await collectGarbage(platform, { dryRun: false, minAgeMs: DAY });
      expect(real.orphans).toEqual(dry.orphans);
      expect(await platform.blobs.list('')).toEqual(
        [`datasets/${ids.exporting}/data.csv`, `datasets/${ids.fresh}/data.csv`, `datasets/${ids.kept}/data.csv`, `jobs/${ids.reaped}/log.txt`, `jobs/${ids.training}/checkpoints/1-e1.pt`, 'notes/readme.txt'].sort(),
      );
      expect((await collectGarbage(platform, { dryRun: false, minAgeMs: DAY })).orphans).toEqual([]);
    });

    if (kind === 's3') {
      it('aborts multipart uploads older than the stale age (a server killed mid-upload), not younger ones', async () => {
        const store = platform.blobs as S3BlobStore;
        await store.client.send(new CreateMultipartUploadCommand({ Bucket: store.bucket, Key: `${store.prefix}datasets/${newId('ds')}/data.csv` }));
        expect((await s3!.pendingMultipartUploads()).length).toBe(1);
        expect((await store.sweepStaging(3_600_000)).removed).toBe(0);
        await new Promise((r) => setTimeout(r, 1100)); // S3 times have second resolution
        expect((await store.sweepStaging(1000)).removed).toBe(1);
        expect(await s3!.pendingMultipartUploads()).toEqual([]);
      });
    }
  });
}

describe('stale staging (file store)', () => {
  it('removes temp files not written to for the stale age, leaves younger ones (an upload in progress)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trainyard-staging-'));
    const platform = await openPlatform(loadConfig({ TRAINYARD_DATA_DIR: dir, TRAINYARD_LOG_LEVEL: 'silent' }), { migrate: true });
    try {
      const tmp = join(dir, 'blobs', '.tmp');
      await mkdir(tmp, { recursive: true });
      await writeFile(join(tmp, 'killed-upload'), Buffer.alloc(100_000));
      await writeFile(join(tmp, 'live-upload'), Buffer.alloc(10));
      const longAgo = new Date(Date.now() - 2 * 3_600_000);
      await utimes(join(tmp, 'killed-upload'), longAgo, longAgo);
      expect(await platform.blobs.sweepStaging(3_600_000, { dryRun: true })).toEqual({ removed: 1, bytes: 100_000 });
      expect((await readdir(tmp)).sort()).toEqual(['killed-upload', 'live-upload']);
      expect(await platform.blobs.sweepStaging(3_600_000)).toEqual({ removed: 1, bytes: 100_000 });
      expect(await readdir(tmp)).toEqual(['live-upload']);
    } finally {
      await platform.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
