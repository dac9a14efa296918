// The study driver: the runner of a `tuning` job. It holds the study job's lease (the job engine
// heartbeats it) and, from the state in the metadata store alone, keeps up to max_parallel trials
// running as ordinary training jobs, asks the sampler for each new trial's parameters, prunes trials
// that are clearly behind, records each trial's end, and finally the best trial's version (and
// alias). Everything it decides is written before it acts on it, so a driver killed at any point is
// replaced by another (the engine re-queues a job whose lease expired) that carries on: trial
// numbers are unique per study, so the study ends with exactly max_trials trials.
import type { JobContext } from '../jobs/context.ts';
import { JobUserError, LeaseLostError, abortReason } from '../jobs/errors.ts';
import type { JobRunner } from '../jobs/runner.ts';
import { finishJob } from '../jobs/queue.ts';
import { FINISHED_STATUSES, jobDataset, jobModel, jobSpec, parseJson, requestCancel, type JobStatus } from '../jobs/jobs.ts';
import { datasetColumns } from '../datasets/rows.ts';
import { checkModelAgainstDataset } from '../training/submit.ts';
import { setAlias } from '../models/registry.ts';
import { TrainyardError } from '../errors.ts';
import type { Platform } from '../platform.ts';
import type { StudySpec } from './request.ts';
import { createTrial, ensureTrialJob, trialJobSpec, type Fit } from './submit.ts';
import { decodeParams, encodeParams, samplerSpace } from './search-space.ts';
import { epochValues, finishTrial, listTrials, type Trial } from './trials.ts';
import { SamplerProcess } from './sampler-process.ts';
import { studySummary, trialJobs, type TrialJob } from './summary.ts';

const POLL_MS = 1000;


/** The `tuning` kind's runner (registered in src/cli/job-kinds.ts). No deadline: the driver enforces max_runtime_seconds itself. */
/** A coordinator: the driver mostly waits on its trials, so it runs in the loop's coordinator slots. */
export const tuningJobRunner: JobRunner = { kind: 'tuning', run: runTuningJob };

export async function runTuningJob(ctx: JobContext): Promise<void> {
  const { platform, job, events, signal } = ctx;
  const { db } = platform.metadata;
  const spec = jobSpec<StudySpec>(job);
  const dataset = await db.selectFrom('datasets').selectAll().where('id', '=', jobDataset(job)).executeTakeFirst();
  if (!dataset) throw new JobUserError('BAD_DATA', `dataset ${jobDataset(job)} no longer exists`);
  let fit: Fit;
  try {
    const { width, outputs } = checkModelAgainstDataset(spec.model, datasetColumns(dataset), dataset.name);
    fit = { width, outputs, datasetName: dataset.name };
  } catch (error) {
    if (error instanceof TrainyardError) throw new JobUserError('BAD_DATA', error.message);
    throw error;
  }
  const deadline = spec.max_runtime_seconds && job.started_at ? Date.parse(job.started_at) + spec.max_runtime_seconds * 1000 : null;
  const sampler = new SamplerProcess(platform.config.python);
  const space = samplerSpace(spec.search_space);
  /** Per running trial, the epochs last judged by the pruner (judge again only when new ones came). */
  const judged = new Map<number, number>();
  events.log(
    `study driver ${job.attempts > 1 ? `resumed (attempt ${job.attempts})` : 'started'}: ${spec.strategy}, ${spec.max_trials} trials, ${spec.max_parallel} at a time, objective ${spec.objective.direction} ${spec.objective.metric}`,
  );
  let stopReason: 'completed' | 'max_runtime_seconds' = 'completed';
  try {
    for (;;) {
      if (signal.aborted) break;
      const trials = await listTrials(db, job.id);
      const jobs = await trialJobs(platform, job.id);
      await reconcile(ctx, spec, fit, trials, jobs);
      const live = trials.filter((t) => t.state === 'running');
      if (spec.pruning && live.length > 0) await pruneBehind(ctx, spec, space, sampler, trials, jobs, judged);
      const timeUp = deadline !== null && Date.now() >= deadline;
      if (timeUp && stopReason !== 'max_runtime_seconds') {
        stopReason = 'max_runtime_seconds';
        events.log(`max_runtime_seconds (${spec.max_runtime_seconds}) reached: no new trials; cancelling ${live.length} running`, 'warning');
        for (const t of live) await stopTrial(ctx, t, 'cancelled', 'the study reached max_runtime_seconds');
        continue;
      }
      const stillRunning = (await listTrials(db, job.id)).filter((t) => t.state === 'running').length;
      let started = trials.length;
      let running = stillRunning;
      while (!timeUp && !signal.aborted && started < spec.max_trials && running < spec.max_parallel) {
        const history = await listTrials(db, job.id);
        if (history.length !== started) break; // another driver moved on: re-read everything
        const curves = await epochValues(db, history.map((t) => t.job_id), spec.objective.metric);
        const answer = await sampler.request({
          op: 'suggest',
          strategy: spec.strategy,
          seed: spec.seed,
          direction: spec.objective.direction,
          space,
          trials: history.map((t) => samplerTrial(spec, t, curves)),
          number: started,
          max_trials: spec.max_trials,
        });
        const params = decodeParams(spec.search_space, answer.params as Record<string, unknown>);
        const trial = await createTrial(platform, job, spec, started, params, fit);
        events.emit('trial', { number: trial.number, state: trial.state, training_job_id: trial.state === 'failed' ? null : trial.job_id, params: trial.params, error: trial.error });
        events.log(trial.state === 'failed' ? `trial ${trial.number} failed before it started: ${trial.error}` : `trial ${trial.number} started as ${trial.job_id}: ${JSON.stringify(trial.params)}`);
        started++;
        if (trial.state === 'running') running++;
      }
      const done = await listTrials(db, job.id);
      // The study ends once every trial has ended and every trial job has stopped (a pruned trial's
      // job takes a moment to see its cancel): nothing of the study runs after it says it is done.
      const stopped = [...(await trialJobs(platform, job.id)).values()].every((j) => FINISHED_STATUSES.includes(j.status as JobStatus));
      if (done.every((t) => t.state !== 'running') && (done.length >= spec.max_trials || timeUp) && stopped) break;
      await sleep(POLL_MS, signal);
    }
  } finally {
    sampler.close();
  }
  const reason = abortReason(signal);
  if (reason === 'cancel') {
    for (const t of (await listTrials(db, job.id)).filter((t) => t.state === 'running')) await stopTrial(ctx, t, 'cancelled', 'the study was cancelled');
    return;
  }
  if (reason) return; // lease lost or shutting down: the next driver carries on
  await finishStudy(ctx, spec, stopReason);
}

