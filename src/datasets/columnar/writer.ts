// Writes the columnar copy (format.ts) from the tokenizer's blocks, next to the profiler in the same
// pass: column by column, like ProfileSink, into per-column group buffers. Plain numbers
// (FIELD_INT / FIELD_DEC) were parsed by the tokenizer already, so a numeric cell costs a copy (a
// FIELD_INT's text is its JavaScript spelling: the tokenizer leaves `007` and `-0` to the general
// path).
//
// At ingest the profiler drives the writer (ProfileSink with a `copy`): for each column of a block
// that fits in the current group it calls numbersColumn, which walks the column's cells once, writes
// the numbers straight into the group's array and returns the counts the profile needs, and the
// profiler takes its statistics from that array (no second walk over the block). Anything else
// (text, booleans, a block that spans two groups) goes through the general path, `records` /
// `column`, which also serves the writer on its own (tests).
//
// A column starts each group as numbers and switches to text at its first cell that is neither a
// number nor missing; the group's earlier cells are then rewritten as text: String(value) for
// cells spelled that way, the saved original bytes for integers spelled differently (`007`).
// Decimal literals (FIELD_DEC) are not checked or kept (a byte-level check per cell cost more than
// the rest of the copy): a group with one is KIND_NUMBERS (answers number requests only), and a
// group where text follows one leaves the column out (KIND_NONE: those requests read the CSV).
//
// The numeric arrays of a group are views into the buffer the group is emitted in (at column c's
// place for a full group of numbers), so a group where every column is numbers is emitted without
// copying its payloads; the next group gets a fresh buffer. Other groups are assembled into a new
// buffer and the working one is kept.
//
// Output goes to `emit` as whole parts (the header, one buffer per group, the end marker), each in
// its own ArrayBuffer, so a worker thread can transfer them without a copy.
import { FIELD_DEC, FIELD_INT, cell, cellAt, type RecordSink } from '../csv/parser.ts';
import { isMissingBytes, numberState, parseNumberBytes } from '../csv/tokens.ts';
import {
  GROUP_BYTES,
  GROUP_HEADER_BYTES,
  KIND_NONE,
  KIND_NUMBERS,
  KIND_NUMBERS_EXACT,
  KIND_TEXT,
  encodeEnd,
  encodeHeader,
  groupRowsFor,
  pad8,
  sealGroup,
  type ColumnarColumn,
} from './format.ts';

/** The copy's shape, as recorded in the dataset row (less the key and size, which the store knows). */
export interface ColumnarSummary {
  row_count: number;
  groups: number;
  columns: ColumnarColumn[];
}

/** What numbersColumn saw, in the profiler's terms (tokens.ts): integer and decimal numbers, missing cells. */
export interface CellCounts {
  integers: number;
  decimals: number;
  missing: number;
}

/** A byte buffer that grows by doubling. */
class Bytes {
  data = Buffer.allocUnsafe(1024);
  length = 0;

  reserve(extra: number): void {
    if (this.length + extra <= this.data.length) return;
    let size = this.data.length * 2;
    while (size < this.length + extra) size *= 2;
    const data = Buffer.allocUnsafe(size);
    this.data.copy(data, 0, 0, this.length);
    this.data = data;
  }

  append(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.reserve(n);
    if (n < 16) {
      const data = this.data;
      let at = this.length;
      for (let i = start; i < end; i++) data[at++] = src[i];
    } else {
      this.data.set(src.subarray(start, end), this.length);
    }
    this.length += n;
  }

  appendAscii(text: string): void {
    this.reserve(text.length);
    const data = this.data;
    let at = this.length;
    for (let i = 0; i < text.length; i++) data[at++] = text.charCodeAt(i);
    this.length = at;
  }
}

/** Whether `buf[start, end)` is exactly `text` (ASCII). */
function spelled(text: string, buf: Uint8Array, start: number, end: number): boolean {
  if (text.length !== end - start) return false;
  for (let i = 0; i < text.length; i++) if (buf[start + i] !== text.charCodeAt(i)) return false;
  return true;
}

class ColumnGroup {
  readonly name: string;
  text = false;
  exact = true;
  /** The group has decimal cells (FIELD_DEC), whose text is not kept. */
  decimals = false;
  /** Text followed decimals in this group: the column is not stored in it (KIND_NONE). */
  lost = false;
  /** The group's numbers: a view into the writer's group buffer (replaced with it). */
  values: Float64Array;
  // Numbers whose text is not String(value), while the column is numeric in this group.
  sideRows = new Int32Array(64);
  sideEnds = new Int32Array(64);
  sideCount = 0;
  readonly side = new Bytes();
  // Text, once the column has switched in this group.
  offsets: Uint32Array;
  missing: Uint8Array;
  readonly bytes = new Bytes();
  // Over all groups.
  numberGroups = 0;
  textGroups = 0;
  lostGroups = 0;
  inexactGroups = 0;

