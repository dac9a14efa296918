// What a running job's code gets: the stores, its claimed row, the lease it holds, one AbortSignal
// for cancel/timeout/shutdown, and a sink for the events and log lines that clients watch.
import type { Platform } from '../platform.ts';
import { appendEvents, type JobRow } from './jobs.ts';
import { nowIso } from '../ids.ts';
import { withRetry } from '../store/retry.ts';
import { STORE_OUTAGE_RETRY } from './errors.ts';

export interface JobContext {
  platform: Platform;
  job: JobRow;
  owner: string;
  signal: AbortSignal;
  events: EventSink;
}

/**
 * Buffers job events and writes them in batches (a chatty trainer must not cost one database write
 * per log line), keeping the full log text for the log blob written when the job ends.
 */
export class EventSink {
  private pending: Array<{ type: string; data: unknown }> = [];
  private logLines: string[] = [];
  private logBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly maxLogBytes = 16 * 1024 * 1024;

  constructor(
    private readonly platform: Platform,
    private readonly jobId: string,
  ) {}

  start(intervalMs = 500): void {
    this.timer = setInterval(() => void this.flush().catch((error) => this.platform.logger.warn({ err: error }, 'event flush failed')), intervalMs);
    this.timer.unref();
  }

  emit(type: string, data: unknown): void {
    this.pending.push({ type, data });
  }

  log(message: string, level: 'info' | 'warning' | 'error' = 'info', source = 'platform'): void {
    const line = `${nowIso()} [${source}] ${message}`;
    if (this.logBytes < this.maxLogBytes) {
      this.logLines.push(line);
      this.logBytes += line.length + 1;
    }
    this.pending.push({ type: 'log', data: { message, level, source } });
  }

  logText(): string {
    return this.logLines.join('\n') + (this.logLines.length ? '\n' : '');
  }

  flush(): Promise<void> {
    // Chained after the previous flush whether it worked or not: a failed flush (the database was
    // away) must not leave a rejected promise that every later flush would inherit.
    this.flushing = this.flushing.catch(() => undefined).then(async () => {
      const batch = this.pending;
      this.pending = [];
      try {
        await appendEvents(this.platform.metadata.db, this.jobId, batch);
      } catch (error) {
        // Keep them for the next flush (the database may be back by then).
        this.pending = batch.concat(this.pending);
        throw error;
      }
    });
    return this.flushing;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}

/**
 * Runs one of the writes that end a job, waiting out a database blip (STORE_OUTAGE_RETRY): a single
 * failed statement here would otherwise leave the job `running` until its lease expires and cost it
 * an attempt, or lose a result that was already computed.
 */
export function durably<T>(platform: Platform, jobId: string, what: string, write: () => Promise<T>): Promise<T> {
  return withRetry(write, {
    ...STORE_OUTAGE_RETRY,
    onRetry: (error, attempt, delayMs) => platform.logger.warn({ err: error, job: jobId, attempt, retryInMs: delayMs }, `could not ${what}; retrying`),
  });
}
