// Issue 5's acceptance with real processes: `trainyard server` ×2 with TRAINYARD_EXECUTOR=queue and
// `trainyard worker` ×3, all on one MariaDB database and one S3-protocol server (s3rver).
//   - 30 queued jobs (12 training, 18 batch inference): each runs exactly once and succeeds; upload
//     through server A, train and predict through server B, SSE readable through either;
//   - kill -9 a worker (and its job processes, as a lost machine) mid-training: the job finishes on
//     another worker after its lease expires, attempts 2, one model version, no orphaned artifacts;
//   - SIGTERM a worker mid-training: it hands the job back (attempt refunded) and exits 0;
//   - S3 down or answering errors: uploads fail cleanly with 503 STORE_UNAVAILABLE, no dataset row,
//     nothing half-written.
// The database-outage acceptance lives in fleet.db-outage.test.ts (it stops MariaDB).
// Sized for a 2-core machine: a 200-row CSV, 1-epoch jobs, an 8-unit MLP, one trainer thread.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, MYSQL_SKIP_NOTE, MYSQL_URL, queryDatabase, type TestDatabase } from './support/mysql.ts';
import { leaseOwnerPid } from '../src/jobs/queue.ts';
import { startS3Server, type S3TestServer } from './support/s3.ts';
import {
  api,
  descendants,
  mlp,
  readSse,
  startServerProcess,
  startWorkerProcess,
  tinyCsv,
  uploadCsv,
  waitFor,
  type ServerProcess,
  type WorkerProcess,
} from './support/processes.ts';

interface JobView {
  id: string;
  status: string;
  attempts: number;
  model: string;
  model_version?: number | null;
  version?: number;
  progress: { epoch?: number; epochs?: number } | null;
  error: string | null;
  stats?: Record<string, unknown> | null;
}

const LEASE_SECONDS = 3;
const FINISHED = ['succeeded', 'failed', 'cancelled'];