/** The objective a finished trial's model version scored (its recorded metrics), if it has one. */
function objectiveOf(spec: StudySpec, job: TrialJob): number | null {
  const value = parseJson<Record<string, number | null>>(job.metrics_json)?.[spec.objective.metric];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** Brings trial rows in line with their jobs: ended jobs end their trials; missing jobs are created. */
async function reconcile(ctx: JobContext, spec: StudySpec, fit: Fit, trials: Trial[], jobs: Map<string, TrialJob>): Promise<void> {
  const { platform, job: study, events } = ctx;
  const { db } = platform.metadata;
  for (const trial of trials) {
    const job = jobs.get(trial.job_id);
    if (trial.state === 'running') {
      if (!job) {
        // The driver before us died between the trial row and its job.
        await ensureTrialJob(platform, study, trial, trialJobSpec(platform, spec, trial.params, fit));
        continue;
      }
      if (!FINISHED_STATUSES.includes(job.status as JobStatus)) continue;
      const stats = parseJson<{ epochs_run?: number }>(job.stats_json);
      const objective = objectiveOf(spec, job);
      const end =
        job.status === 'succeeded' && objective !== null
          ? ({ state: 'succeeded', objective } as const)
          : job.status === 'succeeded'
            ? ({ state: 'failed', error: `the trial's model version has no ${spec.objective.metric}` } as const)
            : job.status === 'cancelled'
              ? ({ state: 'cancelled', error: 'its training job was cancelled' } as const)
              : ({ state: 'failed', error: job.error ?? 'the training job failed' } as const);
      if (await finishTrial(db, study.id, trial.number, { ...end, epochsRun: stats?.epochs_run ?? null })) {
        events.emit('trial', { number: trial.number, state: end.state, training_job_id: trial.job_id, objective: 'objective' in end ? end.objective : null, error: 'error' in end ? end.error : null });
        events.log(`trial ${trial.number} ${end.state}${'objective' in end ? `: ${spec.objective.metric} ${end.objective}` : ''}${'error' in end ? `: ${end.error}` : ''}`);
      }
    } else if ((trial.state === 'pruned' || trial.state === 'cancelled') && job && !FINISHED_STATUSES.includes(job.status as JobStatus)) {
      // Decided (and recorded) before the driver died, not yet carried out.
      await cancelJob(platform, trial.job_id);
    }
  }
}

async function cancelJob(platform: Platform, jobId: string): Promise<void> {
  await requestCancel(platform.metadata.db, jobId, 'training').catch((error: unknown) => {
    if (!(error instanceof TrainyardError && (error.code === 'JOB_FINISHED' || error.code === 'NOT_FOUND'))) throw error;
  });
}

/** Records the trial's end first, then stops its job (so a driver that dies in between still stops it). */
async function stopTrial(ctx: JobContext, trial: Trial, state: 'pruned' | 'cancelled', why: string, detail: { objective?: number | null; epochsRun?: number | null } = {}): Promise<void> {
  const { platform, job: study, events } = ctx;
  if (await finishTrial(platform.metadata.db, study.id, trial.number, { state, error: state === 'cancelled' ? why : null, ...detail })) {
    events.emit('trial', { number: trial.number, state, training_job_id: trial.job_id, objective: detail.objective ?? null, error: state === 'cancelled' ? why : null });
    events.log(`trial ${trial.number} ${state}: ${why}`);
  }
  await cancelJob(platform, trial.job_id);
}

function samplerTrial(spec: StudySpec, t: Trial, curves: Map<string, Record<string, number>>) {
  const state = t.state === 'succeeded' ? 'complete' : t.state === 'running' ? 'running' : t.state === 'pruned' ? 'pruned' : 'failed';
  return { number: t.number, params: encodeParams(spec.search_space, t.params), state, value: t.objective, intermediate: curves.get(t.job_id) ?? {} };
}

async function pruneBehind(
  ctx: JobContext,
  spec: StudySpec,
  space: Record<string, unknown>,
  sampler: SamplerProcess,
  trials: Trial[],
  jobs: Map<string, TrialJob>,
  judged: Map<number, number>,
): Promise<void> {
  const { db } = ctx.platform.metadata;
  const curves = await epochValues(db, trials.map((t) => t.job_id), spec.objective.metric);
  const history = trials.map((t) => samplerTrial(spec, t, curves));
  for (const trial of trials) {
    if (trial.state !== 'running' || jobs.get(trial.job_id)?.status !== 'running') continue;
    const curve = curves.get(trial.job_id) ?? {};
    const epochs = Object.keys(curve).length;
    if (epochs === 0 || judged.get(trial.number) === epochs) continue;
    judged.set(trial.number, epochs);
    const answer = await sampler.request({ op: 'prune', rule: pruningRule(spec), direction: spec.objective.direction, space, trials: history, trial: samplerTrial(spec, trial, curves) });
    if (answer.prune === true) {
      const last = Math.max(...Object.keys(curve).map(Number));
      await stopTrial(ctx, trial, 'pruned', `${spec.objective.metric} ${curve[String(last)]} at epoch ${last} is behind the other trials (${spec.pruning!.rule})`, {
        objective: curve[String(last)],
        epochsRun: last,
      });
    }
  }
}

function pruningRule(spec: StudySpec): Record<string, unknown> {
  const p = spec.pruning!;
  return p.rule === 'median'
    ? { type: 'median', warmup_epochs: p.warmup_epochs, startup_trials: p.startup_trials }
    : { type: 'successive_halving', min_epochs: p.min_epochs, reduction_factor: p.reduction_factor };
}

/** Records the study's result: the best trial's version (and alias), or failure when none succeeded. */
async function finishStudy(ctx: JobContext, spec: StudySpec, stopReason: string): Promise<void> {
  const { platform, job, owner, events } = ctx;
  const { db } = platform.metadata;
  const trials = await listTrials(db, job.id);
  const jobs = await trialJobs(platform, job.id);
  const summary = studySummary(spec, trials, jobs, stopReason);
  const best = summary.best_trial === null ? undefined : trials.find((t) => t.number === summary.best_trial);
  if (!best) {
    const first = trials.find((t) => t.state === 'failed');
    const message = first
      ? `every trial failed; trial ${first.number} (the first) failed with: ${first.error ?? 'an unknown error'}`
      : `no trial finished (${trials.length} started${stopReason === 'max_runtime_seconds' ? '; max_runtime_seconds was reached' : ''})`;
    const finished = await finishJob(platform.metadata, job.id, owner, { status: 'failed', error: message, errorCode: 'TRIALS_FAILED', stats: summary });
    if (!finished) throw new LeaseLostError();
    return;
  }
  const version = jobs.get(best.job_id)?.model_version ?? null;
  if (spec.alias && version !== null) {
    await setAlias(db, jobModel(job), spec.alias, version);
    events.log(`alias ${spec.alias} of ${jobModel(job)} now points at version ${version} (trial ${best.number})`);
  }
  const finished = await finishJob(platform.metadata, job.id, owner, { status: 'succeeded', modelVersion: version, stats: summary, metrics: { [spec.objective.metric]: best.objective! } });
  if (!finished) throw new LeaseLostError();
  events.log(`study succeeded: best trial ${best.number}, ${spec.objective.metric} ${best.objective}, version ${version}`);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
