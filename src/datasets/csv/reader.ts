// Reading CSV data back for training, batch inference and previews: selected columns in row
// batches (numbers as Float64Array with NaN for missing, text as string | null), the header, and
// typed rows. Same tokenizer and cell rules as ingest, so what was profiled is what is read.
import { TrainyardError, type FieldError } from '../../errors.ts';
import { CsvParser, cell, cellAt, fieldText, FIELD_INT, type RecordSink } from './parser.ts';
import { isMissingBytes, parseBooleanBytes, parseNumberBytes } from './tokens.ts';
import type { ColumnType } from './profiler.ts';

export interface CsvColumnRequest {
  name: string;
  as: 'number' | 'string';
}

export interface CsvBatch {
  /** 0-based data-row index of the batch's first row. */
  firstRow: number;
  length: number;
  /** Same order as requested: number columns NaN for missing, string columns null for missing. */
  columns: Array<Float64Array | (string | null)[]>;
}

export interface ReadCsvOptions {
  /** The delimiter (a dataset's `delimiter`); undefined sniffs it. */
  delimiter?: string;
}

type Source = AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>;

class StopReading extends Error {}

function missingColumns(names: string[], wanted: string[]): void {
  const have = new Set(names);
  const errors: FieldError[] = wanted.filter((name) => !have.has(name)).map((name) => ({ field: name, message: 'column is missing' }));
  if (errors.length > 0) {
    throw new TrainyardError('INVALID_INPUT', `the CSV has no column${errors.length > 1 ? 's' : ''} ${errors.map((e) => `"${e.field}"`).join(', ')}`, { errors });
  }
}

class BatchSink implements RecordSink {
  private indices: number[] = [];
  private current: CsvBatch | null = null;
  private row = 0;
  readonly ready: CsvBatch[] = [];

  constructor(
    private readonly requests: CsvColumnRequest[],
    private readonly batchRows: number,
  ) {}

  header(names: string[]): void {
    missingColumns(
      names,
      this.requests.map((r) => r.name),
    );
    this.indices = this.requests.map((r) => names.indexOf(r.name));
  }

  private newBatch(): CsvBatch {
    return {
      firstRow: this.row,
      length: 0,
      columns: this.requests.map((r) => (r.as === 'number' ? new Float64Array(this.batchRows) : new Array<string | null>(this.batchRows))),
    };
  }

  records(buf: Buffer, starts: Int32Array, ends: Int32Array, flags: Uint8Array, fields: number, count: number, lines: Int32Array, parsed: Float64Array): void {
    for (let r = 0; r < count; r++) this.record(buf, starts, ends, flags, parsed, r * fields, lines[r]);
  }

  private record(buf: Buffer, starts: Int32Array, ends: Int32Array, flags: Uint8Array, parsed: Float64Array, base: number, line: number): void {
    const batch = (this.current ??= this.newBatch());
    const at = batch.length;
    for (let k = 0; k < this.requests.length; k++) {
      const f = base + this.indices[k];
      if (flags[f] >= FIELD_INT && this.requests[k].as === 'number') {
        (batch.columns[k] as Float64Array)[at] = parsed[f];
        continue;
      }
      cellAt(buf, starts[f], ends[f], flags[f]);
      const { bytes: b, start: s, end: e } = cell;
      const missing = isMissingBytes(b, s, e);
      if (this.requests[k].as === 'number') {
        let value = NaN;
        if (!missing) {
          value = parseNumberBytes(b, s, e);
          if (value !== value) {
            const bool = parseBooleanBytes(b, s, e);
            if (bool < 0) {
              const text = Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('utf8');
              const name = this.requests[k].name;
              throw new TrainyardError('INVALID_INPUT', `column "${name}", row ${this.row + 1} (line ${line}): "${text.slice(0, 100)}" is not a number`, {
                errors: [{ field: name, row: this.row + 1, line, message: `"${text.slice(0, 100)}" is not a number` }],
              });
            }
            value = bool;
          }
        }
        (batch.columns[k] as Float64Array)[at] = value;
      } else {
        (batch.columns[k] as (string | null)[])[at] = missing ? null : Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('utf8');
      }
    }
    batch.length++;
    this.row++;
    if (batch.length === this.batchRows) {
      this.ready.push(batch);
      this.current = null;
    }
  }

