// A tuning study on a fleet: `trainyard server` (queue executor) and two `trainyard worker`s on one
// MariaDB database and one blob store. The worker driving the study is killed with SIGKILL (with
// its job processes, as a lost machine) once trials are running; the other worker takes the study
// over when the lease expires, and the study ends with exactly max_trials trials, each one training
// job and one model version, none duplicated or lost.
// Sized for a 2-core machine: 200 rows, 2 epochs, an 8-unit MLP, one trainer thread.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, MYSQL_SKIP_NOTE, MYSQL_URL, queryDatabase, type TestDatabase } from './support/mysql.ts';
import { leaseOwnerPid } from '../src/jobs/queue.ts';
import { api, descendants, mlp, startServerProcess, startWorkerProcess, tempDir, tinyCsv, uploadCsv, waitFor, type ServerProcess, type WorkerProcess } from './support/processes.ts';

const FINISHED = ['succeeded', 'failed', 'cancelled'];

describe.skipIf(!MYSQL_URL)(`a tuning study on MariaDB with two workers, one killed${MYSQL_SKIP_NOTE}`, { timeout: 600_000 }, () => {
  let database: TestDatabase;
  let blobs: { path: string; remove(): Promise<void> };
  let server: ServerProcess;
  const workers: WorkerProcess[] = [];
  const query = <T = Record<string, unknown>>(text: string, params: unknown[] = []) => queryDatabase<T>(database.url, text, params);
  const tail = () => [server, ...workers].filter(Boolean).map((p) => p.tail(30)).join('\n');

  beforeAll(async () => {
    database = await createTestDatabase();
    blobs = await tempDir('trainyard-tuning-blobs-');
    const env = {
      TRAINYARD_DATABASE_URL: database.url,
      TRAINYARD_BLOB_URL: `file://${blobs.path}`,
      TRAINYARD_EXECUTOR: 'queue',
      TRAINYARD_LEASE_SECONDS: '3',
      TRAINYARD_MAX_ATTEMPTS: '3',
      TRAINYARD_MAX_CONCURRENT_JOBS: '1',
    };
    server = await startServerProcess(env, { name: 'server', readyTimeoutMs: 150_000 });
    workers.push(...(await Promise.all([1, 2].map((i) => startWorkerProcess(env, { name: `worker ${i}` })))));
  }, 180_000);

  afterAll(async () => {
    await Promise.allSettled([...workers, server].filter(Boolean).map((p) => p.stop(5000)));
    await blobs?.remove();
    await database?.drop();
  }, 120_000);

  it('finishes with exactly max_trials trials after the driving worker is killed', async () => {
    const upload = await uploadCsv(server.url, 'tiny', tinyCsv(200, 9));
    expect(upload.status).toBe(201);
    expect((await api(server.url, 'POST', '/v1/models', { name: 'tiny', task: 'binary_classification', target: 'label', layers: mlp([8], 1) })).status).toBe(201);
    const created = await api<{ id: string }>(server.url, 'POST', '/v1/tuning-jobs', {
      model: 'tiny',
      dataset: upload.body.id,
      hyperparameters: { epochs: 2, batch_size: 32 },
      search_space: { 'optimizer.lr': { log_uniform: [0.001, 0.1] }, 'layers[0].out_features': { choice: [4, 8, 16] } },
      strategy: 'tpe',
      objective: { metric: 'val_loss' },
      max_trials: 4,
      max_parallel: 2,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const id = created.body.id;

    // Once a trial exists, kill the worker whose job loop holds the study's lease.
    const owner = await waitFor(
      'the study to start a trial',
      async () => {
        const [row] = await query<{ lease_owner: string | null }>(`SELECT lease_owner FROM jobs WHERE id = ?`, [id]);
        const [trials] = await query<{ n: number }>(`SELECT COUNT(*) AS n FROM tuning_trials WHERE study_id = ?`, [id]);
        return row?.lease_owner && Number(trials.n) >= 1 ? row.lease_owner : undefined;
      },
      240_000,
      300,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${tail()}`);
    });
    const pid = leaseOwnerPid(owner);
    const victim = workers.find((w) => w.pid === pid);
    expect(victim, `lease owner ${owner} is not one of the workers`).toBeDefined();
    const family = await descendants(victim!.pid);
    victim!.kill('SIGKILL');
    for (const child of family) {
      try {
        process.kill(child, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }

    const study = await waitFor(
      'the study to end',
      async () => {
        const { body } = await api<{ status: string; attempts: number; error: string | null; summary: { trials: Record<string, number> }; model_version: number | null }>(server.url, 'GET', `/v1/tuning-jobs/${id}`);
        return FINISHED.includes(body.status) ? body : undefined;
      },
      480_000,
      1000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${tail()}`);
    });
    expect(study.status, `${JSON.stringify(study)}\n${tail()}`).toBe('succeeded');
    expect(study.attempts).toBeGreaterThanOrEqual(2);
    expect(study.summary.trials).toMatchObject({ total: 4, succeeded: 4 });

    const trials = await query<{ number: number; job_id: string; state: string }>(`SELECT number, job_id, state FROM tuning_trials WHERE study_id = ? ORDER BY number`, [id]);
    expect(trials.map((t) => t.number)).toEqual([0, 1, 2, 3]);
    const jobs = await query<{ id: string; status: string }>(`SELECT id, status FROM jobs WHERE study_id = ?`, [id]);
    expect(jobs.map((j) => j.id).sort()).toEqual(trials.map((t) => t.job_id).sort());
    expect(jobs.every((j) => j.status === 'succeeded')).toBe(true);
    const versions = await query<{ training_job_id: string }>(`SELECT training_job_id FROM model_versions WHERE model_name = 'tiny'`);
    expect(versions.map((v) => v.training_job_id).sort()).toEqual(trials.map((t) => t.job_id).sort());
  });
});
