// Reads a predict request's JSON body, {"inputs": [{column: value, …}, …]}, straight from its bytes
// into columns, without making an object per row (JSON.parse of a 1,000-row body costs more than
// everything else the request does). It takes the bodies clients send — rows of column → number,
// string, true, false or null — and answers undefined for anything else (nested values, duplicate
// or "__proto__" keys, other top-level keys, invalid JSON…), so that the caller parses such a body
// the ordinary way and answers exactly as before. Values equal JSON.parse's: numbers are the
// correctly rounded doubles, strings are decoded as UTF-8 (escapes through JSON.parse).
//
// Memory is bounded by the body: columns are dense (a cell per row and column), so a body whose rows
// rotate through many distinct keys would need rows × keys cells; once the cells would pass
// CELLS_PER_BODY_BYTE per byte read, the reader hands the body to the general parser (whose memory
// is linear in the body) instead. The row limit and the distinct-key limit are enforced as the rows
// are read (TrainyardError TOO_MANY_ROWS / INVALID_INPUT), not after the whole body is in memory.
import { TrainyardError } from '../errors.ts';

/** What a row holds for a column (JsonRows.kinds). */
export const ABSENT = 0;
export const NUMBER = 1;
export const OTHER = 2;

const SLAB = 32;
/** Dense cells (9 bytes each) allowed per body byte, beyond a floor for small bodies. */
const CELLS_PER_BODY_BYTE = 1;
const MIN_CELLS = 64 * 1024;

export interface JsonRowsLimits {
  /** Rows beyond this answer TOO_MANY_ROWS (read no further). */
  maxRows: number;
  /** Distinct keys beyond this answer INVALID_INPUT (read no further). */
  maxColumns: number;
}

export function tooManyRows(rows: number | string, maxRows: number): TrainyardError {
  return new TrainyardError('TOO_MANY_ROWS', `${rows} rows in one request; the limit is ${maxRows} (TRAINYARD_MAX_PREDICT_ROWS). Use POST /v1/inference-jobs for larger inputs`, {
    errors: [{ field: 'inputs', message: `has ${rows} rows, more than ${maxRows}` }],
  });
}

export function tooManyColumns(maxColumns: number): TrainyardError {
  return new TrainyardError('INVALID_INPUT', `the rows name more than ${maxColumns} distinct columns (TRAINYARD_MAX_COLUMNS)`, {
    errors: [{ field: 'inputs', message: `names more than ${maxColumns} distinct columns` }],
  });
}
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The rows of a predict body, column by column (columns in the order their keys first appear). */
export class JsonRows {
  /** Per column and row: absent (0), a number (1, in `numbers`) or another value (2, in `others`). */
  readonly kinds: Uint8Array[] = [];
  readonly numbers: Float64Array[] = [];
  readonly others: unknown[][] = [];
  readonly keys: string[] = [];
  length = 0;

  /** Row `i` as the object JSON.parse would have made of it. */
  row(i: number): Record<string, unknown> {
    const row: Record<string, unknown> = {};
    this.keys.forEach((key, k) => {
      if (this.kinds[k][i] === NUMBER) row[key] = this.numbers[k][i];
      else if (this.kinds[k][i] === OTHER) row[key] = this.others[k][i];
    });
    return row;
  }

  rows(): Record<string, unknown>[] {
    return Array.from({ length: this.length }, (_, i) => this.row(i));
  }

  column(key: string): number {
    return this.keys.indexOf(key);
  }
}

/** Whether the last string stringEnd crossed had an escape. */
let escaped = false;

/** The end (index of the closing quote) of the string whose opening quote is at `at`; -1 if invalid. */
function stringEnd(bytes: Buffer, at: number): number {
  escaped = false;
  const n = bytes.length;
  for (let end = at + 1; end < n; end++) {
    const c = bytes[end];
    if (c === QUOTE) return end;
    if (c < 0x20) return -1; // a control character
    if (c === BACKSLASH) {
      escaped = true;
      end++;
    }
  }
  return -1;
}

