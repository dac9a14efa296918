// `trainyard run-job <id>` for real, as a subprocess: exactly what an AWS Batch container runs.
// It claims a queued job by id, trains it with the real trainer, records the model version and
// exits 0; a second run on the same id finds nothing to do; a job that fails for a user error
// exits 1 and is not retried. The API runs in this process on the same stores (SQLite file always,
// MariaDB when TRAINYARD_TEST_MYSQL_URL is set; file blobs), with the queue executor so that
// nothing but run-job touches the jobs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { startTestServer, type TestServer } from './support/server.ts';
import { METADATA_STORES, type MetadataFixture } from './support/stores.ts';
import { api, mlp, spawnTrainyard, tempDir, tinyCsv, uploadCsv, type TrainyardProcess } from './support/processes.ts';
import { claimNext } from '../src/jobs/queue.ts';

interface JobView {
  id: string;
  status: string;
  attempts: number;
  model_version: number | null;
  error: string | null;
  error_code?: string | null;
}

for (const store of METADATA_STORES) {
  describe.skipIf(store.skip)(`trainyard run-job <id> on ${store.name}${store.skip ? ` (skipped: ${store.skip})` : ''}`, { timeout: 120_000 }, () => {
    let fixture: MetadataFixture;
    let server: TestServer;
    let blobs: { path: string; remove(): Promise<void> };
    let scratch: { path: string; remove(): Promise<void> };
    let datasetId: string;
    let childEnv: Record<string, string>;
    const processes: TrainyardProcess[] = [];

    beforeAll(async () => {
      fixture = await store.create();
      blobs = await tempDir('trainyard-runjob-blobs-');
      scratch = await tempDir('trainyard-runjob-scratch-');
      const blobUrl = `file://${blobs.path}`;
      server = await startTestServer({ env: { ...fixture.env, TRAINYARD_BLOB_URL: blobUrl, TRAINYARD_EXECUTOR: 'queue', TRAINYARD_MAX_ATTEMPTS: '3' } });
      // What a Batch container gets: the stores (the database URL comes from the job definition's
      // secret there), its own scratch directory, nothing else of the server's.
      childEnv = { ...fixture.env, TRAINYARD_BLOB_URL: blobUrl, TRAINYARD_DATA_DIR: join(scratch.path, 'container'), TRAINYARD_MAX_ATTEMPTS: '3' };
      const upload = await uploadCsv(server.url, 'tiny', tinyCsv(200, 7));
      expect(upload.status, JSON.stringify(upload.body)).toBe(201);
      datasetId = upload.body.id;
      const created = await api(server.url, 'POST', '/v1/models', { name: 'tiny-clf', task: 'binary_classification', target: 'label', layers: mlp([8], 1) });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
    }, 180_000);

    afterAll(async () => {
      for (const p of processes) p.kill('SIGKILL');
      await server?.close();
      await fixture?.cleanup();
      await blobs?.remove();
      await scratch?.remove();
    }, 180_000);

    function runJob(id: string): TrainyardProcess {
      const p = spawnTrainyard(`run-job ${id}`, ['run-job', id], childEnv);
      processes.push(p);
      return p;
    }

    async function queueTraining(model: string, hyperparameters: Record<string, unknown>): Promise<JobView> {
      const res = await api<JobView>(server.url, 'POST', '/v1/training-jobs', { model, dataset: datasetId, hyperparameters });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      expect(res.body.status).toBe('queued');
      return res.body;
    }

    async function job(id: string): Promise<JobView> {
      const res = await api<JobView>(server.url, 'GET', `/v1/training-jobs/${id}`);
      expect(res.status).toBe(200);
      return res.body;
    }

    async function statusHistory(id: string): Promise<string[]> {
      const rows = await server.platform.metadata.db.selectFrom('job_events').select('data_json').where('job_id', '=', id).where('type', '=', 'status').orderBy('seq').execute();
      return rows.map((r) => (JSON.parse(r.data_json) as { status: string }).status);
    }

    async function versionsOf(model: string) {
      return server.platform.metadata.db.selectFrom('model_versions').select(['version', 'training_job_id', 'blob_prefix']).where('model_name', '=', model).execute();
    }

    it('claims a queued training job by id, trains 2 epochs, records a model version and exits 0; a second run-job does nothing', async () => {
      const queued = await queueTraining('tiny-clf', { epochs: 2, batch_size: 32, seed: 3 });
      const run = runJob(queued.id);
      const exit = await run.exited;
      expect(exit, run.tail()).toEqual({ code: 0, signal: null });

      const done = await job(queued.id);
      expect(done.status, run.tail()).toBe('succeeded');
      expect(done.attempts).toBe(1);
      expect(done.model_version).toBe(1);
      expect(await statusHistory(queued.id)).toEqual(['queued', 'running', 'succeeded']);
      const versions = await versionsOf('tiny-clf');
      expect(versions).toHaveLength(1);
      expect(versions[0]!.training_job_id).toBe(queued.id);
      const keys = await server.platform.blobs.list(versions[0]!.blob_prefix);
      expect(keys.map((k) => k.split('/').pop())).toEqual(expect.arrayContaining(['model.onnx', 'manifest.json']));
      const metrics = await api<Array<unknown> | { items: unknown[] }>(server.url, 'GET', `/v1/training-jobs/${queued.id}/metrics`);
      expect(JSON.stringify(metrics.body)).toContain('"epoch":2');

      // The model serves predictions through the API at once.
      const predicted = await api<{ version: number; predictions: Array<{ label: string }> }>(server.url, 'POST', '/v1/models/tiny-clf/predict', {
        inputs: [{ x1: 1.5, x2: 1, x3: 2 }],
      });
      expect(predicted.status, JSON.stringify(predicted.body)).toBe(200);
      expect(predicted.body.version).toBe(1);

      // Batch may start a job's container twice (a retry policy, a duplicate submit): the second
      // finds the job finished and leaves it alone.
      const again = runJob(queued.id);
      expect(await again.exited, again.tail()).toEqual({ code: 0, signal: null });
      expect(again.output()).toMatch(/is succeeded; nothing to do/);
      const after = await job(queued.id);
      expect(after.attempts).toBe(1);
      expect(after.model_version).toBe(1);
      expect(await versionsOf('tiny-clf')).toHaveLength(1);
      expect(await statusHistory(queued.id)).toEqual(['queued', 'running', 'succeeded']);
    });

    it('two run-jobs started on the same id at once: exactly one runs it', async () => {
      const queued = await queueTraining('tiny-clf', { epochs: 1, batch_size: 64 });
      const [a, b] = [runJob(queued.id), runJob(queued.id)];
      const exits = await Promise.all([a.exited, b.exited]);
      expect(exits, `${a.tail()}\n${b.tail()}`).toEqual([
        { code: 0, signal: null },
        { code: 0, signal: null },
      ]);
      expect([a, b].filter((p) => /nothing to do/.test(p.output()))).toHaveLength(1);
      const done = await job(queued.id);
      expect(done.status).toBe('succeeded');
      expect(done.attempts).toBe(1);
      expect((await versionsOf('tiny-clf')).filter((v) => v.training_job_id === queued.id)).toHaveLength(1);
      expect(await statusHistory(queued.id)).toEqual(['queued', 'running', 'succeeded']);
    });

    it('a job that fails for a user error (the loss becomes NaN) exits 1 and is not retried', async () => {
      // A regression with an absurd learning rate: the loss overflows in the first epoch.
      const created = await api(server.url, 'POST', '/v1/models', { name: 'tiny-reg', task: 'regression', target: 'x3', layers: mlp([8], 1) });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const queued = await queueTraining('tiny-reg', { epochs: 2, optimizer: { type: 'SGD', lr: 1e30 } });
      const run = runJob(queued.id);
      expect(await run.exited, run.tail()).toEqual({ code: 1, signal: null });
      const failed = await job(queued.id);
      expect(failed.status, run.tail()).toBe('failed');
      expect(failed.attempts).toBe(1);
      expect(failed.error).toMatch(/NaN|infinite/);
      expect(await statusHistory(queued.id)).toEqual(['queued', 'running', 'failed']);
      expect(await versionsOf('tiny-reg')).toHaveLength(0);
      // Nothing of the attempt is left in the blob store.
      expect(await server.platform.blobs.list('models/tiny-reg')).toEqual([]);
    });

    it('a job whose dataset is gone fails at once with exit 1 (user error, no retry)', async () => {
      const queued = await queueTraining('tiny-clf', { epochs: 1 });
      // The dataset row disappears between submission and the container starting.
      const datasets = server.platform.metadata.db;
      const row = await datasets.selectFrom('datasets').selectAll().where('id', '=', datasetId).executeTakeFirstOrThrow();
      await datasets.deleteFrom('datasets').where('id', '=', datasetId).execute();
      try {
        const run = runJob(queued.id);
        expect(await run.exited, run.tail()).toEqual({ code: 1, signal: null });
        const failed = await job(queued.id);
        expect(failed.status, run.tail()).toBe('failed');
        expect(failed.attempts).toBe(1);
        expect(failed.error).toMatch(/no longer exists/);
        expect(await statusHistory(queued.id)).toEqual(['queued', 'running', 'failed']);
      } finally {
        await datasets.insertInto('datasets').values(row).execute();
      }
    });

    it('run-job --standby loads, waits, and runs the job a loop writes to its stdin (the warm start of the job loop)', async () => {
      const queued = await queueTraining('tiny-clf', { epochs: 1, batch_size: 64 });
      const standby = spawnTrainyard('run-job --standby', ['run-job', '--standby'], childEnv, { stdin: 'pipe' });
      processes.push(standby);
      await new Promise((r) => setTimeout(r, 500));
      expect(standby.child.exitCode, standby.tail()).toBeNull(); // waiting, not exited
      const claimed = await claimNext(server.platform.metadata, 'test-loop', 60_000);
      expect(claimed?.id).toBe(queued.id);
      standby.child.stdin!.write(`${JSON.stringify({ id: queued.id, owner: 'test-loop' })}\n`); // stdin stays open, as a loop's does
      expect(await standby.exited, standby.tail()).toEqual({ code: 0, signal: null });
      const done = await job(queued.id);
      expect(done.status, standby.tail()).toBe('succeeded');
      expect(done.attempts).toBe(1);
      expect(await statusHistory(queued.id)).toEqual(['queued', 'running', 'succeeded']);
    });

    it('run-job --standby whose stdin closes before any job exits 0 and touches nothing', async () => {
      const before = await server.platform.metadata.db.selectFrom('jobs').select(['id', 'status', 'attempts']).orderBy('id').execute();
      const standby = spawnTrainyard('run-job --standby', ['run-job', '--standby'], childEnv, { stdin: 'pipe' });
      processes.push(standby);
      standby.child.stdin!.end();
      expect(await standby.exited, standby.tail()).toEqual({ code: 0, signal: null });
      expect(await server.platform.metadata.db.selectFrom('jobs').select(['id', 'status', 'attempts']).orderBy('id').execute()).toEqual(before);
    });

    it('run-job on an unknown id exits non-zero with a message', async () => {
      const run = runJob('job_doesnotexist');
      const exit = await run.exited;
      expect(exit.code, run.tail()).not.toBe(0);
      expect(run.output()).toMatch(/job_doesnotexist/);
    });
  });
}
