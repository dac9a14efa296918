// Datasets: ingest (stream → blob store, hashing, counting and profiling in the same pass), list,
// get, delete, preview and content. The same pass writes the columnar copy (columnar/format.ts) as
// a second blob next to the CSV. A dataset row is written only after both blobs are complete, so
// every row points at whole bytes; a failed or aborted upload leaves neither blobs nor row.
import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { Platform } from '../platform.ts';
import { TrainyardError, notFound } from '../errors.ts';
import { datasetColumns, type DatasetRow } from './rows.ts';
import { deleteUnlessInUse } from '../jobs/jobs.ts';
import { together } from '../store/metadata/metadata-store.ts';
import { newId, nowIso } from '../ids.ts';
import { CsvProfiler, type ColumnProfile, type CsvProfile } from './csv/profiler.ts';
import { readCsvRows, type CellValue } from './csv/reader.ts';
import { acquireWorkerProfiler, type WorkerProfiler } from './csv/worker-profiler.ts';
import { ColumnarWriter, type ColumnarSummary } from './columnar/writer.ts';
import { ColumnarOutput } from './columnar/output.ts';
import { COLUMNAR_FORMAT, type ColumnarInfo } from './columnar/format.ts';
import { datasetColumnarKey, datasetCsvKey, datasetPrefix } from '../store/blobs/keys.ts';
import { readDatasetBatches } from './read-dataset.ts';
import { parseBooleanToken } from './csv/tokens.ts';


/** What a dataset was uploaded as: its original bytes' format. */
export type DatasetFormat = 'csv' | 'parquet' | 'jsonl';
export const DATASET_FORMATS: readonly DatasetFormat[] = ['csv', 'parquet', 'jsonl'];

export interface Dataset {
  id: string;
  name: string;
  version: number;
  status: 'ready';
  format: DatasetFormat;
  delimiter: string;
  size_bytes: number;
  sha256: string;
  row_count: number;
  columns: ColumnProfile[];
  created_at: string;
}


export function toDataset(row: DatasetRow): Dataset {
  const { column_count: _count, created_at, ...summary } = toDatasetSummary(row);
  return { ...summary, columns: datasetColumns(row), created_at };
}

// ---- names ----

/**
 * Characters a name may not hold, as they hide or disguise what it says: control characters (Cc),
 * format characters (Cf: zero-width joiners and spaces, bidi overrides and isolates, the BOM, soft
 * hyphens), line and paragraph separators, lone surrogates and private-use characters, and spaces
 * other than U+0020 (no-break, ideographic, …), which look like one.
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}]|(?! )\p{Zs}/u;
const HIDDEN_ALL = new RegExp(HIDDEN.source, 'gu');

/**
 * Checks a dataset name: 1–200 characters, no `/` or `\`, none of the characters that hide or
 * disguise text (HIDDEN).
 */
export function validateName(name: string | undefined, field = 'name'): string {
  const fail = (message: string): never => {
    throw new TrainyardError('INVALID_NAME', `dataset name ${message}`, { errors: [{ field, message }] });
  };
  if (name === undefined) return fail('is required (give ?name= or a multipart `name` field)');
  const trimmed = name.trim();
  if (trimmed.length === 0) fail('must not be empty');
  if (trimmed.length > 200) fail('must be at most 200 characters');
  if (/[/\\]/.test(trimmed)) fail('must not contain path separators (/ or \\)');
  const hidden = HIDDEN.exec(trimmed);
  if (hidden) fail(`must not contain control, format (zero-width, bidi) or other invisible characters (found U+${hidden[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})`);
  return trimmed;
}

/** A name from an uploaded file's name: its last path segment, without its extension (.csv, .tsv, .txt, .parquet, .pq, .jsonl, .ndjson), cleaned. */
export function nameFromFilename(filename: string | undefined): string | undefined {
  if (!filename) return undefined;
  const base = filename.split(/[/\\]/).pop() ?? '';
  const cleaned = base.replace(/\.(csv|tsv|txt|parquet|pq|jsonl|ndjson)$/i, '').replace(HIDDEN_ALL, '')
    .trim()
    .slice(0, 200);
  return cleaned.length > 0 ? cleaned : undefined;
}

// ---- ingest ----

/**
 * Uploads at least this large (by Content-Length), and every upload of unknown length (chunked), are
 * profiled on a worker thread: parsing and profiling cost ~10 ms of CPU per MiB, which on the request
 * thread would delay every other request for as long as the upload lasts.
 */
export const OFF_THREAD_MIN_BYTES = 8 * 1024 * 1024;

/** A request's Content-Length, or undefined when it sent none (chunked) or something unreadable. */
export function declaredLength(header: string | undefined): number | undefined {
  if (header === undefined || !/^\d+$/.test(header)) return undefined;
  return Number(header);
}