/** The string value whose quotes are at `at` and `end` (just found by stringEnd); undefined if an escape is invalid. */
function stringValue(bytes: Buffer, at: number, end: number): string | undefined {
  if (!escaped) return bytes.toString('utf8', at + 1, end);
  try {
    return JSON.parse(bytes.toString('utf8', at, end + 1)) as string;
  } catch {
    return undefined;
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function matches(bytes: Buffer, at: number, text: string): boolean {
  if (at + text.length > bytes.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

const UNLIMITED: JsonRowsLimits = { maxRows: Number.MAX_SAFE_INTEGER, maxColumns: Number.MAX_SAFE_INTEGER };

/**
 * The rows of `{"inputs": [ {…}, … ]}`; undefined when the body needs the general parser (including
 * when dense columns would take more memory than the body warrants). Throws TrainyardError when the
 * rows pass `limits`.
 */
export function parseJsonRows(bytes: Buffer, limits: JsonRowsLimits = UNLIMITED): JsonRows | undefined {
  const maxCells = Math.max(MIN_CELLS, bytes.length * CELLS_PER_BODY_BYTE);
  const rows = new JsonRows();
  const { kinds, numbers, others, keys } = rows;
  const keyBytes: Buffer[] = [];
  const keyIndex = new Map<string, number>();
  const order: number[] = []; // the previous row's keys, compared with first
  // Columns are views of shared slabs (up to SLAB columns each): one allocation per slab, not per
  // column. A slab is as wide as the columns known to need it (re-laying out after growth) or half
  // the columns so far (new keys), so what is allocated stays within 1.5× what is used.
  let capacity = 0;
  let estimated = false;
  let slabNumbers = new Float64Array(0);
  let slabKinds = new Uint8Array(0);
  let slabWidth = 0;
  let slabUsed = 0;
  let cells = 0; // allocated since the last growth
  /** Adds (or re-lays out) a column; false when that would pass the memory budget. */
  const addColumn = (from?: number): boolean => {
    if (slabUsed === slabWidth) {
      slabWidth = Math.min(SLAB, from === undefined ? Math.max(1, keys.length >> 1) : keys.length - from);
      cells += slabWidth * capacity;
      if (cells > maxCells) return false;
      slabNumbers = new Float64Array(slabWidth * capacity);
      slabKinds = new Uint8Array(slabWidth * capacity);
      slabUsed = 0;
    }
    const columnNumbers = slabNumbers.subarray(slabUsed * capacity, (slabUsed + 1) * capacity);
    const columnKinds = slabKinds.subarray(slabUsed * capacity, (slabUsed + 1) * capacity);
    slabUsed++;
    if (from === undefined) {
      numbers.push(columnNumbers);
      kinds.push(columnKinds);
    } else {
      columnNumbers.set(numbers[from]);
      columnKinds.set(kinds[from]);
      numbers[from] = columnNumbers;
      kinds[from] = columnKinds;
    }
    return true;
  };
  let i = 0;
  let c = 0;
  // Reads stay inside the body (an out-of-bounds read makes V8 slow down every later one): the
  // body must end with "}" (and whitespace), at which every scan below stops at the latest.
  let n = bytes.length;
  while (n > 0 && isSpace(bytes[n - 1])) n--;
  if (n === 0 || bytes[n - 1] !== 0x7d) return undefined;

  while (isSpace(bytes[i])) i++;
  if (bytes[i++] !== 0x7b) return undefined;
  while (isSpace(bytes[i])) i++;
  if (!matches(bytes, i, '"inputs"')) return undefined;
  i += 8;
  while (isSpace(bytes[i])) i++;
  if (bytes[i++] !== 0x3a) return undefined;
  while (isSpace(bytes[i])) i++;
  if (bytes[i++] !== 0x5b) return undefined;
  while (isSpace(bytes[i])) i++;
  if (bytes[i] === 0x5d) i++;
  else {
    for (;;) {
      // One row object.
      const rowStart = i;
      if (bytes[i++] !== 0x7b) return undefined;
      const r = rows.length++;
      if (r === limits.maxRows) throw tooManyRows(`more than ${limits.maxRows}`, limits.maxRows);
      if (r === capacity) {
        // A few rows, then room for as many as their size suggests the body holds; doubling beyond.
        if (r === 0) capacity = Math.min(16, 1 + (n >> 10));
        else if (!estimated) {
          estimated = true;
          capacity = Math.max(2 * r, Math.ceil(((n * r) / rowStart) * 1.05));
        } else capacity *= 2;
        capacity = Math.min(capacity, limits.maxRows);
        slabUsed = slabWidth = cells = 0;
        for (let k = 0; k < keys.length; k++) if (!addColumn(k)) return undefined;
      }
      while (isSpace(bytes[i])) i++;
      if (bytes[i] === 0x7d) i++;
      else {
        for (let position = 0; ; position++) {
          // The key: most often the one at this position in the previous row.
          if (bytes[i] !== QUOTE) return undefined;
          let k = position < order.length ? order[position] : -1;
          if (k >= 0) {
            const known = keyBytes[k];
            const length = known.length;
            let j = 0;
            if (i + length + 2 < n) while (j < length && bytes[i + 1 + j] === known[j]) j++;
            if (j === length && bytes[i + 1 + j] === QUOTE) i += length + 2;
            else k = -1;
          }
          if (k < 0) {
            const end = stringEnd(bytes, i);
            if (end < 0 || escaped) return undefined; // escaped keys: the general parser
            const name = bytes.toString('utf8', i + 1, end);
            i = end + 1;
            const found = keyIndex.get(name);
            if (found === undefined) {
              if (name === '__proto__') return undefined; // the general parser refuses it
              if (keys.length === limits.maxColumns) throw tooManyColumns(limits.maxColumns);
              if (!addColumn()) return undefined;
              k = keys.length;
              keys.push(name);
              others.push([]);
              keyIndex.set(name, k);
              keyBytes.push(Buffer.from(name));
            } else k = found;
            if (position < order.length) order[position] = k;
            else order.push(k);
          }
          if (kinds[k][r] !== ABSENT) return undefined; // a duplicate key: JSON.parse keeps the last
          while (isSpace(bytes[i])) i++;
          if (bytes[i++] !== 0x3a) return undefined;
          while (isSpace(bytes[i])) i++;
          c = bytes[i];
          if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
            // A number, by the JSON grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
            const start = i;
            const negative = c === 0x2d;
            if (negative) c = bytes[++i];
            let mantissa = 0;
            let digits = 0;
            let exponent = 0;
            if (c === 0x30) c = bytes[++i];
            else if (c >= 0x31 && c <= 0x39) {
              do {
                mantissa = mantissa * 10 + (c - 0x30);
                digits++;
                c = bytes[++i];
              } while (c >= 0x30 && c <= 0x39);
            } else return undefined;
            if (c === 0x2e) {
              c = bytes[++i];
              if (!(c >= 0x30 && c <= 0x39)) return undefined;
              do {
                mantissa = mantissa * 10 + (c - 0x30);
                digits++;
                exponent--;
                c = bytes[++i];
              } while (c >= 0x30 && c <= 0x39);
            }
            if (c === 0x65 || c === 0x45) {
              c = bytes[++i];
              const sign = c === 0x2d ? -1 : 1;
              if (c === 0x2b || c === 0x2d) c = bytes[++i];
              if (!(c >= 0x30 && c <= 0x39)) return undefined;
              let e = 0;
              do {
                if (e < 100_000) e = e * 10 + (c - 0x30);
                c = bytes[++i];
              } while (c >= 0x30 && c <= 0x39);
              exponent += sign * e;
            }
            // Up to 15 digits and |exponent| <= 22: one exact operation on exact operands, so the
            // correctly rounded double (Clinger's fast path); otherwise the engine's conversion.
            let value: number;
            if (digits <= 15 && exponent >= -22 && exponent <= 22) {
              value = exponent < 0 ? mantissa / POW10[-exponent] : mantissa * POW10[exponent];
              if (negative) value = -value;
            } else value = Number(bytes.toString('latin1', start, i));
            numbers[k][r] = value;
            kinds[k][r] = NUMBER;
          } else {
            let value: unknown;
            if (c === QUOTE) {
              const end = stringEnd(bytes, i);
              if (end < 0) return undefined;
              value = stringValue(bytes, i, end);
              if (value === undefined) return undefined;
              i = end + 1;
            } else if (c === 0x6e && matches(bytes, i, 'null')) {
              value = null;
              i += 4;
            } else if (c === 0x74 && matches(bytes, i, 'true')) {
              value = true;
              i += 4;
            } else if (c === 0x66 && matches(bytes, i, 'false')) {
              value = false;
              i += 5;
            } else return undefined; // an object, an array, or not JSON
            others[k][r] = value;
            kinds[k][r] = OTHER;
          }
          while (isSpace(bytes[i])) i++;
          c = bytes[i++];
          if (c === 0x7d) break;
          if (c !== 0x2c) return undefined;
          while (isSpace(bytes[i])) i++;
        }
      }
      while (isSpace(bytes[i])) i++;
      c = bytes[i++];
      if (c === 0x5d) break;
      if (c !== 0x2c) return undefined;
      while (isSpace(bytes[i])) i++;
    }
  }
  while (isSpace(bytes[i])) i++;
  return i === n - 1 ? rows : undefined; // at the closing brace checked first
}
