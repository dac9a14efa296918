// A streaming, byte-level CSV tokenizer. Chunks go in as they arrive (any split: inside a quoted
// field, between CR and LF, inside a multi-byte UTF-8 character); complete records come out as field
// offsets into a buffer, handed to a sink. No string is created for a cell unless the sink asks.
//
// What it accepts: an optional UTF-8 BOM; LF, CRLF or CR line ends; RFC 4180 quoting (a quoted field
// may hold delimiters, `""` and line breaks); blank lines are skipped. A delimiter is given or sniffed
// from the first 64 KiB among `,` `;` TAB `|`. It rejects, with the line: NUL bytes (BINARY_FILE),
// invalid UTF-8 (NOT_UTF8), rows whose field count differs from the header's (CSV_RAGGED_ROW),
// a quote never closed (CSV_UNTERMINATED_QUOTE), an empty file (EMPTY_FILE) and, unless allowed,
// a header without rows (CSV_HEADER_ONLY).
//
// Memory: a record is parsed only once all of it has arrived; the bytes of an incomplete record
// are carried to the next chunk. Reparsing waits until the carried bytes have doubled, so a long
// record costs linear time, and a record longer than `maxRecordBytes` is an error, so memory stays
// bounded whatever the input.
import { isUtf8 } from 'node:buffer';
import { TrainyardError } from '../../errors.ts';
import { sniffDelimiter } from './sniff.ts';

/** The field was quoted; its range is the text between the quotes. */
export const FIELD_QUOTED = 1;
/** The field's range is raw text with quotes (`""` escapes or text after a closing quote); see unescapeField. */
export const FIELD_RAW = 2;
/**
 * An unquoted integer literal (-?digits, ≤ 15 digits) whose value is in `values`, spelled as
 * JavaScript spells it: no leading zero (`007`) and not `-0`; those are left unflagged.
 */
export const FIELD_INT = 4;
/** An unquoted decimal literal (-?digits.digits, ≤ 15 digits) whose value is in `values`. */
export const FIELD_DEC = 8;

/** Exact powers of ten: one division by one of them is correctly rounded (equals Number(text)). */
const POW10 = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

export interface RecordSink {
  /** The header's names, decoded. Throw to reject the header. */
  header(names: string[], line: number): void;
  /**
   * A block of `count` data records, each of `fields` fields: field f of record r is
   * `buf[starts[i], ends[i])` with `flags[i]`, where i = r * fields + f; `lines[r]` is the 1-based
   * file line where record r starts. Records come in file order, blocks of up to ~64k fields, so
   * a sink may work column by column. The arrays and `buf` are reused after the call returns.
   * Plain unquoted numbers are parsed while tokenizing: flags FIELD_INT / FIELD_DEC, value in
   * `values[i]` (equal to Number(text)); other numbers (and integers with a leading zero) are left
   * to parseNumberBytes.
   */
  records(buf: Buffer, starts: Int32Array, ends: Int32Array, flags: Uint8Array, fields: number, count: number, lines: Int32Array, values: Float64Array): void;
}

export interface CsvParserOptions {
  /** A single-character delimiter; undefined sniffs it from the start of the file. */
  delimiter?: string;
  /** Largest record (bytes) accepted; default 32 MiB. */
  maxRecordBytes?: number;
  /** Whether a header with no data rows is accepted (default false: CSV_HEADER_ONLY). */
  allowHeaderOnly?: boolean;
}

const QUOTE = 34;
const LF = 10;
const CR = 13;
const SNIFF_BYTES = 64 * 1024;
const DEFAULT_MAX_RECORD = 32 * 1024 * 1024;

/** The delimiters that sniffing chooses among, and their names in `?delimiter=`. */
export const DELIMITER_NAMES: Record<string, string> = { comma: ',', semicolon: ';', tab: '\t', pipe: '|' };

/** Validates a user-given delimiter (a character or a name) and returns the character. */
export function normaliseDelimiter(value: string, field = 'querystring.delimiter'): string {
  const named = DELIMITER_NAMES[value.toLowerCase()];
  if (named) return named;
  if (value.length === 1) {
    const code = value.charCodeAt(0);
    const ok = code === 9 || (code > 32 && code < 127 && code !== QUOTE && !/[A-Za-z0-9]/.test(value));
    if (ok) return value;
  }
  throw new TrainyardError('VALIDATION_FAILED', `delimiter "${value}" is not supported; use one ASCII punctuation character, a tab, or comma|semicolon|tab|pipe`, {
    errors: [{ field, message: 'must be one ASCII punctuation character or tab (or comma, semicolon, tab, pipe)' }],
  });
}

