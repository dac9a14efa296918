// kill -9 of the server (local executor) in the middle of a training job, then a restart on the same
// stores: the orphaned job process notices its parent is gone and stops, and the restarted server
// re-queues the job at once (its owner is a dead process on this host). Nothing stays `running`.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { alive, api, descendants, mlp, startServerProcess, tempDir, uploadCsv, waitFor, type ServerProcess } from './support/processes.ts';
import { readFile } from 'node:fs/promises';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

interface Job {
  id: string;
  status: string;
  attempts: number;
  model_version: number | null;
  progress: { epoch: number } | null;
}

describe('a server killed with -9 mid-job', () => {
  it('leaves no job stuck running: the restarted server re-runs it to exactly one model version', async () => {
    const stores = await tempDir('trainyard-crash-');
    cleanups.push(stores.remove);
    const env = {
      TRAINYARD_DATABASE_URL: `sqlite:${join(stores.path, 'trainyard.db')}`,
      TRAINYARD_BLOB_URL: `file://${join(stores.path, 'blobs')}`,
      TRAINYARD_EXECUTOR: 'local',
    };
    const first: ServerProcess = await startServerProcess(env, { name: 'server-1' });
    cleanups.push(() => first.stop(1000));
    const csv = await readFile(new URL('../examples/breast_cancer.csv', import.meta.url), 'utf8');
    const dataset = await uploadCsv(first.url, 'cancer', csv);
    expect(dataset.status).toBe(201);
    expect((await api(first.url, 'POST', '/v1/models', { name: 'crash', task: 'binary_classification', target: 'diagnosis', layers: mlp([128, 128], 1) })).status).toBe(201);
    const created = await api<Job>(first.url, 'POST', '/v1/training-jobs', { model: 'crash', dataset: dataset.body.id, hyperparameters: { epochs: 12, batch_size: 8 } });
    expect(created.status).toBe(202);
    const id = created.body.id;

    await waitFor('the first epoch', async () => ((await api<Job>(first.url, 'GET', `/v1/training-jobs/${id}`)).body.progress?.epoch ?? 0) >= 1, 90_000);
    const orphans = await descendants(first.pid);
    expect(orphans.length).toBeGreaterThan(0);
    first.kill('SIGKILL');
    await first.exited;

    // The job process and its trainer see their parent gone and exit on their own.
    await waitFor('orphaned job processes to exit', () => orphans.every((pid) => !alive(pid)), 20_000);

    const second = await startServerProcess(env, { name: 'server-2' });
    cleanups.push(() => second.stop());
    const finished = await waitFor(
      'the job to finish after the restart',
      async () => {
        const job = (await api<Job>(second.url, 'GET', `/v1/training-jobs/${id}`)).body;
        return ['succeeded', 'failed', 'cancelled'].includes(job.status) ? job : undefined;
      },
      150_000,
      500,
    );
    expect(finished.status).toBe('succeeded');
    expect(finished.attempts).toBe(2);
    const versions = await api<{ items: Array<{ version: number; training_job_id: string }> }>(second.url, 'GET', '/v1/models/crash/versions');
    expect(versions.body.items).toHaveLength(1);
    expect(versions.body.items[0].training_job_id).toBe(id);
  }, 300_000);
});
