// Checkpoints and resume (issue 13) with real processes: a training job interrupted after a
// checkpoint — a queue worker killed with -9 (the machine is lost), a worker drained with SIGTERM,
// a `run-job` container stopped with SIGTERM (a Spot reclaim) — is resumed by the next attempt and
// ends as the same run as an uninterrupted job: the same per-epoch metrics, each epoch reported
// once, the same final weights and predictions; and no checkpoint is left once the job has ended.
// On SQLite + files always, and on MariaDB + the S3-protocol server when TRAINYARD_TEST_MYSQL_URL
// is set. Sized for 2 cores: 1,500 rows, 5 epochs, checkpoints every epoch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { startTestServer, type TestServer } from './support/server.ts';
import { createTestDatabase, MYSQL_SKIP_NOTE, MYSQL_URL } from './support/mysql.ts';
import { startS3Server } from './support/s3.ts';
import {
  api,
  descendants,
  spawnTrainyard,
  startWorkerProcess,
  tempDir,
  tinyCsv,
  uploadCsv,
  waitFor,
  type TrainyardProcess,
  type WorkerProcess,
} from './support/processes.ts';

interface Setup {
  name: string;
  skip: string | false;
  create(): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }>;
}

const SETUPS: Setup[] = [
  {
    name: 'SQLite + files',
    skip: false,
    async create() {
      const dir = await tempDir('trainyard-resume-');
      return { env: { TRAINYARD_DATABASE_URL: `sqlite:${join(dir.path, 'trainyard.db')}`, TRAINYARD_BLOB_URL: `file://${join(dir.path, 'blobs')}` }, cleanup: dir.remove };
    },
  },
  {
    name: 'MariaDB + S3',
    skip: MYSQL_URL ? false : MYSQL_SKIP_NOTE.trim(),
    async create() {
      const database = await createTestDatabase();
      const s3 = await startS3Server();
      return {
        env: { TRAINYARD_DATABASE_URL: database.url, ...s3.env },
        async cleanup() {
          await s3.stop();
          await database.drop();
        },
      };
    },
  },
];

interface JobView {
  id: string;
  status: string;
  attempts: number;
  model_version: number | null;
  checkpoint?: { epoch: number; saved_at: string; bytes: number } | null;
}

const EPOCHS = 5;
const HYPERPARAMETERS = { epochs: EPOCHS, batch_size: 8, seed: 7, checkpoint: { every_epochs: 1 }, lr_scheduler: { type: 'StepLR', step_size: 2, gamma: 0.5 } };
// Dropout: the resumed run must also continue the dropout RNG where the first attempt left it.
const LAYERS = [{ type: 'Linear', out_features: 32 }, { type: 'ReLU' }, { type: 'Dropout', p: 0.2 }, { type: 'Linear', out_features: 1 }];
const PROBE_ROWS = [
  { x1: 0.5, x2: -1.2, x3: 3 },
  { x1: -1.5, x2: 0.3, x3: 8.5 },
  { x1: 1.9, x2: 1.1, x3: 0.25 },
];