export class CsvParser {
  private delimiterByte: number;
  private readonly sink: RecordSink;
  private readonly maxRecordBytes: number;
  private readonly allowHeaderOnly: boolean;
  private readonly stop = new Uint8Array(256);

  /** Bytes fed and not yet parsed (an incomplete record, or less than waitFor), at work[0, pendingBytes). */
  private work: Buffer = Buffer.alloc(0);
  private pendingBytes = 0;
  private waitFor = 0;
  private started = false;
  private finished = false;
  private utf8Carry: Buffer | null = null;

  private starts = new Int32Array(64);
  private ends = new Int32Array(64);
  private flags = new Uint8Array(64);
  private values = new Float64Array(64);
  private lines = new Int32Array(1);
  private fieldCount = -1;
  /** Records in the current block, and the block's capacity. */
  private blockCount = 0;
  private blockCapacity = 1;

  /** 1-based line where the next unparsed record starts. */
  private line = 1;
  /** Line where the quoted field of the carried (incomplete) record opened, or 0. */
  private incompleteQuoteLine = 0;

  /** Data rows handed to the sink so far. */
  rows = 0;
  /** Bytes fed so far. */
  bytes = 0;
  /** The header, once parsed. */
  columns: string[] | null = null;

  constructor(sink: RecordSink, options: CsvParserOptions = {}) {
    this.sink = sink;
    this.maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD;
    this.allowHeaderOnly = options.allowHeaderOnly ?? false;
    this.delimiterByte = options.delimiter === undefined ? -1 : normaliseDelimiter(options.delimiter, 'delimiter').charCodeAt(0);
  }

  /** The delimiter in use (sniffed once enough of the file has arrived). */
  get delimiter(): string | undefined {
    return this.delimiterByte < 0 ? undefined : String.fromCharCode(this.delimiterByte);
  }

