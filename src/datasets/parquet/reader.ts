// Reading Parquet files with hyparquet (pure JavaScript; chosen over DuckDB's native binding after
// measuring both: docs/benchmarks.md, "Parquet ingest"). A Parquet file needs random access (its
// schema and row-group index are in the footer), so it is read from a local file: ingest stages the
// upload to one, and a dataset read downloads the stored object to one.
//
// Column types come from the schema: INT32/INT64 (any integer annotation) → integer; FLOAT, DOUBLE,
// FLOAT16, DECIMAL → number; BOOLEAN → boolean; UTF-8 byte arrays (plain, dictionary-encoded, ENUM,
// UUID) → string; DATE, TIMESTAMP (millis, micros, nanos, INT96) → datetime, read as ISO 8601 text
// (`2026-03-01`, `2026-03-01T12:00:00.000Z`). Nulls are missing values. Nested columns (structs,
// lists, maps), JSON/BSON/VARIANT/geometry, TIME and plain binary columns are refused with a 400
// naming the column.
//
// Memory: the file is read one row group at a time and, within it, one column at a time, each
// converted at once to a compact column (a Float64Array for numbers). A row group is held whole
// while its batches are handed out, so its uncompressed size is bounded by MAX_ROW_GROUP_BYTES.
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, parquetSchema, type AsyncBuffer, type FileMetaData, type SchemaElement } from 'hyparquet';
import { TrainyardError } from '../../errors.ts';
import { pageDecompressors } from './codecs.ts';
import type { ColumnType } from '../csv/profiler.ts';
import type { Scalar, TableBatch, TableColumn, TableField } from '../table/batch.ts';

/** The largest row group (uncompressed, as the file's metadata states it) a read accepts. */
export const MAX_ROW_GROUP_BYTES = 512 * 1024 * 1024;

const PAGE_DECOMPRESSORS = pageDecompressors(MAX_ROW_GROUP_BYTES);

/** Rows per batch handed out. */
const BATCH_ROWS = 65_536;

export interface ParquetTable {
  file: AsyncBuffer;
  metadata: FileMetaData;
  fields: TableField[];
  rows: number;
}

function invalid(detail: string, cause?: unknown): TrainyardError {
  return new TrainyardError('INVALID_PARQUET', `the file is not a readable Parquet file: ${detail}`, { errors: [{ field: 'file', message: detail }], cause });
}

