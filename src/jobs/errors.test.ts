// The job-error registry decides what run-job does with a failure: a code that is not retryable
// fails the job at once with that code; a retryable one (an interrupted trainer) re-queues it while
// attempts remain and is recorded once they are used up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../config.ts';
import { openPlatform, type Platform } from '../platform.ts';
import { JOB_ERROR_CODES, JobError, JobUserError, TRAINER_EXIT_CODES } from './errors.ts';
import { createJob, getJobRow } from './jobs.ts';
import { claimById } from './queue.ts';
import { runClaimedJob } from './run-job.ts';
import { JobRunners } from './runner.ts';

let dataDir: string;
let platform: Platform;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'trainyard-job-errors-'));
  platform = await openPlatform(loadConfig({ TRAINYARD_DATA_DIR: dataDir, TRAINYARD_LOG_LEVEL: 'silent', TRAINYARD_AUTH: 'off' }), { migrate: true, logger: pino({ level: 'silent' }) });
});
afterAll(async () => {
  await platform?.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** Runs a job of a kind whose runner throws `error`, once per attempt, until it ends. */
async function runUntilEnd(error: () => Error, maxAttempts: number) {
  const runners = new JobRunners().register({ kind: 'failing', run: () => Promise.reject(error()) });
  const job = await createJob(platform.metadata, { kind: 'failing', spec: {}, maxAttempts });
  const ends: string[] = [];
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const claimed = await claimById(platform.metadata, job.id, 'test-owner', 30_000);
    if (!claimed) break;
    ends.push(await runClaimedJob(platform, runners, claimed, 'test-owner'));
  }
  return { ends, row: await getJobRow(platform.metadata.db, job.id) };
}

describe('job errors', () => {
  it('register INTERRUPTED as retryable with the trainer exit 75 (EX_TEMPFAIL), OUT_OF_MEMORY as not', () => {
    expect(JOB_ERROR_CODES.INTERRUPTED.retryable).toBe(true);
    expect(TRAINER_EXIT_CODES.INTERRUPTED).toBe(75);
    expect(JOB_ERROR_CODES.OUT_OF_MEMORY.retryable).toBe(false);
    expect(new JobUserError('NAN_LOSS', 'x').retryable).toBe(false);
  });

  it('fail a job at once with a code that is not retryable', async () => {
    const { ends, row } = await runUntilEnd(() => new JobUserError('NAN_LOSS', 'the loss became NaN'), 3);
    expect(ends).toEqual(['failed']);
    expect(row).toMatchObject({ status: 'failed', error_code: 'NAN_LOSS', attempts: 1 });
  });

  it('retry a retryable code while attempts remain, then record it', async () => {
    const { ends, row } = await runUntilEnd(() => new JobError('WORKER_LOST', 'the job process was lost'), 2);
    expect(ends).toEqual(['requeued', 'failed']);
    expect(row).toMatchObject({ status: 'failed', error_code: 'WORKER_LOST', attempts: 2 });
  });

  it('hand an INTERRUPTED job (the trainer checkpointed on SIGTERM) back to the queue without using an attempt', async () => {
    const { ends, row } = await runUntilEnd(() => new JobError('INTERRUPTED', 'the trainer was interrupted'), 2);
    expect(ends).toEqual(['requeued', 'requeued']);
    expect(row).toMatchObject({ status: 'queued', attempts: 0 });
  });

  it('record an unexpected error as INFRASTRUCTURE once attempts are used up', async () => {
    const { row } = await runUntilEnd(() => new Error('disk on fire'), 1);
    expect(row).toMatchObject({ status: 'failed', error_code: 'INFRASTRUCTURE' });
  });
});