  feed(input: Uint8Array): void {
    if (this.finished) throw new Error('CsvParser.feed after finish');
    if (input.length === 0) return;
    const chunk = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.length);
    this.validate(chunk);
    this.bytes += chunk.length;
    this.keep(chunk);
    if (!this.started) {
      if (this.pendingBytes < SNIFF_BYTES) return;
      this.start();
    }
    if (this.pendingBytes < this.waitFor) return;
    this.drain(false);
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.utf8Carry) this.failUtf8(this.utf8Carry);
    if (!this.started) this.start();
    if (this.pendingBytes > 0) this.drain(true);
    if (this.columns === null) {
      throw new TrainyardError('EMPTY_FILE', 'the file is empty: it has no header and no rows', { errors: [{ field: 'file', message: 'is empty' }] });
    }
    if (this.rows === 0 && !this.allowHeaderOnly) {
      throw new TrainyardError('CSV_HEADER_ONLY', 'the CSV has a header but no data rows', {
        errors: [{ field: 'file', line: this.line, message: 'has a header but no data rows' }],
      });
    }
  }

  // ---- validation: NUL bytes and UTF-8, per chunk, with sequences split across chunks carried ----

  private validate(chunk: Buffer): void {
    const nul = chunk.indexOf(0);
    if (nul !== -1) {
      throw new TrainyardError('BINARY_FILE', `the file contains a NUL byte on line ${this.lineOf(chunk, nul)}: it is binary, not CSV text`, {
        errors: [{ field: 'file', line: this.lineOf(chunk, nul), message: 'contains a NUL byte (binary data)' }],
      });
    }
    let bytes = chunk;
    if (this.utf8Carry) {
      bytes = Buffer.concat([this.utf8Carry, chunk]);
      this.utf8Carry = null;
    }
    // Hold back an incomplete multi-byte sequence at the end for the next chunk.
    let cut = bytes.length;
    let k = bytes.length - 1;
    while (k >= 0 && k > bytes.length - 4 && (bytes[k] & 0xc0) === 0x80) k--;
    if (k >= 0 && bytes[k] >= 0xc0) {
      const need = bytes[k] >= 0xf0 ? 4 : bytes[k] >= 0xe0 ? 3 : 2;
      if (k + need > bytes.length) cut = k;
    }
    if (cut < bytes.length) this.utf8Carry = Buffer.from(bytes.subarray(cut));
    if (!isUtf8(bytes.subarray(0, cut))) this.failUtf8(bytes);
  }

  private failUtf8(bytes: Buffer): never {
    const at = firstInvalidUtf8(bytes);
    // `bytes` starts `carried` bytes before the current chunk; those bytes are still pending too.
    // The carried bytes are also the last pending ones; they hold no line breaks.
    const line = this.lineOf(bytes, Math.max(0, at));
    throw new TrainyardError('NOT_UTF8', `the file is not valid UTF-8 (line ${line}); save it as UTF-8 and upload it again`, {
      errors: [{ field: 'file', line, message: 'is not valid UTF-8' }],
    });
  }

  /** The 1-based line of byte `at` of `chunk`, which is not yet pending. */
  private lineOf(chunk: Buffer, at: number): number {
    return this.line + countLineBreaks(this.work, 0, this.pendingBytes) + countLineBreaks(chunk, 0, at);
  }

  /**
   * Appends `chunk` to the pending bytes. They are copied into one reused buffer, so the caller may
   * reuse `chunk` at once, and a steady upload allocates nothing here: a fresh buffer per chunk
   * was off-heap garbage that V8 answered with full GCs.
   */
  private keep(chunk: Buffer): void {
    const need = this.pendingBytes + chunk.length;
    if (need > this.work.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(need, 2 * this.work.length, SNIFF_BYTES));
      this.work.copy(grown, 0, 0, this.pendingBytes);
      this.work = grown;
    }
    chunk.copy(this.work, this.pendingBytes);
    this.pendingBytes = need;
  }

  // ---- start: BOM and delimiter sniffing on the first 64 KiB ----

  private start(): void {
    this.started = true;
    const work = this.work;
    if (this.pendingBytes >= 3 && work[0] === 0xef && work[1] === 0xbb && work[2] === 0xbf) {
      work.copyWithin(0, 3, this.pendingBytes);
      this.pendingBytes -= 3;
    }
    const head = work.subarray(0, this.pendingBytes);
    if (this.delimiterByte < 0) this.delimiterByte = sniffDelimiter(head, this.pendingBytes < SNIFF_BYTES || this.finished).charCodeAt(0);
    this.stop[this.delimiterByte] = 1;
    this.stop[LF] = 1;
    this.stop[CR] = 1;
  }

  private drain(final: boolean): void {
    const buf = this.work.subarray(0, this.pendingBytes);
    const consumed = this.parse(buf, final);
    const rest = buf.length - consumed;
    if (rest > 0) {
      if (rest > this.maxRecordBytes) this.failLongRecord();
      this.work.copyWithin(0, consumed, buf.length);
      this.waitFor = rest * 2;
    } else {
      this.waitFor = 0;
    }
    this.pendingBytes = rest;
  }

  private failLongRecord(): never {
    const mib = Math.round(this.maxRecordBytes / 1024 / 1024);
    if (this.incompleteQuoteLine > 0) {
      throw new TrainyardError('CSV_UNTERMINATED_QUOTE', `the quoted field opened on line ${this.incompleteQuoteLine} is not closed within ${mib} MiB`, {
        errors: [{ field: 'file', line: this.incompleteQuoteLine, message: `quoted field is not closed within ${mib} MiB` }],
      });
    }
    throw new TrainyardError('VALIDATION_FAILED', `the record on line ${this.line} is longer than ${mib} MiB`, {
      errors: [{ field: 'file', line: this.line, message: `record is longer than ${mib} MiB` }],
    });
  }

  private growFields(): void {
    const size = this.starts.length * 2;
    const starts = new Int32Array(size);
    const ends = new Int32Array(size);
    const flags = new Uint8Array(size);
    const values = new Float64Array(size);
    starts.set(this.starts);
    ends.set(this.ends);
    flags.set(this.flags);
    values.set(this.values);
    this.starts = starts;
    this.ends = ends;
    this.flags = flags;
    this.values = values;
  }

  /** Parses the complete records of `buf`; returns the offset where the first incomplete one starts. */
  private parse(buf: Buffer, final: boolean): number {
    const n = buf.length;
    const d = this.delimiterByte;
    const stop = this.stop;
    let pos = 0;
    this.incompleteQuoteLine = 0;
    let starts = this.starts;
    let ends = this.ends;
    let flags = this.flags;
    let values = this.values;
    records: while (pos < n) {
      const line = this.line;
      let breaks = 0; // line breaks inside quoted fields of this record
      const base = this.fieldCount < 0 ? 0 : this.blockCount * this.fieldCount;
      let nf = base;
      let i = pos;
      let next = 0;
      for (;;) {
        if (nf === starts.length) {
          this.growFields();
          starts = this.starts;
          ends = this.ends;
          flags = this.flags;
          values = this.values;
        }
        let c = i < n ? buf[i] : -1;
        if (c === QUOTE) {
          const open = i;
          const openLine = line + breaks;
          let j = i + 1;
          let raw = false;
          for (;;) {
            while (j < n) {
              const b = buf[j];
              if (b === QUOTE) break;
              if (b === LF) breaks++;
              j++;
            }
            if (j >= n) {
              if (final) this.failUnterminated(openLine);
              this.incompleteQuoteLine = openLine;
              break records;
            }
            if (j + 1 < n && buf[j + 1] === QUOTE) {
              raw = true;
              j += 2;
              continue;
            }
            if (j + 1 >= n && !final) {
              this.incompleteQuoteLine = openLine;
              break records;
            }
            break;
          }
          // j is the closing quote
          let k = j + 1;
          if (k < n && stop[buf[k]] === 0) {
            // Text after the closing quote (`"a"b`): keep it, quote-aware, up to the next delimiter.
            raw = true;
            let inQuote = false;
            while (k < n) {
              const b = buf[k];
              if (b === QUOTE) inQuote = !inQuote;
              else if (!inQuote && stop[b] === 1) break;
              else if (b === LF) breaks++;
              k++;
            }
            if (k >= n && (inQuote || !final)) {
              if (final) this.failUnterminated(openLine);
              this.incompleteQuoteLine = inQuote ? openLine : 0;
              break records;
            }
          }
          if (raw) {
            starts[nf] = open;
            ends[nf] = k;
            flags[nf] = FIELD_RAW;
          } else {
            starts[nf] = open + 1;
            ends[nf] = j;
            flags[nf] = FIELD_QUOTED;
          }
          nf++;
          i = k;
        } else {
          // Scan to the delimiter, parsing -?digits(.digits)? on the way (one pass per digit).
          let j = i;
          let mantissa = 0;
          let simple = true;
          let dot = -1;
          if (j < n && buf[j] === 45 && stop[45] === 0) j++; // a minus sign (unless `-` is the delimiter)
          const digitsFrom = j;
          while (j < n) {
            const b = buf[j];
            const digit = b - 48;
            if (digit >= 0 && digit <= 9) {
              mantissa = mantissa * 10 + digit; // a digit is never a stop byte
            } else {
              if (stop[b] !== 0) break;
              if (b === 46 && dot < 0) dot = j;
              else simple = false;
            }
            j++;
          }
          starts[nf] = i;
          ends[nf] = j;
          const digits = j - digitsFrom - (dot < 0 ? 0 : 1);
          // An integer with a leading zero (`007`, `-0`) stays unflagged, so FIELD_INT's text is String(value).
          if (simple && digits > 0 && digits <= 15 && (dot >= 0 || buf[digitsFrom] !== 48 || (digits === 1 && digitsFrom === i))) {
            const value = dot < 0 ? mantissa : mantissa / POW10[j - dot - 1];
            values[nf] = digitsFrom > i ? -value : value;
            flags[nf] = dot < 0 ? FIELD_INT : FIELD_DEC;
          } else {
            flags[nf] = 0;
          }
          nf++;
          i = j;
        }
        // i is at a delimiter, a line break or the end of the buffer
        if (i >= n) {
          if (!final) break records;
          next = n;
          break;
        }
        c = buf[i];
        if (c === d) {
          i++;
          continue;
        }
        if (c === LF) {
          next = i + 1;
        } else {
          // CR: CRLF or a lone CR
          if (i + 1 < n) next = buf[i + 1] === LF ? i + 2 : i + 1;
          else if (final) next = i + 1;
          else break records;
        }
        break;
      }
      pos = next;
      this.line = line + 1 + breaks;
      const count = nf - base;
      if (count === 1 && flags[base] === 0 && starts[base] === ends[base]) continue; // blank line
      this.emit(buf, count, line);
      // emit() replaces the arrays once the header is known
      starts = this.starts;
      ends = this.ends;
      flags = this.flags;
      values = this.values;
    }
    this.flushBlock(buf);
    return pos;
  }

  private flushBlock(buf: Buffer): void {
    if (this.blockCount === 0) return;
    const count = this.blockCount;
    this.blockCount = 0;
    this.sink.records(buf, this.starts, this.ends, this.flags, this.fieldCount, count, this.lines, this.values);
  }

  private emit(buf: Buffer, count: number, line: number): void {
    if (this.fieldCount < 0) {
      const names: string[] = [];
      for (let f = 0; f < count; f++) names.push(fieldText(buf, this.starts[f], this.ends[f], this.flags[f]));
      this.columns = names;
      this.fieldCount = count;
      // Data records are gathered in blocks of about 64k fields.
      this.blockCapacity = Math.max(1, Math.floor(65536 / count));
      const size = this.blockCapacity * count + 64;
      this.starts = new Int32Array(size);
      this.ends = new Int32Array(size);
      this.flags = new Uint8Array(size);
      this.values = new Float64Array(size);
      this.lines = new Int32Array(this.blockCapacity);
      this.sink.header(names, line);
      return;
    }
    if (count !== this.fieldCount) {
      this.flushBlock(buf);
      throw new TrainyardError(
        'CSV_RAGGED_ROW',
        `line ${line} has ${count} field${count === 1 ? '' : 's'}, but the header has ${this.fieldCount}`,
        { errors: [{ field: 'file', line, row: this.rows + 1, message: `expected ${this.fieldCount} fields, found ${count}` }] },
      );
    }
    this.rows++;
    this.lines[this.blockCount++] = line;
    if (this.blockCount === this.blockCapacity) this.flushBlock(buf);
  }

  private failUnterminated(line: number): never {
    throw new TrainyardError('CSV_UNTERMINATED_QUOTE', `the quoted field opened on line ${line} is never closed`, {
      errors: [{ field: 'file', line, message: 'quoted field is never closed' }],
    });
  }
}