for (const setup of SETUPS) {
  describe.skipIf(setup.skip)(`resume after an interruption on ${setup.name}${setup.skip ? ` (${setup.skip})` : ''}`, { timeout: 420_000 }, () => {
    let stores: Awaited<ReturnType<Setup['create']>>;
    let server: TestServer;
    let env: Record<string, string>;
    let datasetId: string;
    let scratch: { path: string; remove(): Promise<void> };
    const processes: TrainyardProcess[] = [];
    let baseline: { metrics: unknown; weights: string; predictions: unknown };

    beforeAll(async () => {
      stores = await setup.create();
      scratch = await tempDir('trainyard-resume-scratch-');
      env = { ...stores.env, TRAINYARD_EXECUTOR: 'queue', TRAINYARD_LEASE_SECONDS: '3', TRAINYARD_MAX_ATTEMPTS: '3' };
      server = await startTestServer({ env });
      const upload = await uploadCsv(server.url, 'resume', tinyCsv(1500, 5));
      expect(upload.status, JSON.stringify(upload.body)).toBe(201);
      datasetId = upload.body.id;
    }, 120_000);

    afterAll(async () => {
      for (const p of processes) p.kill('SIGKILL');
      await Promise.allSettled(processes.map((p) => p.exited));
      await server?.close();
      await stores?.cleanup();
      await scratch?.remove();
    }, 120_000);

    const tails = () => processes.map((p) => p.tail(15)).join('\n');

    async function worker(name: string): Promise<WorkerProcess> {
      const w = await startWorkerProcess(env, { name });
      processes.push(w);
      return w;
    }

    function runJob(id: string): TrainyardProcess {
      const p = spawnTrainyard(`run-job ${id}`, ['run-job', id], { ...env, TRAINYARD_DATA_DIR: join(scratch.path, `run-job-${processes.length}`) });
      processes.push(p);
      return p;
    }

    async function submit(model: string): Promise<string> {
      const created = await api(server.url, 'POST', '/v1/models', { name: model, task: 'binary_classification', target: 'label', layers: LAYERS });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const res = await api<JobView>(server.url, 'POST', '/v1/training-jobs', { model, dataset: datasetId, hyperparameters: HYPERPARAMETERS });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      return res.body.id;
    }

    const job = async (id: string) => (await api<JobView>(server.url, 'GET', `/v1/training-jobs/${id}`)).body;

    /** Waits until the running job has stored a checkpoint (after epoch 1 or later) and is still training. */
    async function checkpointed(id: string): Promise<JobView> {
      return waitFor(
        `job ${id} to store a checkpoint`,
        async () => {
          const view = await job(id);
          if (view.status === 'succeeded' || view.status === 'failed') throw new Error(`job ${id} ended (${view.status}) before it could be interrupted\n${tails()}`);
          return view.status === 'running' && (view.checkpoint?.epoch ?? 0) >= 1 ? view : undefined;
        },
        300_000,
        50,
      );
    }

    async function ended(id: string): Promise<JobView> {
      return waitFor(`job ${id} to end`, async () => {
        const view = await job(id);
        return ['succeeded', 'failed', 'cancelled'].includes(view.status) ? view : undefined;
      }, 300_000).catch((error: Error) => {
        throw new Error(`${error.message}\n${tails()}`);
      });
    }

    async function events(id: string, type: string): Promise<Array<Record<string, unknown>>> {
      const rows = await server.platform.metadata.db.selectFrom('job_events').select('data_json').where('job_id', '=', id).where('type', '=', type).orderBy('seq').execute();
      return rows.map((r) => JSON.parse(r.data_json) as Record<string, unknown>);
    }

    /** Per-epoch metrics, final weights (state_dict.pt's SHA-256) and predictions of a finished job's version. */
    async function outcome(model: string, view: JobView) {
      const metrics = (await api<{ epochs: Array<{ epoch: number; metrics: unknown }> }>(server.url, 'GET', `/v1/training-jobs/${view.id}/metrics`)).body.epochs.map((e) => [e.epoch, e.metrics]);
      const version = (await api<{ artifacts: Array<{ name: string; sha256: string }> }>(server.url, 'GET', `/v1/models/${model}/versions/${view.model_version}`)).body;
      const predicted = await api<{ predictions: unknown }>(server.url, 'POST', `/v1/models/${model}/versions/${view.model_version}/predict`, { inputs: PROBE_ROWS });
      expect(predicted.status, JSON.stringify(predicted.body)).toBe(200);
      return { metrics, weights: version.artifacts.find((a) => a.name === 'state_dict.pt')!.sha256, predictions: predicted.body.predictions };
    }

    /** The same run as the uninterrupted one, each epoch reported once, resumed once, nothing left behind. */
    async function expectSameRunAsBaseline(model: string, view: JobView, resumedAttempt: number): Promise<void> {
      expect(view.status, tails()).toBe('succeeded');
      expect(await outcome(model, view)).toEqual(baseline);
      expect((await events(view.id, 'epoch')).map((e) => e.epoch)).toEqual([1, 2, 3, 4, 5]);
      const resumed = await events(view.id, 'resumed');
      expect(resumed).toHaveLength(1);
      expect(resumed[0].attempt).toBe(resumedAttempt);
      expect(resumed[0].epoch).toBeGreaterThanOrEqual(1);
      expect((await events(view.id, 'checkpoint')).length).toBeGreaterThanOrEqual(1);
      expect(view.checkpoint).toBeNull();
      await checkpointsDeleted(view.id);
    }

    /** The process that ran the job deletes its checkpoints right after recording its end. */
    async function checkpointsDeleted(id: string): Promise<void> {
      await waitFor(
        `job ${id}'s checkpoints to be deleted`,
        async () =>
          (await server.platform.blobs.list(`jobs/${id}/checkpoints`)).length === 0 &&
          (await server.platform.metadata.db.selectFrom('job_checkpoints').select('seq').where('job_id', '=', id).execute()).length === 0,
        60_000,
      ).catch(async (error: Error) => {
        const left = {
          blobs: await server.platform.blobs.list(`jobs/${id}/checkpoints`),
          rows: await server.platform.metadata.db.selectFrom('job_checkpoints').select(['seq', 'attempt', 'epoch', 'blob_key']).where('job_id', '=', id).execute(),
        };
        throw new Error(`${error.message}\nleft: ${JSON.stringify(left)}\n${JSON.stringify(await events(id, 'status'))}\n${JSON.stringify(await events(id, 'log'))}\n${tails()}`);
      });
    }

    it('an uninterrupted job (the baseline) checkpoints every epoch but the last, and deletes its checkpoints when it ends', async () => {
      const w = await worker('worker 1');
      const id = await submit('resume-baseline');
      const view = await ended(id);
      expect(view.status, tails()).toBe('succeeded');
      baseline = await outcome('resume-baseline', view);
      expect(baseline.metrics).toHaveLength(EPOCHS);
      expect((await events(id, 'checkpoint')).map((e) => e.epoch)).toEqual([1, 2, 3, 4]);
      expect(await events(id, 'resumed')).toEqual([]);
      expect(view.checkpoint).toBeNull();
      await checkpointsDeleted(id);
      await w.stop();
    });

    it('kill -9 of a queue worker (and its job processes) after a checkpoint: the next worker resumes it, and it ends as the same run', async () => {
      const victim = await worker('worker 2');
      const id = await submit('resume-kill9');
      const at = await checkpointed(id);
      expect(at.attempts).toBe(1);
      // The machine dies: the worker, its run-job process and the trainer, all at once.
      for (const pid of [victim.pid, ...(await descendants(victim.pid))]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      await victim.exited;
      await worker('worker 3');
      const view = await ended(id);
      expect(view.attempts).toBe(2);
      await expectSameRunAsBaseline('resume-kill9', view, 2);
    });

    it('SIGTERM of a worker: the trainer checkpoints after its batch, the job goes back to the queue without using an attempt, and the next worker resumes it', async () => {
      for (const p of processes) p.kill('SIGKILL'); // worker 3: this job is for worker 4
      const draining = await worker('worker 4');
      const id = await submit('resume-sigterm');
      await checkpointed(id);
      draining.kill('SIGTERM');
      expect(await draining.exited).toEqual({ code: 0, signal: null });
      const handedBack = await job(id);
      expect(handedBack.status).toBe('queued');
      expect(handedBack.attempts).toBe(0);
      expect(handedBack.checkpoint?.epoch).toBeGreaterThanOrEqual(1);
      await worker('worker 5');
      const view = await ended(id);
      expect(view.attempts).toBe(1);
      await expectSameRunAsBaseline('resume-sigterm', view, 1);
    });

    it('SIGTERM of run-job (a Spot reclaim on AWS Batch): it exits 75 with the job queued, and the next run-job resumes it', async () => {
      for (const p of processes) p.kill('SIGKILL'); // no worker: only run-job runs this job
      const id = await submit('resume-run-job');
      const first = runJob(id);
      await checkpointed(id);
      first.kill('SIGTERM');
      expect(await first.exited, first.tail()).toEqual({ code: 75, signal: null });
      expect((await job(id)).status).toBe('queued');
      const second = runJob(id);
      expect(await second.exited, second.tail()).toEqual({ code: 0, signal: null });
      const view = await ended(id);
      expect(view.attempts).toBe(1);
      await expectSameRunAsBaseline('resume-run-job', view, 1);
    });
  });
}
