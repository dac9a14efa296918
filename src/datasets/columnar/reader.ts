// Reads the columnar copy (format.ts) back as the same batches readCsvBatches makes: requested
// columns only, in request order, `batchRows` rows each (the last one shorter), numbers as
// Float64Array (NaN missing), text as (string | null)[]. Each group's bytes are checked (CRC,
// structure) before any of its rows are handed out, and the final short batch only after the end
// marker has matched, so a caller that gets ColumnarCorruptError has received only correct rows,
// in whole batches, and can carry on from the CSV.
import type { CsvBatch, CsvColumnRequest } from '../csv/reader.ts';
import { crc32 } from 'node:zlib';
import {
  ColumnarCorruptError,
  END_TAG,
  GROUP_HEADER_BYTES,
  GROUP_TAG,
  KIND_NONE,
  KIND_NUMBERS,
  KIND_NUMBERS_EXACT,
  KIND_TEXT,
  MAGIC,
  MAX_GROUP_ROWS,
  pad8,
} from './format.ts';

type Source = AsyncIterable<Buffer | Uint8Array>;

/** Exact reads of n bytes from a stream of chunks, each into its own (8-byte aligned) buffer. */
class ByteReader {
  private readonly iterator: AsyncIterator<Buffer | Uint8Array>;
  private chunk: Uint8Array = new Uint8Array(0);
  private offset = 0;

  constructor(source: Source) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /**
   * Exactly n bytes; a stream that ends first is a truncated copy. With `into` (8-byte aligned, at
   * least n bytes) the bytes go there: the group buffer is reused from group to group.
   */
  async read(n: number, into?: Buffer): Promise<Buffer> {
    const out = into ? into.subarray(0, n) : Buffer.allocUnsafeSlow(n);
    let filled = 0;
    while (filled < n) {
      if (this.offset === this.chunk.length) {
        const next = await this.iterator.next();
        if (next.done) throw new ColumnarCorruptError(`the columnar copy is truncated (${n - filled} bytes short)`);
        this.chunk = next.value;
        this.offset = 0;
        continue;
      }
      const take = Math.min(n - filled, this.chunk.length - this.offset);
      out.set(this.chunk.subarray(this.offset, this.offset + take), filled);
      this.offset += take;
      filled += take;
    }
    return out;
  }

  /** Whether the stream has bytes left. */
  async more(): Promise<boolean> {
    while (this.offset === this.chunk.length) {
      const next = await this.iterator.next();
      if (next.done) return false;
      this.chunk = next.value;
      this.offset = 0;
    }
    return true;
  }

  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}

/** The header's column names. */
async function readHeader(reader: ByteReader, maxBytes: number): Promise<string[]> {
  const head = await reader.read(16);
  if (!head.subarray(0, 8).equals(MAGIC)) throw new ColumnarCorruptError('not a columnar copy (bad magic)');
  const count = head.readUInt32LE(8);
  const jsonBytes = head.readUInt32LE(12);
  if (jsonBytes > maxBytes) throw new ColumnarCorruptError('the columnar copy has a corrupt header');
  const rest = await reader.read(pad8(16 + jsonBytes) - 16);
  let names: unknown;
  try {
    names = JSON.parse(rest.toString('utf8', 0, jsonBytes));
  } catch {
    throw new ColumnarCorruptError('the columnar copy has a corrupt header');
  }
  if (!Array.isArray(names) || names.length !== count || !names.every((n) => typeof n === 'string')) {
    throw new ColumnarCorruptError('the columnar copy has a corrupt header');
  }
  return names as string[];
}

const SMALL_INTS = Array.from({ length: 1024 }, (_, i) => String(i));
const spell = (v: number): string => (v >= 0 && v < 1024 && (v | 0) === v && !Object.is(v, -0) ? SMALL_INTS[v] : String(v));

interface ColumnView {
  kind: number;
  offset: number;
  length: number;
}

/**
 * Batches of the requested columns. `expectedRows` (the dataset's row_count) must match the end
 * marker. Throws ColumnarCorruptError for a truncated, corrupt or mismatched copy, and when a
 * group stores a requested column in a form that cannot answer the request (numbers for
 * `as: 'number'`; text or exactly-spelled numbers for `as: 'string'`).
 */
