// The aws-batch executor: a dispatcher inside each API server that submits queued jobs to AWS
// Batch (command `run-job <id>`), the kinds that can use a GPU (JobKindFlags.accelerated: training)
// with the training queue and job definition and every other kind (inference, tuning study
// drivers, monitoring exports) with the inference ones, reconciles Batch's view of them with ours (a container that fails
// or is killed marks the job failed with Batch's reason), and terminates cancelled ones.
// Several servers may run it at once: a job is reserved with a guarded UPDATE before it is submitted.
import {
  BatchClient,
  DescribeJobsCommand,
  SubmitJobCommand,
  TerminateJobCommand,
  type JobDetail,
} from '@aws-sdk/client-batch';
import type { Platform } from '../../platform.ts';
import { ConfigError } from '../../errors.ts';
import { nowIso } from '../../ids.ts';
import { appendEvent, type Db } from '../jobs.ts';
import type { JobErrorCode } from '../errors.ts';
import { reapLostJobs, newLeaseOwner } from '../queue.ts';
import type { JobRunners } from '../runner.ts';
import type { Executor } from './executor.ts';

const SUBMITTING = 'submitting:';
const TERMINATED = 'terminated:';
/** A reservation older than this belongs to a dispatcher that died mid-submit. */
const STALE_RESERVATION_MS = 5 * 60_000;
/**
 * DescribeJobs is eventually consistent: a job submitted a moment ago may not be listed yet. A job
 * Batch does not know is failed only once our row has not changed for this long.
 */
const UNKNOWN_JOB_GRACE_MS = 2 * 60_000;

export interface AwsBatchExecutorOptions {
  /** Default: a client for TRAINYARD_AWS_REGION / the SDK's usual configuration. */
  client?: BatchClient;
  /** How often a dispatch pass runs (default 5 s). */
  intervalMs?: number;
}

/** The environment a container gets on top of its job definition (which holds the database secret). */
export function containerEnvironment(platform: Platform): Array<{ name: string; value: string }> {
  const { config } = platform;
  const env: Record<string, string> = {
    TRAINYARD_BLOB_URL: config.blobUrl,
    TRAINYARD_LEASE_SECONDS: String(config.leaseSeconds),
    TRAINYARD_MAX_ATTEMPTS: String(config.maxAttempts),
    TRAINYARD_LOG_LEVEL: config.logLevel,
  };
  if (config.s3Endpoint) env.TRAINYARD_S3_ENDPOINT = config.s3Endpoint;
  return Object.entries(env).map(([name, value]) => ({ name, value }));
}

/** Where SubmitJob sends a job. */
export interface BatchTarget {
  jobQueue: string;
  jobDefinition: string;
}

/**
 * The two targets the settings name: training (TRAINYARD_BATCH_JOB_*), and inference
 * (TRAINYARD_BATCH_INFERENCE_JOB_*, both or neither; neither: the training target).
 */
function batchTargets(batch: Platform['config']['batch']): { training: BatchTarget; inference: BatchTarget } {
  const { jobQueue, jobDefinition, inferenceJobQueue, inferenceJobDefinition } = batch;
  if (!jobQueue || !jobDefinition) {
    throw new ConfigError('TRAINYARD_EXECUTOR=aws-batch needs TRAINYARD_BATCH_JOB_QUEUE and TRAINYARD_BATCH_JOB_DEFINITION');
  }
  if (!inferenceJobQueue !== !inferenceJobDefinition) {
    throw new ConfigError('set TRAINYARD_BATCH_INFERENCE_JOB_QUEUE and TRAINYARD_BATCH_INFERENCE_JOB_DEFINITION together, or neither (then inference jobs use the training queue and definition)');
  }
  const training = { jobQueue, jobDefinition };
  return { training, inference: inferenceJobQueue && inferenceJobDefinition ? { jobQueue: inferenceJobQueue, jobDefinition: inferenceJobDefinition } : training };
}

export class AwsBatchExecutor implements Executor {
  readonly name = 'aws-batch';
  private readonly owner = newLeaseOwner('batch-dispatcher');
  private readonly client: BatchClient;
  private readonly training: BatchTarget;
  private readonly inference: BatchTarget;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  /**
   * `runners` says which kinds are accelerated (the training target); a kind it does not know
   * goes to the inference target. Throws ConfigError on incomplete settings (batchTargets).
   */
  constructor(
    private readonly platform: Platform,
    private readonly runners: JobRunners,
    options: AwsBatchExecutorOptions = {},
  ) {
    ({ training: this.training, inference: this.inference } = batchTargets(platform.config.batch));
    this.client = options.client ?? new BatchClient({ region: platform.config.batch.region });
    this.intervalMs = options.intervalMs ?? 5000;
  }

  /** The target of a job of this kind. */
  private targetOf(kind: string): BatchTarget {
    return this.runners.get(kind)?.accelerated ? this.training : this.inference;
  }

  start(): void {
    this.timer = setInterval(() => this.poke(), this.intervalMs);
    this.poke();
  }

