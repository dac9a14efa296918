// Issue 5's database-outage acceptance with real processes: 2 `trainyard server` (queue executor)
// and 2 `trainyard worker` on one MariaDB database and one S3-protocol server. The database goes
// away for a few seconds while jobs run: /readyz answers 503 on both servers meanwhile and 200
// after, API calls fail with 503 STORE_UNAVAILABLE rather than hanging, workers and servers
// recover by themselves, and nothing is lost: every job ends succeeded with one model version.
//
// Two ways to take the database away:
//   - default: every fleet process reaches MariaDB through a TCP proxy (test/support/mysql.ts)
//     that the test takes down (connections reset, then refused) and brings back. This is safe
//     beside other MariaDB test files, so the file can run in the normal, parallel suite.
//   - TRAINYARD_TEST_STOP_MARIADB=1: the real thing. MariaDB itself is stopped
//     (`kill $(cat /run/mysqld/mysqld.pid)`) and restarted (start-stop-daemon … -- --user=mysql).
//     THIS STOPS THE SHARED SERVER: it must not run in parallel with any other MariaDB test.
//     Run it alone, after the main suite: `npx vitest run --config test/fleet.vitest.config.ts`
//     (that config runs only this file, sequentially, with the variable set). MariaDB is always
//     restarted in afterAll, even when the test fails.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { createTestDatabase, MYSQL_SKIP_NOTE, MYSQL_URL, queryDatabase, startTcpProxy, type TcpProxy, type TestDatabase } from './support/mysql.ts';
import { startS3Server, type S3TestServer } from './support/s3.ts';
import { api, mlp, sleep, startServerProcess, startWorkerProcess, tinyCsv, uploadCsv, waitFor, type ServerProcess, type WorkerProcess } from './support/processes.ts';

const run = promisify(execFile);
const STOP_MARIADB = process.env.TRAINYARD_TEST_STOP_MARIADB === '1';
const MODE = STOP_MARIADB ? 'MariaDB stopped and restarted' : 'MariaDB cut off by a TCP proxy';
const PID_FILE = '/run/mysqld/mysqld.pid';
const SOCKET = '/run/mysqld/mysqld.sock';
/** Long enough that a few seconds without heartbeats do not cost a job its lease. */
const LEASE_SECONDS = 12;
const OUTAGE_MS = 5000;

interface JobView {
  id: string;
  status: string;
  attempts: number;
  model_version: number | null;
  progress: { epoch?: number } | null;
  error: string | null;
}

