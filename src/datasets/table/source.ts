// Reading a stored Parquet or JSON Lines dataset from its original bytes, as CsvBatches of
// `batchRows` rows (the same batches readCsvBatches makes of a CSV): the path a read takes when the
// columnar copy is missing, corrupt or cannot answer a request. A Parquet object is downloaded to a
// local file first (it needs random access), and the file is removed when the read ends.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlobStore } from '../../store/blobs/blob-store.ts';
import { TrainyardError } from '../../errors.ts';
import type { CsvBatch, CsvColumnRequest } from '../csv/reader.ts';
import { openParquet, readParquetBatches } from '../parquet/reader.ts';
import { JsonlReader } from '../jsonl/reader.ts';
import { readRequested, type TableBatch } from './batch.ts';

export interface TableSource {
  id: string;
  format: string;
  blob_key: string;
  /** The dataset's column names, in order (JSON Lines: the columns its keys made). */
  names: string[];
}

/** The file's rows as typed batches (all columns, in `names` order). */
export async function* readTableBatches(blobs: BlobStore, source: TableSource): AsyncIterable<TableBatch> {
  if (source.format === 'parquet') {
    const dir = await mkdtemp(join(tmpdir(), 'trainyard-parquet-'));
    try {
      const path = join(dir, 'data.parquet');
      await blobs.download(source.blob_key, path);
      const table = await openParquet(path);
      yield* readParquetBatches(table);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return;
  }
  if (source.format === 'jsonl') {
    const stream = await blobs.get(source.blob_key);
    try {
      yield* new JsonlReader(source.names).batches(stream);
    } finally {
      stream.destroy();
    }
    return;
  }
  throw new Error(`readTableBatches: not a typed format: ${source.format}`);
}

/** The requested columns in batches of `batchRows` rows, with the CSV reader's semantics. */
export async function* readTableSourceBatches(blobs: BlobStore, source: TableSource, requests: CsvColumnRequest[], batchRows: number): AsyncIterable<CsvBatch> {
  const indices = requests.map((r) => {
    const index = source.names.indexOf(r.name);
    if (index < 0) throw new TrainyardError('INVALID_INPUT', `the dataset has no column "${r.name}"`, { errors: [{ field: r.name, message: 'column is missing' }] });
    return index;
  });
  let pending: CsvBatch | null = null;
  const fresh = (firstRow: number): CsvBatch => ({
    firstRow,
    length: 0,
    columns: requests.map((r) => (r.as === 'number' ? new Float64Array(batchRows) : new Array<string | null>(batchRows))),
  });
  for await (const table of readTableBatches(blobs, source)) {
    const columns = readRequested(table, indices, requests);
    let from = 0;
    while (from < table.length) {
      pending ??= fresh(table.firstRow + from);
      const take = Math.min(table.length - from, batchRows - pending.length);
      const at = pending.length;
      columns.forEach((column, k) => {
        const into = pending!.columns[k];
        if (into instanceof Float64Array) into.set((column as Float64Array).subarray(from, from + take), at);
        else for (let i = 0; i < take; i++) into[at + i] = (column as (string | null)[])[from + i];
      });
      pending.length += take;
      from += take;
      if (pending.length === batchRows) {
        yield pending;
        pending = null;
      }
    }
  }
  if (pending && pending.length > 0) {
    const length = pending.length;
    pending.columns = pending.columns.map((column) => column.slice(0, length));
    yield pending;
  }
}