/**
 * Hashes, counts, size-limits and profiles the bytes flowing through it, unchanged, to the store,
 * and writes the columnar copy into `output` (waiting while the copy's store falls behind).
 */
class IngestTap extends Transform {
  private readonly hash = createHash('sha256');
  private readonly inline: CsvProfiler | null;
  private readonly writer: ColumnarWriter | null;
  private readonly remote: WorkerProfiler | null;
  private readonly maxBytes: number;
  private readonly output: ColumnarOutput;
  size = 0;
  profile: CsvProfile | null = null;
  columnar: ColumnarSummary | null = null;
  digest = '';

  constructor(maxBytes: number, delimiter: string | undefined, offThread: boolean, output: ColumnarOutput, maxColumns?: number) {
    super({ readableHighWaterMark: 2 * 1024 * 1024, writableHighWaterMark: 256 * 1024 });
    this.maxBytes = maxBytes;
    this.output = output;
    const onColumns = (part: Uint8Array) => output.write(part);
    this.remote = offThread ? acquireWorkerProfiler({ delimiter, maxColumns, onColumns }) : null;
    this.writer = this.remote ? null : new ColumnarWriter(onColumns);
    this.inline = this.remote ? null : new CsvProfiler({ delimiter, maxColumns, copy: this.writer ?? undefined });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      callback(tooLarge(this.maxBytes));
      return;
    }
    let wait: Promise<void> | undefined;
    try {
      this.hash.update(chunk);
      if (this.remote) wait = this.remote.feed(chunk);
      else (this.inline as CsvProfiler).feed(chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    const room = this.output.room();
    if (wait || room) {
      const remote = this.remote;
      void Promise.all([wait, room]).then(() => {
        if (remote?.error) {
          callback(remote.error);
          return;
        }
        this.push(chunk);
        callback();
      });
      return;
    }
    // Each socket read goes on as it came: the file store's stream gathers what queues up during a
    // write into one writev. Gathering here into 1 MiB copies cost more than it saved: every copy is
    // new off-heap memory, and V8 answered that external-memory growth with ~25 full GCs per 244 MB
    // upload (docs/benchmarks.md, ingest, 2026-11-27).
    this.push(chunk);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const finished = (profile: CsvProfile, columnar: ColumnarSummary | null) => {
      this.profile = profile;
      this.columnar = columnar;
      this.output.end();
      this.digest = this.hash.digest('hex');
      callback();
    };
    if (this.remote) {
      const remote = this.remote;
      remote.finish().then((profile) => finished(profile, remote.columnar), (error: Error) => callback(error));
      return;
    }
    let profile: CsvProfile;
    let columnar: ColumnarSummary;
    try {
      profile = (this.inline as CsvProfiler).finish();
      columnar = (this.writer as ColumnarWriter).finish();
    } catch (error) {
      callback(error as Error);
      return;
    }
    finished(profile, columnar);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.remote?.abandon();
    callback(error);
  }
}

export function tooLarge(maxBytes: number): TrainyardError {
  return new TrainyardError('UPLOAD_TOO_LARGE', `the upload is larger than the limit of ${maxBytes} bytes (TRAINYARD_MAX_UPLOAD_BYTES)`, {
    errors: [{ field: 'file', message: `must be at most ${maxBytes} bytes` }],
  });
}

/** Bytes stored and profiled, not yet recorded as a dataset. */
export interface StagedUpload {
  id: string;
  /** What the original bytes are (default csv). */
  format?: DatasetFormat;
  blobKey: string;
  size: number;
  sha256: string;
  profile: CsvProfile;
  /** The columnar copy, stored at `columnar.key`. */
  columnar: ColumnarInfo | null;
}

/**
 * Pipes `source` into `tap` and resolves (never rejects) with the source's failure, or null. Unlike
 * pipeline() it does not destroy the source when the tap fails: destroying an HTTP request would
 * close the socket before the problem+json answer is sent (Node discards the rest of the body).
 */
export function pump(source: Readable, tap: Transform): Promise<unknown> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (error: unknown) => {
      if (settled) return;
      settled = true;
      source.off('error', onError);
      source.off('close', onClose);
      source.off('end', onEnd);
      resolve(error);
    };
    const onError = (error: unknown) => {
      tap.destroy(error as Error);
      settle(error);
    };
    const onClose = () => {
      if (source.readableEnded) return;
      const error = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
      tap.destroy(error);
      settle(error);
    };
    const onEnd = () => settle(null);
    source.on('error', onError);
    source.on('close', onClose);
    source.on('end', onEnd);
    tap.once('error', () => {
      source.unpipe(tap);
      settle(null);
    });
    source.pipe(tap);
  });
}

