// The `import` job kind: objects in S3 → a new dataset version, through the upload's ingest
// (stage.ts). The location is checked against TRAINYARD_IMPORT_ALLOW at submission and again here
// (the worker's own setting), listed within the limits, read, and recorded only when whole; on
// failure, cancel or a lost lease nothing is kept: staged blobs are removed, and those of a process
// killed mid-import (no dataset row points at them) are orphans that `trainyard gc` removes, its
// local staging file the servers' staging sweep (table/staging.ts). The job itself is retried
// under the engine's lease rules, from the start.
import { Readable } from 'node:stream';
import { Type, type Static } from 'typebox';
import type { JobContext } from '../../jobs/context.ts';
import { durably } from '../../jobs/context.ts';
import { JobUserError, LeaseLostError } from '../../jobs/errors.ts';
import type { JobRunner } from '../../jobs/runner.ts';
import { finishJob } from '../../jobs/queue.ts';
import { jobSpec } from '../../jobs/jobs.ts';
import { TrainyardError } from '../../errors.ts';
import { deleteDataset, recordDataset } from '../service.ts';
import { assertAllowed, parseImportUrl } from './location.ts';
import { ImportSource, ImportSourceError, formatOfObjects, type SourceObject } from './source.ts';
import { stageImport } from './stage.ts';

/** What POST /v1/datasets/import stores as the job's spec. */
export interface ImportJobSpec {
  /** The dataset name (an existing name gets its next version). */
  name: string;
  /** The normalised s3:// location. */
  url: string;
}

/** The job's progress while it runs (totals once the objects are listed): the job writes it, GET /v1/import-jobs/{id} shows it. */
export const ImportProgressSchema = Type.Object({
  files_done: Type.Integer(),
  files_total: Type.Union([Type.Integer({ description: 'Known once the objects are listed' }), Type.Null()]),
  bytes_done: Type.Integer(),
  bytes_total: Type.Union([Type.Integer(), Type.Null()]),
});
export type ImportProgress = Static<typeof ImportProgressSchema>;

/** What a succeeded import job records as its stats, and the API shows as its result. */
export const ImportJobResultSchema = Type.Object(
  {
    dataset_id: Type.String(),
    dataset_name: Type.String(),
    dataset_version: Type.Integer(),
    format: Type.String(),
    rows: Type.Integer(),
    files: Type.Integer(),
    bytes: Type.Integer(),
  },
  { description: 'The new dataset version, once succeeded' },
);
export type ImportJobResult = Static<typeof ImportJobResultSchema>;

/** Counts the bytes read, and remembers a failure of the store itself (not the data's fault). */
async function* watched(body: Readable, onBytes: (n: number) => void, onFailure: (error: unknown) => void): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of body) {
      onBytes((chunk as Buffer).length);
      yield chunk as Buffer;
    }
  } catch (error) {
    onFailure(error);
    throw error;
  } finally {
    body.destroy();
  }
}

async function runImportJob(ctx: JobContext): Promise<void> {
  const { platform, job, events, signal } = ctx;
  const { db } = platform.metadata;
  const { config } = platform;
  const spec = jobSpec<ImportJobSpec>(job);
  let location;
  try {
    location = parseImportUrl(spec.url);
    assertAllowed(config.importAllow, location);
  } catch (error) {
    throw new JobUserError('BAD_DATA', `${(error as Error).message} (checked again by the process running the import)`);
  }
  const source = new ImportSource(config);
  const progress: ImportProgress = { files_done: 0, files_total: null, bytes_done: 0, bytes_total: null };
  let written = 0;
  const saveProgress = (force = false) => {
    if (!force && Date.now() - written < 1000) return;
    written = Date.now();
    void db.updateTable('jobs').set({ progress_json: JSON.stringify(progress) }).where('id', '=', job.id).execute().catch(() => undefined);
  };
  let storeFailure: unknown;
  try {
    events.log(`listing ${location.url}`);
    const objects = await source.list(location, { allow: config.importAllow, maxObjects: config.importMaxObjects, maxBytes: config.importMaxBytes }, signal);
    const format = formatOfObjects(objects);
    progress.files_total = objects.length;
    progress.bytes_total = objects.reduce((sum, o) => sum + o.size, 0);
    saveProgress(true);
    events.log(`importing ${objects.length} ${format} object(s), ${progress.bytes_total} bytes, into dataset "${spec.name}"`);
    let opened = 0;
    const reader = {
      open: async (object: SourceObject): Promise<Readable> => {
        if (opened++ > 0) progress.files_done++;
        const body = await source.open(location.bucket, object, signal);
        return Readable.from(
          watched(
            body,
            (n) => {
              progress.bytes_done += n;
              saveProgress();
            },
            (error) => (storeFailure ??= error),
          ),
          { objectMode: false },
        );
      },
    };
    const staged = await stageImport(platform, reader, objects, format, { maxBytes: config.importMaxBytes, signal });
    progress.files_done = objects.length;
    saveProgress(true);
    if (signal.aborted) {
      await platform.blobs.deletePrefix(`datasets/${staged.id}`).catch(() => undefined);
      return;
    }
    // Discards the staged bytes itself when it cannot record them.
    const dataset = await recordDataset(platform, staged, spec.name);
    const result: ImportJobResult = {
      dataset_id: dataset.id,
      dataset_name: dataset.name,
      dataset_version: dataset.version,
      format: dataset.format,
      rows: dataset.row_count,
      files: objects.length,
      bytes: progress.bytes_total,
    };
    events.log(`imported ${dataset.row_count} rows as ${dataset.name} v${dataset.version} (${dataset.id})`);
    const finished = await durably(platform, job.id, 'record the import', () => finishJob(platform.metadata, job.id, ctx.owner, { status: 'succeeded', stats: result }));
    if (!finished) {
      await deleteDataset(platform, dataset.id).catch((error: unknown) => platform.logger.warn({ err: error, dataset: dataset.id }, 'could not remove the dataset of an import that did not finish'));
      throw new LeaseLostError();
    }
  } catch (error) {
    if (signal.aborted || error instanceof LeaseLostError) throw error;
    if (error instanceof ImportSourceError) throw new JobUserError('BAD_DATA', error.message);
    // The store failed under a read: not the data's fault, so retried (never reported as bad data).
    if (storeFailure !== undefined) throw new Error(`reading from ${location.url} failed: ${(storeFailure as Error).message ?? String(storeFailure)}`, { cause: storeFailure });
    if (error instanceof TrainyardError && error.status < 500) throw new JobUserError('BAD_DATA', error.message);
    throw error;
  } finally {
    source.close();
  }
}

export const importJobRunner: JobRunner = { kind: 'import', run: runImportJob };
