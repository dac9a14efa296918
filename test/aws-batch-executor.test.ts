// The AWS Batch executor against aws-sdk-client-mock on @aws-sdk/client-batch's real command
// classes and shapes, with a real metadata store (SQLite always, MariaDB when
// TRAINYARD_TEST_MYSQL_URL is set): submit with the configured queue and definition, record the
// Batch job id, never submit a job twice from two dispatchers, turn Batch's failures into ours,
// terminate cancelled jobs, and refuse to start without its configuration.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import {
  BatchClient,
  DescribeJobsCommand,
  SubmitJobCommand,
  TerminateJobCommand,
  type JobDetail,
  type SubmitJobCommandInput,
} from '@aws-sdk/client-batch';
import { loadConfig } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';
import { openPlatform, type Platform } from '../src/platform.ts';
import { AwsBatchExecutor, containerEnvironment, failureReason } from '../src/jobs/executors/aws-batch.ts';
import { jobRunners } from '../src/cli/job-kinds.ts';
import { createJob, getJobRow, requestCancel } from '../src/jobs/jobs.ts';
import { claimById, finishJob } from '../src/jobs/queue.ts';
import { METADATA_STORES, type MetadataFixture } from './support/stores.ts';
import { spawnTrainyard } from './support/processes.ts';
import { insertJobReferences } from './support/job-references.ts';

const JOB_QUEUE = 'arn:aws:batch:eu-west-1:123456789012:job-queue/trainyard-cpu';
const JOB_DEFINITION = 'arn:aws:batch:eu-west-1:123456789012:job-definition/trainyard-trainer:7';
const INFERENCE_JOB_QUEUE = 'arn:aws:batch:eu-west-1:123456789012:job-queue/trainyard-fargate';
const INFERENCE_JOB_DEFINITION = 'trainyard-inference';
const SECRET_DB_URL = 'mysql://trainyard:s3cr3t-db-password@db.internal:3306/trainyard';

/** A JobDetail as DescribeJobs returns it (the members the SDK marks required, plus what we read). */
function detail(jobId: string, status: JobDetail['status'], extra: Partial<JobDetail> = {}): JobDetail {
  return {
    jobArn: `arn:aws:batch:eu-west-1:123456789012:job/${jobId}`,
    jobName: `trainyard-training-${jobId}`,
    jobId,
    jobQueue: JOB_QUEUE,
    status,
    startedAt: Date.now() - 60_000,
    jobDefinition: JOB_DEFINITION,
    ...extra,
  };
}

function submitted(input: SubmitJobCommandInput) {
  const jobId = nextBatchId();
  return { jobArn: `arn:aws:batch:eu-west-1:123456789012:job/${jobId}`, jobName: input.jobName, jobId };
}

let batchIds = 0;
function nextBatchId(): string {
  batchIds++;
  return `0f1e2d3c-0000-4000-8000-${String(batchIds).padStart(12, '0')}`;
}