/** LF, CRLF and lone CR each count as one line break. */
export function countLineBreaks(buf: Uint8Array, start: number, end: number): number {
  let count = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b === LF) count++;
    else if (b === CR && buf[i + 1] !== LF) count++;
  }
  return count;
}

/** Where the last cellAt() call found a field's text: `bytes[start, end)`. Read it before the next call. */
export const cell: { bytes: Uint8Array; start: number; end: number } = { bytes: new Uint8Array(0), start: 0, end: 0 };

/** Points `cell` at a field's text: its range of `buf`, or, for a FIELD_RAW field, an unescaped copy. */
export function cellAt(buf: Uint8Array, start: number, end: number, flag: number): void {
  if (flag === FIELD_RAW) {
    const text = unescapeField(buf, start, end);
    cell.bytes = text;
    cell.start = 0;
    cell.end = text.length;
  } else {
    cell.bytes = buf;
    cell.start = start;
    cell.end = end;
  }
}

/** The text of a FIELD_RAW range: quotes toggle quoting, `""` inside quotes is one quote. */
export function unescapeField(buf: Uint8Array, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  let length = 0;
  let inQuote = false;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b === QUOTE) {
      if (inQuote && i + 1 < end && buf[i + 1] === QUOTE) {
        out[length++] = QUOTE;
        i++;
      } else {
        inQuote = !inQuote;
      }
    } else {
      out[length++] = b;
    }
  }
  return out.subarray(0, length);
}

/** The decoded text of one field. */
export function fieldText(buf: Buffer, start: number, end: number, flags: number): string {
  if (flags === FIELD_RAW) return unescapeField(buf, start, end).toString('utf8');
  return buf.toString('utf8', start, end);
}

/** Offset of the first byte that breaks UTF-8 in `bytes` (or -1). Only used to report errors. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else {
      return i;
    }
    if (i + need >= n) return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if ((c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}
