// Ingest of typed formats (Parquet, JSON Lines): the same result as a CSV upload (original bytes
// kept and hashed, a column profile, the columnar copy, nothing kept on failure), by a different
// route. A Parquet file needs random access, so the upload streams to a staging file under the data
// dir (hashed and size-limited on the way, never held in memory), and is then read from there one
// row group at a time while the staging file is also copied into the blob store as the original. A
// JSON Lines file takes the same route, read twice from the staging file: once to check every line
// and profile it (its columns are known only at its end), once to write the columnar copy, whose
// header names the columns first.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Platform } from '../../platform.ts';
import { TrainyardError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import { ColumnarOutput } from '../columnar/output.ts';
import { TableColumnarWriter } from '../columnar/table-writer.ts';
import { COLUMNAR_FORMAT, type ColumnarInfo } from '../columnar/format.ts';
import { datasetColumnarKey, datasetOriginalKey, datasetPrefix } from '../../store/blobs/keys.ts';
import { openParquet, readParquetBatches } from '../parquet/reader.ts';
import { ParquetBatchWriter, parquetRequests } from '../parquet/writer.ts';
import { JsonlReader } from '../jsonl/reader.ts';
import { TableProfiler } from './profile.ts';
import { stagingDir } from './staging.ts';
import { readRequested, type TableBatch, type TableField } from './batch.ts';
import { isAbort, pump, tooLarge, type StagedUpload } from '../service.ts';

export type TableFormat = 'parquet' | 'jsonl';

const CONTENT_TYPES: Record<TableFormat, string> = {
  parquet: 'application/vnd.apache.parquet',
  jsonl: 'application/x-ndjson',
};


/** Hashes and counts the bytes flowing through, failing past `maxBytes`. */
class HashTap extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;
  digest = '';

  constructor(private readonly maxBytes: number) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      callback(tooLarge(this.maxBytes));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.digest = this.hash.digest('hex');
    callback();
  }
}

/** Streams `source` to `path`, hashing it; throws UPLOAD_TOO_LARGE, UPLOAD_ABORTED or EMPTY_FILE. */
async function stageToFile(source: Readable, path: string, maxBytes: number): Promise<{ size: number; sha256: string }> {
  const tap = new HashTap(maxBytes);
  const pumping = pump(source, tap);
  try {
    await pipeline(tap, createWriteStream(path));
  } catch (error) {
    const sourceError = await pumping;
    if (error instanceof TrainyardError) throw error;
    if (isAbort(error) || isAbort(sourceError)) {
      throw new TrainyardError('UPLOAD_ABORTED', 'the upload ended before the file was complete', { errors: [{ field: 'file', message: 'upload ended early' }], cause: error });
    }
    throw error;
  }
  const sourceError = await pumping;
  if (sourceError) {
    throw new TrainyardError('UPLOAD_ABORTED', 'the upload ended before the file was complete', { errors: [{ field: 'file', message: 'upload ended early' }], cause: sourceError });
  }
  if (tap.size === 0) throw new TrainyardError('EMPTY_FILE', 'the file is empty', { errors: [{ field: 'file', message: 'is empty' }] });
  return { size: tap.size, sha256: tap.digest };
}

/** Profiles a staged file and writes its columnar copy into `output` (waiting while the store falls behind). */
async function readStaged(format: TableFormat, path: string, output: ColumnarOutput): Promise<{ profiler: TableProfiler; writer: TableColumnarWriter }> {
  const profiler = new TableProfiler();
  const writer = new TableColumnarWriter((part) => output.write(part));
  const feed = async (batches: AsyncIterable<TableBatch>, onBatch: (batch: TableBatch) => void) => {
    for await (const batch of batches) {
      onBatch(batch);
      await output.room();
    }
  };
  if (format === 'parquet') {
    const table = await openParquet(path);
    profiler.fields(table.fields);
    writer.header(table.fields.map((f) => f.name));
    await feed(readParquetBatches(table), (batch) => {
      profiler.add(batch);
      writer.add(batch);
    });
    if (profiler.rows === 0) throw new TrainyardError('EMPTY_FILE', 'the Parquet file has no rows', { errors: [{ field: 'file', message: 'has no rows' }] });
    return { profiler, writer };
  }
  const scan = new JsonlReader();
  const fields = (): TableField[] => scan.names.map((name) => ({ name, type: null }));
  await feed(scan.batches(createReadStream(path)), (batch) => {
    profiler.fields(fields());
    profiler.add(batch);
  });
  if (scan.rows === 0) throw new TrainyardError('EMPTY_FILE', 'the JSON Lines file has no rows', { errors: [{ field: 'file', message: 'has no rows (one JSON object per line)' }] });
  writer.header(scan.names);
  await feed(new JsonlReader(scan.names).batches(createReadStream(path)), (batch) => writer.add(batch));
  return { profiler, writer };
}