  constructor(name: string, values: Float64Array) {
    this.name = name;
    this.values = values;
    this.offsets = new Uint32Array(0);
    this.missing = new Uint8Array(0);
  }

  keepSide(row: number, buf: Uint8Array, start: number, end: number): void {
    this.exact = false;
    if (this.sideCount === this.sideRows.length) {
      const rows = new Int32Array(this.sideCount * 2);
      const ends = new Int32Array(this.sideCount * 2);
      rows.set(this.sideRows);
      ends.set(this.sideEnds);
      this.sideRows = rows;
      this.sideEnds = ends;
    }
    this.side.append(buf, start, end);
    this.sideRows[this.sideCount] = row;
    this.sideEnds[this.sideCount++] = this.side.length;
  }

  /**
   * Rewrites the group's first `rows` cells (numbers so far) as text: String(value), or the kept
   * spelling. When some were decimals (spelling not kept), the column is left out of this group.
   */
  switchToText(rows: number): void {
    if (this.decimals) {
      this.lost = true;
      return;
    }
    this.text = true;
    if (this.offsets.length < this.values.length + 1) {
      this.offsets = new Uint32Array(this.values.length + 1);
      this.missing = new Uint8Array(this.values.length);
    }
    const bytes = this.bytes;
    const offsets = this.offsets;
    bytes.length = 0;
    offsets[0] = 0;
    let k = 0;
    let sideStart = 0;
    for (let j = 0; j < rows; j++) {
      const v = this.values[j];
      if (v !== v) {
        this.missing[j] = 1;
      } else {
        this.missing[j] = 0;
        if (k < this.sideCount && this.sideRows[k] === j) {
          bytes.append(this.side.data, sideStart, this.sideEnds[k]);
          sideStart = this.sideEnds[k++];
        } else {
          bytes.appendAscii(String(v));
        }
      }
      offsets[j + 1] = bytes.length;
    }
  }

  get kind(): number {
    return this.lost ? KIND_NONE : this.text ? KIND_TEXT : this.exact && !this.decimals ? KIND_NUMBERS_EXACT : KIND_NUMBERS;
  }

  /** Starts the next group. */
  reset(): void {
    const kind = this.kind;
    if (kind === KIND_TEXT) this.textGroups++;
    else if (kind === KIND_NONE) this.lostGroups++;
    else this.numberGroups++;
    if (kind === KIND_NUMBERS || kind === KIND_NONE) this.inexactGroups++;
    this.text = false;
    this.exact = true;
    this.decimals = false;
    this.lost = false;
    this.sideCount = 0;
    this.side.length = 0;
    this.bytes.length = 0;
  }

  payloadBytes(rows: number): number {
    return this.lost ? 0 : this.text ? 4 * (rows + 1) + rows + this.bytes.length : 8 * rows;
  }

  summary(): ColumnarColumn {
    const form = this.lostGroups > 0 || (this.textGroups > 0 && this.numberGroups > 0) ? 'mixed' : this.textGroups > 0 ? 'text' : 'number';
    return { name: this.name, form, exact_text: this.inexactGroups === 0 };
  }
}

export class ColumnarWriter implements RecordSink {
  private columns: ColumnGroup[] = [];
  private groupRows = 0;
  /** The buffer the current group's numbers live in. */
  private buffer = Buffer.alloc(0);
  /** Rows in the current group. */
  private length = 0;
  private rows = 0;
  private groups = 0;
  private finished = false;
  /** Counts `column` has no use for (only the profiler's numbersColumn reads them). */
  private readonly unused: CellCounts = { integers: 0, decimals: 0, missing: 0 };

  /** `groupRows` overrides the rows per group (tests: many small groups). */
  constructor(
    private readonly emit: (part: Uint8Array) => void,
    private readonly options: { groupRows?: number } = {},
  ) {}

  header(names: string[]): void {
    this.groupRows = this.options.groupRows ?? groupRowsFor(names.length);
    this.columns = names.map((name) => new ColumnGroup(name, new Float64Array(0)));
    this.newBuffer();
    this.emit(encodeHeader(names));
  }

