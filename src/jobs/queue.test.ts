// The jobs table as a queue, on every metadata store: claims are exactly-once under contention,
// leases are renewed and lost, and a lost job is re-queued or failed, never left running.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { hostname } from 'node:os';
import { METADATA_STORES, type MetadataFixture } from '../../test/support/stores.ts';
import { migrateToLatest } from '../store/metadata/migrate.ts';
import type { MetadataStore } from '../store/metadata/metadata-store.ts';
import { createJob, getJobRow, requestCancel } from './jobs.ts';
import { claimById, claimNext, finishJob, isDeadLocalOwner, reapLostJobs, renewLease, requeue } from './queue.ts';

for (const config of METADATA_STORES) {
  describe.skipIf(config.skip)(`job queue on ${config.name}${config.skip ? ` (skipped: ${config.skip})` : ''}`, () => {
    let fixture: MetadataFixture;
    let stores: MetadataStore[];

    beforeAll(async () => {
      fixture = await config.create();
      stores = await Promise.all(Array.from({ length: 4 }, () => fixture.open()));
      await migrateToLatest(stores[0]);
    });
    afterAll(() => fixture?.cleanup());

    const queueJobs = async (count: number, maxAttempts = 3) => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) ids.push((await createJob(stores[0], { kind: 'training', model: 'm', datasetId: 'ds_x', spec: {}, maxAttempts })).id);
      return ids;
    };

    it('gives each queued job to exactly one of several concurrent claimers, oldest first', async () => {
      const ids = await queueJobs(40);
      const claimed: string[][] = stores.map(() => []);
      await Promise.all(
        stores.map(async (store, i) => {
          for (;;) {
            const job = await claimNext(store, `owner-${i}`, 30_000);
            if (!job) break;
            claimed[i].push(job.id);
          }
        }),
      );
      const all = claimed.flat();
      expect(all.sort()).toEqual([...ids].sort());
      expect(new Set(all).size).toBe(40);
      for (const id of ids) {
        const row = await getJobRow(stores[0].db, id);
        expect(row.status).toBe('running');
        expect(row.attempts).toBe(1);
      }
      for (const id of ids) await finishJob(stores[0].db, id, (await getJobRow(stores[0].db, id)).lease_owner!, { status: 'succeeded' });
    });

    it('claims only the kinds asked for: an empty `only` claims nothing, an empty `except` excludes nothing', async () => {
      const study = (await createJob(stores[0], { kind: 'kinds-study', model: 'm', datasetId: 'ds_x', spec: {}, maxAttempts: 1 })).id;
      const trial = (await createJob(stores[0], { kind: 'kinds-train', model: 'm', datasetId: 'ds_x', spec: {}, maxAttempts: 1 })).id;
      const kinds = ['kinds-study', 'kinds-train'];
      expect(await claimNext(stores[0], 'owner-k', 30_000, { kinds: { only: [] } })).toBeUndefined();
      expect((await claimNext(stores[0], 'owner-k', 30_000, { kinds: { only: ['kinds-train'] } }))?.id).toBe(trial);
      expect(await claimNext(stores[0], 'owner-k', 30_000, { kinds: { only: kinds, except: ['kinds-study'] } })).toBeUndefined();
      expect((await claimNext(stores[0], 'owner-k', 30_000, { kinds: { only: kinds, except: [] } }))?.id).toBe(study);
      for (const id of [study, trial]) await finishJob(stores[0].db, id, 'owner-k', { status: 'succeeded' });
    });

    // MySQL only: there the change and its event are one transaction. SQLite has one writer at a time
    // (and no LOCK TABLES), and the platform runs it in one process.
    it.skipIf(config.name !== 'mysql')('never shows another server a queued job without its queued event, nor a re-queued one without its event', async () => {
      // Another connection holds job_events locked, so each status change stalls at its event: what a
      // claimer could see in that moment must not be a job whose history is missing a step.
      const visible = () => stores[1].db.selectFrom('jobs').select(['id', 'status']).where('model_name', '=', 'atomic').execute();
      const stalled = async <T>(change: () => Promise<T>, whileStalled: () => Promise<void>): Promise<T> =>
        stores[3].db.connection().execute(async (locker) => {
          await sql`LOCK TABLES job_events WRITE`.execute(locker);
          let pending: Promise<T>;
          try {
            pending = change();
            await new Promise((r) => setTimeout(r, 300)); // the change is now waiting for the lock
            await whileStalled();
          } finally {
            await sql`UNLOCK TABLES`.execute(locker);
          }
          return pending;
        });
      const job = await stalled(
        () => createJob(stores[0], { kind: 'training', model: 'atomic', datasetId: 'ds_x', spec: {}, maxAttempts: 3 }),
        async () => expect(await visible()).toEqual([]),
      );
      expect(await visible()).toEqual([{ id: job.id, status: 'queued' }]);
      expect(await claimNext(stores[1], 'first', 30_000)).toMatchObject({ id: job.id });
      await stalled(
        () => requeue(stores[0], job.id, 'first', 'again'),
        async () => expect(await visible()).toEqual([{ id: job.id, status: 'running' }]),
      );
      const events = await stores[0].db.selectFrom('job_events').select('data_json').where('job_id', '=', job.id).where('type', '=', 'status').orderBy('seq').execute();
      expect(events.map((e) => (JSON.parse(e.data_json) as { status: string }).status)).toEqual(['queued', 'running', 'queued']);
      const again = await claimNext(stores[1], 'second', 30_000);
      await finishJob(stores[1].db, again!.id, 'second', { status: 'succeeded' });
    });

    it('renews a lease while held, reports a cancel request, and refuses a finish from an owner that lost it', async () => {
      const [id] = await queueJobs(1);
      const job = await claimNext(stores[0], 'a', 30_000);
      expect(job?.id).toBe(id);
      expect(await renewLease(stores[0].db, id, 'a', 30_000)).toEqual({ held: true, cancelRequested: false });
      await requestCancel(stores[0].db, id, 'training');
      expect(await renewLease(stores[0].db, id, 'a', 30_000)).toEqual({ held: true, cancelRequested: true });
      expect(await renewLease(stores[0].db, id, 'b', 30_000)).toEqual({ held: false, cancelRequested: false });
      expect(await finishJob(stores[0].db, id, 'b', { status: 'failed' })).toBe(false);
      // Success is refused once a cancel was requested; the cancel is recorded instead.
      expect(await finishJob(stores[0].db, id, 'a', { status: 'succeeded' })).toBe(false);
      expect(await finishJob(stores[0].db, id, 'a', { status: 'cancelled' })).toBe(true);
      expect((await getJobRow(stores[0].db, id)).status).toBe('cancelled');
    });

    it('re-queues a job whose lease expired while attempts remain, then fails it with a clear error', async () => {
      const [id] = await queueJobs(1, 2);
      for (const attempt of [1, 2]) {
        const job = await claimById(stores[0], id, `worker-${attempt}`, 1);
        expect(job?.attempts).toBe(attempt);
        await new Promise((resolve) => setTimeout(resolve, 10));
        expect(await reapLostJobs(stores[1])).toBeGreaterThanOrEqual(1);
      }
      const row = await getJobRow(stores[0].db, id);
      expect(row.status).toBe('failed');
      expect(row.error_code).toBe('WORKER_LOST');
      expect(row.error).toMatch(/lost 2 time/);
      expect(row.lease_owner).toBeNull();
    });

    it('reaps at once a job whose owner is known dead, and hands back a drained job without charging an attempt', async () => {
      const [id] = await queueJobs(1);
      await claimNext(stores[0], 'dead-one', 60_000);
      expect(await reapLostJobs(stores[0], { deadOwners: (owner) => owner === 'dead-one' })).toBe(1);
      expect((await getJobRow(stores[0].db, id)).status).toBe('queued');
      await claimNext(stores[0], 'draining', 60_000);
      expect(await requeue(stores[0], id, 'draining', 'worker shut down', { refundAttempt: true })).toBe(true);
      const row = await getJobRow(stores[0].db, id);
      expect(row.status).toBe('queued');
      expect(row.attempts).toBe(1);
    });

    it('only claims a specific job by id while it is queued', async () => {
      const [id] = await queueJobs(1);
      expect(await claimById(stores[0], id, 'x', 30_000)).toBeDefined();
      expect(await claimById(stores[1], id, 'y', 30_000)).toBeUndefined();
    });
  });
}

describe('isDeadLocalOwner', () => {
  it('knows this process is alive and a finished pid on this host is not', () => {
    expect(isDeadLocalOwner(`local:${hostname()}:${process.pid}:abcd`)).toBe(false);
    expect(isDeadLocalOwner(`local:${hostname()}:999999999:abcd`)).toBe(true);
    expect(isDeadLocalOwner('local:some-other-host:1:abcd')).toBe(false);
  });
});
