// Worker-thread side of off-thread profiling (see worker-profiler.ts): a CsvProfiler fed with the
// chunks the main thread transfers, and (when asked) the columnar copy written in the same pass,
// its parts transferred back as they are finished. One job at a time: start → chunk* → end,
// answered by acks and `columns` parts, at most one error, and then `done` (with the profile and
// the copy's summary) or `ended`.
import { parentPort, workerData } from 'node:worker_threads';
import { TrainyardError } from '../../errors.ts';
import { CsvProfiler } from './profiler.ts';
import { ColumnarWriter, type ColumnarSummary } from '../columnar/writer.ts';

export type ToWorker =
  | { type: 'start'; delimiter?: string; columnar?: boolean; maxColumns?: number }
  | { type: 'chunk'; slot: number; length: number; buffer?: ArrayBuffer } // slot -1: a one-off transferred buffer
  | { type: 'end' };
export type FromWorker =
  | { type: 'ack'; slot: number; length: number }
  | { type: 'columns'; buffer: ArrayBuffer; offset: number; length: number }
  | { type: 'done'; profile: ReturnType<CsvProfiler['finish']>; columnar: ColumnarSummary | null }
  | { type: 'ended' }
  | { type: 'error'; code: string | null; message: string; errors: TrainyardError['errors'] };

const port = parentPort;
if (!port) throw new Error('profile-worker.ts runs in a worker thread');
const { shared, slotBytes } = workerData as { shared: SharedArrayBuffer; slotBytes: number };

let profiler: CsvProfiler | null = null;
let writer: ColumnarWriter | null = null;
let failed = false;

function sendPart(part: Uint8Array): void {
  const buffer = part.buffer as ArrayBuffer;
  port!.postMessage({ type: 'columns', buffer, offset: part.byteOffset, length: part.byteLength } satisfies FromWorker, [buffer]);
}

function fail(error: unknown): void {
  failed = true;
  const message: FromWorker =
    error instanceof TrainyardError
      ? { type: 'error', code: error.code, message: error.message, errors: error.errors }
      : { type: 'error', code: null, message: error instanceof Error ? (error.stack ?? error.message) : String(error), errors: [] };
  port!.postMessage(message);
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'start') {
    writer = message.columnar ? new ColumnarWriter(sendPart) : null;
    profiler = new CsvProfiler({ delimiter: message.delimiter, copy: writer ?? undefined, maxColumns: message.maxColumns });
    failed = false;
  } else if (message.type === 'chunk') {
    if (!failed && profiler) {
      try {
        const bytes = message.slot >= 0 ? new Uint8Array(shared, message.slot * slotBytes, message.length) : new Uint8Array(message.buffer!, 0, message.length);
        profiler.feed(bytes);
      } catch (error) {
        fail(error);
      }
    }
    // The profiler copied what it keeps, so the slot may be filled again.
    port.postMessage({ type: 'ack', slot: message.slot, length: message.length } satisfies FromWorker);
  } else if (message.type === 'end') {
    // Exactly one of `done` / `ended` answers each job's end; nothing of the job follows it.
    let profile: ReturnType<CsvProfiler['finish']> | null = null;
    let columnar: ColumnarSummary | null = null;
    if (!failed && profiler) {
      try {
        profile = profiler.finish();
        columnar = writer?.finish() ?? null;
      } catch (error) {
        profile = null;
        fail(error);
      }
    }
    profiler = null;
    writer = null;
    port.postMessage(profile ? ({ type: 'done', profile, columnar } satisfies FromWorker) : ({ type: 'ended' } satisfies FromWorker));
  }
});
