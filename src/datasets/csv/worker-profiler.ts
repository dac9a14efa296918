// Off-thread profiling for large uploads. The HTTP thread only copies each chunk into a 1 MiB
// staging slot of memory it shares with a worker thread, which runs the CsvProfiler on full slots
// and hands each back with its ack (a slot is never allocated again, so an upload does not churn
// off-heap memory, which V8 answers with full GCs); it keeps
// hashing and writing the bytes itself. So the event loop stays free for other requests, and
// parsing runs on a second core in parallel with receiving, hashing and writing.
//
// Flow control: at most MAX_IN_FLIGHT bytes may wait in the worker; beyond that feed() returns a
// promise that resolves as the worker catches up, which backpressures the upload stream.
// Workers are pooled (POOL_SIZE, idle ones unref'd); when all are busy the caller profiles inline.
// With `onColumns`, the worker also writes the dataset's columnar copy in the same pass and
// transfers each finished part (header, row group, end marker) back, without a copy.
import { Worker } from 'node:worker_threads';
import { cpus } from 'node:os';
import { TrainyardError, type ErrorCode } from '../../errors.ts';
import type { CsvProfile } from './profiler.ts';
import type { ColumnarSummary } from '../columnar/writer.ts';
import type { FromWorker, ToWorker } from './profile-worker.ts';

const STAGING_BYTES = 1024 * 1024;
const MAX_IN_FLIGHT = 8 * 1024 * 1024;
/** Shared slots per worker: what may be in flight, plus the one being filled, plus one to spare. */
const SLOTS = MAX_IN_FLIGHT / STAGING_BYTES + 2;
const POOL_SIZE = Math.max(1, Math.min(4, cpus().length - 1));
const ENTRY = new URL('./profile-worker-entry.mjs', import.meta.url);

interface PooledWorker {
  worker: Worker;
  job: WorkerProfiler | null;
  /** SLOTS staging slots of STAGING_BYTES, shared with the worker. */
  slots: Buffer[];
}

const idle: PooledWorker[] = [];
/** Jobs handed to workers and threads started so far (tests check the off-thread path ran). */
export const workerStats = { jobs: 0, spawned: 0 };
let live = 0;

function spawnWorker(): PooledWorker {
  const shared = new SharedArrayBuffer(SLOTS * STAGING_BYTES);
  const slots = Array.from({ length: SLOTS }, (_, i) => Buffer.from(shared, i * STAGING_BYTES, STAGING_BYTES));
  const pooled: PooledWorker = { worker: new Worker(ENTRY, { workerData: { shared, slotBytes: STAGING_BYTES } }), job: null, slots };
  live++;
  workerStats.spawned++;
  pooled.worker.on('message', (message: FromWorker) => pooled.job?.receive(message));
  const lost = (error: Error) => {
    const index = idle.indexOf(pooled);
    if (index >= 0) idle.splice(index, 1);
    live--;
    pooled.job?.lost(error);
    pooled.job = null;
  };
  pooled.worker.on('error', lost);
  pooled.worker.on('exit', (code) => lost(new Error(`profiling worker exited with code ${code}`)));
  return pooled;
}

/**
 * Starts one idle profiling worker ahead of the first large upload (the server does at start-up),
 * so that upload does not wait ≈ 0.3 s for the thread and its TypeScript loader.
 */
export function warmProfilingWorker(): void {
  if (live > 0) return;
  const pooled = spawnWorker();
  pooled.worker.unref();
  idle.push(pooled);
}

/** A profiler on a pooled worker thread, or null when every worker is busy. */
export function acquireWorkerProfiler(options: { delimiter?: string; maxColumns?: number; onColumns?: (part: Uint8Array) => void } = {}): WorkerProfiler | null {
  let pooled = idle.pop();
  if (!pooled) {
    if (live >= POOL_SIZE) return null;
    pooled = spawnWorker();
  }
  pooled.worker.ref();
  workerStats.jobs++;
  return new WorkerProfiler(pooled, options.delimiter, options.onColumns, options.maxColumns);
}

function release(pooled: PooledWorker): void {
  pooled.job = null;
  pooled.worker.unref();
  idle.push(pooled);
}

