// One training job: prepare data → spawn the trainer → collect events → upload artifacts → record
// the model version (one transaction, guarded by the job's lease). The same code runs in the local
// executor, on a worker and in an AWS Batch container.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TrainyardError } from '../errors.ts';
import { inferShapes } from '../models/shapes.ts';
import type { ModelSpec } from '../models/spec.ts';
import { normalizationVectors, type Preprocessing, type TargetEncoding } from '../models/preprocessing.ts';
import { insertVersion, type ArtifactInfo, type Signature } from '../models/registry.ts';
import type { ServingManifest } from '../models/manifest.ts';
import { isUniqueViolation } from '../store/metadata/errors.ts';
import { withRetry } from '../store/retry.ts';
import { STORE_OUTAGE_RETRY } from '../jobs/errors.ts';
import type { Hyperparameters } from './hyperparameters.ts';
import { publishDriftBaseline } from './drift-baseline.ts';
import { BASELINE_ARTIFACT } from '../monitoring/baseline-artifact.ts';
import { featureKinds, prepareTrainingData, type DatasetColumnInfo, type PreparedData } from './prepare.ts';
import { detectPython, TrainerProcess } from './trainer-process.ts';
import type { TrainerEvent, TrainerEventOf } from './trainer-events.ts';
import { trainerJob } from './trainer-job.ts';
import { JobError, JobUserError, LeaseLostError, TRAINER_EXIT_CODES, abortReason } from '../jobs/errors.ts';
import type { JobContext } from '../jobs/context.ts';
import { finishJobIn } from '../jobs/queue.ts';
import { jobDataset, jobSpec, parseJson } from '../jobs/jobs.ts';
import { datasetColumns } from '../datasets/rows.ts';
import { recordEpochMetrics } from './epoch-metrics.ts';
import { deleteCheckpoints, fetchCheckpoints, lastReportedEpoch, storeCheckpoint } from './checkpoints.ts';
import { fetchInitFrom, type InitFrom } from './warm-start.ts';
import type { JobRunner } from '../jobs/runner.ts';
import { artifactKey, jobLogKey, trainingAttemptPrefix } from '../store/blobs/keys.ts';

export interface TrainingJobSpec {
  model: ModelSpec;
  hyperparameters: Hyperparameters;
  /** Warm start: the version training begins from (checked at submission). */
  init_from?: InitFrom;
}

const EXPORTED_ARTIFACTS = ['model.onnx', 'model.pt', 'model.pt2', 'state_dict.pt'];
/**
 * How long a trainer told to stop (SIGTERM) may take to finish its batch and save a checkpoint
 * before it is killed. Within the two minutes AWS Batch gives a reclaimed Spot container and the
 * grace a draining worker gives its jobs (src/jobs/loop.ts).
 */
export const TRAINER_STOP_GRACE_MS = 60_000;

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function signatureOf(spec: ModelSpec, columns: DatasetColumnInfo[], pre: Preprocessing, target: TargetEncoding): Signature {
  const types = new Map(columns.map((c) => [c.name, c.type]));
  return {
    inputs: pre.features.map((f) => ({
      name: f.name,
      type: types.get(f.name) ?? 'string',
      kind: f.kind,
      ...(f.kind === 'categorical' ? { categories: f.categories } : {}),
    })),
    output: { task: spec.task, target: spec.target, ...(target.kind === 'label' ? { classes: target.classes } : {}) },
  };
}

function outputDescription(spec: ModelSpec, target: TargetEncoding): string {
  if (spec.task === 'binary_classification' && target.kind === 'label') return `[batch, 1]: probability that ${target.name} is "${target.classes[1]}" (sigmoid applied)`;
  if (target.kind === 'label') return `[batch, ${target.classes.length}]: class probabilities in the order of target.classes (softmax applied)`;
  return `[batch, 1]: predicted ${target.name} in its original units`;
}

