// An import's objects through the same ingest as an upload (hash, types, profile, columnar copy,
// nothing kept on failure): one object goes through exactly the upload's path, byte for byte its
// original. Many objects make one dataset: Parquet parts are read one after another into one
// profile, copy and Parquet original (table/ingest.ts stageParquetParts); CSV and JSON Lines parts
// are concatenated in key order (a CSV's header once: every part's header must equal the first's)
// and ingested as one file, whose original is that concatenation. Errors name the object, and for
// a line of concatenated text the line within that object.
import { Readable } from 'node:stream';
import type { Platform } from '../../platform.ts';
import { TrainyardError } from '../../errors.ts';
import { stageUpload, type DatasetFormat, type StagedUpload } from '../service.ts';
import { stageParquetParts, stageTableUpload } from '../table/ingest.ts';
import type { SourceObject } from './source.ts';

export interface ImportReader {
  /** The object's bytes. */
  open(object: SourceObject): Promise<Readable>;
}

const NEWLINE = 0x0a;

/** Where each part's lines start in the concatenation, to name the part of a failing line. */
class LineMap {
  private readonly starts: Array<{ line: number; object: SourceObject; skipped: number }> = [];

  add(line: number, object: SourceObject, skipped: number): void {
    this.starts.push({ line, object, skipped });
  }

  /** The error, naming the object (and its own line) it is about. */
  name(error: unknown, objects: SourceObject[]): unknown {
    if (!(error instanceof TrainyardError)) return error;
    const line = error.errors.find((e) => e.line !== undefined)?.line;
    let where = objects.length === 1 ? objects[0].url : `the ${objects.length} objects`;
    if (line !== undefined && objects.length > 1) {
      const part = this.starts.findLast((s) => s.line <= line);
      if (part) where = `${part.object.url}, line ${line - part.line + 1 + part.skipped} (line ${line} of the concatenated import)`;
    }
    return new TrainyardError(error.code, `${where}: ${error.message}`, { errors: error.errors, cause: error });
  }
}

/** The first line of a CSV, without BOM or line end, for comparing headers. */
const headerText = (bytes: Buffer): string => bytes.toString('utf8').replace(/^\uFEFF/, '').replace(/\r?\n$/, '');

/** The text parts as one stream: every part ends with a newline; a CSV part after the first loses its header, which must equal the first's. */
function concatenate(reader: ImportReader, objects: SourceObject[], csv: boolean, lines: LineMap): Readable {
  async function* bytes(): AsyncGenerator<Buffer> {
    let line = 1;
    let header: string | null = null;
    for (const [index, object] of objects.entries()) {
      const skip = csv && index > 0;
      lines.add(line, object, skip ? 1 : 0);
      let pending: Buffer | null = skip ? Buffer.alloc(0) : null;
      let last = NEWLINE;
      const emit = function* (chunk: Buffer) {
        if (chunk.length === 0) return;
        for (let i = chunk.indexOf(NEWLINE); i >= 0; i = chunk.indexOf(NEWLINE, i + 1)) line++;
        last = chunk[chunk.length - 1];
        yield chunk;
      };
      for await (const chunk of await reader.open(object)) {
        const buffer = chunk as Buffer;
        if (pending === null) {
          if (csv && index === 0 && header === null) {
            const end = buffer.indexOf(NEWLINE);
            if (end >= 0) header = headerText(buffer.subarray(0, end + 1));
          }
          yield* emit(buffer);
          continue;
        }
        pending = Buffer.concat([pending, buffer]);
        const end = pending.indexOf(NEWLINE);
        if (end < 0) continue;
        const own = headerText(pending.subarray(0, end + 1));
        if (own !== header) {
          throw new TrainyardError('SCHEMA_MISMATCH', `${object.url}: its header (${own.slice(0, 200)}) differs from ${objects[0].url}'s (${(header ?? '').slice(0, 200)}): every part of an import must have the same columns`, {
            errors: [{ field: object.url, message: 'has another header than the first part' }],
          });
        }
        const rest = pending.subarray(end + 1);
        pending = null;
        yield* emit(rest);
      }
      if (pending !== null && pending.length > 0 && headerText(pending) !== header) {
        throw new TrainyardError('SCHEMA_MISMATCH', `${object.url}: its header differs from ${objects[0].url}'s`, { errors: [{ field: object.url, message: 'has another header than the first part' }] });
      }
      if (last !== NEWLINE) yield* emit(Buffer.from('\n'));
    }
  }
  return Readable.from(bytes(), { objectMode: false });
}

/** Stages the objects as one dataset's bytes (not yet recorded); on failure nothing is left and the error names the object. */
export async function stageImport(platform: Platform, reader: ImportReader, objects: SourceObject[], format: DatasetFormat, options: { maxBytes: number; signal?: AbortSignal }): Promise<StagedUpload> {
  const lines = new LineMap();
  const total = objects.reduce((sum, o) => sum + o.size, 0);
  try {
    if (format === 'parquet') {
      if (objects.length === 1) return await stageTableUpload(platform, await reader.open(objects[0]), 'parquet', { maxBytes: options.maxBytes });
      return await stageParquetParts(platform, objects.map((object) => ({ name: object.url, open: () => reader.open(object) })), options);
    }
    const source = objects.length === 1 ? await reader.open(objects[0]) : concatenate(reader, objects, format === 'csv', lines);
    if (format === 'jsonl') return await stageTableUpload(platform, source, 'jsonl', { maxBytes: options.maxBytes });
    const staged = await stageUpload(platform, source, { expectedBytes: total, maxBytes: options.maxBytes });
    return staged;
  } catch (error) {
    if (format === 'parquet' && objects.length > 1) throw error;
    throw lines.name(error, objects);
  }
}
