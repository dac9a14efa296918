// Writes the columnar copy (format.ts) from typed batches (table/batch.ts: Parquet, JSON Lines), in
// groups of groupRowsFor(columns) rows. Per group, a column whose values are all numbers or missing
// is stored as numbers, marked exact: for a typed source the text of a number is its JavaScript
// spelling, so the group also answers string requests. Any other column is stored as text (numbers
// spelled by String(), booleans as `true`/`false`, missing tokens as missing). Parts go to `emit`
// whole (header, one buffer per group, end marker), as ColumnarWriter's do.
import { Buffer } from 'node:buffer';
import { GROUP_BYTES, GROUP_HEADER_BYTES, KIND_NUMBERS_EXACT, KIND_TEXT, encodeEnd, encodeHeader, groupRowsFor, pad8, sealGroup, type ColumnarColumn } from './format.ts';
import type { ColumnarSummary } from './writer.ts';
import { textOf, type Scalar, type TableBatch } from '../table/batch.ts';

class PendingColumn {
  numbers: Float64Array;
  /** Set once a value in this group is not a number or missing. */
  texts: (string | null)[] | null = null;
  textBytes = 0;
  numberGroups = 0;
  textGroups = 0;

  constructor(
    readonly name: string,
    rows: number,
  ) {
    this.numbers = new Float64Array(rows);
  }

  /** Switches the group to text: the numbers so far are spelled out. */
  toText(rows: number): (string | null)[] {
    const texts = new Array<string | null>(this.numbers.length);
    for (let i = 0; i < rows; i++) {
      const v = this.numbers[i];
      texts[i] = v === v ? String(v) : null;
      if (v === v) this.textBytes += texts[i]!.length;
    }
    this.texts = texts;
    return texts;
  }
}

export class TableColumnarWriter {
  private columns: PendingColumn[] = [];
  private groupRows = 0;
  private length = 0;
  private rows = 0;
  private groups = 0;
  private started = false;

  constructor(
    private readonly emit: (part: Uint8Array) => void,
    private readonly options: { groupRows?: number } = {},
  ) {}

  /** The column names, once, before any batch (a JSON Lines file's keys are known only at its end: see table/ingest.ts). */
  header(names: string[]): void {
    this.started = true;
    this.groupRows = this.options.groupRows ?? groupRowsFor(names.length);
    this.columns = names.map((name) => new PendingColumn(name, this.groupRows));
    this.emit(encodeHeader(names));
  }

  add(batch: TableBatch): void {
    if (!this.started) throw new Error('TableColumnarWriter: header() first');
    let from = 0;
    while (from < batch.length) {
      const take = Math.min(batch.length - from, this.groupRows - this.length);
      this.columns.forEach((col, c) => this.append(col, batch.columns[c], from, take));
      this.length += take;
      from += take;
      if (this.length === this.groupRows || this.columns.some((col) => col.textBytes >= GROUP_BYTES / Math.max(1, this.columns.length))) this.flush();
    }
  }

  private append(col: PendingColumn, column: TableBatch['columns'][number] | undefined, from: number, take: number): void {
    const at = this.length;
    if (column === undefined) {
      if (col.texts) col.texts.fill(null, at, at + take);
      else col.numbers.fill(NaN, at, at + take);
      return;
    }
    if (column.kind === 'numbers' && !col.texts) {
      col.numbers.set(column.values.subarray(from, from + take), at);
      return;
    }
    for (let i = 0; i < take; i++) {
      const v: Scalar = column.values[from + i];
      if (!col.texts) {
        if (v === null) {
          col.numbers[at + i] = NaN;
          continue;
        }
        if (typeof v === 'number') {
          col.numbers[at + i] = v;
          continue;
        }
        col.toText(at + i);
      }
      const text = textOf(v);
      col.texts![at + i] = text;
      if (text !== null) col.textBytes += text.length;
    }
  }

  private flush(): void {
    const rows = this.length;
    if (rows === 0) return;
    const width = this.columns.length;
    const encoded = this.columns.map((col) => {
      if (!col.texts) return null;
      const texts = col.texts;
      const offsets = new Uint32Array(rows + 1);
      const missing = new Uint8Array(rows);
      const parts: Buffer[] = [];
      let bytes = 0;
      for (let i = 0; i < rows; i++) {
        const text = texts[i];
        if (text === null) missing[i] = 1;
        else {
          const part = Buffer.from(text, 'utf8');
          parts.push(part);
          bytes += part.length;
        }
        offsets[i + 1] = bytes;
      }
      return { offsets, missing, bytes: Buffer.concat(parts, bytes) };
    });
    const lengths = encoded.map((e) => (e ? 4 * (rows + 1) + rows + e.bytes.length : 8 * rows));
    const bodyBytes = 8 * width + lengths.reduce((sum, n) => sum + pad8(n), 0);
    const out = Buffer.alloc(GROUP_HEADER_BYTES + bodyBytes);
    let at = GROUP_HEADER_BYTES + 8 * width;
    this.columns.forEach((col, c) => {
      const e = encoded[c];
      out.writeUInt32LE(e ? KIND_TEXT : KIND_NUMBERS_EXACT, GROUP_HEADER_BYTES + 8 * c);
      out.writeUInt32LE(lengths[c], GROUP_HEADER_BYTES + 8 * c + 4);
      if (e) {
        Buffer.from(e.offsets.buffer, e.offsets.byteOffset, e.offsets.byteLength).copy(out, at);
        Buffer.from(e.missing.buffer, e.missing.byteOffset, rows).copy(out, at + 4 * (rows + 1));
        e.bytes.copy(out, at + 5 * rows + 4);
        col.textGroups++;
      } else {
        Buffer.from(col.numbers.buffer, col.numbers.byteOffset, 8 * rows).copy(out, at);
        col.numberGroups++;
      }
      at += pad8(lengths[c]);
      col.texts = null;
      col.textBytes = 0;
    });
    sealGroup(out, rows, bodyBytes);
    this.rows += rows;
    this.groups++;
    this.length = 0;
    this.emit(out);
  }

  finish(): ColumnarSummary {
    this.flush();
    this.emit(encodeEnd(this.groups, this.rows));
    const columns: ColumnarColumn[] = this.columns.map((col) => ({
      name: col.name,
      form: col.textGroups > 0 && col.numberGroups > 0 ? 'mixed' : col.textGroups > 0 ? 'text' : 'number',
      exact_text: true,
    }));
    return { row_count: this.rows, groups: this.groups, columns };
  }
}