export class WorkerProfiler {
  private readonly pooled: PooledWorker;
  /** Shared slots not in the worker's hands; the last one is being filled. */
  private free: number[];
  /** The slot being filled (its index in pooled.slots, or -1 for a one-off buffer when all are out). */
  private slot: number;
  private staging: Buffer;
  private used = 0;
  private inFlight = 0;
  private drained: (() => void) | null = null;
  private settle: { resolve: (profile: CsvProfile) => void; reject: (error: Error) => void } | null = null;
  private released = false;
  private endSent = false;
  private readonly onColumns: ((part: Uint8Array) => void) | undefined;
  /** The first failure (a CSV error from the worker, or the worker lost); feed() throws it. */
  error: Error | null = null;
  /** The columnar copy's summary, once finish() has resolved (null without onColumns). */
  columnar: ColumnarSummary | null = null;

  constructor(pooled: PooledWorker, delimiter: string | undefined, onColumns?: (part: Uint8Array) => void, maxColumns?: number) {
    this.pooled = pooled;
    this.onColumns = onColumns;
    this.free = pooled.slots.map((_, i) => i);
    this.slot = this.free.pop()!;
    this.staging = pooled.slots[this.slot];
    pooled.job = this;
    this.post({ type: 'start', delimiter, columnar: onColumns !== undefined, maxColumns });
  }

  private post(message: ToWorker, transfer?: ArrayBuffer[]): void {
    this.pooled.worker.postMessage(message, transfer);
  }

  /** Queues a chunk. Returns a promise when the caller should wait before feeding more. */
  feed(chunk: Uint8Array): Promise<void> | undefined {
    if (this.error) throw this.error;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(chunk.length - offset, STAGING_BYTES - this.used);
      this.staging.set(chunk.subarray(offset, offset + take), this.used);
      this.used += take;
      offset += take;
      if (this.used === STAGING_BYTES) this.flush();
    }
    if (this.inFlight <= MAX_IN_FLIGHT) return undefined;
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  private flush(): void {
    if (this.used === 0) return;
    this.inFlight += this.used;
    if (this.slot >= 0) {
      this.post({ type: 'chunk', slot: this.slot, length: this.used });
    } else {
      const buffer = this.staging.buffer as ArrayBuffer;
      this.post({ type: 'chunk', slot: -1, buffer, length: this.used }, [buffer]);
    }
    // Every slot is out only when one feed() brings more than MAX_IN_FLIGHT at once.
    this.slot = this.free.pop() ?? -1;
    this.staging = this.slot >= 0 ? this.pooled.slots[this.slot] : Buffer.allocUnsafeSlow(STAGING_BYTES);
    this.used = 0;
  }

  /** Sends what is staged and waits for the profile (or the CSV error). */
  finish(): Promise<CsvProfile> {
    if (this.error) {
      this.end();
      return Promise.reject(this.error);
    }
    this.flush();
    const done = new Promise<CsvProfile>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.end();
    return done;
  }

  /** Gives the worker back without a result (the upload failed elsewhere). */
  abandon(): void {
    this.error ??= new Error('abandoned');
    this.end();
  }

  private end(): void {
    if (this.endSent || this.released) return;
    this.endSent = true;
    this.post({ type: 'end' });
  }

  /** The worker has answered `end` (with `done` or `ended`): no more messages of this job follow. */
  private done(): void {
    if (this.released) return;
    this.released = true;
    this.staging = Buffer.alloc(0);
    if (this.pooled.job === this) release(this.pooled);
  }

  /** @internal */
  receive(message: FromWorker): void {
    if (message.type === 'ack') {
      this.inFlight -= message.length;
      if (message.slot >= 0) this.free.push(message.slot);
      if (this.drained && this.inFlight <= MAX_IN_FLIGHT) {
        const wake = this.drained;
        this.drained = null;
        wake();
      }
    } else if (message.type === 'columns') {
      if (!this.error) this.onColumns?.(new Uint8Array(message.buffer, message.offset, message.length));
    } else if (message.type === 'done') {
      this.done();
      this.columnar = message.columnar;
      this.settle?.resolve(message.profile);
    } else if (message.type === 'ended') {
      this.done();
      this.settle?.reject(this.error ?? new Error('profiling ended without a result'));
    } else {
      this.error ??=
        message.code !== null
          ? new TrainyardError(message.code as ErrorCode, message.message, { errors: message.errors })
          : new Error(`profiling worker failed: ${message.message}`);
      this.settle?.reject(this.error);
      this.settle = null;
      this.wakeWithError();
    }
  }

  /** @internal */
  lost(error: Error): void {
    this.error ??= error;
    this.released = true;
    this.settle?.reject(this.error);
    this.settle = null;
    this.wakeWithError();
  }

  private wakeWithError(): void {
    const wake = this.drained;
    this.drained = null;
    wake?.();
  }
}
