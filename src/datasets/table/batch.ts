// Typed row batches: what the Parquet and JSON Lines readers produce, and what their ingest
// profiles and copies into the columnar format. A column of a batch is either `numbers` (a
// Float64Array, NaN missing: Parquet integer and float columns) or `values` (one JavaScript scalar
// per row: number, boolean, string or null). Text that is a missing token (empty, NA, N/A, null,
// NaN, any case) is a missing value in every format, as it is in a CSV and in a predict request.
//
// readRequested() turns a batch into the columns a dataset read asks for (CsvBatch columns), with
// the CSV reader's rules: a number request reads numbers, booleans as 1/0 and numeric text; a
// string request reads text, numbers as JavaScript spells them and booleans as `true`/`false`.
import { TrainyardError } from '../../errors.ts';
import { isMissingToken, parseNumberToken } from '../csv/tokens.ts';
import type { CsvColumnRequest } from '../csv/reader.ts';
import type { CellValue } from '../csv/reader.ts';
import type { ColumnType } from '../csv/profiler.ts';

export type Scalar = number | boolean | string | null;

export type TableColumn = { kind: 'numbers'; values: Float64Array } | { kind: 'values'; values: Scalar[] };

export interface TableBatch {
  /** 0-based index of the batch's first row in the file. */
  firstRow: number;
  length: number;
  /** In the order of the reader's column names. */
  columns: TableColumn[];
}

/** A column as a format declares it (Parquet), or null where the values decide (JSON Lines). */
export interface TableField {
  name: string;
  type: ColumnType | null;
}

/** A text value, or null when it is a missing token. */
export const textOrMissing = (value: string): string | null => (isMissingToken(value) ? null : value);

/** The number a cell reads as for a number request; NaN missing; undefined when it is not a number. */
export function numberOf(value: Scalar): number | undefined {
  if (value === null) return NaN;
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (isMissingToken(value)) return NaN;
  return parseNumberToken(value);
}

/** The text a cell reads as for a string request; null missing. */
export function textOf(value: Scalar): string | null {
  if (value === null) return null;
  if (typeof value === 'string') return textOrMissing(value);
  if (typeof value === 'number') return value === value ? String(value) : null;
  return value ? 'true' : 'false';
}

/**
 * The requested columns of a batch (by index into the reader's names), as a CsvBatch's columns. A
 * value that is not a number in a number request is INVALID_INPUT naming the column and row.
 */
export function readRequested(batch: TableBatch, indices: number[], requests: CsvColumnRequest[]): Array<Float64Array | (string | null)[]> {
  return requests.map((request, k) => {
    const column = batch.columns[indices[k]];
    const n = batch.length;
    if (request.as === 'number') {
      if (column.kind === 'numbers') return column.values.slice(0, n);
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const value = numberOf(column.values[i]);
        if (value === undefined) {
          const row = batch.firstRow + i + 1;
          const text = String(column.values[i]).slice(0, 100);
          throw new TrainyardError('INVALID_INPUT', `column "${request.name}", row ${row}: "${text}" is not a number`, {
            errors: [{ field: request.name, row, message: `"${text}" is not a number` }],
          });
        }
        out[i] = value;
      }
      return out;
    }
    const out = new Array<string | null>(n);
    if (column.kind === 'numbers') for (let i = 0; i < n; i++) out[i] = textOf(column.values[i]);
    else for (let i = 0; i < n; i++) out[i] = textOf(column.values[i]);
    return out;
  });
}

/** Row `i` of a batch typed by the dataset's column types (preview). */
export function typedRow(batch: TableBatch, i: number, types: ColumnType[]): CellValue[] {
  return batch.columns.map((column, c) => {
    const value = column.values[i];
    const type = types[c] ?? 'string';
    if (type === 'integer' || type === 'number') {
      const number = numberOf(value as Scalar);
      return number === undefined || number !== number ? null : number;
    }
    if (type === 'boolean') {
      const number = numberOf(value as Scalar);
      return number === undefined || number !== number ? null : number === 1;
    }
    return textOf(value as Scalar);
  });
}