export async function runTrainingJob(ctx: JobContext): Promise<void> {
  const { platform, job, events } = ctx;
  const { config, metadata, blobs } = platform;
  const spec = jobSpec<TrainingJobSpec>(job);
  const h = spec.hyperparameters;
  const timings: Record<string, number> = {};
  const started = performance.now();

  const datasetId = jobDataset(job);
  const dataset = await metadata.db.selectFrom('datasets').selectAll().where('id', '=', datasetId).executeTakeFirst();
  if (!dataset) throw new JobUserError('BAD_DATA', `dataset ${datasetId} no longer exists`);
  const columns: DatasetColumnInfo[] = datasetColumns(dataset);
  const features = spec.model.features ?? columns.map((c) => c.name).filter((n) => n !== spec.model.target);

  const jobDir = join(config.dataDir, 'scratch', `${job.id}-a${job.attempts}`);
  await rm(jobDir, { recursive: true, force: true });
  await mkdir(join(jobDir, 'artifacts'), { recursive: true });
  // Started now so that its `import torch` overlaps the data preparation; discarded if it is not needed.
  const trainer = TrainerProcess.start({ python: detectPython(config.python), jobDir, threads: config.trainerThreads, memoryBytes: config.trainerMemoryBytes });
  try {
    events.log(`preparing ${dataset.row_count} rows of dataset ${dataset.name} v${dataset.version} (${features.length} features)`);
    const warm = spec.init_from ? await fetchInitFrom(blobs, spec.init_from, jobDir) : undefined;
    if (spec.init_from) events.log(`warm start from ${spec.init_from.model} version ${spec.init_from.version}: its weights and its fitted preprocessing`);
    let prepared: PreparedData;
    try {
      prepared = await prepareTrainingData({
        blobs,
        blobKey: dataset.blob_key,
        delimiter: dataset.delimiter,
        rowCount: dataset.row_count,
        datasetId: dataset.id,
        columnarJson: dataset.columnar_json,
        format: dataset.format,
        columnsJson: dataset.columns_json,
        logger: platform.logger,
        columns,
        task: spec.model.task,
        target: spec.model.target,
        features,
        maxCategories: spec.model.preprocessing?.max_categories ?? 50,
        validationSplit: h.validation_split,
        seed: h.seed,
        jobDir,
        batchRows: config.prepareBatchRows,
        ...(warm ? { fitted: { preprocessing: warm.preprocessing, target: warm.target } } : {}),
      });
    } catch (error) {
      if (error instanceof TrainyardError && error.status < 500) throw new JobUserError('BAD_DATA', error.message);
      throw error;
    }
    timings.prepare_seconds = (performance.now() - started) / 1000;
    if (prepared.droppedMissingTarget > 0) {
      events.log(`left out ${prepared.droppedMissingTarget} rows whose target "${spec.model.target}" is missing`, 'warning');
    }
    events.log(`prepared ${prepared.trainRows} training and ${prepared.valRows} validation rows, ${prepared.inputDim} inputs`);

    let resolved;
    try {
      resolved = inferShapes(spec.model.layers, [prepared.inputDim], { maxParameters: config.maxModelParameters, expectedOutput: prepared.outputDim, task: spec.model.task });
    } catch (error) {
      if (error instanceof TrainyardError) throw new JobUserError('INVALID_SPEC', error.message);
      throw error;
    }

    const normalization = normalizationVectors(prepared.preprocessing);
    // An attempt after an interruption continues from the job's newest usable checkpoint; the
    // epochs it repeats (those after that checkpoint that an earlier attempt already reported,
    // as stored epoch events say) are recorded again but not reported twice.
    const resume = await fetchCheckpoints(ctx, jobDir);
    const reported = await lastReportedEpoch(metadata.db, job.id);
    await writeFile(join(jobDir, 'job.json'), JSON.stringify(trainerJob(spec.model.task, h, prepared, resolved.layers, config.trainerThreads, { resume, initWeights: warm?.weights ?? null })));

    const trainStarted = performance.now();
    let latest: { epoch: number; metrics: Record<string, number> } | undefined;
    const epochWrites: Array<Promise<unknown>> = [];
    // One at a time, in order: each prunes the ones before the last two.
    let checkpointWrites: Promise<void> = Promise.resolve();
    const outcome = await trainer.run({
      signal: ctx.signal,
      stopGraceMs: TRAINER_STOP_GRACE_MS,
      onLog: (line) => events.log(line, 'info', 'trainer'),
      onEvent: (event: TrainerEvent) => {
        if (event.event === 'epoch') {
          const epoch = event.epoch;
          const metrics = flattenMetrics(event);
          latest = { epoch, metrics };
          if (epoch > reported) {
            events.emit('epoch', { epoch, epochs: event.epochs, train: event.train, val: event.val, lr: event.lr, seconds: event.seconds, train_seconds: event.train_seconds });
          }
          // Handled here, not only by the allSettled below: a write that fails while the trainer
          // still runs (a database blip) would otherwise be an unhandled rejection and kill the process.
          epochWrites.push(
            recordEpoch(ctx, epoch, event.epochs, metrics).catch((error: unknown) =>
              platform.logger.warn({ err: error, job: job.id, epoch }, 'could not record epoch metrics; the final metrics are kept with the version'),
            ),
          );
        } else if (event.event === 'checkpoint') {
          checkpointWrites = checkpointWrites.then(() =>
            storeCheckpoint(ctx, jobDir, event).catch((error: unknown) => {
              platform.logger.warn({ err: error, job: job.id, epoch: event.epoch }, 'could not store a checkpoint');
              events.log(`could not store the checkpoint after epoch ${event.epoch}: ${error instanceof Error ? error.message : String(error)}`, 'warning');
            }),
          );
        } else if (event.event === 'resumed') {
          events.emit('resumed', { epoch: event.epoch, attempt: job.attempts });
          events.log(`resumed from the checkpoint after epoch ${event.epoch}${event.batch ? ` and ${event.batch} batches of the next` : ''} (attempt ${job.attempts})`);
        } else if (event.event === 'started') {
          events.log(`trainer started: torch ${event.torch_version}, device ${event.device}, ${event.threads} thread(s), ${event.parameters} parameters`);
        } else if (event.event === 'failed') {
          events.log(`trainer failed: ${event.message}`, 'error', 'trainer');
        }
      },
    });
    await Promise.allSettled(epochWrites);
    await checkpointWrites;
    timings.train_seconds = (performance.now() - trainStarted) / 1000;

    const reason = abortReason(ctx.signal);
    if (reason === 'cancel' || reason === 'lease-lost' || reason === 'shutdown' || reason === 'parent-gone') {
      // The engine decides what these mean for the job; of this attempt only its checkpoints are kept.
      return;
    }
    if (outcome.exitCode === TRAINER_EXIT_CODES.USER_ERROR && outcome.failed) {
      throw new JobError(outcome.failed.code, outcome.failed.message);
    }
    if (outcome.exitCode === TRAINER_EXIT_CODES.INTERRUPTED) {
      throw new JobError('INTERRUPTED', 'the trainer was stopped by a signal and saved a checkpoint; the next attempt resumes from it');
    }
    // Out of memory outside torch's allocator (Python's MemoryError before the trainer's handler, a
    // C++ bad_alloc that aborts): a user error like the trainer's own OUT_OF_MEMORY, not retried.
    if (outcome.exitCode !== 0 && /MemoryError|std::bad_alloc|Cannot allocate memory/.test(outcome.stderrTail)) {
      throw new JobUserError('OUT_OF_MEMORY', `the trainer ran out of memory (limit ${config.trainerMemoryBytes ? `${config.trainerMemoryBytes} bytes, TRAINYARD_TRAINER_MEMORY_BYTES` : 'none set'}); lower batch_size or use a smaller model`);
    }
    if (outcome.exitCode !== 0 || !outcome.completed) {
      throw new Error(
        `trainer exited with ${outcome.signal ? `signal ${outcome.signal}` : `code ${outcome.exitCode}`}` +
          (outcome.stderrTail ? `: ${outcome.stderrTail.trim().split('\n').slice(-3).join(' | ')}` : ''),
      );
    }

    const uploadStarted = performance.now();
    const summary = parseJson<Record<string, unknown>>(await readFile(join(jobDir, 'artifacts', 'trainer.json'), 'utf8').catch(() => null)) ?? {};
    const completed = outcome.completed;
    const finalMetrics = (completed.metrics ?? latest?.metrics ?? {}) as Record<string, number>;
    const prefix = trainingAttemptPrefix(spec.model.name, job.id, job.attempts);
    // How the run went: recorded both in the manifest and on the job.
    const outcomeSummary = {
      rows_train: prepared.trainRows,
      rows_validation: prepared.valRows,
      dropped_missing_target: prepared.droppedMissingTarget,
      best_epoch: completed.best_epoch,
      epochs_run: completed.epochs_run,
      stopped_early: completed.stopped_early,
      truncated: completed.truncated,
    };
    const artifacts: ArtifactInfo[] = [];
    try {
      for (const name of EXPORTED_ARTIFACTS) {
        const path = join(jobDir, 'artifacts', name);
        const info = await stat(path).catch(() => null);
        if (!info) continue;
        const sha256 = await sha256File(path);
        await blobs.put(artifactKey(prefix, name), createReadStream(path));
        artifacts.push({ name, size_bytes: info.size, sha256 });
      }
      if (!artifacts.some((a) => a.name === 'model.onnx')) throw new Error('the trainer finished without writing model.onnx');
      const manifest: ServingManifest = {
        format_version: 1,
        model: spec.model.name,
        training_job_id: job.id,
        dataset_id: dataset.id,
        task: spec.model.task,
        input: { name: 'features', dtype: 'float32', shape: [null, prepared.inputDim], encoding: 'the features below, in order: a numeric column as its value (missing: impute); a categorical column one-hot over categories; a datetime column as days since 1970-01-01T00:00Z (missing: impute), then sin and cos of 2π·part for each part in cycles (month/12, day_of_week/7, (hour + minute/60)/24, UTC; missing: 0, 0)' },
        output: { name: 'output', dtype: 'float32', description: outputDescription(spec.model, prepared.target) },
        features: prepared.preprocessing.features,
        feature_kinds: featureKinds(columns, features),
        target: prepared.target,
        normalization: { ...normalization, note: 'applied inside the exported network' },
        layers: resolved.layers,
        parameters: resolved.parameters,
        hyperparameters: h,
        training: outcomeSummary,
        metrics: finalMetrics,
        trainer: summary,
        artifacts,
      };
      const manifestText = JSON.stringify(manifest, null, 2);
      await blobs.put(artifactKey(prefix, 'manifest.json'), manifestText);
      artifacts.push({ name: 'manifest.json', size_bytes: Buffer.byteLength(manifestText), sha256: createHash('sha256').update(manifestText).digest('hex') });
      const reference = join(jobDir, 'artifacts', 'reference_outputs.npy');
      if (await stat(reference).catch(() => null)) await blobs.put(artifactKey(prefix, 'reference_outputs.npy'), createReadStream(reference));
      const baseline = await publishDriftBaseline({
        blobs,
        prefix,
        model: spec.model.name,
        features: prepared.baseline,
        task: spec.model.task,
        classes: prepared.target.kind === 'label' ? prepared.target.classes : undefined,
        validationPath: join(jobDir, prepared.files.val_x),
        threads: config.trainerThreads,
      });
      artifacts.push({ name: BASELINE_ARTIFACT, size_bytes: baseline.bytes, sha256: createHash('sha256').update(baseline.text).digest('hex') });
      await blobs.put(jobLogKey(job.id), events.logText());
      timings.upload_seconds = (performance.now() - uploadStarted) / 1000;
      timings.total_seconds = (performance.now() - started) / 1000;
      const trainerTimings = (summary.timings ?? {}) as Record<string, number>;
      if (typeof trainerTimings.export === 'number') timings.export_seconds = trainerTimings.export;

      const stats = {
        ...outcomeSummary,
        threads: summary.threads ?? config.trainerThreads,
        device: summary.device ?? null,
        timings,
      };
      const signature = signatureOf(spec.model, columns, prepared.preprocessing, prepared.target);
      await recordVersion(ctx, { prefix, artifacts, signature, metrics: finalMetrics, stats });
    } catch (error) {
      await blobs.deletePrefix(prefix).catch(() => undefined);
      throw error;
    }
    // An earlier attempt whose machine died while uploading left a partial prefix that nothing
    // points at; this attempt recorded the version, so those are orphans now.
    for (let earlier = 1; earlier < job.attempts; earlier++) {
      await blobs.deletePrefix(trainingAttemptPrefix(spec.model.name, job.id, earlier)).catch((error: unknown) => platform.logger.warn({ err: error, job: job.id, attempt: earlier }, 'could not remove an earlier attempt’s artifacts'));
    }
  } finally {
    trainer.discard();
    await rm(jobDir, { recursive: true, force: true });
  }
}

