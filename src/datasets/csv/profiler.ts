// One-pass profiling of a CSV stream: row count, and per column its inferred type, missing count,
// distinct count (exact up to a bound, then a HyperLogLog estimate: see distinct.ts), and min, max,
// mean and sample standard deviation for numeric columns (Welford's online algorithm, applied per
// block of up to 64k cells with Chan et al.'s merge, which is as stable and avoids a division per value).
//
// Type inference over the non-missing cells of a column: all integer literals → `integer`; all
// numbers, some with a point or exponent → `number`; all `true`/`false` (any case) → `boolean`;
// all ISO 8601 dates or timestamps (datetime.ts) → `datetime` (min and max the earliest and latest,
// as ISO text); anything else (including a mix of numbers and booleans) → `string`. A column with no
// values at all is `string`. Once a column has seen text it stops parsing numbers (the fast path for
// text), and once it has seen text that is not a datetime it stops checking for datetimes.
//
// At ingest the same pass writes the columnar copy (columnar/writer.ts). The profiler then walks
// each column of a block once for both: the writer's numbersColumn stores the column's numbers in
// the copy's group and counts them, and the statistics are taken from those stored numbers; a
// column that is not all numbers and missing cells in the block is profiled here on its own and
// handed to the writer's general path. The profile is the same with or without the copy.
import { CsvParser, FIELD_INT, cell, cellAt, type CsvParserOptions, type RecordSink } from './parser.ts';
import { isMissingBytes, numberState, parseBooleanBytes, parseNumberBytes } from './tokens.ts';
import { DistinctCounter, hashBytes, hashOut } from './distinct.ts';
import { TrainyardError } from '../../errors.ts';
import type { CellCounts, ColumnarWriter } from '../columnar/writer.ts';
import { isoOf, parseDateTimeBytes } from '../datetime.ts';

/** `datetime`: ISO 8601 dates and timestamps (see datetime.ts). */
export type ColumnType = 'integer' | 'number' | 'boolean' | 'string' | 'datetime';

export interface ColumnProfile {
  name: string;
  type: ColumnType;
  missing_count: number;
  distinct_count: number;
  /** Whether distinct_count is exact (false: a HyperLogLog estimate). */
  distinct_exact: boolean;
  /** Numeric columns: the smallest and largest value; datetime columns: the earliest and latest, as ISO 8601 UTC text. */
  min: number | string | null;
  max: number | string | null;
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
export const TRUE_KEY = { lo: hashOut.lo, hi: hashOut.hi };
hashBytes(FALSE, 0, 5);
export const FALSE_KEY = { lo: hashOut.lo, hi: hashOut.hi };

/** One column's running profile (also fed by the Parquet and JSON Lines ingest: table/profile.ts). */
export class ColumnState {
  readonly name: string;
  missing = 0;
  integers = 0;
  decimals = 0;
  booleans = 0;
  text = false;
  /** Non-missing text cells, and how many of them are ISO 8601 datetimes (counted while all are). */
  texts = 0;
  dates = 0;
  minTime = Infinity;
  maxTime = -Infinity;
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

