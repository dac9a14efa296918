// A training job's checkpoints (docs/training.md): the trainer writes each one atomically in the job
// folder and announces it with its SHA-256; the job process verifies it, stores it in the blob store
// under the job's own prefix (jobs/<id>/checkpoints/), records it in job_checkpoints, and keeps the
// last two while the job runs. A later attempt, wherever it runs, downloads them newest first and
// hands those that verify to the trainer, which resumes from the first that loads. When the job
// ends, whatever way, they are all deleted. The job_checkpoints table is owned here.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Platform } from '../platform.ts';
import { parseJson, type Db } from '../jobs/jobs.ts';
import type { JobContext } from '../jobs/context.ts';
import { nowIso } from '../ids.ts';
import { jobCheckpointKey, jobCheckpointsPrefix } from '../store/blobs/keys.ts';
import type { TrainerEventOf } from './trainer-events.ts';
import type { TrainerJob } from './trainer-job.ts';

/** How many checkpoints a running job keeps: the newest, and the one to fall back to. */
export const KEPT_CHECKPOINTS = 2;

/** What the API shows of a job's newest checkpoint. */
export interface CheckpointSummary {
  epoch: number;
  saved_at: string;
  bytes: number;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Stores the checkpoint a `checkpoint` event announced. The events before it (the epochs it
 * covers) are flushed first, so a recorded checkpoint never covers an epoch whose event was lost:
 * what a resumed attempt reports again is decided from those events.
 */
export async function storeCheckpoint(ctx: JobContext, jobDir: string, event: TrainerEventOf<'checkpoint'>): Promise<void> {
  const { platform, job, events } = ctx;
  const { db } = platform.metadata;
  const path = join(jobDir, event.file);
  const actual = await sha256File(path);
  if (actual !== event.sha256) {
    events.log(`checkpoint after epoch ${event.epoch} does not match its SHA-256 (${actual.slice(0, 12)}…); not stored`, 'warning');
    return;
  }
  await events.flush();
  const last = await db.selectFrom('job_checkpoints').select((eb) => eb.fn.max('seq').as('seq')).where('job_id', '=', job.id).executeTakeFirst();
  const seq = Number(last?.seq ?? 0) + 1;
  const key = jobCheckpointKey(job.id, seq, event.epoch);
  await platform.blobs.put(key, createReadStream(path));
  const savedAt = nowIso();
  await db
    .insertInto('job_checkpoints')
    .values({ job_id: job.id, seq, attempt: job.attempts, epoch: event.epoch, batch: event.batch, blob_key: key, sha256: event.sha256, bytes: event.bytes, created_at: savedAt })
    .execute();
  await rm(path, { force: true });
  const stale = await db.selectFrom('job_checkpoints').select(['seq', 'blob_key']).where('job_id', '=', job.id).where('seq', '<=', seq - KEPT_CHECKPOINTS).execute();
  for (const old of stale) {
    await platform.blobs.delete(old.blob_key);
    await db.deleteFrom('job_checkpoints').where('job_id', '=', job.id).where('seq', '=', old.seq).execute();
  }
  events.emit('checkpoint', { epoch: event.epoch, batch: event.batch, bytes: event.bytes, saved_at: savedAt });
}

/**
 * Downloads the job's stored checkpoints, newest first, into `jobDir/resume/`, leaving out any
 * whose bytes do not match their SHA-256: job.json's `resume` list. The trainer verifies again
 * and falls back from one to the next.
 */
export async function fetchCheckpoints(ctx: JobContext, jobDir: string): Promise<TrainerJob['resume']> {
  const { platform, job, events } = ctx;
  const rows = await ctx.platform.metadata.db
    .selectFrom('job_checkpoints')
    .selectAll()
    .where('job_id', '=', job.id)
    .orderBy('seq', 'desc')
    .limit(KEPT_CHECKPOINTS)
    .execute();
  if (rows.length === 0) return [];
  await mkdir(join(jobDir, 'resume'), { recursive: true });
  const usable: TrainerJob['resume'] = [];
  for (const row of rows) {
    const file = `resume/${row.seq}.pt`;
    const path = join(jobDir, file);
    try {
      await platform.blobs.download(row.blob_key, path);
      const actual = await sha256File(path);
      if (actual !== row.sha256) throw new Error(`its SHA-256 is ${actual.slice(0, 12)}…, not ${row.sha256.slice(0, 12)}…`);
      usable.push({ file, sha256: row.sha256 });
    } catch (error) {
      events.log(`checkpoint after epoch ${row.epoch} cannot be used (${error instanceof Error ? error.message : String(error)}); trying the previous one`, 'warning');
      await rm(path, { force: true });
    }
  }
  return usable;
}

/** Deletes every checkpoint of a job (it ended): the blobs first, then the rows that point at them. */
export async function deleteCheckpoints(platform: Platform, jobId: string): Promise<void> {
  await platform.blobs.deletePrefix(jobCheckpointsPrefix(jobId));
  await platform.metadata.db.deleteFrom('job_checkpoints').where('job_id', '=', jobId).execute();
}

/** The job's newest stored checkpoint, or null. */
export async function latestCheckpoint(db: Db, jobId: string): Promise<CheckpointSummary | null> {
  const row = await db.selectFrom('job_checkpoints').select(['epoch', 'bytes', 'created_at']).where('job_id', '=', jobId).orderBy('seq', 'desc').limit(1).executeTakeFirst();
  return row ? { epoch: row.epoch, saved_at: row.created_at, bytes: Number(row.bytes) } : null;
}

/** The last epoch this job has already reported (its stored `epoch` events), over all attempts; 0 if none. */
export async function lastReportedEpoch(db: Db, jobId: string): Promise<number> {
  const rows = await db.selectFrom('job_events').select('data_json').where('job_id', '=', jobId).where('type', '=', 'epoch').orderBy('seq', 'desc').limit(1).execute();
  return rows.length ? (parseJson<{ epoch: number }>(rows[0].data_json)?.epoch ?? 0) : 0;
}