/**
 * Stages, stores, profiles and copies an upload of a typed format. On any failure nothing is left:
 * neither the staging file nor any blob.
 */
export async function stageTableUpload(platform: Platform, source: Readable, format: TableFormat, options: { maxBytes?: number } = {}): Promise<StagedUpload> {
  const id = newId('ds');
  const blobKey = datasetOriginalKey(id, format);
  const columnarKey = datasetColumnarKey(id);
  const dir = stagingDir(platform.config.dataDir);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${id}.${format}`);
  let stored = false;
  try {
    const { size, sha256 } = await stageToFile(source, path, options.maxBytes ?? platform.config.maxUploadBytes);
    stored = true;
    const output = new ColumnarOutput();
    const originalPut = platform.blobs.put(blobKey, createReadStream(path), { contentType: CONTENT_TYPES[format] });
    const columnarPut = platform.blobs.put(columnarKey, output, { contentType: 'application/octet-stream', durable: false });
    const reading = readStaged(format, path, output).then(
      (result) => {
        const summary = result.writer.finish();
        output.end();
        return { profile: result.profiler.profiles(), rows: result.profiler.rows, summary };
      },
      (error: unknown) => {
        output.destroy();
        throw error;
      },
    );
    const [original, columnar, read] = await Promise.allSettled([originalPut, columnarPut, reading]);
    if (read.status === 'rejected') throw read.reason;
    if (original.status === 'rejected') throw original.reason;
    const summary = read.value.summary;
    let info: ColumnarInfo | null = null;
    if (columnar.status === 'fulfilled' && summary.row_count === read.value.rows && columnar.value.size === output.bytes) {
      info = { format: COLUMNAR_FORMAT, key: columnarKey, size_bytes: columnar.value.size, row_count: summary.row_count, groups: summary.groups, columns: summary.columns };
    } else {
      // The original stays the dataset's source of truth: record it without the copy.
      platform.logger.error({ dataset: id, err: columnar.status === 'rejected' ? columnar.reason : undefined }, 'columnar copy of an upload failed; not using it');
      await platform.blobs.delete(columnarKey).catch(() => {});
    }
    return { id, blobKey, size, sha256, format, profile: { delimiter: '', row_count: read.value.rows, columns: read.value.profile }, columnar: info };
  } catch (error) {
    if (stored) await platform.blobs.deletePrefix(datasetPrefix(id)).catch(() => {});
    throw error;
  } finally {
    await rm(path, { force: true });
  }
}

/** One Parquet file of many that make one dataset (an import of a prefix): its name for messages, and its bytes. */
export interface TablePart {
  /** Where the part came from (`s3://bucket/key`), named in every error about it. */
  name: string;
  open(): Promise<Readable>;
}

/** An error about one part, naming it (a TrainyardError keeps its code). */
function aboutPart(part: TablePart, error: unknown): unknown {
  if (!(error instanceof TrainyardError)) return error;
  return new TrainyardError(error.code, `${part.name}: ${error.message}`, { errors: error.errors.map((e) => ({ ...e, field: `${part.name}${e.field === 'file' ? '' : ` ${e.field}`}` })), cause: error });
}

const sameFields = (a: TableField[], b: TableField[]): boolean => a.length === b.length && a.every((f, i) => f.name === b[i].name && f.type === b[i].type);
const describeFields = (fields: TableField[]): string => fields.map((f) => `${f.name} ${f.type ?? 'any'}`).join(', ');

