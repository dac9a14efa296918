// Worker-thread side of off-thread profiling (see worker-profiler.ts): a CsvProfiler fed with the
// chunks the main thread transfers. One job at a time: start → chunk* → end, answered
// by acks, at most one error, and then `done` (with the profile) or `ended`.
import { parentPort } from 'node:worker_threads';
import { TrainyardError } from '../../errors.ts';
import { CsvProfiler } from './profiler.ts';

export type ToWorker = { type: 'start'; delimiter?: string } | { type: 'chunk'; buffer: ArrayBuffer; length: number } | { type: 'end' };
export type FromWorker =
  | { type: 'ack'; length: number }
  | { type: 'done'; profile: ReturnType<CsvProfiler['finish']> }
  | { type: 'ended' }
  | { type: 'error'; code: string | null; message: string; errors: TrainyardError['errors'] };

const port = parentPort;
if (!port) throw new Error('profile-worker.ts runs in a worker thread');

let profiler: CsvProfiler | null = null;
let failed = false;

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
    profiler = new CsvProfiler({ delimiter: message.delimiter });
    failed = false;
  } else if (message.type === 'chunk') {
    if (!failed && profiler) {
      try {
        profiler.feed(new Uint8Array(message.buffer, 0, message.length));
      } catch (error) {
        fail(error);
      }
    }
    port.postMessage({ type: 'ack', length: message.length } satisfies FromWorker);
  } else if (message.type === 'end') {
    // Exactly one of `done` / `ended` answers each job's end; nothing of the job follows it.
    let profile: ReturnType<CsvProfiler['finish']> | null = null;
    if (!failed && profiler) {
      try {
        profile = profiler.finish();
      } catch (error) {
        fail(error);
      }
    }
    profiler = null;
    port.postMessage(profile ? ({ type: 'done', profile } satisfies FromWorker) : ({ type: 'ended' } satisfies FromWorker));
  }
});
