// Runs one claimed job to its end: heartbeats the lease, turns cancel requests, lease loss and
// shutdown into one AbortSignal, hands the job to its kind's runner (runner.ts), and records how it
// ended. User errors fail the job at once; anything else is an infrastructure failure, retried
// while attempts remain.
import type { Platform } from '../platform.ts';
import { JobError, LeaseLostError, abortReason, type AbortReason, type JobErrorCode } from './errors.ts';
import { EventSink, durably, type JobContext } from './context.ts';
import { finishJob, renewLease, requeue } from './queue.ts';
import { getJobRow, type JobRow } from './jobs.ts';
import type { JobRunners } from './runner.ts';
import { jobLogKey } from '../store/blobs/keys.ts';

export type JobEnd = 'succeeded' | 'failed' | 'cancelled' | 'requeued' | 'abandoned';

export interface RunOptions {
  /** Fires on process shutdown (hand the job back) or when the parent process is gone (abandon it). */
  stop?: AbortSignal;
}

const ENDED: readonly JobEnd[] = ['succeeded', 'failed', 'cancelled'];

/**
 * How often a running job looks for a cancel request between heartbeats (a heartbeat comes every
 * third of the lease, 10 s by default): a user's cancel, or a study pruning a trial, stops the job
 * within about a second. One indexed read of the job's row.
 */
const CANCEL_POLL_MS = 1000;

export async function runClaimedJob(platform: Platform, runners: JobRunners, job: JobRow, owner: string, options: RunOptions = {}): Promise<JobEnd> {
  const end = await runToEnd(platform, runners, job, owner, options);
  const ended = (await runners.load(job.kind).catch(() => undefined))?.ended;
  if (ended && ENDED.includes(end)) {
    await ended(platform, job).catch((error: unknown) => platform.logger.warn({ err: error, job: job.id }, 'could not clean up after the job ended'));
  }
  return end;
}

async function runToEnd(platform: Platform, runners: JobRunners, job: JobRow, owner: string, options: RunOptions): Promise<JobEnd> {
  const { db } = platform.metadata;
  const controller = new AbortController();
  const abort = (reason: AbortReason) => {
    if (!controller.signal.aborted) controller.abort(reason);
  };
  const leaseMs = platform.config.leaseSeconds * 1000;
  const events = new EventSink(platform, job.id);
  events.start();

  // Loading the kind's code can fail (a broken install): an infrastructure failure, recorded below.
  const { runner, failure } = await runners.load(job.kind).then(
    (loaded) => ({ runner: loaded, failure: undefined }),
    (error: unknown) => ({ runner: undefined, failure: error }),
  );
  const deadline = runner?.deadlineSeconds?.(job);
  // The backstop behind a kind's own limit: the signal fires, and the kind stops its work (the
  // trainer gets SIGTERM, then SIGKILL after the grace period).
  const runtimeTimer = deadline ? setTimeout(() => abort('timeout'), deadline * 1000) : undefined;

  let heartbeatFailures = 0;
  const heartbeat = setInterval(async () => {
    try {
      const state = await renewLease(platform.metadata, job.id, owner, leaseMs);
      heartbeatFailures = 0;
      if (!state.held) abort('lease-lost');
      else if (state.cancelRequested) abort('cancel');
    } catch (error) {
      // A database blip: keep running; the lease is long enough to survive a few missed beats.
      heartbeatFailures++;
      platform.logger.warn({ err: error, job: job.id, failures: heartbeatFailures }, 'lease heartbeat failed');
    }
  }, Math.max(200, Math.floor(leaseMs / 3)));
  const cancelWatch = setInterval(async () => {
    // A failed read is left to the heartbeat, which reports store trouble and judges the lease.
    const row = await db.selectFrom('jobs').select('cancel_requested').where('id', '=', job.id).executeTakeFirst().catch(() => undefined);
    if (row?.cancel_requested) abort('cancel');
  }, CANCEL_POLL_MS);
  const onStop = () => abort((options.stop?.reason as AbortReason | undefined) ?? 'shutdown');
  options.stop?.addEventListener('abort', onStop, { once: true });

  const ctx: JobContext = { platform, job, owner, signal: controller.signal, events };
  try {
    if (failure) throw failure;
    // No runner here: an infrastructure failure (retried; another worker may know the kind).
    if (!runner) throw new Error(`this process has no runner for job kind "${job.kind}" (it knows ${runners.kinds.join(', ') || 'none'})`);
    await runner.run(ctx);
    // The end the runner recorded comes first: a heartbeat that runs after the runner's finishJob
    // finds the lease released and aborts with 'lease-lost', which must not turn a finished job
    // into an abandoned one (its `ended` clean-up would then never run).
    const row = await durably(platform, job.id, 'read the job’s end', () => getJobRow(db, job.id));
    if (ENDED.includes(row.status as JobEnd)) return row.status as JobEnd;
    const reason = abortReason(controller.signal);
    if (reason) return await endAborted(platform, job, owner, reason, events);
    return 'abandoned';
  } catch (error) {
    const reason = abortReason(controller.signal);
    if (reason) return await endAborted(platform, job, owner, reason, events);
    if (error instanceof LeaseLostError) {
      // The result was not recorded: either a cancel arrived at the last moment, or another worker owns the job.
      const row = await db.selectFrom('jobs').select(['cancel_requested', 'lease_owner', 'status']).where('id', '=', job.id).executeTakeFirst();
      if (row?.status === 'running' && row.lease_owner === owner && row.cancel_requested) return await endAborted(platform, job, owner, 'cancel', events);
      return 'abandoned';
    }
    if (error instanceof JobError && !error.retryable) {
      events.log(error.message, 'error');
      await events.flush().catch(() => undefined);
      await writeLog(platform, job.id, events);
      await durably(platform, job.id, 'record the failure', () => finishJob(platform.metadata, job.id, owner, { status: 'failed', error: error.message, errorCode: error.code }));
      return 'failed';
    }
    platform.logger.error({ err: error, job: job.id }, 'job failed with an infrastructure error');
    events.log(`infrastructure error: ${error instanceof Error ? error.message : String(error)}`, 'error');
    await events.flush().catch(() => undefined);
    return await retryOrFail(platform, job, owner, error, events);
  } finally {
    clearInterval(heartbeat);
    clearInterval(cancelWatch);
    clearTimeout(runtimeTimer);
    options.stop?.removeEventListener('abort', onStop);
    await events.stop().catch(() => undefined);
  }
}