  /** Where the payloads start in a group buffer (after its header and directory). */
  private payloadStart(): number {
    return GROUP_HEADER_BYTES + 8 * this.columns.length;
  }

  /** A fresh group buffer (header, directory, a full group's numbers) and the columns' views into it. */
  private newBuffer(): void {
    const start = this.payloadStart();
    const slot = 8 * this.groupRows;
    // Not zero-filled: flushGroup writes every byte it emits.
    const buffer = Buffer.allocUnsafeSlow(start + slot * this.columns.length);
    this.columns.forEach((col, c) => {
      col.values = new Float64Array(buffer.buffer, buffer.byteOffset + start + c * slot, this.groupRows);
    });
    this.buffer = buffer;
  }

  records(buf: Buffer, starts: Int32Array, ends: Int32Array, flags: Uint8Array, fields: number, count: number, _lines: Int32Array, parsed: Float64Array): void {
    let from = 0;
    while (from < count) {
      const take = Math.min(count - from, this.groupRows - this.length);
      for (let c = 0; c < fields; c++) this.column(c, buf, starts, ends, flags, parsed, from * fields + c, fields, take, 0);
      this.advance(take);
      from += take;
    }
  }

  /**
   * Whether a block of `count` rows goes into the current group whole, so that a caller may feed
   * it column by column (numbersColumn, column) and then advance(count).
   */
  fits(count: number): boolean {
    return this.length + count <= this.groupRows;
  }

  /**
   * Appends the cells `first, first + fields, …` (`count` of them) of column `c` to its group while
   * they are numbers or missing, and the column is numbers in this group: the fast path. Returns
   * how many it took (0 when the column is text in this group); `counts` gets, over those, what the
   * profiler counts (integers, decimals, missing). The group's array holds them from row `at()` on
   * (NaN for a missing cell). The caller passes the rest to `column`.
   */
  numbersColumn(c: number, buf: Buffer, starts: Int32Array, ends: Int32Array, flags: Uint8Array, parsed: Float64Array, first: number, fields: number, count: number, counts: CellCounts): number {
    const col = this.columns[c];
    if (col.text || col.lost) {
      counts.integers = 0;
      counts.decimals = 0;
      counts.missing = 0;
      return 0;
    }
    return this.appendNumbers(col, buf, starts, ends, flags, parsed, first, first + count * fields, fields, this.length, counts);
  }

  /**
   * Stores cells `i, i + fields, …` (before `last`) at rows `row, row + 1, …` of the column's numbers
   * while they are numbers or missing; returns how many it took and counts them into `counts`.
   */
  private appendNumbers(col: ColumnGroup, buf: Buffer, starts: Int32Array, ends: Int32Array, flags: Uint8Array, parsed: Float64Array, i: number, last: number, fields: number, row: number, counts: CellCounts): number {
    const values = col.values;
    const start = row;
    let integers = 0;
    let decimals = 0;
    let missing = 0;
    let literals = 0;
    for (; i < last; i += fields, row++) {
      const flag = flags[i];
      if (flag === FIELD_DEC) {
        // Decimals are not checked against String(value) (that costs more than the rest of the
        // copy), so a group with one answers only number requests; see switchToText.
        values[row] = parsed[i];
        literals++;
        continue;
      }
      if (flag === FIELD_INT) {
        // Spelled as String(value): the tokenizer leaves `007` and `-0` unflagged.
        values[row] = parsed[i];
        integers++;
        continue;
      }
      cellAt(buf, starts[i], ends[i], flag);
      const { bytes: b, start: s, end: e } = cell;
      const v = parseNumberBytes(b, s, e);
      if (v === v) {
        if (numberState.integer) integers++;
        else decimals++;
        values[row] = v;
        if (!spelled(String(v), b, s, e)) col.keepSide(row, b, s, e);
        continue;
      }
      if (isMissingBytes(b, s, e)) {
        values[row] = NaN;
        missing++;
        continue;
      }
      break;
    }
    if (literals > 0) col.decimals = true;
    counts.integers = integers;
    counts.decimals = decimals + literals;
    counts.missing = missing;
    return row - start;
  }

  /** Column c's numbers in the current group, from its first row (valid until the next advance). */
  numbersOf(c: number): Float64Array {
    return this.columns[c].values;
  }

  /** Rows already in the current group: where the block being fed starts in it. */
  at(): number {
    return this.length;
  }

  /** The block's `count` rows are in: closes the group when it is full. */
  advance(count: number): void {
    this.length += count;
    if (this.length === this.groupRows || this.textBytes() >= GROUP_BYTES) this.flushGroup();
  }

