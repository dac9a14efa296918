// One suite, every executor (src/jobs/executors/: local, queue, aws-batch), in the manner of the
// store conformance suites: the same jobs go through each, run by real `run-job` processes on a real
// metadata store (SQLite always, MariaDB when TRAINYARD_TEST_MYSQL_URL is set). What every
// executor must do: run each submitted job exactly once, keep a cancelled queued job from running
// and stop a running one, re-queue the job of a worker that was lost and run it again, and stop a
// job at its deadline (TIMEOUT, no retry).
// The jobs are of the `probe` kind (test/support/job-probe.ts: no model, no dataset, no trainer),
// which the job processes know through test/support/probe-trainyard.mjs. AWS Batch is
// aws-sdk-client-mock on @aws-sdk/client-batch's real command classes, whose SubmitJob starts the
// "container" as Batch would, `run-job <id>` with the submitted environment, and whose DescribeJobs
// reports that process's state.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { BatchClient, DescribeJobsCommand, SubmitJobCommand, TerminateJobCommand, type JobDetail, type SubmitJobCommandInput } from '@aws-sdk/client-batch';
import { loadConfig } from '../src/config.ts';
import { openPlatform, type Platform } from '../src/platform.ts';
import { createJob, getJobRow, requestCancel, type JobRow } from '../src/jobs/jobs.ts';
import { JobLoop } from '../src/jobs/loop.ts';
import type { Executor } from '../src/jobs/executors/executor.ts';
import { LocalExecutor } from '../src/jobs/executors/local.ts';
import { QueueExecutor } from '../src/jobs/executors/queue.ts';
import { AwsBatchExecutor } from '../src/jobs/executors/aws-batch.ts';
import { jobRunners } from '../src/cli/job-kinds.ts';
import { probeJobRunners, type ProbeSpec } from './support/job-probe.ts';
import { BASE_ENV } from './support/processes.ts';
import { METADATA_STORES, type MetadataFixture } from './support/stores.ts';

const PROBE_CLI = fileURLToPath(new URL('./support/probe-trainyard.mjs', import.meta.url));
const LEASE_SECONDS = 3;

/** An executor started for one test, with whatever else it needs to run jobs (workers, Batch). */
interface Started {
  executor: Executor;
  /** Makes the process running a job vanish, as when its machine dies. */
  lose(pid: number): void;
  stop(): Promise<void>;
}

interface ExecutorCase {
  name: 'local' | 'queue' | 'aws-batch';
  start(platform: Platform, env: Record<string, string>): Promise<Started>;
}

const loopOptions = { niceness: 0, pollMs: 100, reapEveryMs: 500, standby: false, cli: PROBE_CLI, runners: probeJobRunners() } as const;

/** AWS Batch as far as the dispatcher can tell: the SDK's real commands, and real container processes. */
class SimulatedBatch {
  readonly client = new BatchClient({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'never-sent' } });
  private readonly containers = new Map<string, ChildProcess>();
  /** Batch jobs whose container vanished while Batch still reports them RUNNING (a lost host). */
  private readonly lagging = new Set<string>();
  private next = 0;

  constructor(private readonly definitionEnv: Record<string, string>) {
    const stub = mockClient(this.client);
    stub.on(SubmitJobCommand).callsFake((input: SubmitJobCommandInput) => this.submit(input));
    stub.on(DescribeJobsCommand).callsFake(({ jobs }: { jobs: string[] }) => ({ jobs: jobs.flatMap((id) => this.describe(id)) }));
    stub.on(TerminateJobCommand).callsFake(({ jobId }: { jobId: string }) => {
      this.containers.get(jobId)?.kill('SIGTERM'); // ECS stops the task: SIGTERM, as run-job expects
      return {};
    });
  }

  private submit(input: SubmitJobCommandInput) {
    const jobId = `0f1e2d3c-0000-4000-8000-${String(++this.next).padStart(12, '0')}`;
    const overrides = Object.fromEntries((input.containerOverrides?.environment ?? []).map((e) => [e.name!, e.value!]));
    const child = spawn(process.execPath, [PROBE_CLI, ...input.containerOverrides!.command!], {
      env: { ...process.env, ...BASE_ENV, ...this.definitionEnv, ...overrides },
      stdio: 'ignore',
    });
    this.containers.set(jobId, child);
    return { jobArn: `arn:aws:batch:eu-west-1:123456789012:job/${jobId}`, jobName: input.jobName!, jobId };
  }

  private describe(jobId: string): JobDetail[] {
    const child = this.containers.get(jobId);
    if (!child) return [];
    const base = { jobId, jobArn: `arn:aws:batch:eu-west-1:123456789012:job/${jobId}`, jobName: 'trainyard', jobQueue: 'q', jobDefinition: 'd', startedAt: Date.now() };
    if (this.lagging.has(jobId) || (child.exitCode === null && child.signalCode === null)) return [{ ...base, status: 'RUNNING' }];
    if (child.exitCode === 0) return [{ ...base, status: 'SUCCEEDED' }];
    return [{ ...base, status: 'FAILED', statusReason: 'Essential container in task exited', container: { exitCode: child.exitCode ?? 137 } }];
  }

  /** The container whose process is `pid` dies with its host; Batch keeps reporting it RUNNING. */
  lose(pid: number): void {
    for (const [jobId, child] of this.containers) {
      if (child.pid !== pid) continue;
      this.lagging.add(jobId);
      child.kill('SIGKILL');
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.containers.values()].map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }),
    );
  }
}

