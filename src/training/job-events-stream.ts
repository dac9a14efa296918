// Server-Sent Events for a job, read from the job_events table so that any API server can stream
// any job, whichever process runs it. Resumable with Last-Event-ID (the event's sequence number).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../store/metadata/schema.ts';
import { eventsSince, FINISHED_STATUSES, getJobRow, type JobKind, type JobStatus } from './jobs.ts';

const POLL_MS = 250;
const KEEPALIVE_MS = 15_000;

export async function streamJobEvents(db: Kysely<Database>, request: FastifyRequest, reply: FastifyReply, jobId: string, kind: JobKind): Promise<void> {
  await getJobRow(db, jobId, kind); // 404 before any stream starts
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
  request.raw.on('close', () => (closed = true));
  let lastWrite = Date.now();
  while (!closed) {
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
  raw.end();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
