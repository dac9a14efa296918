// The `export` job kind: prediction logs over a time range → a new dataset version (export.ts).
// Nothing partial is kept: the dataset is recorded only when its bytes are whole, and removed again
// if the job cannot record its success (cancelled at the last moment, or its lease lost).
//
// Every attempt stages under the job's own dataset id (jobDatasetId), so nothing is left for
// `trainyard gc`: an attempt that fails or is cancelled removes what it staged, and the next attempt
// removes what a killed one staged — or, when the killed one had already recorded the dataset and
// died before finishing the job, finishes the job with that dataset instead of exporting again.
import { Type, type Static } from 'typebox';
import type { JobContext } from '../jobs/context.ts';
import { durably } from '../jobs/context.ts';
import { JobUserError, LeaseLostError } from '../jobs/errors.ts';
import type { JobRunner } from '../jobs/runner.ts';
import { finishJob } from '../jobs/queue.ts';
import { jobSpec } from '../jobs/jobs.ts';
import { deleteDataset, discardStaged, toDataset, type Dataset } from '../datasets/service.ts';
import type { Platform } from '../platform.ts';
import { jobDatasetId } from '../ids.ts';
import { TrainyardError } from '../errors.ts';
import { ExportError, exportPredictionLogs } from './export.ts';

/** What POST /v1/models/{name}/prediction-logs/export stores as the job's spec. */
export interface ExportJobSpec {
  target: string;
  name: string;
  from: string;
  to: string;
}

/** What a succeeded export job records as its stats. */
export const ExportJobResultSchema = Type.Object(
  { dataset_id: Type.String(), dataset_name: Type.String(), dataset_version: Type.Integer(), rows: Type.Integer() },
  { description: 'The new dataset version, once succeeded' },
);
export type ExportJobResult = Static<typeof ExportJobResultSchema>;


/** The dataset recorded under `id`, if there is one. */
async function recorded(platform: Platform, id: string): Promise<Dataset | undefined> {
  const row = await platform.metadata.db.selectFrom('datasets').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toDataset(row);
}

/** Removes what is staged under `id` unless a dataset was recorded with it. */
async function discardUnrecorded(platform: Platform, id: string): Promise<void> {
  if (!(await recorded(platform, id))) await discardStaged(platform, { id });
}

async function runExportJob(ctx: JobContext): Promise<void> {
  const { platform, job, events, signal } = ctx;
  const { db } = platform.metadata;
  const spec = jobSpec<ExportJobSpec>(job);
  const model = job.model_name;
  if (!model) throw new JobUserError('BAD_DATA', 'the export job names no model');
  const datasetId = jobDatasetId(job.id);
  let dataset = await recorded(platform, datasetId);
  if (dataset) events.log(`an earlier attempt recorded ${dataset.name} v${dataset.version} (${dataset.id}) before it stopped; finishing with it`);
  else {
    await discardStaged(platform, { id: datasetId }); // what an earlier, killed attempt staged
    events.log(`exporting the prediction logs of ${model} from ${spec.from} to ${spec.to} into dataset "${spec.name}"`);
    let lastProgress = 0;
    const request = { model, target: spec.target, name: spec.name, datasetId, from: new Date(spec.from), to: new Date(spec.to) };
    dataset = await exportPredictionLogs(platform, request, signal, (rows) => {
      if (Date.now() - lastProgress < 1000) return;
      lastProgress = Date.now();
      void db.updateTable('jobs').set({ progress_json: JSON.stringify({ rows_done: rows }) }).where('id', '=', job.id).execute().catch(() => undefined);
    }).catch(async (error: unknown) => {
      await discardUnrecorded(platform, datasetId);
      if (signal.aborted) throw error;
      if (error instanceof ExportError) throw new JobUserError('BAD_DATA', error.message);
      if (error instanceof TrainyardError && error.status < 500) throw new JobUserError('BAD_DATA', `the exported rows do not make a dataset: ${error.message}`);
      throw error;
    });
  }
  const result: ExportJobResult = { dataset_id: dataset.id, dataset_name: dataset.name, dataset_version: dataset.version, rows: dataset.row_count };
  events.log(`exported ${dataset.row_count} rows as ${dataset.name} v${dataset.version} (${dataset.id})`);
  const finished = await durably(platform, job.id, 'record the export', () =>
    finishJob(platform.metadata, job.id, ctx.owner, { status: 'succeeded', stats: result }),
  );
  if (!finished) {
    // Cancelled or failed meanwhile: the dataset goes. Queued again or taken over by another
    // attempt: that attempt finishes with it (see above), so it stays.
    const now = await db.selectFrom('jobs').select('status').where('id', '=', job.id).executeTakeFirst();
    if (now?.status === 'cancelled' || now?.status === 'failed') {
      await deleteDataset(platform, dataset.id).catch((error: unknown) => platform.logger.warn({ err: error, dataset: dataset.id }, 'could not remove the dataset of an export that did not finish'));
    }
    throw new LeaseLostError();
  }
}

export const exportJobRunner: JobRunner = { kind: 'export', run: runExportJob };