  flush(): void {
    const batch = this.current;
    if (batch && batch.length > 0) {
      batch.columns = batch.columns.map((column) => column.slice(0, batch.length));
      this.ready.push(batch);
    }
    this.current = null;
  }
}

/**
 * Reads the requested columns in batches of `batchRows` rows (default 8192). `true`/`false` in a
 * number column read as 1/0. A requested column absent from the header, or a cell in a number
 * column that is not a number, is an INVALID_INPUT error naming the column (and row and line).
 * A header-only file yields no batches.
 */
export async function* readCsvBatches(
  source: Source,
  options: ReadCsvOptions & { columns: CsvColumnRequest[]; batchRows?: number },
): AsyncIterable<CsvBatch> {
  const batchRows = Math.max(1, options.batchRows ?? 8192);
  const sink = new BatchSink(options.columns, batchRows);
  const parser = new CsvParser(sink, { delimiter: options.delimiter, allowHeaderOnly: true });
  for await (const chunk of source) {
    parser.feed(chunk);
    while (sink.ready.length > 0) yield sink.ready.shift() as CsvBatch;
  }
  parser.finish();
  sink.flush();
  while (sink.ready.length > 0) yield sink.ready.shift() as CsvBatch;
}

/** The header (column names) and the delimiter, reading only as far as needed. */
export async function readCsvHeader(source: Source, options: ReadCsvOptions = {}): Promise<{ columns: string[]; delimiter: string }> {
  let columns: string[] | null = null;
  const sink: RecordSink = {
    header(names) {
      columns = names;
      throw new StopReading();
    },
    records() {},
  };
  const parser = new CsvParser(sink, { delimiter: options.delimiter, allowHeaderOnly: true });
  try {
    for await (const chunk of source) parser.feed(chunk);
    parser.finish();
  } catch (error) {
    if (!(error instanceof StopReading)) throw error;
  }
  if (columns === null) throw new TrainyardError('EMPTY_FILE', 'the file is empty', { errors: [{ field: 'file', message: 'is empty' }] });
  return { columns, delimiter: parser.delimiter ?? ',' };
}

export type CellValue = number | boolean | string | null;

/**
 * The first `limit` rows with values typed by `types` (a dataset's column types): numbers for
 * integer/number columns, booleans for boolean columns, text otherwise, null for missing cells.
 */
export async function readCsvRows(
  source: Source,
  options: ReadCsvOptions & { limit: number; types?: ColumnType[] },
): Promise<{ columns: string[]; rows: CellValue[][] }> {
  const rows: CellValue[][] = [];
  let columns: string[] = [];
  const types = options.types;
  const sink: RecordSink = {
    header(names) {
      columns = names;
      if (options.limit <= 0) throw new StopReading();
    },
    records(buf, starts, ends, flags, fields, count) {
      for (let r = 0; r < count && rows.length < options.limit; r++) rows.push(typedRow(buf, starts, ends, flags, r * fields, fields));
      if (rows.length >= options.limit) throw new StopReading();
    },
  };
  function typedRow(buf: Buffer, starts: Int32Array, ends: Int32Array, flags: Uint8Array, base: number, fields: number): CellValue[] {
      const row: CellValue[] = new Array(fields);
      for (let k = 0; k < fields; k++) {
        const f = base + k;
        cellAt(buf, starts[f], ends[f], flags[f]);
        const { bytes: b, start: s, end: e } = cell;
        const type = types?.[k] ?? 'string';
        if (isMissingBytes(b, s, e)) row[k] = null;
        else if (type === 'integer' || type === 'number') row[k] = parseNumberBytes(b, s, e);
        else if (type === 'boolean') row[k] = parseBooleanBytes(b, s, e) === 1;
        else row[k] = fieldText(Buffer.from(b.buffer, b.byteOffset, b.length), s, e, 0);
      }
      return row;
  }
  const parser = new CsvParser(sink, { delimiter: options.delimiter, allowHeaderOnly: true });
  try {
    for await (const chunk of source) parser.feed(chunk);
    parser.finish();
  } catch (error) {
    if (!(error instanceof StopReading)) throw error;
  }
  return { columns, rows };
}