function unsupported(column: string, what: string): TrainyardError {
  return new TrainyardError('UNSUPPORTED_COLUMN', `column "${column}" is ${what}, which Trainyard does not read: flatten it into scalar columns (numbers, booleans, text, dates)`, {
    errors: [{ field: column, message: `${what} is not supported` }],
  });
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** ISO 8601 text for dates and timestamps (hyparquet's default parsers make Date objects). */
const PARSERS = {
  timestampFromMilliseconds: (millis: bigint) => iso(Number(millis)),
  timestampFromMicroseconds: (micros: bigint) => iso(Number(micros / 1000n)),
  timestampFromNanoseconds: (nanos: bigint) => iso(Number(nanos / 1000000n)),
  dateFromDays: (days: number) => iso(days * 86_400_000).slice(0, 10),
};

/** The Trainyard type of a top-level Parquet column; throws UNSUPPORTED_COLUMN. */
export function parquetColumnType(element: SchemaElement, hasChildren: boolean): ColumnType {
  const name = element.name;
  const logical = element.logical_type?.type;
  const converted = element.converted_type;
  if (hasChildren || element.repetition_type === 'REPEATED' || logical === 'LIST' || logical === 'MAP' || converted === 'LIST' || converted === 'MAP' || converted === 'MAP_KEY_VALUE') {
    return (() => {
      throw unsupported(name, 'a nested column (a struct, list or map)');
    })();
  }
  if (logical === 'VARIANT' || logical === 'GEOMETRY' || logical === 'GEOGRAPHY' || converted === 'JSON' || converted === 'BSON' || logical === 'JSON' || logical === 'BSON') {
    throw unsupported(name, `a ${logical ?? converted} column`);
  }
  if (logical === 'TIME' || converted === 'TIME_MILLIS' || converted === 'TIME_MICROS' || converted === 'INTERVAL' || logical === 'INTERVAL') {
    throw unsupported(name, 'a time-of-day or interval column');
  }
  if (converted === 'DATE' || logical === 'DATE' || converted === 'TIMESTAMP_MILLIS' || converted === 'TIMESTAMP_MICROS' || logical === 'TIMESTAMP' || element.type === 'INT96') return 'datetime';
  if (converted === 'DECIMAL' || logical === 'DECIMAL' || logical === 'FLOAT16') return 'number';
  switch (element.type) {
    case 'BOOLEAN':
      return 'boolean';
    case 'INT32':
    case 'INT64':
      return 'integer';
    case 'FLOAT':
    case 'DOUBLE':
      return 'number';
    case 'BYTE_ARRAY':
      return 'string';
    case 'FIXED_LEN_BYTE_ARRAY':
      if (logical === 'UUID') return 'string';
      throw unsupported(name, 'a fixed-length binary column');
    default:
      throw unsupported(name, `a column of Parquet type ${String(element.type)}`);
  }
}

/** Opens a local Parquet file: its footer, schema and column types. Throws INVALID_PARQUET or UNSUPPORTED_COLUMN. */
export async function openParquet(path: string): Promise<ParquetTable> {
  const file = await asyncBufferFromFile(path);
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (error) {
    throw invalid((error as Error).message, error);
  }
  const schema = parquetSchema(metadata);
  if (schema.children.length === 0) throw invalid('the schema has no columns');
  const fields = schema.children.map((child) => ({ name: child.element.name, type: parquetColumnType(child.element, child.children.length > 0) }));
  for (const [index, group] of metadata.row_groups.entries()) {
    if (Number(group.total_byte_size) > MAX_ROW_GROUP_BYTES) {
      throw new TrainyardError('UNSUPPORTED_COLUMN', `row group ${index} is ${Number(group.total_byte_size)} bytes uncompressed, more than the ${MAX_ROW_GROUP_BYTES} bytes Trainyard reads at once: write the file with smaller row groups`, {
        errors: [{ field: 'file', message: `row group ${index} is larger than ${MAX_ROW_GROUP_BYTES} bytes` }],
      });
    }
  }
  return { file, metadata, fields, rows: Number(metadata.num_rows) };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A BYTE_ARRAY value that no annotation calls text: text when it is valid UTF-8 (Hive and Impala
 * write strings so), else the column holds binary data, which is refused.
 */
function textOf(column: string, bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw unsupported(column, 'a binary column (its values are not UTF-8 text)');
  }
}

/** A decoded run of a column chunk's values, starting at `offset` within its row group. */
interface ChunkPiece {
  offset: number;
  data: ArrayLike<unknown>;
}

/**
 * One column of a row group from the pieces hyparquet decoded it in: a chunk of many pages can come
 * in several (it does for a REQUIRED column), each placed at its offset. They must cover the rows
 * exactly, once each.
 */
function toColumn(name: string, type: ColumnType, pieces: readonly ChunkPiece[], rows: number): TableColumn {
  const ordered = [...pieces].sort((a, b) => a.offset - b.offset);
  let covered = 0;
  for (const piece of ordered) {
    if (piece.offset !== covered) throw invalid(`a column chunk's values do not cover its rows (${piece.offset} where ${covered} was expected)`);
    covered += piece.data.length;
  }
  if (covered !== rows) throw invalid(`a column chunk has ${covered} values for ${rows} rows`);
  if (type === 'integer' || type === 'number') {
    const values = new Float64Array(rows);
    for (const { offset, data } of ordered) {
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        values[offset + i] = v === null || v === undefined ? NaN : typeof v === 'bigint' ? Number(v) : (v as number);
      }
    }
    return { kind: 'numbers', values };
  }
  const values = new Array<Scalar>(rows);
  for (const { offset, data } of ordered) {
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v === null || v === undefined) values[offset + i] = null;
      else if (type === 'boolean') values[offset + i] = Boolean(v);
      else if (typeof v === 'string') values[offset + i] = v;
      else if (v instanceof Uint8Array) values[offset + i] = textOf(name, v);
      else if (v instanceof Date) values[offset + i] = v.toISOString();
      else throw invalid(`column of type ${type} holds a ${typeof v}`);
    }
  }
  return { kind: 'values', values };
}

/** The file's rows in batches, all columns (or those at `columns`, in that order). */
export async function* readParquetBatches(table: ParquetTable, columns?: number[]): AsyncIterable<TableBatch> {
  const picked = columns ?? table.fields.map((_, i) => i);
  let start = 0;
  for (const group of table.metadata.row_groups) {
    const rows = Number(group.num_rows);
    if (rows === 0) continue;
    const data: TableColumn[] = [];
    for (const index of picked) {
      const field = table.fields[index];
      const pieces: ChunkPiece[] = [];
      try {
        await parquetRead({
          file: table.file,
          metadata: table.metadata,
          columns: [field.name],
          rowStart: start,
          rowEnd: start + rows,
          parsers: PARSERS,
          // Unannotated BYTE_ARRAY values come as bytes, checked by textOf; UTF8/STRING ones as text.
          utf8: false,
          compressors: PAGE_DECOMPRESSORS,
          onChunk(c) {
            pieces.push({ offset: c.rowStart - start, data: c.columnData });
          },
        });
      } catch (error) {
        throw invalid(`column "${field.name}", rows ${start + 1}–${start + rows}: ${(error as Error).message}`, error);
      }
      if (pieces.length === 0) throw invalid(`column "${field.name}" has no data for rows ${start + 1}–${start + rows}`);
      data.push(toColumn(field.name, field.type as ColumnType, pieces, rows));
    }
    for (let from = 0; from < rows; from += BATCH_ROWS) {
      const length = Math.min(BATCH_ROWS, rows - from);
      yield {
        firstRow: start + from,
        length,
        columns: data.map((c): TableColumn => (c.kind === 'numbers' ? { kind: 'numbers', values: c.values.subarray(from, from + length) } : { kind: 'values', values: c.values.slice(from, from + length) })),
      };
    }
    start += rows;
  }
  if (start !== table.rows) throw invalid(`the row groups hold ${start} rows, the footer says ${table.rows}`);
}