async function writeLog(platform: Platform, jobId: string, events: EventSink): Promise<void> {
  await platform.blobs.put(jobLogKey(jobId), events.logText()).catch((error) => platform.logger.warn({ err: error }, 'could not store job log'));
}

async function endAborted(platform: Platform, job: JobRow, owner: string, abort: AbortReason, events: EventSink): Promise<JobEnd> {
  const { db } = platform.metadata;
  // A container stopped by TerminateJob sees SIGTERM, like a draining worker: a pending cancel request
  // decides which it was.
  let reason = abort;
  if (reason === 'shutdown') {
    const row = await db.selectFrom('jobs').select('cancel_requested').where('id', '=', job.id).executeTakeFirst().catch(() => undefined);
    if (row?.cancel_requested) reason = 'cancel';
  }
  switch (reason) {
    case 'cancel':
      events.log('cancelled');
      await events.flush().catch(() => undefined);
      await writeLog(platform, job.id, events);
      await durably(platform, job.id, 'record the cancellation', () => finishJob(platform.metadata, job.id, owner, { status: 'cancelled' }));
      return 'cancelled';
    case 'timeout':
      events.log(`stopped: max_runtime_seconds exceeded and the trainer did not stop by itself`, 'error');
      await events.flush().catch(() => undefined);
      await writeLog(platform, job.id, events);
      await durably(platform, job.id, 'record the timeout', () =>
        finishJob(platform.metadata, job.id, owner, { status: 'failed', error: 'max_runtime_seconds exceeded; the trainer was stopped', errorCode: 'TIMEOUT' }),
      );
      return 'failed';
    case 'shutdown':
      // Draining: hand the job back without charging it an attempt.
      events.log('worker shutting down; job handed back to the queue');
      await events.flush().catch(() => undefined);
      await durably(platform, job.id, 'hand the job back', () => requeue(platform.metadata, job.id, owner, 'worker shut down', { refundAttempt: true }));
      return 'requeued';
    case 'lease-lost':
    case 'parent-gone':
      return 'abandoned';
  }
}

async function retryOrFail(platform: Platform, job: JobRow, owner: string, error: unknown, events: EventSink): Promise<JobEnd> {
  const message = error instanceof Error ? error.message : String(error);
  // A retryable registry code (an interrupted trainer) keeps its code once attempts run out.
  const errorCode: JobErrorCode = error instanceof JobError ? error.code : 'INFRASTRUCTURE';
  if (errorCode === 'INTERRUPTED') {
    // The trainer was stopped from outside (a Spot reclaim, a drain) and saved a checkpoint: not a
    // failure of the job, so the attempt is given back and the next one resumes.
    await durably(platform, job.id, 'requeue the job', () => requeue(platform.metadata, job.id, owner, message, { refundAttempt: true }));
    return 'requeued';
  }
  if (job.attempts < job.max_attempts) {
    await durably(platform, job.id, 'requeue the job', () => requeue(platform.metadata, job.id, owner, `attempt ${job.attempts} failed: ${message}`));
    return 'requeued';
  }
  await writeLog(platform, job.id, events);
  await durably(platform, job.id, 'record the failure', () =>
    finishJob(platform.metadata, job.id, owner, { status: 'failed', error: `failed after ${job.attempts} attempts: ${message}`, errorCode }),
  );
  return 'failed';
}