export function isAbort(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'ECONNABORTED' || (error as Error)?.message === 'aborted';
}

/**
 * Streams `source` into the blob store while hashing and profiling it, and writes its columnar copy
 * as a second blob. On any failure (bad CSV, too large, client gone, either write failing) both
 * partial blobs are removed and a TrainyardError is thrown. `expectedBytes` is its declared length,
 * undefined when unknown (then it is profiled off-thread, as a large upload is: OFF_THREAD_MIN_BYTES).
 * `id`: the dataset id to stage under (a job's own, see jobDatasetId), else a new one.
 */
export async function stageUpload(platform: Platform, source: Readable, options: { delimiter?: string; expectedBytes: number | undefined; maxBytes?: number; id?: string }): Promise<StagedUpload> {
  const id = options.id ?? newId('ds');
  const blobKey = datasetCsvKey(id);
  const columnarKey = datasetColumnarKey(id);
  const output = new ColumnarOutput();
  const tap = new IngestTap(options.maxBytes ?? platform.config.maxUploadBytes, options.delimiter, (options.expectedBytes ?? Infinity) >= OFF_THREAD_MIN_BYTES, output, platform.config.maxColumns);
  tap.on('error', () => {}); // handled through the puts; stopping one put may error the tap late
  const pumping = pump(source, tap);
  // Either write failing stops the other: the copy's stream is destroyed, or the tap (and so the upload).
  const csvPut = platform.blobs.put(blobKey, tap, { contentType: 'text/csv' });
  // Not fsynced (durable: false): the copy is derived data, every group is CRC-checked when read and
  // a missing or torn copy is read from the CSV instead, so a crash can cost only its speed-up.
  const columnarPut = platform.blobs.put(columnarKey, output, { contentType: 'application/octet-stream', durable: false });
  csvPut.catch(() => output.destroy());
  columnarPut.catch((error: unknown) => tap.destroy(error instanceof Error ? error : new Error(String(error))));
  const [csvResult, columnarResult] = await Promise.allSettled([csvPut, columnarPut]);
  if (csvResult.status === 'rejected' || columnarResult.status === 'rejected') {
    const reasons = [csvResult, columnarResult].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    const error = reasons.find((r) => r instanceof TrainyardError) ?? reasons[0];
    const sourceError = await pumping;
    await platform.blobs.deletePrefix(datasetPrefix(id)).catch(() => {});
    if (error instanceof TrainyardError) throw error;
    if (sourceError instanceof TrainyardError) throw sourceError;
    if (isAbort(error) || isAbort(sourceError)) {
      throw new TrainyardError('UPLOAD_ABORTED', 'the upload ended before the file was complete', {
        errors: [{ field: 'file', message: 'upload ended early' }],
        cause: error,
      });
    }
    throw error;
  }
  await pumping;
  if (!tap.profile || !tap.columnar) {
    await platform.blobs.deletePrefix(datasetPrefix(id)).catch(() => {});
    throw new TrainyardError('UPLOAD_ABORTED', 'the upload ended before the file was complete', { errors: [{ field: 'file', message: 'upload ended early' }] });
  }
  let columnar: ColumnarInfo | null = {
    format: COLUMNAR_FORMAT,
    key: columnarKey,
    size_bytes: columnarResult.value.size,
    row_count: tap.columnar.row_count,
    groups: tap.columnar.groups,
    columns: tap.columnar.columns,
  };
  if (columnar.row_count !== tap.profile.row_count || columnar.size_bytes !== output.bytes) {
    // Never expected; the CSV stays the dataset's source of truth, so record the dataset without the copy.
    platform.logger.error({ dataset: id, columnar: { rows: columnar.row_count, bytes: columnar.size_bytes, written: output.bytes }, rows: tap.profile.row_count }, 'columnar copy does not match its CSV; not using it');
    await platform.blobs.delete(columnarKey).catch(() => {});
    columnar = null;
  }
  return { id, blobKey, size: tap.size, sha256: tap.digest, profile: tap.profile, columnar };
}

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; errno?: number };
  return e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e?.code === 'ER_DUP_ENTRY' || e?.errno === 1062;
}

