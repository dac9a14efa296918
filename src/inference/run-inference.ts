// A batch inference job: streams the dataset through the model in batches and streams the
// predictions, as CSV, into the blob store (atomic: the output appears whole or not at all), so
// memory stays flat whatever the file size. Cancellable between batches.
import { Readable } from 'node:stream';
import { durably, type JobContext } from '../jobs/context.ts';
import { JobUserError, LeaseLostError } from '../jobs/errors.ts';
import { finishJob } from '../jobs/queue.ts';
import { jobDataset, jobModel, jobSpec } from '../jobs/jobs.ts';
import type { JobRunner } from '../jobs/runner.ts';
import { getVersion } from '../models/registry.ts';
import { readDatasetBatches } from '../datasets/read-dataset.ts';
import { readAs } from '../models/preprocessing.ts';
import { datetimeInputs } from './inputs.ts';
import { TrainyardError } from '../errors.ts';
import { ModelCache } from './model-cache.ts';
import { StatsAccumulator } from './predictions.ts';
import { PredictionsCsvWriter } from './predictions-csv.ts';
import { DEFAULT_MONITOR_OPTIONS, PredictionMonitor } from '../monitoring/monitor.ts';
import { predictionsKey } from '../store/blobs/keys.ts';

export interface InferenceJobSpec {
  threshold: number;
}

const BATCH_ROWS = 8192;

export async function runInferenceJob(ctx: JobContext): Promise<void> {
  const { platform, job, events, signal } = ctx;
  const { db } = platform.metadata;
  const spec = jobSpec<InferenceJobSpec>(job);
  const model = jobModel(job);
  const datasetId = jobDataset(job);
  const version = await getVersion(db, model, job.model_version!).catch((error: unknown) => {
    if (error instanceof TrainyardError && error.code === 'NOT_FOUND') throw new JobUserError('BAD_DATA', `model version ${model}/${job.model_version} no longer exists`);
    throw error;
  });
  const dataset = await db.selectFrom('datasets').selectAll().where('id', '=', datasetId).executeTakeFirst();
  if (!dataset) throw new JobUserError('BAD_DATA', `dataset ${datasetId} no longer exists`);

  const cache = new ModelCache(platform.blobs, Number.MAX_SAFE_INTEGER, undefined, platform.config.trainerThreads);
  // Batch predictions are logged like real-time ones (request id = the job id, row = the row number);
  // a job waits for the log to be written instead of dropping rows.
  const monitor = new PredictionMonitor(platform, { ...DEFAULT_MONITOR_OPTIONS, flushMs: platform.config.monitoringFlushMs, maxQueuedRows: platform.config.monitoringMaxQueuedRows }).start();
  const record = await monitor.recorder(version, { requestId: job.id, threshold: spec.threshold });
  try {
    await cache.use(version, async (model) => {
      events.log(`predicting ${dataset.row_count} rows of ${dataset.name} v${dataset.version} with ${version.model} version ${version.version}`);
      const stats = new StatsAccumulator(model.manifest, spec.threshold);
      const csv = new PredictionsCsvWriter(model.manifest, spec.threshold);
      const features = model.manifest.features;
      let lastProgress = 0;
      let done = 0;
      const started = performance.now();

      async function* chunks(): AsyncGenerator<Buffer> {
        yield csv.header();
        const batches = readDatasetBatches(platform.blobs, dataset!, {
          batchRows: BATCH_ROWS,
          columns: features.map((f) => ({ name: f.name, as: readAs(f.kind) })),
          logger: platform.logger,
        });
        let input = new Float32Array(BATCH_ROWS * model.encoder.width);
        for await (const batch of batches) {
          if (signal.aborted) throw new Error(`job stopped (${String(signal.reason)})`);
          if (input.length < batch.length * model.encoder.width) input = new Float32Array(batch.length * model.encoder.width);
          const columns = datetimeInputs(features, batch.columns, batch.firstRow);
          model.encoder.encode(columns, 0, batch.length, input);
          const batchStarted = performance.now();
          const { output, width } = await model.run(input.subarray(0, batch.length * model.encoder.width), batch.length);
          stats.add(output, width, batch.length);
          if (record) {
            record({ manifest: model.manifest, columns, rows: batch.length, output, width, firstRow: batch.firstRow, latencyMs: performance.now() - batchStarted });
            if (monitor.backlog >= platform.config.monitoringMaxQueuedRows / 4) await monitor.flush();
          }
          yield csv.lines(output, width, batch.length, batch.firstRow);
          done = batch.firstRow + batch.length;
          if (Date.now() - lastProgress > 1000) {
            lastProgress = Date.now();
            await db
              .updateTable('jobs')
              .set({ progress_json: JSON.stringify({ rows_done: done, rows_total: dataset!.row_count }), updated_at: new Date().toISOString() })
              .where('id', '=', job.id)
              .execute();
          }
        }
      }

      try {
        await platform.blobs.put(predictionsKey(job.id), Readable.from(chunks()), { contentType: 'text/csv' });
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof TrainyardError && error.status < 500) throw new JobUserError('BAD_DATA', error.message);
        throw error;
      }
      const seconds = (performance.now() - started) / 1000;
      const result = { ...stats.result(), seconds, rows_per_second: seconds > 0 ? Math.round(done / seconds) : null };
      events.log(`predicted ${done} rows in ${seconds.toFixed(2)} s`);
      await db.updateTable('jobs').set({ progress_json: JSON.stringify({ rows_done: done, rows_total: dataset.row_count }) }).where('id', '=', job.id).execute();
      const finished = await durably(platform, job.id, 'record the inference result', () => finishJob(platform.metadata, job.id, ctx.owner, { status: 'succeeded', stats: result }));
      if (!finished) {
        // Cancelled at the last moment, or another worker owns the job now (and rewrites the output).
        const current = await db.selectFrom('jobs').select('cancel_requested').where('id', '=', job.id).executeTakeFirst();
        if (current?.cancel_requested) await platform.blobs.delete(predictionsKey(job.id));
        throw new LeaseLostError();
      }
    });
  } finally {
    await monitor.close();
    await cache.close();
  }
}

/** The `inference` kind, registered with the engine at the composition root (src/cli/job-kinds.ts). */
export const inferenceJobRunner: JobRunner = { kind: 'inference', run: runInferenceJob };