describe.skipIf(!MYSQL_URL)(`a fleet: 2 servers + 3 workers on MariaDB and S3${MYSQL_SKIP_NOTE}`, { timeout: 420_000 }, () => {
  let database: TestDatabase;
  let s3: S3TestServer;
  let env: Record<string, string>;
  let a: ServerProcess;
  let b: ServerProcess;
  const workers: WorkerProcess[] = [];
  let datasetId: string;

  const query = <T = Record<string, unknown>>(text: string, params: unknown[] = []) => queryDatabase<T>(database.url, text, params);

  async function statusHistory(jobId: string): Promise<string[]> {
    const rows = await query<{ data_json: string }>(`SELECT data_json FROM job_events WHERE job_id = ? AND type = 'status' ORDER BY seq`, [jobId]);
    return rows.map((r) => (JSON.parse(r.data_json) as { status: string }).status);
  }

  function fleetTail(): string {
    return [a, b, ...workers].filter(Boolean).map((p) => p.tail(25)).join('\n');
  }

  async function waitForJobs(server: string, kind: 'training' | 'inference', ids: string[], timeoutMs: number): Promise<JobView[]> {
    const path = kind === 'training' ? 'training-jobs' : 'inference-jobs';
    let counts = '';
    return waitFor(
      `${ids.length} ${kind} jobs to finish`,
      async () => {
        const jobs = await Promise.all(ids.map(async (id) => (await api<JobView>(server, 'GET', `/v1/${path}/${id}`)).body));
        const by = new Map<string, number>();
        for (const j of jobs) by.set(j.status, (by.get(j.status) ?? 0) + 1);
        counts = [...by].map(([k, v]) => `${v} ${k}`).join(', ');
        return jobs.every((j) => FINISHED.includes(j.status)) ? jobs : undefined;
      },
      timeoutMs,
      500,
    ).catch((error: Error) => {
      throw new Error(`${error.message} (${counts})\n${fleetTail()}`);
    });
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    s3 = await startS3Server();
    env = {
      TRAINYARD_DATABASE_URL: database.url,
      ...s3.env,
      TRAINYARD_EXECUTOR: 'queue',
      TRAINYARD_LEASE_SECONDS: String(LEASE_SECONDS),
      TRAINYARD_MAX_ATTEMPTS: '3',
    };
    // Server A migrates on start; B and the workers start together once the schema exists.
    a = await startServerProcess(env, { name: 'server A' });
    // Workers log at info: each "job started" line is checked below.
    const starting = [1, 2, 3].map((i) => startWorkerProcess({ ...env, TRAINYARD_LOG_LEVEL: 'info' }, { name: `worker ${i}` }));
    b = await startServerProcess(env, { name: 'server B' });
    workers.push(...(await Promise.all(starting)));
  }, 180_000);

  afterAll(async () => {
    await Promise.allSettled([...workers, a, b].filter(Boolean).map((p) => p.stop(5000)));
    await s3?.stop();
    await database?.drop();
  }, 180_000);

  it('30 queued jobs on 2 servers and 3 workers: each runs exactly once and succeeds; upload via A, train and predict via B, SSE via either', async () => {
    // Upload through server A …
    const upload = await uploadCsv(a.url, 'fleet', tinyCsv(200, 11));
    expect(upload.status, JSON.stringify(upload.body)).toBe(201);
    datasetId = upload.body.id;
    // … and B sees it at once (no state in the servers).
    expect((await api(b.url, 'GET', `/v1/datasets/${datasetId}`)).status).toBe(200);

    const models = ['fleet-a', 'fleet-b', 'fleet-c', 'fleet-d'];
    const perModel = 3;
    for (const name of models) {
      const created = await api(b.url, 'POST', '/v1/models', { name, task: 'binary_classification', target: 'label', layers: mlp([8], 1) });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
    }

    // 12 training jobs, submitted alternately through B and A.
    const training: string[] = [];
    for (let i = 0; i < models.length * perModel; i++) {
      const server = i % 2 === 0 ? b : a;
      const res = await api<JobView>(server.url, 'POST', '/v1/training-jobs', {
        model: models[i % models.length],
        dataset: datasetId,
        hyperparameters: { epochs: 1, batch_size: 64, seed: i },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      training.push(res.body.id);
    }

    // The first job's events, submitted through B, streamed through A while it runs.
    const streamed = readSse(`${a.url}/v1/training-jobs/${training[0]}/events`, 180_000);

    // 18 batch inference jobs once the first model has a version, alternately through A and B.
    await waitFor(
      'a first version of fleet-a',
      async () => {
        const first = (await api<JobView>(b.url, 'GET', `/v1/training-jobs/${training[0]}`)).body;
        if (first.status === 'failed') throw new Error(`the first job failed: ${first.error}`);
        return (await api(b.url, 'GET', '/v1/models/fleet-a/versions/1')).status === 200;
      },
      180_000,
      500,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${fleetTail()}`);
    });
    const inference: string[] = [];
    for (let i = 0; i < 18; i++) {
      const server = i % 2 === 0 ? a : b;
      const res = await api<JobView>(server.url, 'POST', '/v1/inference-jobs', { model: 'fleet-a', version: 1, dataset: datasetId });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      inference.push(res.body.id);
    }

    const trained = await waitForJobs(b.url, 'training', training, 300_000);
    const predicted = await waitForJobs(a.url, 'inference', inference, 120_000);
    expect(trained.length + predicted.length).toBe(30);

    for (const job of [...trained, ...predicted]) {
      expect(job.status, `${job.id}: ${job.error}\n${fleetTail()}`).toBe('succeeded');
      expect(job.attempts, job.id).toBe(1);
      expect(await statusHistory(job.id), job.id).toEqual(['queued', 'running', 'succeeded']);
    }
    // Exactly one model version per training job, numbered 1..3 per model.
    const versions = await query<{ model_name: string; version: number; training_job_id: string; blob_prefix: string }>(
      `SELECT model_name, version, training_job_id, blob_prefix FROM model_versions ORDER BY model_name, version`,
    );
    expect(versions.map((v) => v.training_job_id).sort()).toEqual([...training].sort());
    for (const name of models) expect(versions.filter((v) => v.model_name === name).map((v) => v.version)).toEqual([1, 2, 3]);
    for (const job of trained) expect(versions.find((v) => v.training_job_id === job.id)?.version).toBe(job.model_version);
    // Every artifact in the bucket belongs to a recorded version.
    const prefixes = new Set(versions.map((v) => v.blob_prefix));
    for (const name of models) {
      const keys = await listBucket(`models/${name}`);
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) expect(prefixes.has(key.split('/').slice(0, 3).join('/')), key).toBe(true);
    }
    // Every batch inference job predicted all 200 rows.
    for (const job of predicted) expect(job.stats?.rows, job.id).toBe(200);

    // Exactly 30 claims in all, and the workers shared them (each logs the jobs it starts).
    const claims = await query<{ data_json: string }>(`SELECT data_json FROM job_events WHERE type = 'status' AND data_json LIKE '%"running"%'`);
    expect(claims.length).toBe(30);
    const started = workers.map((w) => w.output().split('\n').filter((line) => line.includes('"msg":"job started"')).length);
    expect(started.reduce((x, y) => x + y, 0)).toBe(30);
    expect(started.filter((n) => n > 0).length, `jobs started per worker: ${started.join(', ')}`).toBeGreaterThanOrEqual(2);
    const events = await query<{ owner: string }>(`SELECT COUNT(DISTINCT job_id) AS owner FROM job_events WHERE type = 'epoch'`);
    expect(Number(events[0]!.owner)).toBe(training.length);

    // Predict through either server (each loads the version from S3 itself).
    for (const server of [b, a]) {
      const res = await api<{ version: number; predictions: Array<{ label: string; probability: number }> }>(server.url, 'POST', '/v1/models/fleet-a/predict', {
        inputs: [
          { x1: 1.8, x2: 1.5, x3: 3 },
          { x1: -1.8, x2: -1.5, x3: 3 },
        ],
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.version).toBe(perModel);
      expect(res.body.predictions).toHaveLength(2);
    }

    // SSE through A ended with the job's success; through B the finished job replays the same events.
    const viaA = await streamed;
    const viaB = await readSse(`${b.url}/v1/training-jobs/${training[0]}/events`, 30_000);
    for (const stream of [viaA, viaB]) {
      const statuses = stream.filter((e) => e.event === 'status').map((e) => (e.data as { status: string }).status);
      expect(statuses).toEqual(['queued', 'running', 'succeeded']);
      expect(stream.some((e) => e.event === 'epoch')).toBe(true);
      expect(stream.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });
    }
    // The live stream got everything, down to the runner's last log line written after the final status.
    expect(viaA.some((e) => e.event === 'log' && /recorded fleet-a version/.test(JSON.stringify(e.data)))).toBe(true);
    expect(viaB.filter((e) => e.id).map((e) => e.id)).toEqual(viaA.filter((e) => e.id).map((e) => e.id));
  });

  it('kill -9 a worker mid-training: another worker finishes the job after the lease expires; attempts 2, one version, no orphaned artifacts', async () => {
    const created = await api(b.url, 'POST', '/v1/models', { name: 'survivor', task: 'binary_classification', target: 'label', layers: mlp([64, 64], 1) });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    // Slow enough to be caught mid-run: many small batches over many epochs.
    const res = await api<JobView>(b.url, 'POST', '/v1/training-jobs', { model: 'survivor', dataset: datasetId, hyperparameters: { epochs: 150, batch_size: 4, seed: 1 } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const jobId = res.body.id;

    // Wait until it has trained at least one epoch, then find the worker that holds it.
    await waitFor(
      'the slow job to be mid-training',
      async () => {
        const job = (await api<JobView>(a.url, 'GET', `/v1/training-jobs/${jobId}`)).body;
        if (FINISHED.includes(job.status)) throw new Error(`the job ended before it could be interrupted: ${job.status}`);
        return (job.progress?.epoch ?? 0) >= 1 && job.status === 'running';
      },
      90_000,
      100,
    );
    const [row] = await query<{ lease_owner: string; attempts: number }>(`SELECT lease_owner, attempts FROM jobs WHERE id = ?`, [jobId]);
    expect(row!.attempts).toBe(1);
    const pid = leaseOwnerPid(row!.lease_owner);
    const victim = workers.find((w) => w.pid === pid);
    expect(victim, `lease owner ${row!.lease_owner} is none of the workers`).toBeDefined();

    // The machine dies: the worker, its run-job process and the trainer, all at once.
    const tree = [victim!.pid, ...(await descendants(victim!.pid))];
    expect(tree.length).toBeGreaterThanOrEqual(3);
    for (const p of tree) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await victim!.exited;
    workers.splice(workers.indexOf(victim!), 1);
    const killedAt = Date.now();

    const [job] = await waitForJobs(a.url, 'training', [jobId], 240_000);
    expect(job!.status, `${job!.error}\n${fleetTail()}`).toBe('succeeded');
    expect(job!.attempts).toBe(2);
    // Retried only once the lease was gone (or its owner known dead).
    const history = await statusHistory(jobId);
    expect(history).toEqual(['queued', 'running', 'queued', 'running', 'succeeded']);
    const [requeued] = await query<{ data_json: string; created_at: string }>(
      `SELECT data_json, created_at FROM job_events WHERE job_id = ? AND type = 'status' AND data_json LIKE '%"queued"%' ORDER BY seq DESC LIMIT 1`,
      [jobId],
    );
    expect(JSON.parse(requeued!.data_json).reason).toMatch(/lost/);
    expect(Date.parse(requeued!.created_at)).toBeGreaterThanOrEqual(killedAt - 1000);
    const [after] = await query<{ lease_owner: string | null }>(`SELECT lease_owner FROM jobs WHERE id = ?`, [jobId]);
    expect(after!.lease_owner).toBeNull();

    const versions = await query<{ version: number; blob_prefix: string; training_job_id: string }>(`SELECT version, blob_prefix, training_job_id FROM model_versions WHERE model_name = 'survivor'`);
    expect(versions).toHaveLength(1);
    expect(versions[0]!.training_job_id).toBe(jobId);
    // Only the recorded attempt's prefix exists under models/survivor/.
    const keys = await listBucket('models/survivor');
    expect(keys.length).toBeGreaterThan(0);
    expect(new Set(keys.map((k) => k.split('/').slice(0, 3).join('/')))).toEqual(new Set([versions[0]!.blob_prefix]));
    expect(versions[0]!.blob_prefix).toMatch(/-a2$/);
    expect(await s3.pendingMultipartUploads()).toEqual([]);
  });

  it('SIGTERM drains a worker mid-training: the job is handed back without charging an attempt and finishes on another worker', async () => {
    expect(workers.length).toBeGreaterThanOrEqual(2);
    const res = await api<JobView>(a.url, 'POST', '/v1/training-jobs', { model: 'survivor', dataset: datasetId, hyperparameters: { epochs: 150, batch_size: 4, seed: 2 } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const jobId = res.body.id;
    await waitFor(
      'the job to be mid-training',
      async () => {
        const job = (await api<JobView>(b.url, 'GET', `/v1/training-jobs/${jobId}`)).body;
        if (FINISHED.includes(job.status)) throw new Error(`the job ended before it could be interrupted: ${job.status}`);
        return (job.progress?.epoch ?? 0) >= 1 && job.status === 'running';
      },
      90_000,
      100,
    );
    const [row] = await query<{ lease_owner: string }>(`SELECT lease_owner FROM jobs WHERE id = ?`, [jobId]);
    const draining = workers.find((w) => w.pid === leaseOwnerPid(row!.lease_owner));
    expect(draining, `lease owner ${row!.lease_owner} is none of the workers`).toBeDefined();

    draining!.kill('SIGTERM');
    const exit = await draining!.exited;
    workers.splice(workers.indexOf(draining!), 1);
    expect(exit, draining!.tail()).toEqual({ code: 0, signal: null });

    const [job] = await waitForJobs(b.url, 'training', [jobId], 240_000);
    expect(job!.status, `${job!.error}\n${fleetTail()}`).toBe('succeeded');
    expect(job!.attempts).toBe(1); // the drained attempt was refunded
    expect(await statusHistory(jobId)).toEqual(['queued', 'running', 'queued', 'running', 'succeeded']);
    const versions = await query<{ training_job_id: string }>(`SELECT training_job_id FROM model_versions WHERE training_job_id = ?`, [jobId]);
    expect(versions).toHaveLength(1);
  });

  it('S3 down or answering 500s: an upload fails with 503 STORE_UNAVAILABLE, no dataset row and nothing half-written', async () => {
    const datasetsBefore = await query<{ n: number }>(`SELECT COUNT(*) AS n FROM datasets`);
    const keysBefore = await listBucket('datasets');

    // Down: connections refused.
    await s3.down();
    try {
      const csv = tinyCsv(200, 3);
      const res = await uploadCsv(a.url, 'while-s3-down', csv);
      expect(res.status, JSON.stringify(res.body)).toBe(503);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE' });
      const ready = await api<{ ready: boolean; checks: { blobs: { ok: boolean } } }>(b.url, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.checks.blobs.ok).toBe(false);
    } finally {
      await s3.up();
    }

    // Up, but every write answers 500 InternalError (a multipart part, or a plain PUT).
    s3.setFault({ status: 500, match: (req) => req.method === 'PUT' || req.method === 'POST' });
    try {
      const raw = await fetch(`${b.url}/v1/datasets?name=while-s3-errors`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: tinyCsv(200, 4) });
      const body = (await raw.json()) as Record<string, unknown>;
      expect(raw.status, JSON.stringify(body)).toBe(503);
      expect(raw.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(body).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE' });
    } finally {
      s3.setFault(null);
    }

    expect(await query<{ n: number }>(`SELECT COUNT(*) AS n FROM datasets`)).toEqual(datasetsBefore);
    expect(await query(`SELECT id FROM datasets WHERE name LIKE 'while-s3-%'`)).toEqual([]);
    expect(await listBucket('datasets')).toEqual(keysBefore);
    expect(await s3.pendingMultipartUploads()).toEqual([]);

    // Once S3 is healthy again the same upload works, and /readyz says so.
    await waitFor('/readyz to answer 200 again', async () => (await api(a.url, 'GET', '/readyz')).status === 200, 15_000);
    const again = await uploadCsv(a.url, 'while-s3-down', tinyCsv(200, 3));
    expect(again.status, JSON.stringify(again.body)).toBe(201);
  });

  /** Keys under `prefix` (relative to the store's prefix) in the bucket, from s3rver's own listing. */
  async function listBucket(prefix: string): Promise<string[]> {
    const { S3BlobStore } = await import('../src/store/blobs/s3-blob-store.ts');
    const store = S3BlobStore.fromUrl(s3.bucketUrl, s3.endpoint, { credentials: s3.credentials, region: 'us-east-1' });
    try {
      return (await store.list(prefix)).sort();
    } finally {
      await store.close();
    }
  }
});