  poke(): void {
    if (this.running) return;
    this.running = this.tick()
      .catch((error) => this.platform.logger.warn({ err: error }, 'batch dispatcher pass failed; retrying'))
      .finally(() => (this.running = undefined));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass: submit, terminate cancelled, reconcile, reap lost leases. */
  async tick(): Promise<void> {
    await this.submitQueued();
    await this.terminateCancelled();
    await this.reconcile();
    await reapLostJobs(this.platform.metadata);
  }

  private get db(): Db {
    return this.platform.metadata.db;
  }

  async submitQueued(): Promise<void> {
    const staleBefore = new Date(Date.now() - STALE_RESERVATION_MS).toISOString();
    await this.db
      .updateTable('jobs')
      .set({ external_id: null })
      .where('status', '=', 'queued')
      .where('external_id', 'like', `${SUBMITTING}%`)
      .where('updated_at', '<', staleBefore)
      .execute();
    const queued = await this.db.selectFrom('jobs').select(['id', 'kind']).where('status', '=', 'queued').where('external_id', 'is', null).orderBy('created_at').limit(50).execute();
    for (const job of queued) {
      const reservation = `${SUBMITTING}${this.owner}`;
      const reserved = await this.db
        .updateTable('jobs')
        .set({ external_id: reservation, updated_at: nowIso() })
        .where('id', '=', job.id)
        .where('status', '=', 'queued')
        .where('external_id', 'is', null)
        .executeTakeFirst();
      if (Number(reserved.numUpdatedRows) === 0) continue; // another dispatcher took it
      let batchJobId: string;
      try {
        const submitted = await this.client.send(
          new SubmitJobCommand({
            jobName: `trainyard-${job.kind}-${job.id}`.slice(0, 128),
            ...this.targetOf(job.kind),
            containerOverrides: { command: ['run-job', job.id], environment: containerEnvironment(this.platform) },
            tags: { 'trainyard:job': job.id, 'trainyard:kind': job.kind },
            propagateTags: true,
          }),
        );
        batchJobId = submitted.jobId!;
      } catch (error) {
        await this.db.updateTable('jobs').set({ external_id: null }).where('id', '=', job.id).where('external_id', '=', reservation).execute();
        throw error;
      }
      const recorded = await this.db.updateTable('jobs').set({ external_id: batchJobId, updated_at: nowIso() }).where('id', '=', job.id).where('external_id', '=', reservation).executeTakeFirst();
      if (Number(recorded.numUpdatedRows) === 0) {
        // Cancelled (or re-queued) while we were submitting: stop the container we just asked for.
        await this.client.send(new TerminateJobCommand({ jobId: batchJobId, reason: 'Trainyard job no longer queued' }));
      } else {
        await appendEvent(this.db, job.id, 'log', { message: `submitted to AWS Batch as ${batchJobId}`, level: 'info', source: 'platform' });
      }
    }
  }

  async terminateCancelled(): Promise<void> {
    const rows = await this.db
      .selectFrom('jobs')
      .select(['id', 'external_id'])
      .where('cancel_requested', '=', 1)
      .where('external_id', 'is not', null)
      .where('external_id', 'not like', `${SUBMITTING}%`)
      .where('external_id', 'not like', `${TERMINATED}%`)
      .execute();
    for (const row of rows) {
      await this.client.send(new TerminateJobCommand({ jobId: row.external_id!, reason: 'Cancelled by a Trainyard user' }));
      await this.db.updateTable('jobs').set({ external_id: `${TERMINATED}${row.external_id}` }).where('id', '=', row.id).where('external_id', '=', row.external_id).execute();
    }
  }

  async reconcile(): Promise<void> {
    const rows = await this.db
      .selectFrom('jobs')
      .select(['id', 'external_id', 'status', 'updated_at'])
      .where('status', 'in', ['queued', 'running'])
      .where('external_id', 'is not', null)
      .where('external_id', 'not like', `${SUBMITTING}%`)
      .where('external_id', 'not like', `${TERMINATED}%`)
      .execute();
    for (let i = 0; i < rows.length; i += 100) {
      const chunk = rows.slice(i, i + 100);
      const described = await this.client.send(new DescribeJobsCommand({ jobs: chunk.map((r) => r.external_id!) }));
      const byId = new Map((described.jobs ?? []).map((j) => [j.jobId, j]));
      for (const row of chunk) {
        const detail = byId.get(row.external_id!);
        if (!detail && Date.parse(row.updated_at) > Date.now() - UNKNOWN_JOB_GRACE_MS) continue;
        const reason = failureReason(detail);
        if (reason) await this.failJob(row.id, row.external_id!, reason);
      }
    }
  }

  private async failJob(id: string, batchJobId: string, error: string): Promise<void> {
    const stamp = nowIso();
    const result = await this.db
      .updateTable('jobs')
      .set({ status: 'failed', error, error_code: 'BATCH_JOB_FAILED' satisfies JobErrorCode, finished_at: stamp, updated_at: stamp, lease_owner: null, lease_expires_at: null })
      .where('id', '=', id)
      .where('external_id', '=', batchJobId)
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) > 0) await appendEvent(this.db, id, 'status', { status: 'failed', error });
  }
}

/** Why Batch's view means our job is over without having recorded an end, or undefined while it may still run. */
export function failureReason(detail: JobDetail | undefined): string | undefined {
  if (!detail) return 'AWS Batch no longer knows this job (expired or deleted)';
  if (detail.status === 'FAILED') {
    const attempt = detail.attempts?.[detail.attempts.length - 1];
    const container = attempt?.container?.reason ?? detail.container?.reason;
    const exit = attempt?.container?.exitCode ?? detail.container?.exitCode;
    return [`AWS Batch job ${detail.jobId} failed: ${detail.statusReason ?? 'no reason given'}`, container, exit !== undefined ? `exit code ${exit}` : undefined]
      .filter(Boolean)
      .join('; ');
  }
  if (detail.status === 'SUCCEEDED') return `AWS Batch job ${detail.jobId} exited without recording a result`;
  return undefined;
}