const killHard = (pid: number) => process.kill(pid, 'SIGKILL');

const EXECUTORS: ExecutorCase[] = [
  {
    name: 'local',
    async start(platform) {
      const executor = new LocalExecutor(platform, { ...loopOptions, concurrency: 2 });
      executor.start();
      return { executor, lose: killHard, stop: () => executor.stop() };
    },
  },
  {
    // The server only queues; two workers claim from the database.
    name: 'queue',
    async start(platform) {
      const executor = new QueueExecutor();
      executor.start();
      const workers = [0, 1].map(() => new JobLoop(platform, { ...loopOptions, role: 'worker', concurrency: 1 }));
      for (const w of workers) w.start();
      return {
        executor,
        lose: killHard,
        async stop() {
          await Promise.all(workers.map((w) => w.stop()));
          await executor.stop();
        },
      };
    },
  },
  {
    // Two API servers' dispatchers on one database, as in a real deployment.
    name: 'aws-batch',
    async start(platform, env) {
      const batch = new SimulatedBatch(env);
      const dispatchers = [0, 1].map(() => new AwsBatchExecutor(platform, jobRunners(), { client: batch.client, intervalMs: 150 }));
      for (const d of dispatchers) d.start();
      return {
        executor: dispatchers[0]!,
        lose: (pid) => batch.lose(pid),
        async stop() {
          await Promise.all(dispatchers.map((d) => d.stop()));
          await batch.stop();
        },
      };
    },
  },
];

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

