// One-pass profiling of a CSV stream: row count, and per column its inferred type, missing count,
// distinct count (exact up to a bound, then a HyperLogLog estimate: see distinct.ts), and min, max,
// mean and sample standard deviation (Welford's online algorithm) for numeric columns.
//
// Type inference over the non-missing cells of a column: all integer literals → `integer`; all
// numbers, some with a point or exponent → `number`; all `true`/`false` (any case) → `boolean`;
// anything else (including a mix of numbers and booleans) → `string`. A column with no values at
// all is `string`. Once a column has seen text it stops parsing numbers (the fast path for text).
import { CsvParser, FIELD_RAW, unescapeField, type CsvParserOptions, type RecordSink } from './parser.ts';
import { isMissingBytes, numberState, parseBooleanBytes, parseNumberBytes } from './tokens.ts';
import { DistinctCounter, hashBytes, hashOut } from './distinct.ts';
import { TrainyardError } from '../../errors.ts';

export type ColumnType = 'integer' | 'number' | 'boolean' | 'string';

export interface ColumnProfile {
  name: string;
  type: ColumnType;
  missing_count: number;
  distinct_count: number;
  /** Whether distinct_count is exact (false: a HyperLogLog estimate). */
  distinct_exact: boolean;
  min: number | null;
  max: number | null;
  mean: number | null;
  std: number | null;
}

export interface CsvProfile {
  delimiter: string;
  row_count: number;
  columns: ColumnProfile[];
}

/** Keys of all exact distinct tables together stay under this many entries (16 bytes each at most). */
const EXACT_BUDGET = 1 << 20;
const MAX_EXACT_PER_COLUMN = 16_384;
const MIN_EXACT_PER_COLUMN = 256;

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
hashBytes(TRUE, 0, 4);
const TRUE_KEY = { lo: hashOut.lo, hi: hashOut.hi };
hashBytes(FALSE, 0, 5);
const FALSE_KEY = { lo: hashOut.lo, hi: hashOut.hi };

class ColumnState {
  readonly name: string;
  missing = 0;
  integers = 0;
  decimals = 0;
  booleans = 0;
  text = false;
  n = 0;
  mean = 0;
  m2 = 0;
  min = Infinity;
  max = -Infinity;
  readonly distinct: DistinctCounter;

  constructor(name: string, bound: number, precision: number) {
    this.name = name;
    this.distinct = new DistinctCounter(bound, precision);
  }

  type(): ColumnType {
    if (this.text || (this.booleans > 0 && this.integers + this.decimals > 0)) return 'string';
    if (this.booleans > 0) return 'boolean';
    if (this.decimals > 0) return 'number';
    if (this.integers > 0) return 'integer';
    return 'string';
  }

  profile(): ColumnProfile {
    const type = this.type();
    const numeric = type === 'integer' || type === 'number';
    return {
      name: this.name,
      type,
      missing_count: this.missing,
      distinct_count: this.distinct.count(),
      distinct_exact: this.distinct.exact,
      min: numeric ? this.min : null,
      max: numeric ? this.max : null,
      mean: numeric ? this.mean : null,
      std: numeric && this.n > 1 ? Math.sqrt(this.m2 / (this.n - 1)) : null,
    };
  }
}

/** Checks header names: none empty, none repeated. Throws CSV_BAD_HEADER naming each. */
export function checkHeader(names: string[], line: number): void {
  const errors: { field: string; line: number; message: string }[] = [];
  const seen = new Map<string, number>();
  names.forEach((name, index) => {
    if (name.trim() === '') errors.push({ field: `column ${index + 1}`, line, message: 'column name is empty' });
    else if (seen.has(name)) errors.push({ field: name, line, message: `duplicate column name (also column ${(seen.get(name) ?? 0) + 1})` });
    else seen.set(name, index);
  });
  if (errors.length > 0) {
    throw new TrainyardError('CSV_BAD_HEADER', `the CSV header is invalid: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`, { errors });
  }
}

export class ProfileSink implements RecordSink {
  private columns: ColumnState[] = [];

  header(names: string[], line: number): void {
    checkHeader(names, line);
    const bound = Math.max(MIN_EXACT_PER_COLUMN, Math.min(MAX_EXACT_PER_COLUMN, Math.floor(EXACT_BUDGET / names.length)));
    const precision = names.length <= 1024 ? 14 : 12;
    this.columns = names.map((name) => new ColumnState(name, bound, precision));
  }

  record(buf: Buffer, starts: Int32Array, ends: Int32Array, flags: Uint8Array, count: number): void {
    const columns = this.columns;
    for (let c = 0; c < count; c++) {
      const col = columns[c];
      let b: Uint8Array = buf;
      let s = starts[c];
      let e = ends[c];
      if (flags[c] === FIELD_RAW) {
        b = unescapeField(buf, s, e);
        s = 0;
        e = b.length;
      }
      if (isMissingBytes(b, s, e)) {
        col.missing++;
        continue;
      }
      if (!col.text) {
        const value = parseNumberBytes(b, s, e);
        if (value === value) {
          if (numberState.integer) col.integers++;
          else col.decimals++;
          const n = ++col.n;
          const delta = value - col.mean;
          col.mean += delta / n;
          col.m2 += delta * (value - col.mean);
          if (value < col.min) col.min = value;
          if (value > col.max) col.max = value;
          col.distinct.addNumber(value);
          continue;
        }
        const bool = parseBooleanBytes(b, s, e);
        if (bool >= 0) {
          col.booleans++;
          const key = bool === 1 ? TRUE_KEY : FALSE_KEY;
          col.distinct.add(key.lo, key.hi);
          continue;
        }
        col.text = true;
      }
      col.distinct.addBytes(b, s, e);
    }
  }

  profiles(): ColumnProfile[] {
    return this.columns.map((col) => col.profile());
  }
}

/** A parser and profile sink together: feed chunks, then `finish()` for the profile. */
export class CsvProfiler {
  private readonly sink = new ProfileSink();
  private readonly parser: CsvParser;

  constructor(options: CsvParserOptions = {}) {
    this.parser = new CsvParser(this.sink, options);
  }

  feed(chunk: Uint8Array): void {
    this.parser.feed(chunk);
  }

  finish(): CsvProfile {
    this.parser.finish();
    return { delimiter: this.parser.delimiter ?? ',', row_count: this.parser.rows, columns: this.sink.profiles() };
  }
}