/**
 * Many Parquet files of one schema as one dataset: each part is staged to a local file in turn
 * (hashed and size-limited: `maxBytes` counts all parts together), checked against the first part's
 * schema (names and types, in order; a mismatch fails naming the part), and read one row group at a
 * time into the profile, the columnar copy and the dataset's original: one Parquet file of all the
 * rows in part order, written as it goes (the bytes of several files cannot be one file). On any
 * failure nothing is left: no staging file, no blob.
 */
export async function stageParquetParts(platform: Platform, parts: TablePart[], options: { maxBytes: number; signal?: AbortSignal }): Promise<StagedUpload> {
  const id = newId('ds');
  const blobKey = datasetOriginalKey(id, 'parquet');
  const columnarKey = datasetColumnarKey(id);
  const dir = stagingDir(platform.config.dataDir);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${id}.part.parquet`);
  const output = new ColumnarOutput();
  const original = new ColumnarOutput();
  const hash = createHash('sha256');
  const originalPut = platform.blobs.put(blobKey, original, { contentType: CONTENT_TYPES.parquet });
  const columnarPut = platform.blobs.put(columnarKey, output, { contentType: 'application/octet-stream', durable: false });
  const emit = (bytes: Uint8Array) => {
    hash.update(bytes);
    original.write(bytes);
  };
  const read = async () => {
    const profiler = new TableProfiler();
    const writer = new TableColumnarWriter((part) => output.write(part));
    let fields: TableField[] | null = null;
    let parquet: ParquetBatchWriter | null = null;
    let requests: ReturnType<typeof parquetRequests> = [];
    let staged = 0;
    for (const part of parts) {
      options.signal?.throwIfAborted();
      try {
        staged += (await stageToFile(await part.open(), path, options.maxBytes - staged)).size;
        const table = await openParquet(path);
        if (!fields) {
          fields = table.fields;
          profiler.fields(fields);
          writer.header(fields.map((f) => f.name));
          requests = parquetRequests(fields.map((f) => ({ name: f.name, type: f.type ?? 'string' })));
          parquet = new ParquetBatchWriter(fields.map((f) => ({ name: f.name, type: f.type ?? 'string' })));
        } else if (!sameFields(fields, table.fields)) {
          throw new TrainyardError('SCHEMA_MISMATCH', `its columns (${describeFields(table.fields)}) differ from the first part's (${describeFields(fields)}): every part of an import must have the same columns, in the same order, of the same types`, {
            errors: [{ field: 'file', message: 'has other columns than the first part' }],
          });
        }
        const indices = requests.map((_, k) => k);
        for await (const batch of readParquetBatches(table)) {
          options.signal?.throwIfAborted();
          profiler.add(batch);
          writer.add(batch);
          emit(await (parquet as ParquetBatchWriter).write(readRequested(batch, indices, requests), batch.length));
          await output.room();
          await original.room();
        }
      } catch (error) {
        throw aboutPart(part, error);
      } finally {
        await rm(path, { force: true });
      }
    }
    if (profiler.rows === 0 || !parquet) throw new TrainyardError('EMPTY_FILE', 'the Parquet files have no rows', { errors: [{ field: 'file', message: 'have no rows' }] });
    emit(parquet.finish());
    const summary = writer.finish();
    output.end();
    original.end();
    return { profile: profiler.profiles(), rows: profiler.rows, summary, size: staged };
  };
  const reading = read().catch((error: unknown) => {
    output.destroy();
    original.destroy();
    throw error;
  });
  const [kept, columnar, result] = await Promise.allSettled([originalPut, columnarPut, reading]);
  try {
    if (result.status === 'rejected') throw result.reason;
    if (kept.status === 'rejected') throw kept.reason;
    if (columnar.status === 'rejected') throw columnar.reason;
  } catch (error) {
    await platform.blobs.deletePrefix(datasetPrefix(id)).catch(() => {});
    throw error;
  }
  const { summary, rows, profile } = result.value;
  const info: ColumnarInfo = { format: COLUMNAR_FORMAT, key: columnarKey, size_bytes: columnar.value.size, row_count: summary.row_count, groups: summary.groups, columns: summary.columns };
  return { id, blobKey, size: kept.value.size, sha256: hash.digest('hex'), format: 'parquet', profile: { delimiter: '', row_count: rows, columns: profile }, columnar: info };
}
