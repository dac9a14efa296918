// The columnar copy on its way to the blob store: a Readable that the ingest pass pushes whole
// parts into (from the inline writer, or transferred from the profiling worker) and that
// `blobs.put` consumes. It holds at most about LIMIT bytes: past that, `room()` gives a promise
// that resolves once the store has taken some, and the ingest stream waits on it, so a slow
// store backpressures the upload instead of filling the server's memory.
import { Readable } from 'node:stream';

const LIMIT = 32 * 1024 * 1024;

export class ColumnarOutput extends Readable {
  private waiters: Array<() => void> = [];
  /** Bytes pushed so far. */
  bytes = 0;

  constructor() {
    super({ highWaterMark: LIMIT });
    this.once('close', () => this.wake());
  }

  override _read(): void {
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Queues one part of the file (the buffer is not copied). */
  write(part: Uint8Array): void {
    if (this.destroyed) return;
    this.bytes += part.byteLength;
    this.push(Buffer.from(part.buffer, part.byteOffset, part.byteLength));
  }

  /** Ends the file. */
  end(): void {
    if (!this.destroyed) this.push(null);
  }

  /** undefined while there is room; else a promise that resolves when there is (or the stream is gone). */
  room(): Promise<void> | undefined {
    if (this.readableLength < LIMIT || this.destroyed) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
