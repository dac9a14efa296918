// Server-Sent Events for a job, read from the job_events table so that any API server can stream
// any job, whichever process runs it. Resumable with Last-Event-ID (the event's sequence number).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../store/metadata/schema.ts';
import { eventsSince, FINISHED_STATUSES, getJobRow, type JobKind, type JobStatus } from './jobs.ts';

const POLL_MS = 250;
const KEEPALIVE_MS = 15_000;
/** How long after a job finished its stream keeps waiting for the runner's last events. */
const SETTLE_MS = 2000;

/** What the caller holds the stream to: checked every poll; the stream ends when it says no. */
export interface StreamGuard {
  allowed(): Promise<boolean>;
  release(): void;
}

export async function streamJobEvents(db: Kysely<Database>, request: FastifyRequest, reply: FastifyReply, jobId: string, kind: JobKind, guard?: StreamGuard): Promise<void> {
  try {
    await getJobRow(db, jobId, kind); // 404 before any stream starts
  } catch (error) {
    guard?.release();
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
    guard?.release();
  });
  let lastWrite = Date.now();
  let finishedSeenAt: number | undefined;
  while (!closed) {
    if (guard && !(await guard.allowed())) {
      raw.write(`event: end\ndata: ${JSON.stringify({ status: 'unauthorized' })}\n\n`);
      break;
    }
    let events;
    try {
      events = await eventsSince(db, jobId, lastSeq);
    } catch (error) {
      request.log.warn({ err: error }, 'event stream could not read events; retrying');
      await sleep(1000);
      continue;
    }
    for (const event of events) {
      raw.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${event.data_json}\n\n`);
      lastSeq = event.seq;
      lastWrite = Date.now();
    }
    if (events.length === 0) {
      const job = await getJobRow(db, jobId).catch(() => undefined);
      // The runner writes its last buffered events (e.g. "recorded version 3") just after the final
      // status: keep reading for a moment after the job finished so a live stream ends with them.
      // (At most SETTLE_MS after this stream first saw it finished, whatever the runner's clock says.)
      let settling = 0;
      if (job && FINISHED_STATUSES.includes(job.status as JobStatus)) {
        finishedSeenAt ??= Date.now();
        const finishedAt = job.finished_at ? Date.parse(job.finished_at) : Number.NaN;
        settling = Math.min(Number.isFinite(finishedAt) ? finishedAt + SETTLE_MS : 0, finishedSeenAt + SETTLE_MS) - Date.now();
      }
      if (settling > 0) {
        await sleep(Math.min(POLL_MS, settling));
        continue;
      }
      if (!job || FINISHED_STATUSES.includes(job.status as JobStatus)) {
        // Re-read once: the final status event may have landed between the two queries.
        const tail = await eventsSince(db, jobId, lastSeq).catch(() => []);
        for (const event of tail) raw.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${event.data_json}\n\n`);
        raw.write(`event: end\ndata: ${JSON.stringify({ status: job?.status ?? 'deleted' })}\n\n`);
        break;
      }
      if (Date.now() - lastWrite > KEEPALIVE_MS) {
        raw.write(`: keep-alive\n\n`);
        lastWrite = Date.now();
      }
      await sleep(POLL_MS);
    }
  }
  guard?.release();
  raw.end();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
