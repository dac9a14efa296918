// The streams of one job share one database poll per process (JobFeed): many subscribers cost what
// one does, and each still gets exactly the events after its own position, in order.
import type { KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../store/metadata/sqlite-store.ts';
import { migrateToLatest } from '../store/metadata/migrate.ts';
import type { MetadataStore } from '../store/metadata/metadata-store.ts';
import { insertJobReferences } from '../../test/support/job-references.ts';
import { appendEvent, appendEvents, createJob } from './jobs.ts';
import { jobFeed } from './events-stream.ts';

/** Counts the queries that read job_events. */
function countingEventReads() {
  const counter = { reads: 0 };
  const plugin: KyselyPlugin = {
    transformQuery(args) {
      if (args.node.kind === 'SelectQueryNode' && JSON.stringify(args.node).includes('"job_events"')) counter.reads++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  return { counter, plugin };
}

/** Reads through the feed from `after` until `count` events arrived, as a stream does; counts its reads in `calls`. */
async function subscribe(store: MetadataStore['db'], jobId: string, after: number, count: number, calls = { n: 0 }): Promise<number[]> {
  const seen: number[] = [];
  let last = after;
  let withinMs = 0;
  while (seen.length < count) {
    const read = await jobFeed(store, jobId).next(last, withinMs);
    calls.n++;
    for (const event of read.events) seen.push((last = event.seq));
    withinMs = read.more ? 0 : 50;
  }
  return seen;
}

describe('job event feed', () => {
  let store: MetadataStore;
  beforeAll(async () => {
    store = await openSqliteStore(':memory:');
    await migrateToLatest(store);
    await insertJobReferences(store.db, { datasetId: 'ds_x', model: 'm' });
  });
  afterAll(() => store.close());

  it('serves fifty subscribers of one job from one poll per tick, each getting every event after its position', async () => {
    const { counter, plugin } = countingEventReads();
    const db = store.db.withPlugin(plugin);
    const job = await createJob(store, { kind: 'training', model: 'm', datasetId: 'ds_x', spec: {}, maxAttempts: 1 });
    const first = (await store.db.selectFrom('job_events').select('seq').where('job_id', '=', job.id).executeTakeFirstOrThrow()).seq;
    const calls = { n: 0 };
    const subscribers = Array.from({ length: 50 }, () => subscribe(db, job.id, first, 20, calls));
    const late = subscribe(db, job.id, first + 10, 10, calls);
    for (let i = 0; i < 20; i++) {
      await appendEvent(store.db, job.id, 'log', { i });
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
    const results = await Promise.all([...subscribers, late]);
    const expected = Array.from({ length: 20 }, (_, i) => first + 1 + i);
    for (const seen of results.slice(0, 50)) expect(seen).toEqual(expected);
    expect(results[50]).toEqual(expected.slice(10));
    // Alone, every read of every subscriber would be a query. Shared, one query serves all the
    // subscribers waiting at that tick (51 here), however slow the machine makes the ticks.
    expect(calls.n).toBeGreaterThanOrEqual(51 * 2);
    expect(counter.reads * 10).toBeLessThan(calls.n);
  });

  it('gives a stream far behind and one near the end of a long history every event, a page at a time', async () => {
    const job = await createJob(store, { kind: 'training', model: 'm', datasetId: 'ds_x', spec: {}, maxAttempts: 1 });
    await appendEvents(store.db, job.id, Array.from({ length: 1200 }, (_, i) => ({ type: 'log', data: { i } })));
    const seqs = (await store.db.selectFrom('job_events').select('seq').where('job_id', '=', job.id).orderBy('seq').execute()).map((r) => r.seq);
    const [behind, ahead] = await Promise.all([subscribe(store.db, job.id, seqs[0], seqs.length - 1), subscribe(store.db, job.id, seqs[1100], seqs.length - 1101)]);
    expect(behind).toEqual(seqs.slice(1));
    expect(ahead).toEqual(seqs.slice(1101));
  });

  it('reports the job row to a stream that got nothing new, and null once the job is gone', async () => {
    const job = await createJob(store, { kind: 'training', model: 'm', datasetId: 'ds_x', spec: {}, maxAttempts: 1 });
    const last = (await store.db.selectFrom('job_events').select('seq').where('job_id', '=', job.id).executeTakeFirstOrThrow()).seq;
    expect(await jobFeed(store.db, job.id).next(last, 0)).toMatchObject({ events: [], job: { id: job.id, status: 'queued' } });
    await store.db.deleteFrom('jobs').where('id', '=', job.id).execute();
    expect(await jobFeed(store.db, job.id).next(last, 0)).toEqual({ events: [], job: null });
  });
});