  /**
   * Adds a block of numbers: the block's mean and sum of squared deviations (two passes over
   * it), merged into the running ones with Chan et al.'s pairwise update of Welford's algorithm.
   */
  addValues(values: Float64Array, count: number): void {
    let sum = 0;
    let min = this.min;
    let max = this.max;
    for (let j = 0; j < count; j++) {
      const v = values[j];
      sum += v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const mean = sum / count;
    let m2 = 0;
    for (let j = 0; j < count; j++) {
      const d = values[j] - mean;
      m2 += d * d;
    }
    const n = this.n + count;
    const delta = mean - this.mean;
    this.mean += (delta * count) / n;
    this.m2 += m2 + (delta * delta * this.n * count) / n;
    this.n = n;
    this.min = min;
    this.max = max;
    this.distinct.addNumbers(values, count);
  }

  /** Counts a non-missing text cell, checking it for a datetime while every earlier one was. */
  addText(buf: Uint8Array, start: number, end: number): void {
    if (this.dates === this.texts++) {
      const time = parseDateTimeBytes(buf, start, end);
      if (time === time) {
        this.dates++;
        if (time < this.minTime) this.minTime = time;
        if (time > this.maxTime) this.maxTime = time;
      }
    }
    this.distinct.addBytes(buf, start, end);
  }

  type(): ColumnType {
    if (this.text && this.dates === this.texts && this.integers + this.decimals + this.booleans === 0) return 'datetime';
    if (this.text || (this.booleans > 0 && this.integers + this.decimals > 0)) return 'string';
    if (this.booleans > 0) return 'boolean';
    if (this.decimals > 0) return 'number';
    if (this.integers > 0) return 'integer';
    return 'string';
  }

  /** `type`: the column's declared type (a Parquet schema's), instead of the one inferred from the values. */
  profile(type: ColumnType = this.type()): ColumnProfile {
    const numeric = (type === 'integer' || type === 'number') && this.n > 0;
    const dated = type === 'datetime' && this.dates > 0 && this.dates === this.texts;
    return {
      name: this.name,
      type,
      missing_count: this.missing,
      distinct_count: this.distinct.count(),
      distinct_exact: this.distinct.exact,
      min: numeric ? this.min : dated ? isoOf(this.minTime) : null,
      max: numeric ? this.max : dated ? isoOf(this.maxTime) : null,
      mean: numeric ? this.mean : null,
      std: numeric && this.n > 1 ? Math.sqrt(this.m2 / (this.n - 1)) : null,
    };
  }
}

/** Columns a CSV may have unless told otherwise (TRAINYARD_MAX_COLUMNS). */
export const DEFAULT_MAX_COLUMNS = 4096;

/** Checks header names: not more than `maxColumns`, none empty, none repeated. Throws CSV_BAD_HEADER naming each. */
export function checkHeader(names: string[], line: number, maxColumns = DEFAULT_MAX_COLUMNS): void {
  if (names.length > maxColumns) {
    const message = `has ${names.length} columns; the limit is ${maxColumns} (TRAINYARD_MAX_COLUMNS)`;
    throw new TrainyardError('CSV_BAD_HEADER', `the CSV header ${message}`, { errors: [{ field: 'header', line, message }] });
  }
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
  private values = new Float64Array(0);
  private readonly counts: CellCounts = { integers: 0, decimals: 0, missing: 0 };

  /** `copy`: the columnar writer fed in the same walk (ingest). */
  constructor(
    private readonly copy: ColumnarWriter | null = null,
    private readonly maxColumns = DEFAULT_MAX_COLUMNS,
  ) {}

  header(names: string[], line: number): void {
    checkHeader(names, line, this.maxColumns);
    const bound = Math.max(MIN_EXACT_PER_COLUMN, Math.min(MAX_EXACT_PER_COLUMN, Math.floor(EXACT_BUDGET / names.length)));
    const precision = names.length <= 1024 ? 14 : 12;
    this.columns = names.map((name) => new ColumnState(name, bound, precision));
    this.copy?.header(names);
  }

  records(buf: Buffer, starts: Int32Array, ends: Int32Array, flags: Uint8Array, fields: number, count: number, lines: Int32Array, parsed: Float64Array): void {
    // Column by column: one column's state (statistics, distinct table or sketch) stays hot in cache.
    const columns = this.columns;
    if (this.values.length < count) this.values = new Float64Array(count);
    const copy = this.copy;
    if (copy === null || !copy.fits(count)) {
      // No copy, or the block spans two of its groups (once per group): two separate walks.
      for (let c = 0; c < fields; c++) this.column(columns[c], buf, starts, ends, flags, parsed, c, fields, count);
      copy?.records(buf, starts, ends, flags, fields, count, lines, parsed);
      return;
    }
    const counts = this.counts;
    const at = copy.at();
    for (let c = 0; c < fields; c++) {
      const col = columns[c];
      const taken = col.text ? -1 : copy.numbersColumn(c, buf, starts, ends, flags, parsed, c, fields, count, counts);
      if (taken === count) {
        // Every cell was a number or missing: the statistics come from the copy's numbers.
        col.integers += counts.integers;
        col.decimals += counts.decimals;
        col.missing += counts.missing;
        const numbers = copy.numbersOf(c).subarray(at, at + count);
        if (counts.missing === 0) {
          col.addValues(numbers, count);
        } else if (counts.missing < count) {
          // NaN marks exactly the missing cells here (a number never parses to NaN).
          const values = this.values;
          let k = 0;
          for (let j = 0; j < count; j++) {
            const v = numbers[j];
            if (v === v) values[k++] = v;
          }
          col.addValues(values, k);
        }
        continue;
      }
      copy.column(c, buf, starts, ends, flags, parsed, c, fields, count, Math.max(0, taken));
      this.column(col, buf, starts, ends, flags, parsed, c, fields, count);
    }
    copy.advance(count);
  }

  /** Profiles cells `first, first + fields, …` (`count` of them) of one column. */
  private column(col: ColumnState, buf: Buffer, starts: Int32Array, ends: Int32Array, flags: Uint8Array, parsed: Float64Array, first: number, fields: number, count: number): void {
    const values = this.values;
    let k = 0;
    for (let i = first, last = first + count * fields; i < last; i += fields) {
      const flag = flags[i];
      if (flag >= FIELD_INT && !col.text) {
        if (flag === FIELD_INT) col.integers++;
        else col.decimals++;
        values[k++] = parsed[i];
        continue;
      }
      cellAt(buf, starts[i], ends[i], flag);
      const { bytes: b, start: s, end: e } = cell;
      if (!col.text) {
        const value = parseNumberBytes(b, s, e);
        if (value === value) {
          if (numberState.integer) col.integers++;
          else col.decimals++;
          values[k++] = value;
          continue;
        }
        if (isMissingBytes(b, s, e)) {
          col.missing++;
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
      } else if (isMissingBytes(b, s, e)) {
        col.missing++;
        continue;
      }
      col.addText(b, s, e);
    }
    if (k > 0) col.addValues(values, k);
  }

  profiles(): ColumnProfile[] {
    return this.columns.map((col) => col.profile());
  }
}

/**
 * A parser and profile sink together: feed chunks, then `finish()` for the profile. `copy`: the
 * columnar copy's writer, fed in the same walk (ingest); call its finish() after this one's.
 */
export class CsvProfiler {
  private readonly sink: ProfileSink;
  private readonly parser: CsvParser;

  constructor(options: CsvParserOptions & { copy?: ColumnarWriter; maxColumns?: number } = {}) {
    const { copy, maxColumns, ...parserOptions } = options;
    this.sink = new ProfileSink(copy ?? null, maxColumns);
    this.parser = new CsvParser(this.sink, parserOptions);
  }

  feed(chunk: Uint8Array): void {
    this.parser.feed(chunk);
  }

  finish(): CsvProfile {
    this.parser.finish();
    return { delimiter: this.parser.delimiter ?? ',', row_count: this.parser.rows, columns: this.sink.profiles() };
  }
}
