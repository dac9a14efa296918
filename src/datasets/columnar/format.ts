// The columnar copy of a dataset (`datasets/<id>/columns.bin`): the cells of the CSV, already
// tokenized and typed, so that training-data preparation and batch inference read columns at
// memory speed instead of re-parsing text. Written once at ingest by the profiling pass; read as a
// stream, front to back (no random access). All integers are little-endian.
//
//   file    = header group* end
//   header  = "TYCOLS01" (8 bytes) | u32 column count | u32 names length | names (UTF-8 JSON array) | pad to 8
//   group   = u32 GROUP_TAG | u32 rows | u32 body length | u32 CRC-32 of body | body
//   body    = directory: per column u32 kind, u32 payload length (8 × columns bytes)
//             then per column its payload, each padded to a multiple of 8 bytes
//   end     = u32 END_TAG | u32 groups | u32 rows (low 32 bits) | u32 rows (high bits)
//
// Payload by kind:
//   NUMBERS_EXACT / NUMBERS: rows × f64, exactly what readCsvBatches returns for an `as: 'number'`
//     request (NaN for a missing token). In this group every non-missing cell of the column is a
//     number (not a boolean). EXACT: every such cell's text is its JavaScript spelling
//     (String(value): `3`, `-0.25`; not `03`, `1.50`, `1e3`), so the group also answers
//     `as: 'string'` requests exactly (missing → null, else String(value)).
//   TEXT: (rows + 1) × u32 byte offsets | rows × u8 (1 = missing) | UTF-8 bytes: exactly the text
//     readCsvBatches returns for an `as: 'string'` request (quotes removed and `""` unescaped;
//     null for a missing token).
//   NONE: no payload: the group does not store the column (text came after decimal literals,
//     whose spelling the writer does not keep); requests for it read the CSV.
//   The writer marks decimal literals (`1.5`) inexact without checking them, so in practice
//   NUMBERS_EXACT groups hold integers (and numbers the tokenizer did not parse itself).
//
// A group holds up to 65,536 rows and about 16 MiB. The CRC of each body and the end marker's
// counts let a reader detect a corrupt or truncated copy before it hands out a wrong row.

export const MAGIC = Buffer.from('TYCOLS01', 'latin1');
export const GROUP_TAG = 0x50524754; // "TGRP"
export const END_TAG = 0x444e4554; // "TEND"
export const GROUP_HEADER_BYTES = 16;
export const END_BYTES = 16;

export const KIND_NUMBERS_EXACT = 0;
export const KIND_NUMBERS = 1;
export const KIND_TEXT = 2;
export const KIND_NONE = 3;

/** Rows per group at most. */
export const MAX_GROUP_ROWS = 65_536;
/** A group is closed once its payloads reach about this many bytes. */
export const GROUP_BYTES = 16 * 1024 * 1024;
/** Fewest rows a group is sized for (however wide the file). */
export const MIN_GROUP_ROWS = 64;

/** The `format` of a dataset row's columnar_json (the copy's key: datasetColumnarKey, store/blobs/keys.ts). */
export const COLUMNAR_FORMAT = 'trainyard-columnar/1';

/**
 * How the copy stores a column, over all groups: `number` (every group as numbers), `text` (every
 * group as text) or `mixed`; `exact_text`: every group answers `as: 'string'` exactly (text, or
 * numbers spelled as JavaScript spells them).
 */
export interface ColumnarColumn {
  name: string;
  form: 'number' | 'text' | 'mixed';
  exact_text: boolean;
}

/** What a dataset row's `columnar_json` holds. */
export interface ColumnarInfo {
  format: typeof COLUMNAR_FORMAT;
  key: string;
  size_bytes: number;
  row_count: number;
  groups: number;
  columns: ColumnarColumn[];
}

export const pad8 = (n: number): number => (n + 7) & ~7;

/** Rows per group for a file of `columns` columns: the numeric payloads fit in GROUP_BYTES. */
export function groupRowsFor(columns: number): number {
  return Math.max(MIN_GROUP_ROWS, Math.min(MAX_GROUP_ROWS, Math.floor(GROUP_BYTES / (8 * Math.max(1, columns)))));
}

export function encodeHeader(names: string[]): Uint8Array {
  const json = Buffer.from(JSON.stringify(names), 'utf8');
  const out = Buffer.alloc(pad8(16 + json.length));
  MAGIC.copy(out, 0);
  out.writeUInt32LE(names.length, 8);
  out.writeUInt32LE(json.length, 12);
  json.copy(out, 16);
  return out;
}

export function encodeEnd(groups: number, rows: number): Uint8Array {
  const out = Buffer.alloc(END_BYTES);
  out.writeUInt32LE(END_TAG, 0);
  out.writeUInt32LE(groups, 4);
  out.writeUInt32LE(rows % 2 ** 32, 8);
  out.writeUInt32LE(Math.floor(rows / 2 ** 32), 12);
  return out;
}

/** A copy that cannot be trusted (truncated, corrupt, not what the dataset row says). */
export class ColumnarCorruptError extends Error {
  override readonly name = 'ColumnarCorruptError';
}
