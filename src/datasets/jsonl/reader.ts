// Reading JSON Lines (`application/x-ndjson`, `.jsonl`): one JSON object per line, values scalars
// (number, string, true/false, null). Keys may vary from line to line: a key a line lacks is a
// missing value there, and columns are ordered by first appearance. Blank lines are skipped. A line
// that is not valid UTF-8 or not a JSON object, or a value that is an object or an array, is an
// INVALID_JSONL error naming the line (and key). Streamed: at most one line (MAX_LINE_BYTES) and one
// batch of rows are held.
import { TrainyardError } from '../../errors.ts';
import type { Scalar, TableBatch } from '../table/batch.ts';

/** The longest line accepted. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
const BATCH_ROWS = 8192;
const NEWLINE = 0x0a;

type Source = AsyncIterable<Buffer | Uint8Array>;

function bad(line: number, message: string, key?: string): TrainyardError {
  return new TrainyardError('INVALID_JSONL', `line ${line}${key === undefined ? '' : `, key "${key}"`}: ${message}`, {
    errors: [{ field: key ?? 'file', line, message }],
  });
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The file's rows in batches. `names` fixes the columns (a stored dataset's, in its order: any other
 * key is an error); without it columns are added as keys first appear (`names` of the result grows,
 * and a batch has as many columns as keys seen by its end).
 */
export class JsonlReader {
  readonly names: string[];
  private readonly index = new Map<string, number>();
  private readonly fixed: boolean;
  rows = 0;

  constructor(names?: string[]) {
    this.names = names ? [...names] : [];
    this.fixed = names !== undefined;
    this.names.forEach((name, i) => this.index.set(name, i));
  }

  async *batches(source: Source): AsyncIterable<TableBatch> {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let line = 0;
    let batch = this.newBatch();
    for await (const chunk of source) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      let from = 0;
      for (;;) {
        const end = bytes.indexOf(NEWLINE, from);
        if (end < 0) {
          if (from < bytes.length) {
            pending.push(bytes.subarray(from));
            pendingBytes += bytes.length - from;
            if (pendingBytes > MAX_LINE_BYTES) throw bad(line + 1, `the line is longer than ${MAX_LINE_BYTES} bytes`);
          }
          break;
        }
        line++;
        let text: Buffer = bytes.subarray(from, end);
        if (pending.length > 0) {
          text = Buffer.concat([...pending, text]);
          pending = [];
          pendingBytes = 0;
        }
        if (text.length > MAX_LINE_BYTES) throw bad(line, `the line is longer than ${MAX_LINE_BYTES} bytes`);
        this.line(text, line, batch);
        from = end + 1;
        if (batch.length === BATCH_ROWS) {
          yield this.close(batch);
          batch = this.newBatch();
        }
      }
    }
    if (pending.length > 0) this.line(Buffer.concat(pending), line + 1, batch);
    if (batch.length > 0) yield this.close(batch);
  }

  private newBatch(): TableBatch & { columns: Array<{ kind: 'values'; values: Scalar[] }> } {
    return { firstRow: this.rows, length: 0, columns: this.names.map(() => ({ kind: 'values' as const, values: [] })) };
  }

  private close(batch: TableBatch & { columns: Array<{ kind: 'values'; values: Scalar[] }> }): TableBatch {
    for (const column of batch.columns) while (column.values.length < batch.length) column.values.push(null);
    return batch;
  }

  private line(bytes: Buffer, line: number, batch: TableBatch & { columns: Array<{ kind: 'values'; values: Scalar[] }> }): void {
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === 0x0d) end--;
    let start = 0;
    if (line === 1 && end >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
    let blank = true;
    for (let i = start; i < end; i++) {
      const c = bytes[i];
      if (c !== 0x20 && c !== 0x09) {
        blank = false;
        break;
      }
    }
    if (blank) return;
    let text: string;
    try {
      text = decoder.decode(bytes.subarray(start, end));
    } catch {
      throw bad(line, 'the line is not valid UTF-8');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw bad(line, `not valid JSON (${(error as Error).message})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad(line, 'each line must be one JSON object, like {"x": 1, "label": "a"}');
    const row = batch.length;
    for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
      if (value !== null && typeof value === 'object') throw bad(line, `the value is ${Array.isArray(value) ? 'an array' : 'an object'}; values must be numbers, text, true/false or null`, key);
      let c = this.index.get(key);
      if (c === undefined) {
        if (this.fixed) throw bad(line, 'the key is not a column of the dataset', key);
        if (key.trim() === '') throw bad(line, 'the key is empty', key);
        c = this.names.length;
        this.names.push(key);
        this.index.set(key, c);
        batch.columns.push({ kind: 'values', values: [] });
      }
      const values = batch.columns[c].values;
      while (values.length < row) values.push(null);
      values.push(value as Scalar);
    }
    batch.length++;
    this.rows++;
  }
}