for (const store of METADATA_STORES) {
  describe.skipIf(store.skip)(`executor conformance on ${store.name}${store.skip ? ` (skipped: ${store.skip})` : ''}`, { timeout: 120_000 }, () => {
    let fixture: MetadataFixture;
    let dataDir: string;
    let platform: Platform;
    let env: Record<string, string>;

    beforeAll(async () => {
      fixture = await store.create();
      dataDir = await mkdtemp(join(tmpdir(), 'trainyard-executors-'));
      env = {
        ...fixture.env,
        TRAINYARD_DATA_DIR: dataDir,
        TRAINYARD_BLOB_URL: `file://${join(dataDir, 'blobs')}`,
        TRAINYARD_LEASE_SECONDS: String(LEASE_SECONDS),
        TRAINYARD_MAX_ATTEMPTS: '2',
        TRAINYARD_LOG_LEVEL: 'silent',
        TRAINYARD_BATCH_JOB_QUEUE: 'arn:aws:batch:eu-west-1:123456789012:job-queue/trainyard-cpu',
        TRAINYARD_BATCH_JOB_DEFINITION: 'arn:aws:batch:eu-west-1:123456789012:job-definition/trainyard-trainer:7',
        AWS_REGION: 'eu-west-1',
      };
      platform = await openPlatform(loadConfig(env), { migrate: true });
    }, 60_000);

    afterAll(async () => {
      await platform?.close();
      await fixture?.cleanup();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    });

    beforeEach(async () => {
      await platform.metadata.db.deleteFrom('job_events').execute();
      await platform.metadata.db.deleteFrom('jobs').execute();
    });

    const submit = (spec: ProbeSpec) => createJob(platform.metadata, { kind: 'probe', spec, maxAttempts: 2 });
    const job = (id: string) => getJobRow(platform.metadata.db, id);
    const events = async (id: string, type: string) =>
      (await platform.metadata.db.selectFrom('job_events').select('data_json').where('job_id', '=', id).where('type', '=', type).orderBy('seq').execute()).map(
        (r) => JSON.parse(r.data_json) as Record<string, unknown>,
      );
    const ended = async (id: string, status: string) => {
      try {
        return await waitFor(`job ${id} ${status}`, async () => ((await job(id)).status === status ? job(id) : undefined));
      } catch (error) {
        // Say where the job stands, so that a timeout in CI tells what happened.
        const row = await job(id);
        throw new Error(`${(error as Error).message}; it is ${row.status} after ${row.attempts} attempt(s)${row.error ? `: ${row.error}` : ''}`, { cause: error });
      }
    };
    const runningIn = (id: string) => waitFor(`job ${id} to start`, async () => (await events(id, 'probe'))[0]?.pid as number | undefined);

    for (const executorCase of EXECUTORS) {
      describe(executorCase.name, () => {
        async function withExecutor(test: (started: Started) => Promise<void>): Promise<void> {
          const started = await executorCase.start(platform, env);
          try {
            await test(started);
          } finally {
            await started.stop();
          }
        }

        it('runs each submitted job exactly once, and it succeeds', async () => {
          await withExecutor(async ({ executor }) => {
            const jobs: JobRow[] = [];
            for (let i = 0; i < 4; i++) jobs.push(await submit({ run_ms: 200 }));
            executor.poke();
            for (const j of jobs) {
              const done = await ended(j.id, 'succeeded');
              expect(done.attempts).toBe(1);
              expect(await events(j.id, 'probe')).toHaveLength(1);
              expect((await events(j.id, 'status')).map((e) => e.status)).toEqual(['queued', 'running', 'succeeded']);
            }
          });
        });

        it('never runs a job cancelled while queued, and stops a running one when it is cancelled', async () => {
          const queued = await submit({ run_ms: 200 });
          await requestCancel(platform.metadata.db, queued.id, 'probe');
          const running = await submit({ run_ms: 60_000 });
          await withExecutor(async ({ executor }) => {
            executor.poke();
            const pid = await runningIn(running.id);
            await requestCancel(platform.metadata.db, running.id, 'probe');
            await ended(running.id, 'cancelled');
            await waitFor(`the process of job ${running.id} to exit`, async () => !alive(pid));
          });
          expect((await job(queued.id)).status).toBe('cancelled');
          expect(await events(queued.id, 'probe')).toEqual([]);
          expect((await events(running.id, 'status')).map((e) => e.status)).toEqual(['queued', 'running', 'cancelled']);
        });

        it('re-queues the job of a worker that was lost and runs it again', async () => {
          const lost = await submit({ run_ms: 2000 });
          await withExecutor(async ({ executor, lose }) => {
            executor.poke();
            lose(await runningIn(lost.id));
            const done = await ended(lost.id, 'succeeded');
            expect(done.attempts).toBe(2);
          });
          expect((await events(lost.id, 'probe')).map((e) => e.attempt)).toEqual([1, 2]);
          const statuses = await events(lost.id, 'status');
          expect(statuses.map((e) => e.status)).toEqual(['queued', 'running', 'queued', 'running', 'succeeded']);
          expect(String(statuses[2]!.reason)).toMatch(/lost|killed|exited/);
        });

        it('stops a job at its deadline and fails it with TIMEOUT, without a retry', async () => {
          const slow = await submit({ run_ms: 60_000, deadline_seconds: 1 });
          await withExecutor(async ({ executor }) => {
            executor.poke();
            const pid = await runningIn(slow.id);
            const failed = await ended(slow.id, 'failed');
            expect(failed.error_code).toBe('TIMEOUT');
            expect(failed.attempts).toBe(1);
            await waitFor(`the process of job ${slow.id} to exit`, async () => !alive(pid));
          });
          expect((await job(slow.id)).error_code).toBe('TIMEOUT');
        });
      });
    }
  });
}
