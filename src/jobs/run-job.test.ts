// runClaimedJob in this process, with runners that wait on their AbortSignal: what stops a job, and how soon.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../config.ts';
import { openPlatform, type Platform } from '../platform.ts';
import { createJob, getJobRow, requestCancel } from './jobs.ts';
import { claimById, finishJob } from './queue.ts';
import { runClaimedJob } from './run-job.ts';
import { JobRunners } from './runner.ts';

let dataDir: string;
let platform: Platform;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'trainyard-run-job-'));
  // The default lease (30 s): its heartbeat comes every 10 s, far later than the cancel below must land.
  platform = await openPlatform(loadConfig({ TRAINYARD_DATA_DIR: dataDir, TRAINYARD_LOG_LEVEL: 'silent', TRAINYARD_AUTH: 'off', TRAINYARD_LEASE_SECONDS: '30' }), { migrate: true, logger: pino({ level: 'silent' }) });
});
afterAll(async () => {
  await platform?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('runClaimedJob', () => {
  it('stops a running job within about a second of a cancel request, long before the next heartbeat', async () => {
    let stoppedBy: unknown;
    const runners = new JobRunners().register({
      kind: 'waiting',
      run: ({ signal }) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            stoppedBy = signal.reason;
            resolve();
          });
        }),
    });
    const job = await createJob(platform.metadata, { kind: 'waiting', spec: {}, maxAttempts: 1 });
    const claimed = await claimById(platform.metadata, job.id, 'test-owner', 30_000);
    const running = runClaimedJob(platform, runners, claimed!, 'test-owner');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const asked = performance.now();
    await requestCancel(platform.metadata.db, job.id, 'waiting');
    expect(await running).toBe('cancelled');
    expect(performance.now() - asked).toBeLessThan(5_000);
    expect(stoppedBy).toBe('cancel');
    expect((await getJobRow(platform.metadata.db, job.id)).status).toBe('cancelled');
  });

  it('reports the end the runner recorded, and runs the kind’s clean-up, even when a heartbeat saw the released lease first', async () => {
    let cleanedUp = 0;
    const runners = new JobRunners().register({
      kind: 'finishing',
      run: async ({ platform: p, job, owner, signal }) => {
        await finishJob(p.metadata, job.id, owner, { status: 'succeeded' });
        // The runner's last moments after recording its end: long enough for a heartbeat (every 200 ms at a 1 s lease) to find the lease gone.
        await new Promise((resolve) => setTimeout(resolve, 600));
        expect(signal.reason).toBe('lease-lost');
      },
      ended: async () => {
        cleanedUp++;
      },
    });
    const short = { ...platform, config: { ...platform.config, leaseSeconds: 1 } };
    const job = await createJob(platform.metadata, { kind: 'finishing', spec: {}, maxAttempts: 1 });
    const claimed = await claimById(platform.metadata, job.id, 'test-owner', 1_000);
    expect(await runClaimedJob(short, runners, claimed!, 'test-owner')).toBe('succeeded');
    expect(cleanedUp).toBe(1);
  });
});
