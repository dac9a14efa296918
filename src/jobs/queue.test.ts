// The jobs table as a queue, on every metadata store: claims are exactly-once under contention,
// leases are renewed and lost, and a lost job is re-queued or failed, never left running.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { sql } from 'kysely';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { METADATA_STORES, type MetadataFixture } from '../../test/support/stores.ts';
import { migrateToLatest } from '../store/metadata/migrate.ts';
import { together, type MetadataStore } from '../store/metadata/metadata-store.ts';
import { insertJobReferences } from '../../test/support/job-references.ts';
import { createJob, deleteUnlessInUse, getJobRow, requestCancel } from './jobs.ts';
import { claimById, claimNext, finishJob, isDeadLocalOwner, leaseOwnerPid, newLeaseOwner, reapLostJobs, renewLease, requeue } from './queue.ts';

for (const config of METADATA_STORES) {
  describe.skipIf(config.skip)(`job queue on ${config.name}${config.skip ? ` (skipped: ${config.skip})` : ''}`, () => {
    let fixture: MetadataFixture;
    let stores: MetadataStore[];

    beforeAll(async () => {
      fixture = await config.create();
      stores = await Promise.all(Array.from({ length: 4 }, () => fixture.open()));
      await migrateToLatest(stores[0]);
      await insertJobReferences(stores[0].db, { datasetId: 'ds_x', model: 'm' });
      await insertJobReferences(stores[0].db, { model: 'atomic' });
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
      for (const id of ids) await finishJob(stores[0], id, (await getJobRow(stores[0].db, id)).lease_owner!, { status: 'succeeded' });
    });

    it('claims only the kinds asked for: an empty `only` claims nothing, an empty `except` excludes nothing', async () => {
      const study = (await createJob(stores[0], { kind: 'kinds-study', model: 'm', datasetId: 'ds_x', spec: {}, maxAttempts: 1 })).id;
      const trial = (await createJob(stores[0], { kind: 'kinds-train', model: 'm', datasetId: 'ds_x', spec: {}, maxAttempts: 1 })).id;
      const kinds = ['kinds-study', 'kinds-train'];
      expect(await claimNext(stores[0], 'owner-k', 30_000, { kinds: { only: [] } })).toBeUndefined();
      expect((await claimNext(stores[0], 'owner-k', 30_000, { kinds: { only: ['kinds-train'] } }))?.id).toBe(trial);
      expect(await claimNext(stores[0], 'owner-k', 30_000, { kinds: { only: kinds, except: ['kinds-study'] } })).toBeUndefined();
      expect((await claimNext(stores[0], 'owner-k', 30_000, { kinds: { only: kinds, except: [] } }))?.id).toBe(study);
      for (const id of [study, trial]) await finishJob(stores[0], id, 'owner-k', { status: 'succeeded' });
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
      await finishJob(stores[1], again!.id, 'second', { status: 'succeeded' });
    });

    it('renews a lease while held, reports a cancel request, and refuses a finish from an owner that lost it', async () => {
      const [id] = await queueJobs(1);
      const job = await claimNext(stores[0], 'a', 30_000);
      expect(job?.id).toBe(id);
      expect(await renewLease(stores[0], id, 'a', 30_000)).toEqual({ held: true, cancelRequested: false });
      await requestCancel(stores[0].db, id, 'training');
      expect(await renewLease(stores[0], id, 'a', 30_000)).toEqual({ held: true, cancelRequested: true });
      expect(await renewLease(stores[0], id, 'b', 30_000)).toEqual({ held: false, cancelRequested: false });
      expect(await finishJob(stores[0], id, 'b', { status: 'failed' })).toBe(false);
      // Success is refused once a cancel was requested; the cancel is recorded instead.
      expect(await finishJob(stores[0], id, 'a', { status: 'succeeded' })).toBe(false);
      expect(await finishJob(stores[0], id, 'a', { status: 'cancelled' })).toBe(true);
      expect((await getJobRow(stores[0].db, id)).status).toBe('cancelled');
    });

    // On SQLite the two statements run back to back on one connection (see together()); what this
    // checks, a reader never seeing the end without its event, is MySQL's transaction.
    it.runIf(config.name === 'mysql')('commits a job\'s end with its status event, or neither', async () => {
      const [id] = await queueJobs(1);
      await claimById(stores[0], id, 'a', 30_000);
      await sql`create trigger refuse_ended_event before insert on job_events for each row begin if new.job_id = ${sql.lit(id)} and new.data_json like '%succeeded%' then signal sqlstate '45000' set message_text = 'refused by the test'; end if; end`.execute(stores[0].db);
      try {
        await expect(finishJob(stores[0], id, 'a', { status: 'succeeded' })).rejects.toThrow(/refused by the test/);
        expect((await getJobRow(stores[0].db, id)).status).toBe('running');
      } finally {
        await sql`drop trigger refuse_ended_event`.execute(stores[0].db);
      }
      expect(await finishJob(stores[0], id, 'a', { status: 'succeeded' })).toBe(true);
      const statuses = await stores[0].db.selectFrom('job_events').select('data_json').where('job_id', '=', id).where('type', '=', 'status').orderBy('seq').execute();
      expect(statuses.map((e) => (JSON.parse(e.data_json) as { status: string }).status)).toEqual(['queued', 'running', 'succeeded']);
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

    describe('leases by the database’s clock, not the process’s', () => {
      afterEach(() => vi.useRealTimers());
      const HOUR = 3_600_000;
      const skewed = (ms: number) => vi.useFakeTimers({ now: Date.now() + ms, toFake: ['Date'] });

      it('a claimer whose clock is an hour slow still holds a fresh lease; a reaper whose clock is an hour fast does not take it', async () => {
        const [id] = await queueJobs(1);
        skewed(-HOUR);
        await claimById(stores[0], id, 'slow-clock', 60_000);
        skewed(+HOUR);
        expect(await reapLostJobs(stores[1])).toBe(0);
        expect(await renewLease(stores[0], id, 'slow-clock', 60_000)).toEqual({ held: true, cancelRequested: false });
        vi.useRealTimers();
        const row = await getJobRow(stores[0].db, id);
        expect(row).toMatchObject({ status: 'running', lease_owner: 'slow-clock' });
        expect(Math.abs(row.lease_expires_at! - (Date.now() + 60_000))).toBeLessThan(30_000);
      });

      it('a lease that ran out is taken by a reaper whose clock is an hour slow', async () => {
        const [id] = await queueJobs(1);
        skewed(+HOUR);
        await claimNext(stores[0], 'fast-clock', 1);
        vi.useRealTimers();
        await new Promise((resolve) => setTimeout(resolve, 20));
        skewed(-HOUR);
        expect(await reapLostJobs(stores[1])).toBeGreaterThanOrEqual(1);
        vi.useRealTimers();
        expect((await getJobRow(stores[0].db, id)).status).toBe('queued');
      });
    });

    it('deletes a dataset or model only in the statement that finds no queued or running job using it', async () => {
      await insertJobReferences(stores[0].db, { datasetId: 'ds_inuse', model: 'inuse' });
      const job = await createJob(stores[0], { kind: 'training', model: 'inuse', datasetId: 'ds_inuse', spec: {}, maxAttempts: 1 });
      const store = stores[1];
      for (const ref of [{ datasetId: 'ds_inuse' }, { model: 'inuse' }]) {
        await expect(deleteUnlessInUse(store.db, store.dialect, ref)).rejects.toMatchObject({ code: 'IN_USE', message: expect.stringContaining(job.id) });
      }
      expect(await stores[0].db.selectFrom('datasets').select('id').where('id', '=', 'ds_inuse').execute()).toHaveLength(1);
      expect(await stores[0].db.selectFrom('models').select('id').where('name', '=', 'inuse').execute()).toHaveLength(1);
      await claimById(stores[0], job.id, 'w', 30_000);
      await finishJob(stores[0], job.id, 'w', { status: 'succeeded' });
      expect(await deleteUnlessInUse(store.db, store.dialect, { datasetId: 'ds_inuse' })).toBe(true);
      expect(await deleteUnlessInUse(store.db, store.dialect, { model: 'inuse' })).toBe(true);
      expect(await deleteUnlessInUse(store.db, store.dialect, { model: 'inuse' })).toBe(false);
    });

    it('queues a job only in the statement that finds its dataset and model: a racing delete wins or refuses, never both', async () => {
      await expect(createJob(stores[0], { kind: 'training', model: 'm', datasetId: 'ds_missing', spec: {}, maxAttempts: 1 })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('ds_missing'), errors: [{ field: 'dataset' }] });
      await expect(createJob(stores[0], { kind: 'training', model: 'missing', datasetId: 'ds_x', spec: {}, maxAttempts: 1 })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('missing') });
      await expect(createJob(stores[0], { kind: 'export', model: 'missing', spec: {}, maxAttempts: 1 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await stores[0].db.selectFrom('jobs').select('id').where((eb) => eb.or([eb('dataset_id', '=', 'ds_missing'), eb('model_name', '=', 'missing')])).execute()).toEqual([]);
      for (let round = 0; round < 30; round++) {
        const ref = { datasetId: `ds_race${round}`, model: `race${round}` };
        await insertJobReferences(stores[0].db, ref);
        const target = round % 2 === 0 ? { datasetId: ref.datasetId } : { model: ref.model };
        const [created, deleted] = await Promise.allSettled([
          createJob(stores[round % 4], { kind: 'training', ...ref, spec: {}, maxAttempts: 1 }),
          together(stores[(round + 1) % 4], (q) => deleteUnlessInUse(q, stores[(round + 1) % 4].dialect, target)),
        ]);
        const jobs = await stores[0].db.selectFrom('jobs').select('id').where('dataset_id', '=', ref.datasetId).execute();
        if (created.status === 'fulfilled') {
          // The job is queued and its dataset and model are still there: the delete was refused.
          expect(deleted).toMatchObject({ status: 'rejected', reason: { code: 'IN_USE' } });
          expect(jobs).toHaveLength(1);
        } else {
          expect(created.reason).toMatchObject({ code: 'NOT_FOUND' });
          expect(deleted).toEqual({ status: 'fulfilled', value: true });
          expect(jobs).toEqual([]);
        }
        if (created.status === 'fulfilled') await stores[0].db.updateTable('jobs').set({ status: 'cancelled' }).where('id', '=', created.value.id).execute();
      }
    });

    it('only claims a specific job by id while it is queued', async () => {
      const [id] = await queueJobs(1);
      expect(await claimById(stores[0], id, 'x', 30_000)).toBeDefined();
      expect(await claimById(stores[1], id, 'y', 30_000)).toBeUndefined();
    });
  });
}

describe('lease owners', () => {
  it('name a random boot id per process start, never a host name', () => {
    const [a, b] = [newLeaseOwner('worker'), newLeaseOwner('worker')];
    expect(a).not.toBe(b);
    expect(a).toMatch(/^worker:[\w-]{16}-\d+:/);
    expect(a.split(':')[1].split('-')[0]).toBe(b.split(':')[1].split('-')[0]);
  });

  it.skipIf(process.platform !== 'linux')('know this process is alive and an exited process of this machine boot and PID namespace is dead', async () => {
    const owner = newLeaseOwner('local');
    expect(leaseOwnerPid(owner)).toBe(process.pid);
    const child = spawn(process.execPath, ['-e', '']);
    await once(child, 'exit');
    // A predecessor of this process (another boot id) with the pid of the exited child.
    const predecessor = owner.replace(/:[^:]+-(\d+):/, ':AAAAAAAAAAAAAAAA-$1:').replace(/\.\d+$/, `.${child.pid}`);
    expect(isDeadLocalOwner(predecessor)).toBe(true);
    expect(isDeadLocalOwner(owner)).toBe(false);
  });

  it('never judge an owner in another container or machine, whatever its host name or pid, nor an old-format one', () => {
    const owner = newLeaseOwner('local');
    const elsewhere = owner.replace(/:[0-9a-f]{32}\.(\d+)\./, ':ffffffffffffffffffffffffffffffff.$1.').replace(/:[^:]+-(\d+):/, ':AAAAAAAAAAAAAAAA-$1:').replace(/\.\d+$/, '.999999999');
    expect(isDeadLocalOwner(elsewhere)).toBe(false);
    expect(isDeadLocalOwner('local:this-host:999999999:abcd')).toBe(false);
  });
});