/** Records a staged upload as the next version of `name`; retries when another upload takes the version. */
export async function recordDataset(platform: Platform, staged: StagedUpload, name: string): Promise<Dataset> {
  const db = platform.metadata.db;
  try {
    for (let attempt = 0; ; attempt++) {
      const latest = await db.selectFrom('datasets').select((eb) => eb.fn.max('version').as('version')).where('name', '=', name).executeTakeFirst();
      const row: DatasetRow = {
        id: staged.id,
        name,
        version: Number(latest?.version ?? 0) + 1,
        status: 'ready',
        format: staged.format ?? 'csv',
        delimiter: staged.profile.delimiter,
        size_bytes: staged.size,
        sha256: staged.sha256,
        row_count: staged.profile.row_count,
        columns_json: JSON.stringify(staged.profile.columns),
        blob_key: staged.blobKey,
        columnar_json: staged.columnar ? JSON.stringify(staged.columnar) : null,
        column_count: staged.profile.columns.length,
        created_at: nowIso(),
      };
      try {
        await db.insertInto('datasets').values(row).execute();
        return toDataset(row);
      } catch (error) {
        if (!isUniqueViolation(error) || attempt >= 20) throw error;
      }
    }
  } catch (error) {
    await discardStaged(platform, staged);
    throw error;
  }
}

export async function discardStaged(platform: Platform, staged: Pick<StagedUpload, 'id'>): Promise<void> {
  await platform.blobs.deletePrefix(datasetPrefix(staged.id)).catch((error: unknown) => {
    platform.logger.warn({ err: error, dataset: staged.id }, 'could not remove a discarded upload');
  });
}

// ---- queries ----

export async function getDatasetRow(platform: Platform, id: string): Promise<DatasetRow> {
  const row = await platform.metadata.db.selectFrom('datasets').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw notFound('dataset', id);
  return row;
}

/** A dataset in a list answer: everything but the column profiles (which can be megabytes). */
export type DatasetSummaryRow = Omit<DatasetRow, 'columns_json' | 'columnar_json'>;

export function toDatasetSummary(row: DatasetSummaryRow): Omit<Dataset, 'columns'> & { column_count: number } {
  return {
    id: row.id,
    name: row.name,
    version: Number(row.version),
    status: 'ready',
    format: row.format as DatasetFormat,
    delimiter: row.delimiter,
    size_bytes: Number(row.size_bytes),
    sha256: row.sha256,
    row_count: Number(row.row_count),
    column_count: Number(row.column_count ?? 0),
    created_at: row.created_at,
  };
}

export async function listDatasets(platform: Platform, options: { limit: number; after?: string; name?: string }): Promise<DatasetSummaryRow[]> {
  let query = platform.metadata.db
    .selectFrom('datasets')
    .select(['id', 'name', 'version', 'status', 'format', 'delimiter', 'size_bytes', 'sha256', 'row_count', 'column_count', 'blob_key', 'created_at'])
    .orderBy('id', 'desc')
    .limit(options.limit + 1);
  if (options.after) query = query.where('id', '<', options.after);
  if (options.name !== undefined) query = query.where('name', '=', options.name);
  return query.execute();
}

/**
 * Deletes a dataset and its blobs. A dataset that a queued or running job reads is IN_USE (409).
 */
export async function deleteDataset(platform: Platform, id: string): Promise<void> {
  const row = await getDatasetRow(platform, id);
  const store = platform.metadata;
  if (!(await together(store, (q) => deleteUnlessInUse(q, store.dialect, { datasetId: id })))) throw notFound('dataset', id);
  await platform.blobs.deletePrefix(datasetPrefix(row.id)).catch((error: unknown) => {
    platform.logger.warn({ err: error, dataset: id }, 'dataset deleted but its blobs could not be removed');
  });
}

export async function previewDataset(platform: Platform, id: string, limit: number): Promise<{ columns: string[]; rows: CellValue[][] }> {
  const row = await getDatasetRow(platform, id);
  const dataset = toDataset(row);
  if (dataset.format !== 'csv') {
    // From the columnar copy (read front to back, stopping after `limit` rows), else the original.
    const numeric = dataset.columns.map((c) => c.type === 'integer' || c.type === 'number');
    const requests = dataset.columns.map((c, k) => ({ name: c.name, as: numeric[k] ? ('number' as const) : ('string' as const) }));
    const rows: CellValue[][] = [];
    for await (const batch of readDatasetBatches(platform.blobs, row, { columns: requests, batchRows: limit, logger: platform.logger })) {
      for (let i = 0; i < batch.length; i++) {
        rows.push(
          batch.columns.map((column, k): CellValue => {
            const value = column[i];
            if (numeric[k]) return value === value ? (value as number) : null;
            if (value === null) return null;
            return dataset.columns[k].type === 'boolean' ? parseBooleanToken(value as string) ?? null : (value as string);
          }),
        );
      }
      break;
    }
    return { columns: dataset.columns.map((c) => c.name), rows };
  }
  const stream = await platform.blobs.get(row.blob_key);
  try {
    return await readCsvRows(stream, { delimiter: row.delimiter, limit, types: dataset.columns.map((c) => c.type) });
  } finally {
    stream.destroy();
  }
}