for (const store of METADATA_STORES) {
  describe.skipIf(store.skip)(`AWS Batch dispatcher on ${store.name}${store.skip ? ` (skipped: ${store.skip})` : ''}`, () => {
    let fixture: MetadataFixture;
    let dataDir: string;
    const platforms: Platform[] = [];
    let batch: AwsClientStub<BatchClient>;
    let client: BatchClient;

    async function platform(env: Record<string, string> = {}): Promise<Platform> {
      const config = loadConfig({
        TRAINYARD_DATA_DIR: dataDir,
        TRAINYARD_DATABASE_URL: fixture.url,
        TRAINYARD_BLOB_URL: 's3://trainyard-artifacts/prod',
        TRAINYARD_S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com',
        TRAINYARD_EXECUTOR: 'aws-batch',
        TRAINYARD_BATCH_JOB_QUEUE: JOB_QUEUE,
        TRAINYARD_BATCH_JOB_DEFINITION: JOB_DEFINITION,
        TRAINYARD_LEASE_SECONDS: '30',
        TRAINYARD_MAX_ATTEMPTS: '2',
        TRAINYARD_LOG_LEVEL: 'silent',
        AWS_REGION: 'eu-west-1',
        ...env,
      });
      // The blob store is never touched by the dispatcher; keep it on the local disk.
      const p = await openPlatform({ ...config, blobUrl: `file://${join(dataDir, 'blobs')}` }, { migrate: platforms.length === 0 });
      const withBlobUrl: Platform = { ...p, config };
      platforms.push(withBlobUrl);
      return withBlobUrl;
    }

    async function queueJob(p: Platform) {
      return createJob(p.metadata, { kind: 'training', model: 'churn', datasetId: 'ds_batch', spec: { hyperparameters: { epochs: 1 } }, maxAttempts: 2 });
    }

    beforeAll(async () => {
      fixture = await store.create();
      dataDir = await mkdtemp(join(tmpdir(), 'trainyard-batch-'));
      await insertJobReferences((await platform()).metadata.db, { datasetId: 'ds_batch', model: 'churn' }); // migrates first
    });

    afterAll(async () => {
      await Promise.allSettled(platforms.map((p) => p.close()));
      await fixture?.cleanup();
      await rm(dataDir, { recursive: true, force: true });
    });

    beforeEach(async () => {
      client = new BatchClient({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'never-sent' } });
      batch = mockClient(client);
      batch.on(SubmitJobCommand).callsFake(submitted);
      // Batch knows every job it was given and has not started it yet, unless a test says otherwise.
      batch.on(DescribeJobsCommand).callsFake(({ jobs }: { jobs: string[] }) => ({ jobs: jobs.map((id) => detail(id, 'RUNNABLE')) }));
      batch.on(TerminateJobCommand).resolves({});
      // Each test starts from an empty queue.
      await platforms[0]!.metadata.db.deleteFrom('job_events').execute();
      await platforms[0]!.metadata.db.deleteFrom('jobs').execute();
    });

    afterEach(() => {
      batch.restore();
    });

    it('submits a queued job with the configured queue and definition, command run-job <id>, no secrets, and records the Batch id', async () => {
      // A server whose database URL carries a password (as in production, from Secrets Manager).
      const base = platforms[0]!;
      const p: Platform = { ...base, config: { ...base.config, databaseUrl: SECRET_DB_URL } };
      const dispatcher = new AwsBatchExecutor(p, jobRunners(), { client });
      const job = await queueJob(p);
      await dispatcher.submitQueued();

      const calls = batch.commandCalls(SubmitJobCommand);
      expect(calls).toHaveLength(1);
      const input = calls[0]!.args[0].input;
      expect(input.jobQueue).toBe(JOB_QUEUE);
      expect(input.jobDefinition).toBe(JOB_DEFINITION);
      expect(input.containerOverrides?.command).toEqual(['run-job', job.id]);
      expect(input.jobName).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/); // Batch's jobName rule
      expect(input.jobName).toContain(job.id);
      expect(input.tags).toMatchObject({ 'trainyard:job': job.id, 'trainyard:kind': 'training' });

      const env = Object.fromEntries((input.containerOverrides?.environment ?? []).map((e) => [e.name, e.value]));
      expect(env).toMatchObject({
        TRAINYARD_BLOB_URL: 's3://trainyard-artifacts/prod',
        TRAINYARD_S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com',
        TRAINYARD_LEASE_SECONDS: '30',
        TRAINYARD_MAX_ATTEMPTS: '2',
      });
      // The database URL (with its password) and AWS keys come from the job definition's secrets,
      // never from SubmitJob, which Batch shows to anyone who can describe the job.
      expect(Object.keys(env)).not.toContain('TRAINYARD_DATABASE_URL');
      for (const name of Object.keys(env)) expect(name).not.toMatch(/SECRET|PASSWORD|TOKEN|AWS_ACCESS_KEY|SESSION/i);
      expect(JSON.stringify(input)).not.toContain('s3cr3t-db-password');
      expect(JSON.stringify(input)).not.toContain('never-sent');

      const row = await getJobRow(p.metadata.db, job.id);
      const batchJobId = (await calls[0]!.returnValue).jobId;
      expect(row.external_id).toBe(batchJobId);
      expect(row.status).toBe('queued'); // the container claims it with run-job
      const events = await p.metadata.db.selectFrom('job_events').select(['type', 'data_json']).where('job_id', '=', job.id).execute();
      expect(events.map((e) => e.data_json).join('\n')).toContain(`submitted to AWS Batch as ${batchJobId}`);

      // A second pass submits nothing more.
      await dispatcher.submitQueued();
      expect(batch.commandCalls(SubmitJobCommand)).toHaveLength(1);
    });

    it('two dispatchers on the same database never submit a job twice', async () => {
      const a = await platform();
      const b = await platform();
      // SubmitJob answers slowly so the two passes overlap.
      batch.on(SubmitJobCommand).callsFake(async (input: SubmitJobCommandInput) => {
        await new Promise((r) => setTimeout(r, 5));
        const jobId = nextBatchId();
        return { jobArn: `arn:aws:batch:eu-west-1:123456789012:job/${jobId}`, jobName: input.jobName, jobId };
      });
      const jobs = [];
      for (let i = 0; i < 12; i++) jobs.push(await queueJob(a));
      const one = new AwsBatchExecutor(a, jobRunners(), { client });
      const two = new AwsBatchExecutor(b, jobRunners(), { client });
      await Promise.all([one.submitQueued(), two.submitQueued(), one.submitQueued(), two.submitQueued()]);

      const submitted = batch.commandCalls(SubmitJobCommand).map((c) => c.args[0].input.containerOverrides?.command?.[1]);
      expect(submitted.sort()).toEqual(jobs.map((j) => j.id).sort());
      const rows = await a.metadata.db.selectFrom('jobs').select(['id', 'external_id']).execute();
      expect(rows.every((r) => r.external_id !== null && !r.external_id.startsWith('submitting:'))).toBe(true);
      expect(new Set(rows.map((r) => r.external_id)).size).toBe(rows.length);
    });

    it('a failed SubmitJob leaves the job queued for the next pass', async () => {
      const p = platforms[0]!;
      const job = await queueJob(p);
      batch
        .on(SubmitJobCommand)
        .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }))
        .callsFake(submitted);
      const dispatcher = new AwsBatchExecutor(p, jobRunners(), { client });
      await expect(dispatcher.submitQueued()).rejects.toThrow(/Rate exceeded/);
      expect((await getJobRow(p.metadata.db, job.id)).external_id).toBeNull();
      await dispatcher.submitQueued();
      const row = await getJobRow(p.metadata.db, job.id);
      expect(row.status).toBe('queued');
      expect(row.external_id).toMatch(/^0f1e2d3c-/);
    });

    it('DescribeJobs FAILED marks our job failed with Batch’s status reason and container reason', async () => {
      const p = platforms[0]!;
      const dispatcher = new AwsBatchExecutor(p, jobRunners(), { client });
      const queued = await queueJob(p); // submitted, container never started
      const running = await queueJob(p); // submitted, claimed by its container, then killed
      await dispatcher.submitQueued();
      const [queuedBatchId, runningBatchId] = await Promise.all([queued, running].map(async (j) => (await getJobRow(p.metadata.db, j.id)).external_id!));
      expect(await claimById(p.metadata, running.id, 'run-job:container:1:abcd', 30_000)).toBeDefined();

      batch.on(DescribeJobsCommand).callsFake(({ jobs }: { jobs: string[] }) => ({
        jobs: jobs.map((id) =>
          id === runningBatchId
            ? detail(id, 'FAILED', {
                statusReason: 'Essential container in task exited',
                attempts: [{ container: { exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' }, startedAt: 1, stoppedAt: 2 }],
                container: { exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' },
              })
            : detail(id, 'FAILED', { statusReason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s)' }),
        ),
      }));
      await dispatcher.reconcile();

      const describeCalls = batch.commandCalls(DescribeJobsCommand);
      expect(describeCalls).toHaveLength(1);
      expect(describeCalls[0]!.args[0].input.jobs?.sort()).toEqual([queuedBatchId, runningBatchId].sort());

      const r = await getJobRow(p.metadata.db, running.id);
      expect(r.status).toBe('failed');
      expect(r.error_code).toBe('BATCH_JOB_FAILED');
      expect(r.error).toContain('Essential container in task exited');
      expect(r.error).toContain('OutOfMemoryError: Container killed due to memory usage');
      expect(r.error).toContain('exit code 137');
      expect(r.lease_owner).toBeNull();
      expect(r.finished_at).not.toBeNull();

      const q = await getJobRow(p.metadata.db, queued.id);
      expect(q.status).toBe('failed');
      expect(q.error).toContain('CannotPullContainerError');

      const events = await p.metadata.db.selectFrom('job_events').select(['data_json']).where('job_id', '=', running.id).where('type', '=', 'status').orderBy('seq').execute();
      expect(events.map((e) => JSON.parse(e.data_json).status)).toEqual(['queued', 'running', 'failed']);
    });

    it('SUCCEEDED without our result marks the job failed; with our result, nothing changes; RUNNING is left alone', async () => {
      const p = platforms[0]!;
      const dispatcher = new AwsBatchExecutor(p, jobRunners(), { client });
      const silent = await queueJob(p); // the container exited 0 without recording anything
      const done = await queueJob(p); // the container recorded success
      const busy = await queueJob(p); // still running
      await dispatcher.submitQueued();
      for (const j of [silent, done, busy]) await claimById(p.metadata, j.id, `run-job:c:${j.id}`, 30_000);
      expect(await finishJob(p.metadata, done.id, `run-job:c:${done.id}`, { status: 'succeeded', modelVersion: 1 })).toBe(true);
      const ids = new Map<string, string>();
      for (const j of [silent, done, busy]) ids.set((await getJobRow(p.metadata.db, j.id)).external_id!, j.id);

      batch.on(DescribeJobsCommand).callsFake(({ jobs }: { jobs: string[] }) => ({
        jobs: jobs.map((id) => detail(id, ids.get(id) === busy.id ? 'RUNNING' : 'SUCCEEDED', { attempts: [{ container: { exitCode: 0 } }] })),
      }));
      await dispatcher.reconcile();

      const s = await getJobRow(p.metadata.db, silent.id);
      expect(s.status).toBe('failed');
      expect(s.error).toMatch(/exited without recording a result/);
      expect((await getJobRow(p.metadata.db, done.id)).status).toBe('succeeded');
      expect((await getJobRow(p.metadata.db, done.id)).model_version).toBe(1);
      expect((await getJobRow(p.metadata.db, busy.id)).status).toBe('running');
      // The succeeded job is no longer asked about.
      expect(batch.commandCalls(DescribeJobsCommand)[0]!.args[0].input.jobs).not.toContain([...ids].find(([, v]) => v === done.id)![0]);
    });

    it('a job Batch no longer knows is failed with a reason, after a grace period for DescribeJobs’ eventual consistency', async () => {
      const p = platforms[0]!;
      const dispatcher = new AwsBatchExecutor(p, jobRunners(), { client });
      const job = await queueJob(p);
      await dispatcher.submitQueued();
      batch.on(DescribeJobsCommand).resolves({ jobs: [] });
      // DescribeJobs is eventually consistent: just after SubmitJob the job may not be listed yet.
      await dispatcher.reconcile();
      expect((await getJobRow(p.metadata.db, job.id)).status).toBe('queued');
      // Three minutes later it still is not: Batch lost it (or it expired).
      await p.metadata.db.updateTable('jobs').set({ updated_at: new Date(Date.now() - 3 * 60_000).toISOString() }).where('id', '=', job.id).execute();
      await dispatcher.reconcile();
      const row = await getJobRow(p.metadata.db, job.id);
      expect(row.status).toBe('failed');
      expect(row.error).toMatch(/no longer knows this job/);
    });

    it('cancel calls TerminateJob for a submitted job, queued or running, once', async () => {
      const p = platforms[0]!;
      const dispatcher = new AwsBatchExecutor(p, jobRunners(), { client });
      const queued = await queueJob(p);
      const running = await queueJob(p);
      const untouched = await queueJob(p);
      await dispatcher.submitQueued();
      await claimById(p.metadata, running.id, 'run-job:c:1', 30_000);
      const batchId = async (id: string) => (await getJobRow(p.metadata.db, id)).external_id!;
      const [queuedBatchId, runningBatchId] = [await batchId(queued.id), await batchId(running.id)];

      expect((await requestCancel(p.metadata.db, queued.id, 'training')).status).toBe('cancelled');
      expect((await requestCancel(p.metadata.db, running.id, 'training')).cancel_requested).toBe(1);
      await dispatcher.tick();

      const terminated = batch.commandCalls(TerminateJobCommand).map((c) => c.args[0].input);
      expect(terminated.map((t) => t.jobId).sort()).toEqual([queuedBatchId, runningBatchId].sort());
      for (const t of terminated) expect(t.reason).toMatch(/Cancelled/);

      await dispatcher.tick();
      expect(batch.commandCalls(TerminateJobCommand)).toHaveLength(2);
      expect((await getJobRow(p.metadata.db, untouched.id)).status).toBe('queued');
      // The running job ends when its container handles SIGTERM (run-job records `cancelled`).
      expect((await getJobRow(p.metadata.db, running.id)).status).toBe('running');
    });

    it('a job cancelled while its SubmitJob is in flight gets its new Batch job terminated', async () => {
      const p = platforms[0]!;
      const dispatcher = new AwsBatchExecutor(p, jobRunners(), { client });
      const job = await queueJob(p);
      batch.on(SubmitJobCommand).callsFake(async (input: SubmitJobCommandInput) => {
        await requestCancel(p.metadata.db, job.id, 'training');
        return { jobArn: 'arn:aws:batch:eu-west-1:123456789012:job/late', jobName: input.jobName, jobId: 'late-1' };
      });
      await dispatcher.tick();
      expect(batch.commandCalls(TerminateJobCommand).map((c) => c.args[0].input.jobId)).toEqual(['late-1']);
      await dispatcher.tick();
      expect(batch.commandCalls(TerminateJobCommand)).toHaveLength(1);
      expect((await getJobRow(p.metadata.db, job.id)).status).toBe('cancelled');
    });

    it('submits training with the training queue and definition, and every other kind of this build with the inference ones', async () => {
      const p = await platform({ TRAINYARD_BATCH_INFERENCE_JOB_QUEUE: INFERENCE_JOB_QUEUE, TRAINYARD_BATCH_INFERENCE_JOB_DEFINITION: INFERENCE_JOB_DEFINITION });
      const runners = jobRunners();
      expect(runners.kinds).toEqual(expect.arrayContaining(['training', 'inference', 'tuning', 'export']));
      const kindOf = new Map<string, string>();
      for (const kind of runners.kinds) {
        const job = await createJob(p.metadata, { kind, model: 'churn', datasetId: 'ds_batch', spec: {}, maxAttempts: 2 });
        kindOf.set(job.id, kind);
      }
      await new AwsBatchExecutor(p, runners, { client }).submitQueued();

      const placed = batch.commandCalls(SubmitJobCommand).map((c) => c.args[0].input);
      expect(placed).toHaveLength(runners.kinds.length);
      for (const input of placed) {
        const kind = kindOf.get(input.containerOverrides!.command![1]!);
        const expected = kind === 'training' ? [JOB_QUEUE, JOB_DEFINITION] : [INFERENCE_JOB_QUEUE, INFERENCE_JOB_DEFINITION];
        expect([kind, input.jobQueue, input.jobDefinition]).toEqual([kind, ...expected]);
      }
    });

    it('a kind this server has no runner for goes to the inference queue', async () => {
      const p = await platform({ TRAINYARD_BATCH_INFERENCE_JOB_QUEUE: INFERENCE_JOB_QUEUE, TRAINYARD_BATCH_INFERENCE_JOB_DEFINITION: INFERENCE_JOB_DEFINITION });
      await createJob(p.metadata, { kind: 'newer-kind', spec: {}, maxAttempts: 2 });
      await new AwsBatchExecutor(p, jobRunners(), { client }).submitQueued();
      expect(batch.commandCalls(SubmitJobCommand)[0]!.args[0].input).toMatchObject({ jobQueue: INFERENCE_JOB_QUEUE, jobDefinition: INFERENCE_JOB_DEFINITION });
    });

    it('without inference settings, every kind uses the training queue and definition', async () => {
      const p = platforms[0]!;
      await createJob(p.metadata, { kind: 'inference', model: 'churn', datasetId: 'ds_batch', spec: {}, maxAttempts: 2 });
      await new AwsBatchExecutor(p, jobRunners(), { client }).submitQueued();
      expect(batch.commandCalls(SubmitJobCommand)[0]!.args[0].input).toMatchObject({ jobQueue: JOB_QUEUE, jobDefinition: JOB_DEFINITION });
    });

    it('without a job queue or definition the executor is a clear ConfigError', async () => {
      const noQueue = await platform({ TRAINYARD_BATCH_JOB_QUEUE: '' });
      expect(() => new AwsBatchExecutor(noQueue, jobRunners(), { client })).toThrow(ConfigError);
      expect(() => new AwsBatchExecutor(noQueue, jobRunners(), { client })).toThrow(/TRAINYARD_BATCH_JOB_QUEUE and TRAINYARD_BATCH_JOB_DEFINITION/);
      const noDefinition = await platform({ TRAINYARD_BATCH_JOB_DEFINITION: '' });
      expect(() => new AwsBatchExecutor(noDefinition, jobRunners(), { client })).toThrow(ConfigError);
      const halfInference = await platform({ TRAINYARD_BATCH_INFERENCE_JOB_QUEUE: INFERENCE_JOB_QUEUE });
      expect(() => new AwsBatchExecutor(halfInference, jobRunners(), { client })).toThrow(/TRAINYARD_BATCH_INFERENCE_JOB_QUEUE and TRAINYARD_BATCH_INFERENCE_JOB_DEFINITION together/);
      expect(batch.calls()).toHaveLength(0);
    });

    it('with its configuration it submits on start and stops cleanly', async () => {
      const p = platforms[0]!;
      const job = await queueJob(p);
      const executor = new AwsBatchExecutor(p, jobRunners(), { client, intervalMs: 60_000 });
      executor.start();
      try {
        await expect.poll(() => batch.commandCalls(SubmitJobCommand).length, { timeout: 5000 }).toBe(1);
      } finally {
        await executor.stop();
      }
      expect(batch.commandCalls(SubmitJobCommand)[0]!.args[0].input.containerOverrides?.command).toEqual(['run-job', job.id]);
    });
  });
}

describe('trainyard server with TRAINYARD_EXECUTOR=aws-batch and no Batch configuration', () => {
  it('exits with code 2 and says which variables are missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trainyard-batch-cli-'));
    try {
      const server = spawnTrainyard('server', ['server'], {
        TRAINYARD_DATA_DIR: dir,
        TRAINYARD_PORT: '0',
        TRAINYARD_EXECUTOR: 'aws-batch',
        TRAINYARD_BATCH_JOB_QUEUE: '',
        TRAINYARD_BATCH_JOB_DEFINITION: '',
      });
      const exit = await server.exited;
      expect(exit.code, server.tail()).toBe(2);
      expect(server.output()).toContain('trainyard: TRAINYARD_EXECUTOR=aws-batch needs TRAINYARD_BATCH_JOB_QUEUE and TRAINYARD_BATCH_JOB_DEFINITION');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('AWS Batch helpers', () => {
  it('containerEnvironment names the stores and settings, never the database URL', () => {
    const config = loadConfig({
      TRAINYARD_DATABASE_URL: SECRET_DB_URL,
      TRAINYARD_BLOB_URL: 's3://b/p',
      AWS_REGION: 'eu-west-1',
    });
    const env = containerEnvironment({ config } as Platform);
    expect(env.map((e) => e.name).sort()).toEqual(['TRAINYARD_BLOB_URL', 'TRAINYARD_LEASE_SECONDS', 'TRAINYARD_LOG_LEVEL', 'TRAINYARD_MAX_ATTEMPTS']);
    expect(JSON.stringify(env)).not.toContain('s3cr3t');
  });

  it('failureReason reads the last attempt’s container reason and exit code', () => {
    const reason = failureReason(
      detail('b-1', 'FAILED', {
        statusReason: 'Job attempt duration exceeded timeout',
        attempts: [
          { container: { exitCode: 1, reason: 'first try' } },
          { container: { exitCode: 143, reason: 'Task stopped by user' } },
        ],
      }),
    );
    expect(reason).toBe('AWS Batch job b-1 failed: Job attempt duration exceeded timeout; Task stopped by user; exit code 143');
    expect(failureReason(detail('b-2', 'RUNNING'))).toBeUndefined();
    expect(failureReason(detail('b-3', 'RUNNABLE'))).toBeUndefined();
    expect(failureReason(undefined)).toMatch(/no longer knows/);
  });
});