function flattenMetrics(event: TrainerEventOf<'epoch'>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const split of ['train', 'val'] as const) {
    for (const [k, v] of Object.entries(event[split])) if (typeof v === 'number') out[`${split}_${k}`] = v;
  }
  return out;
}

async function recordEpoch(ctx: JobContext, epoch: number, epochs: number, metrics: Record<string, number>): Promise<void> {
  const { db } = ctx.platform.metadata;
  const now = new Date().toISOString();
  await recordEpochMetrics(db, ctx.job.id, epoch, metrics, now);
  await db
    .updateTable('jobs')
    .set({ progress_json: JSON.stringify({ epoch, epochs }), metrics_json: JSON.stringify(metrics), updated_at: now })
    .where('id', '=', ctx.job.id)
    .where('lease_owner', '=', ctx.owner)
    .execute();
}

async function recordVersion(
  ctx: JobContext,
  input: { prefix: string; artifacts: ArtifactInfo[]; signature: Signature; metrics: Record<string, number>; stats: unknown },
): Promise<void> {
  const { job, owner, events } = ctx;
  const { db } = ctx.platform.metadata;
  const spec = jobSpec<TrainingJobSpec>(job);
  // The one write that turns a finished training into a result. A database blip here must not
  // throw the trained model away: the transaction is retried with backoff (it is all-or-nothing,
  // and guarded by our lease). When a commit's answer was lost, the retry finds the version it
  // recorded instead of reporting a lost lease (which would delete the artifacts of that version).
  const recordOnce = async (tryNumber: number): Promise<number> => {
    if (tryNumber > 1) {
      const recorded = await db
        .selectFrom('model_versions')
        .select('version')
        .where('model_name', '=', spec.model.name)
        .where('training_job_id', '=', job.id)
        .where('blob_prefix', '=', input.prefix)
        .executeTakeFirst();
      if (recorded) return recorded.version;
    }
    return db.transaction().execute(async (trx) => {
      const v = await insertVersion(trx, {
        model: spec.model.name,
        training_job_id: job.id,
        dataset_id: jobDataset(job),
        metrics: input.metrics,
        signature: input.signature,
        artifacts: input.artifacts,
        blob_prefix: input.prefix,
        init_from: spec.init_from ? { model: spec.init_from.model, version: spec.init_from.version } : null,
      });
      const finished = await finishJobIn(trx, job.id, owner, { status: 'succeeded', modelVersion: v, stats: input.stats, metrics: input.metrics });
      if (!finished) throw new LeaseLostError();
      return v;
    });
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const version = await withRetry(recordOnce, {
        ...STORE_OUTAGE_RETRY,
        onRetry: (error, n, delayMs) => ctx.platform.logger.warn({ err: error, job: job.id, attempt: n, retryInMs: delayMs }, 'could not record the model version; retrying'),
      });
      events.log(`recorded ${spec.model.name} version ${version}`);
      return;
    } catch (error) {
      if (isUniqueViolation(error) && attempt < 5) continue;
      throw error;
    }
  }
}

/** The `training` kind, registered with the engine at the composition root (src/cli/job-kinds.ts). */
export const trainingJobRunner: JobRunner = {
  kind: 'training',
  run: runTrainingJob,
  ended: (platform, job) => deleteCheckpoints(platform, job.id),
  // The trainer enforces max_runtime_seconds itself (stopping gracefully with the best weights);
  // the engine's deadline, 30 s later, is the backstop.
  deadlineSeconds: (job) => {
    const limit = jobSpec<TrainingJobSpec>(job).hyperparameters.max_runtime_seconds;
    return limit ? limit + 30 : null;
  },
};
