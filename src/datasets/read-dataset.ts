// Reading a stored dataset's columns in row batches, for training-data preparation and batch
// inference: from the columnar copy when it answers the request exactly as the CSV reader would,
// else from the CSV.
//
// The copy answers when every requested column's stored form fits its request: `as: 'number'`
// needs a column stored as numbers in every group (form `number`); `as: 'string'` needs every
// group's text to be exact (form `text`, or numbers spelled the way JavaScript spells them). Else
// (a mixed column, booleans read as numbers, text read as numbers — where the CSV reader's own
// errors name the row and line) the CSV is read. A copy that turns out truncated or corrupt is
// logged and the read carries on from the CSV after the rows already handed out, which were checked.
import type { Readable } from 'node:stream';
import type { BlobStore } from '../store/blobs/blob-store.ts';
import { readCsvBatches, type CsvBatch, type CsvColumnRequest } from './csv/reader.ts';
import { readColumnarBatches } from './columnar/reader.ts';
import { COLUMNAR_FORMAT, type ColumnarInfo } from './columnar/format.ts';
import type { DatasetRow } from './rows.ts';

export type DatasetSource = Pick<DatasetRow, 'id' | 'blob_key' | 'delimiter' | 'row_count' | 'columnar_json'>;

export interface ReadDatasetOptions {
  columns: CsvColumnRequest[];
  /** Rows per batch (default 8192). */
  batchRows?: number;
  /** Where a copy that could not be used is reported. */
  logger?: { warn(object: object, message: string): void };
}

/** The copy's description, or null (none, or one this code does not read). */
export function columnarInfo(dataset: Pick<DatasetRow, 'columnar_json'>): ColumnarInfo | null {
  if (!dataset.columnar_json) return null;
  try {
    const info = JSON.parse(dataset.columnar_json) as ColumnarInfo;
    return info.format === COLUMNAR_FORMAT && Array.isArray(info.columns) ? info : null;
  } catch {
    return null;
  }
}

/** Whether the copy answers every request exactly as readCsvBatches would. */
export function columnarAnswers(info: ColumnarInfo, requests: CsvColumnRequest[]): boolean {
  const byName = new Map(info.columns.map((c) => [c.name, c]));
  return requests.every((r) => {
    const column = byName.get(r.name);
    if (!column) return false;
    return r.as === 'number' ? column.form === 'number' : column.exact_text;
  });
}

/** Which reader a request would use: 'columnar' or 'csv'. */
export function datasetReadPath(dataset: DatasetSource, requests: CsvColumnRequest[]): 'columnar' | 'csv' {
  const info = columnarInfo(dataset);
  return info && Number(info.row_count) === Number(dataset.row_count) && columnarAnswers(info, requests) ? 'columnar' : 'csv';
}

/**
 * The requested columns of a dataset in batches with readCsvBatches's semantics: same batches
 * (firstRow, length, column order), same values, same errors.
 */
export async function* readDatasetBatches(blobs: BlobStore, dataset: DatasetSource, options: ReadDatasetOptions): AsyncIterable<CsvBatch> {
  const batchRows = Math.max(1, options.batchRows ?? 8192);
  let done = 0;
  const info = columnarInfo(dataset);
  if (info && datasetReadPath(dataset, options.columns) === 'columnar') {
    let source: Readable | null = null;
    try {
      source = await blobs.get(info.key);
      for await (const batch of readColumnarBatches(source, { columns: options.columns, batchRows, expectedRows: Number(dataset.row_count), expectedBytes: Number(info.size_bytes) })) {
        yield batch;
        done = batch.firstRow + batch.length;
      }
      return;
    } catch (error) {
      // Rows handed out so far were checked (whole batches); the rest come from the CSV.
      options.logger?.warn({ err: error, dataset: dataset.id, key: info.key, rows_done: done }, 'columnar copy unusable; reading the CSV');
    } finally {
      source?.destroy();
    }
  }
  const source = await blobs.get(dataset.blob_key);
  try {
    for await (const batch of readCsvBatches(source, { delimiter: dataset.delimiter, columns: options.columns, batchRows })) {
      if (batch.firstRow < done) continue;
      yield batch;
    }
  } finally {
    source.destroy();
  }
}