async function mariadbAlive(): Promise<boolean> {
  try {
    await run('mariadb-admin', [`--socket=${SOCKET}`, '--connect-timeout=2', 'ping'], { timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

async function stopMariadb(): Promise<void> {
  const pid = Number((await readFile(PID_FILE, 'utf8')).trim());
  process.kill(pid, 'SIGTERM');
  await waitFor(
    'mariadbd to exit',
    () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    },
    60_000,
    100,
  );
}

async function startMariadb(): Promise<void> {
  if (await mariadbAlive()) return;
  await run('install', ['-d', '-o', 'mysql', '-g', 'mysql', '-m', '0755', '/run/mysqld']).catch(() => undefined);
  await run('start-stop-daemon', ['--start', '--oknodo', '--background', '--exec', '/usr/sbin/mariadbd', '--', '--user=mysql']);
  await waitFor('MariaDB to accept connections again', mariadbAlive, 60_000, 250);
}

describe.skipIf(!MYSQL_URL)(`a fleet survives a database outage (${MODE})${MYSQL_SKIP_NOTE}`, { timeout: 300_000 }, () => {
  let database: TestDatabase;
  let proxy: TcpProxy | undefined;
  let s3: S3TestServer;
  let servers: ServerProcess[] = [];
  const workers: WorkerProcess[] = [];
  let datasetId: string;

  const query = <T = Record<string, unknown>>(text: string, params: unknown[] = []) => queryDatabase<T>(database.url, text, params);

  function fleetTail(): string {
    return [...servers, ...workers].map((p) => p.tail(30)).join('\n');
  }

  async function databaseDown(): Promise<void> {
    if (STOP_MARIADB) await stopMariadb();
    else await proxy!.down();
  }

  async function databaseUp(): Promise<void> {
    if (STOP_MARIADB) await startMariadb();
    else await proxy!.up();
  }

  beforeAll(async () => {
    if (STOP_MARIADB) await startMariadb();
    database = await createTestDatabase();
    let url = database.url;
    if (!STOP_MARIADB) {
      const target = new URL(database.url);
      proxy = await startTcpProxy(`${target.hostname}:${target.port || 3306}`);
      url = proxy.via(database.url);
    }
    s3 = await startS3Server();
    const env = {
      TRAINYARD_DATABASE_URL: url,
      ...s3.env,
      TRAINYARD_EXECUTOR: 'queue',
      TRAINYARD_LEASE_SECONDS: String(LEASE_SECONDS),
      TRAINYARD_MAX_ATTEMPTS: '3',
    };
    servers = [await startServerProcess(env, { name: 'server A' })];
    servers.push(await startServerProcess(env, { name: 'server B' }));
    for (let i = 1; i <= 2; i++) workers.push(await startWorkerProcess(env, { name: `worker ${i}` }));

    const upload = await uploadCsv(servers[0]!.url, 'outage', tinyCsv(200, 5));
    expect(upload.status, JSON.stringify(upload.body)).toBe(201);
    datasetId = upload.body.id;
    const created = await api(servers[1]!.url, 'POST', '/v1/models', { name: 'outage', task: 'binary_classification', target: 'label', layers: mlp([16], 1) });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  }, 180_000);

  afterAll(async () => {
    // Whatever happened above, the shared database server must be running again.
    try {
      if (STOP_MARIADB) await startMariadb();
      else await proxy?.up();
    } finally {
      await Promise.allSettled([...workers, ...servers].map((p) => p.stop(5000)));
      await proxy?.close();
      await s3?.stop();
      await database?.drop();
    }
  }, 180_000);

  it('jobs running across a few seconds without the database all succeed; /readyz is 503 meanwhile and 200 after', async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const submit = async (server: ServerProcess, seed: number) => {
      const res = await api<JobView>(server.url, 'POST', '/v1/training-jobs', { model: 'outage', dataset: datasetId, hyperparameters: { epochs: 4, batch_size: 8, seed } });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      return res.body.id;
    };
    const jobs: string[] = [];
    for (let i = 0; i < 6; i++) jobs.push(await submit(i % 2 ? a : b, i));

    // Cut the database while both workers are mid-job.
    await waitFor(
      'two jobs to be mid-training',
      async () => {
        const rows = await query<{ n: number }>(`SELECT COUNT(*) AS n FROM jobs WHERE status = 'running' AND progress_json IS NOT NULL`);
        return Number(rows[0]!.n) >= 2;
      },
      120_000,
      100,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${fleetTail()}`);
    });
    expect((await api(a.url, 'GET', '/readyz')).status).toBe(200);

    const downAt = Date.now();
    await databaseDown();
    try {
      for (const server of [a, b]) {
        const ready = await waitFor(
          `${server.name} /readyz to report the database down`,
          async () => {
            const res = await api<{ ready: boolean; checks: { database: { ok: boolean }; blobs: { ok: boolean } } }>(server.url, 'GET', '/readyz');
            return res.status === 503 ? res : undefined;
          },
          10_000,
          200,
        );
        expect(ready.body.ready).toBe(false);
        expect(ready.body.checks.database.ok).toBe(false);
        expect(ready.body.checks.blobs.ok).toBe(true);
      }
      // The API answers quickly with a problem rather than hanging.
      const started = Date.now();
      const res = await api<{ code: string; status: number }>(b.url, 'GET', `/v1/training-jobs/${jobs[0]}`);
      expect(res.status, JSON.stringify(res.body)).toBe(503);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(res.body.code).toBe('STORE_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(8000);
      // Liveness is not readiness: the processes are up.
      expect((await api(a.url, 'GET', '/healthz')).status).toBe(200);
      await sleep(Math.max(0, OUTAGE_MS - (Date.now() - downAt)));
    } finally {
      await databaseUp();
    }

    for (const server of [a, b]) {
      await waitFor(`${server.name} /readyz to answer 200 again`, async () => (await api(server.url, 'GET', '/readyz')).status === 200, 30_000, 250);
    }
    // The fleet takes new work after the outage, through either server.
    jobs.push(await submit(a, 100), await submit(b, 101));

    const finished = await waitFor(
      `${jobs.length} jobs to finish after the outage`,
      async () => {
        const views = await Promise.all(jobs.map(async (id) => (await api<JobView>(a.url, 'GET', `/v1/training-jobs/${id}`)).body));
        return views.every((v) => ['succeeded', 'failed', 'cancelled'].includes(v.status)) ? views : undefined;
      },
      180_000,
      500,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${fleetTail()}`);
    });

    for (const job of finished) {
      expect(job.status, `${job.id}: ${job.error}\n${fleetTail()}`).toBe('succeeded');
      expect(job.model_version).not.toBeNull();
      // The outage is shorter than the lease: the writes that end a job wait it out, so no job needed a second attempt.
      expect(job.attempts, `${job.id} needed ${job.attempts} attempts\n${fleetTail()}`).toBe(1);
    }
    const versions = await query<{ training_job_id: string; version: number }>(`SELECT training_job_id, version FROM model_versions WHERE model_name = 'outage' ORDER BY version`);
    expect(versions.map((v) => v.training_job_id).sort()).toEqual([...jobs].sort());
    expect(versions.map((v) => v.version)).toEqual(jobs.map((_, i) => i + 1));
    for (const id of jobs) {
      const rows = await query<{ data_json: string }>(`SELECT data_json FROM job_events WHERE job_id = ? AND type = 'status' ORDER BY seq`, [id]);
      const statuses = rows.map((r) => (JSON.parse(r.data_json) as { status: string }).status);
      expect(statuses.at(-1), id).toBe('succeeded');
      expect(statuses.filter((s) => s === 'succeeded'), id).toHaveLength(1);
    }

    // Every process rode it out.
    for (const p of [...servers, ...workers]) expect(p.child.exitCode, p.tail()).toBeNull();
  });
});
