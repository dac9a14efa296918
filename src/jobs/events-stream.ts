// Server-Sent Events for a job, read from the job_events table so that any API server can stream
// any job, whichever process runs it. Resumable with Last-Event-ID (the event's sequence number).
// The streams of one job in one process share one poll (JobFeed): a hundred dashboards watching a job
// cost the database what one does.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../store/metadata/schema.ts';
import { eventsSince, FINISHED_STATUSES, getJobRow, type JobKind, type JobRow, type JobStatus } from './jobs.ts';

const POLL_MS = 250;
/** Events one poll reads at most. */
const PAGE = 500;
const KEEPALIVE_MS = 15_000;
/** How long after a job finished its stream keeps waiting for the runner's last events. */
const SETTLE_MS = 2000;

/** What the caller holds the stream to: checked every poll; the stream ends when it says no. */
export interface StreamGuard {
  allowed(): Promise<boolean>;
  release(): void;
}

type JobEvent = Awaited<ReturnType<typeof eventsSince>>[number];

/**
 * What one shared poll gives a stream: its new events (`more`: there may be others already, read again
 * at once), and the job row when there were none (null: deleted).
 */
export interface FeedRead {
  events: JobEvent[];
  more?: boolean;
  job?: JobRow | null;
}

interface Waiter {
  afterSeq: number;
  resolve: (read: FeedRead) => void;
  reject: (error: unknown) => void;
}

/**
 * One job's events, polled once per tick for every stream of it in this process: each tick reads the
 * events after the furthest-behind stream's position (and the job row, if some stream got nothing
 * new), and hands each stream what is new to it. Gone from `feeds` when no stream waits.
 */
export class JobFeed {
  private waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private dueAt = Infinity;
  private polling = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly jobId: string,
    private readonly onIdle: () => void,
  ) {}

  /** The events after `afterSeq` (and the job row when there are none), from the next poll, at most `withinMs` from now. */
  next(afterSeq: number, withinMs: number): Promise<FeedRead> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ afterSeq, resolve, reject });
      this.schedule(withinMs);
    });
  }

  private schedule(withinMs: number): void {
    if (this.polling || Date.now() + withinMs >= this.dueAt) return;
    clearTimeout(this.timer);
    this.dueAt = Date.now() + withinMs;
    this.timer = setTimeout(() => void this.poll(), withinMs);
  }

  private async poll(): Promise<void> {
    this.timer = undefined;
    this.dueAt = Infinity;
    this.polling = true;
    const waiters = this.waiters.splice(0);
    const again: Waiter[] = [];
    try {
      const events = await eventsSince(this.db, this.jobId, Math.min(...waiters.map((w) => w.afterSeq)), PAGE);
      const last = events.at(-1)?.seq ?? 0;
      const news = waiters.map((w) => events.filter((e) => e.seq > w.afterSeq));
      // A full page ending at or before a stream's position says nothing of what lies beyond it: that
      // stream waits for the next poll, which starts further on (the others have moved up).
      const unsure = (k: number) => events.length === PAGE && last <= waiters[k].afterSeq;
      const needJob = news.some((n, k) => n.length === 0 && !unsure(k));
      const job = needJob ? ((await getJobRow(this.db, this.jobId).catch(() => undefined)) ?? null) : undefined;
      waiters.forEach((w, k) => {
        if (unsure(k)) again.push(w);
        else w.resolve(news[k].length > 0 ? { events: news[k], more: events.length === PAGE } : { events: [], job });
      });
    } catch (error) {
      for (const w of waiters) w.reject(error);
    } finally {
      this.polling = false;
      this.waiters.unshift(...again);
      if (again.length > 0) this.schedule(0);
      else if (this.waiters.length > 0) this.schedule(POLL_MS);
      else this.onIdle();
    }
  }
}

const feeds = new WeakMap<Kysely<Database>, Map<string, JobFeed>>();

/** This process's feed of a job's events on `db` (shared by all its streams). */
export function jobFeed(db: Kysely<Database>, jobId: string): JobFeed {
  let byJob = feeds.get(db);
  if (!byJob) feeds.set(db, (byJob = new Map()));
  let feed = byJob.get(jobId);
  if (!feed) {
    const jobs = byJob;
    feed = new JobFeed(db, jobId, () => jobs.get(jobId) === feed && jobs.delete(jobId));
    byJob.set(jobId, feed);
  }
  return feed;
}

export async function streamJobEvents(db: Kysely<Database>, request: FastifyRequest, reply: FastifyReply, jobId: string, kind: JobKind, guard: StreamGuard): Promise<void> {
  try {
    await getJobRow(db, jobId, kind); // 404 before any stream starts
  } catch (error) {
    guard.release();
    throw error;
  }
  const header = request.headers['last-event-id'];
  const query = request.query as { after?: number };
  let lastSeq = Number(typeof header === 'string' ? header : (query.after ?? 0)) || 0;

  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-request-id': String(request.id),
  });
  raw.write(`retry: 1000\n\n`);

  let closed = false;
  request.raw.on('close', () => {
    closed = true;
    guard.release();
  });
  const write = (events: JobEvent[]) => {
    for (const event of events) {
      raw.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${event.data_json}\n\n`);
      lastSeq = event.seq;
      lastWrite = Date.now();
    }
  };
  let lastWrite = Date.now();
  let finishedSeenAt: number | undefined;
  let withinMs = 0; // the first read at once, then one per shared poll
  while (!closed) {
    if (!(await guard.allowed())) {
      raw.write(`event: end\ndata: ${JSON.stringify({ status: 'unauthorized' })}\n\n`);
      break;
    }
    let read: FeedRead;
    try {
      read = await jobFeed(db, jobId).next(lastSeq, withinMs);
    } catch (error) {
      request.log.warn({ err: error }, 'event stream could not read events; retrying');
      await sleep(1000);
      continue;
    }
    withinMs = read.more ? 0 : POLL_MS;
    if (closed) break;
    write(read.events);
    if (read.events.length > 0) continue;
    const job = read.job ?? undefined;
    // The runner writes its last buffered events (e.g. "recorded version 3") just after the final
    // status: keep reading for a moment after the job finished so a live stream ends with them.
    // (At most SETTLE_MS after this stream first saw it finished, whatever the runner's clock says.)
    if (job && FINISHED_STATUSES.includes(job.status as JobStatus)) {
      finishedSeenAt ??= Date.now();
      const finishedAt = job.finished_at ? Date.parse(job.finished_at) : Number.NaN;
      const settling = Math.min(Number.isFinite(finishedAt) ? finishedAt + SETTLE_MS : 0, finishedSeenAt + SETTLE_MS) - Date.now();
      if (settling > 0) {
        withinMs = Math.min(POLL_MS, settling);
        continue;
      }
    }
    if (!job || FINISHED_STATUSES.includes(job.status as JobStatus)) {
      // Re-read once: the final status event may have landed between the two queries.
      write(await eventsSince(db, jobId, lastSeq).catch(() => []));
      raw.write(`event: end\ndata: ${JSON.stringify({ status: job?.status ?? 'deleted' })}\n\n`);
      break;
    }
    if (Date.now() - lastWrite > KEEPALIVE_MS) {
      raw.write(`: keep-alive\n\n`);
      lastWrite = Date.now();
    }
  }
  guard.release();
  raw.end();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