export async function* readColumnarBatches(
  source: Source,
  options: { columns: CsvColumnRequest[]; batchRows?: number; expectedRows?: number; expectedBytes?: number },
): AsyncIterable<CsvBatch> {
  const batchRows = Math.max(1, options.batchRows ?? 8192);
  const requests = options.columns;
  const reader = new ByteReader(source);
  try {
    // Lengths in headers are not checksummed: none may exceed the copy's size (or 1 GiB) before its
    // bytes are allocated.
    const maxBytes = options.expectedBytes ?? 2 ** 30;
    const names = await readHeader(reader, maxBytes);
    const indices = requests.map((r) => {
      const index = names.indexOf(r.name);
      if (index < 0) throw new ColumnarCorruptError(`the columnar copy has no column "${r.name}"`);
      return index;
    });
    const width = names.length;
    let rowsSeen = 0;
    let groups = 0;
    let scratch = Buffer.alloc(0);
    let batch: CsvBatch | null = null;
    const newBatch = (firstRow: number): CsvBatch => ({
      firstRow,
      length: 0,
      columns: requests.map((r) => (r.as === 'number' ? new Float64Array(batchRows) : new Array<string | null>(batchRows))),
    });

    for (;;) {
      const head = await reader.read(GROUP_HEADER_BYTES);
      const tag = head.readUInt32LE(0);
      if (tag === END_TAG) {
        const end = head; // END_BYTES === GROUP_HEADER_BYTES
        const endGroups = end.readUInt32LE(4);
        const endRows = end.readUInt32LE(8) + end.readUInt32LE(12) * 2 ** 32;
        if (endGroups !== groups || endRows !== rowsSeen) throw new ColumnarCorruptError(`the columnar copy's end marker (${endRows} rows, ${endGroups} groups) does not match its contents (${rowsSeen}, ${groups})`);
        if (options.expectedRows !== undefined && endRows !== options.expectedRows) {
          throw new ColumnarCorruptError(`the columnar copy has ${endRows} rows, the dataset ${options.expectedRows}`);
        }
        if (await reader.more()) throw new ColumnarCorruptError('the columnar copy has bytes after its end marker');
        break;
      }
      if (tag !== GROUP_TAG) throw new ColumnarCorruptError(`the columnar copy is corrupt (no group at row ${rowsSeen})`);
      const rows = head.readUInt32LE(4);
      const bodyBytes = head.readUInt32LE(8);
      const crc = head.readUInt32LE(12);
      if (rows === 0 || rows > MAX_GROUP_ROWS || bodyBytes < 8 * width || bodyBytes > maxBytes) throw new ColumnarCorruptError(`the columnar copy is corrupt (group at row ${rowsSeen})`);
      if (scratch.length < bodyBytes) scratch = Buffer.allocUnsafeSlow(bodyBytes);
      const body = await reader.read(bodyBytes, scratch);
      if (crc32(body) !== crc) throw new ColumnarCorruptError(`the columnar copy is corrupt (checksum of the group at row ${rowsSeen})`);
      const views = directory(body, rows, width, indices);
      groups++;

      let from = 0;
      while (from < rows) {
        batch ??= newBatch(rowsSeen + from);
        const take = Math.min(rows - from, batchRows - batch.length);
        for (let k = 0; k < requests.length; k++) decode(body, views[k], rows, from, take, batch.columns[k], batch.length, requests[k]);
        batch.length += take;
        from += take;
        if (batch.length === batchRows) {
          yield batch;
          batch = null;
        }
      }
      rowsSeen += rows;
    }
    if (batch && batch.length > 0) {
      const length = batch.length;
      batch.columns = batch.columns.map((column) => column.slice(0, length));
      yield batch;
    }
  } finally {
    await reader.close();
  }
}

/** Where each requested column's payload lies in a group body, checked against the group's size. */
function directory(body: Buffer, rows: number, width: number, indices: number[]): ColumnView[] {
  const all: ColumnView[] = [];
  let at = 8 * width;
  for (let c = 0; c < width; c++) {
    const kind = body.readUInt32LE(8 * c);
    const length = body.readUInt32LE(8 * c + 4);
    const ok =
      kind === KIND_TEXT ? length >= 5 * rows + 4 : kind === KIND_NONE ? length === 0 : (kind === KIND_NUMBERS || kind === KIND_NUMBERS_EXACT) && length === 8 * rows;
    if (!ok || at + length > body.length) throw new ColumnarCorruptError('the columnar copy is corrupt (group directory)');
    all.push({ kind, offset: at, length });
    at += pad8(length);
  }
  if (at !== body.length) throw new ColumnarCorruptError('the columnar copy is corrupt (group size)');
  return indices.map((i) => all[i]);
}

function decode(body: Buffer, view: ColumnView, rows: number, from: number, take: number, out: Float64Array | (string | null)[], at: number, request: CsvColumnRequest): void {
  if (view.kind === KIND_NONE) throw new ColumnarCorruptError(`the columnar copy does not store "${request.name}" in every group`);
  if (request.as === 'number') {
    if (view.kind === KIND_TEXT) throw new ColumnarCorruptError(`the columnar copy stores "${request.name}" as text`);
    const values = new Float64Array(body.buffer, body.byteOffset + view.offset, rows);
    (out as Float64Array).set(values.subarray(from, from + take), at);
    return;
  }
  const texts = out as (string | null)[];
  if (view.kind === KIND_NUMBERS_EXACT) {
    const values = new Float64Array(body.buffer, body.byteOffset + view.offset, rows);
    for (let j = 0; j < take; j++) {
      const v = values[from + j];
      texts[at + j] = v !== v ? null : spell(v);
    }
    return;
  }
  if (view.kind !== KIND_TEXT) throw new ColumnarCorruptError(`the columnar copy stores "${request.name}" as numbers whose text differs`);
  const offsets = new Uint32Array(body.buffer, body.byteOffset + view.offset, rows + 1);
  const missingAt = view.offset + 4 * (rows + 1);
  const textAt = missingAt + rows;
  const textBytes = view.length - 5 * rows - 4;
  if (offsets[0] !== 0 || offsets[rows] !== textBytes) throw new ColumnarCorruptError(`the columnar copy is corrupt (text of "${request.name}")`);
  for (let j = 0; j < take; j++) {
    const r = from + j;
    const s = offsets[r];
    const e = offsets[r + 1];
    if (e < s || e > textBytes) throw new ColumnarCorruptError(`the columnar copy is corrupt (text of "${request.name}")`);
    texts[at + j] = body[missingAt + r] === 1 ? null : body.toString('utf8', textAt + s, textAt + e);
  }
}