  private textBytes(): number {
    let total = 0;
    for (const col of this.columns) total += col.text ? col.bytes.length : col.side.length;
    return total;
  }

  /**
   * Cells `first, first + fields, …` (`take` of them) of column c, appended to its group from the
   * block's row `skip` on (cells before it were taken by numbersColumn; `first` is the block's first).
   */
  column(c: number, buf: Buffer, starts: Int32Array, ends: Int32Array, flags: Uint8Array, parsed: Float64Array, first: number, fields: number, take: number, skip: number): void {
    const col = this.columns[c];
    let row = this.length + skip;
    let i = first + skip * fields;
    const last = first + take * fields;
    if (!col.text && !col.lost) {
      const taken = this.appendNumbers(col, buf, starts, ends, flags, parsed, i, last, fields, row, this.unused);
      i += taken * fields;
      row += taken;
      if (i >= last) return;
      col.switchToText(row);
    }
    if (col.lost) return;
    const offsets = col.offsets;
    const missing = col.missing;
    const bytes = col.bytes;
    for (; i < last; i += fields, row++) {
      const flag = flags[i];
      cellAt(buf, starts[i], ends[i], flag);
      const { bytes: b, start: s, end: e } = cell;
      if (flag !== FIELD_INT && flag !== FIELD_DEC && isMissingBytes(b, s, e)) {
        missing[row] = 1;
      } else {
        missing[row] = 0;
        bytes.append(b, s, e);
      }
      offsets[row + 1] = bytes.length;
    }
  }

  private flushGroup(): void {
    const rows = this.length;
    if (rows === 0) return;
    const columns = this.columns;
    const start = this.payloadStart();
    let out: Buffer;
    let bodyBytes: number;
    if (columns.every((col) => !col.text && !col.lost)) {
      // Every column is numbers: the payloads are already in place (a short group's are moved down).
      out = this.buffer;
      bodyBytes = start - GROUP_HEADER_BYTES + 8 * rows * columns.length;
      if (rows < this.groupRows) {
        for (let c = 1; c < columns.length; c++) out.copyWithin(start + 8 * rows * c, start + 8 * this.groupRows * c, start + 8 * this.groupRows * c + 8 * rows);
      }
      out = out.subarray(0, GROUP_HEADER_BYTES + bodyBytes);
      columns.forEach((col, c) => {
        out.writeUInt32LE(col.kind, GROUP_HEADER_BYTES + 8 * c);
        out.writeUInt32LE(8 * rows, GROUP_HEADER_BYTES + 8 * c + 4);
        col.reset();
      });
      // The emitted buffer is the consumer's now (a worker transfers it): the next group gets a
      // fresh one (its pages are touched only as rows arrive).
      this.newBuffer();
    } else {
      bodyBytes = start - GROUP_HEADER_BYTES;
      for (const col of columns) bodyBytes += pad8(col.payloadBytes(rows));
      // Not zero-filled: every byte is written below (payloads, then their padding).
      out = Buffer.allocUnsafeSlow(GROUP_HEADER_BYTES + bodyBytes);
      let at = start;
      columns.forEach((col, c) => {
        const length = col.payloadBytes(rows);
        const kind = col.kind;
        out.writeUInt32LE(kind, GROUP_HEADER_BYTES + 8 * c);
        out.writeUInt32LE(length, GROUP_HEADER_BYTES + 8 * c + 4);
        if (kind === KIND_TEXT) {
          new Uint32Array(out.buffer, out.byteOffset + at, rows + 1).set(col.offsets.subarray(0, rows + 1));
          out.set(col.missing.subarray(0, rows), at + 4 * (rows + 1));
          out.set(col.bytes.data.subarray(0, col.bytes.length), at + 5 * rows + 4);
        } else if (kind !== KIND_NONE) {
          out.set(new Uint8Array(col.values.buffer, col.values.byteOffset, 8 * rows), at);
        }
        out.fill(0, at + length, at + pad8(length));
        at += pad8(length);
        col.reset();
      });
    }
    sealGroup(out, rows, bodyBytes);
    this.rows += rows;
    this.groups++;
    this.length = 0;
    this.emit(out);
  }

  /** Writes the last group and the end marker; returns the copy's summary. */
  finish(): ColumnarSummary {
    if (!this.finished) {
      this.finished = true;
      this.flushGroup();
      this.buffer = Buffer.alloc(0);
      this.emit(encodeEnd(this.groups, this.rows));
    }
    return { row_count: this.rows, groups: this.groups, columns: this.columns.map((col) => col.summary()) };
  }
}
