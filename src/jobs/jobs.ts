// The jobs table: training and inference jobs share it, and it is also the queue (see queue.ts).
// Job events (status changes, epochs, log lines) go to job_events so that any API server can
// stream them over SSE, whichever process runs the job.
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database, JobTable } from '../store/metadata/schema.ts';
import { together, type MetadataStore } from '../store/metadata/metadata-store.ts';
import { TrainyardError, notFound } from '../errors.ts';
import { newId, nowIso } from '../ids.ts';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type JobKind = 'training' | 'inference' | 'tuning';
export type JobRow = Selectable<JobTable>;
export type Db = Kysely<Database> | Transaction<Database>;

export const FINISHED_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];

export function parseJson<T>(text: string | null | undefined): T | null {
  return text === null || text === undefined ? null : (JSON.parse(text) as T);
}

export async function createJob(
  store: MetadataStore,
  input: { kind: JobKind; model: string; datasetId: string; modelVersion?: number | null; spec: unknown; maxAttempts: number; id?: string; studyId?: string | null },
): Promise<JobRow> {
  const now = nowIso();
  const row: JobRow = {
    id: input.id ?? newId('job'),
    kind: input.kind,
    status: 'queued',
    model_name: input.model,
    dataset_id: input.datasetId,
    model_version: input.modelVersion ?? null,
    spec_json: JSON.stringify(input.spec),
    progress_json: null,
    metrics_json: null,
    stats_json: null,
    error: null,
    error_code: null,
    attempts: 0,
    max_attempts: input.maxAttempts,
    cancel_requested: 0,
    lease_owner: null,
    lease_expires_at: null,
    external_id: null,
    study_id: input.studyId ?? null,
    created_at: now,
    started_at: null,
    finished_at: null,
    updated_at: now,
  };
  // Together, so no worker claims the job (and records `running`) before its `queued` event.
  await together(store, async (q) => {
    await q.insertInto('jobs').values(row).execute();
    await appendEvent(q, row.id, 'status', { status: 'queued' });
  });
  return row;
}

export async function getJobRow(db: Db, id: string, kind?: JobKind): Promise<JobRow> {
  const row = await db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row || (kind && row.kind !== kind)) throw notFound(kind === 'inference' ? 'inference job' : kind === 'tuning' ? 'tuning job' : 'training job', id);
  return row;
}

export interface JobFilter {
  kind: JobKind;
  status?: JobStatus;
  model?: string;
  dataset?: string;
  /** Trials of this tuning study only. */
  study?: string;
  limit: number;
  cursor?: string;
}

/** Newest first; fetches one extra row so the caller can tell whether there is a next page. */
export async function listJobRows(db: Db, filter: JobFilter): Promise<JobRow[]> {
  let query = db.selectFrom('jobs').selectAll().where('kind', '=', filter.kind);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.model) query = query.where('model_name', '=', filter.model);
  if (filter.dataset) query = query.where('dataset_id', '=', filter.dataset);
  if (filter.study) query = query.where('study_id', '=', filter.study);
  if (filter.cursor) query = query.where('id', '<', filter.cursor);
  return query.orderBy('id', 'desc').limit(filter.limit + 1).execute();
}

export async function appendEvent(db: Db, jobId: string, type: string, data: unknown): Promise<void> {
  await db.insertInto('job_events').values({ job_id: jobId, type, data_json: JSON.stringify(data), created_at: nowIso() }).execute();
}

export async function appendEvents(db: Db, jobId: string, events: Array<{ type: string; data: unknown }>): Promise<void> {
  if (events.length === 0) return;
  const created_at = nowIso();
  await db
    .insertInto('job_events')
    .values(events.map((e) => ({ job_id: jobId, type: e.type, data_json: JSON.stringify(e.data), created_at })))
    .execute();
}

export async function eventsSince(db: Db, jobId: string, afterSeq: number, limit = 500) {
  return db
    .selectFrom('job_events')
    .select(['seq', 'type', 'data_json', 'created_at'])
    .where('job_id', '=', jobId)
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .limit(limit)
    .execute();
}

/**
 * Cancels a queued job at once; flags a running one so its runner stops the trainer. A finished job
 * cannot be cancelled (409).
 */
export async function requestCancel(db: Kysely<Database>, id: string, kind: JobKind): Promise<JobRow> {
  const job = await getJobRow(db, id, kind);
  if (FINISHED_STATUSES.includes(job.status as JobStatus)) {
    throw new TrainyardError('JOB_FINISHED', `job ${id} already ${job.status}`);
  }
  const now = nowIso();
  const cancelledQueued = await db
    .updateTable('jobs')
    .set({ status: 'cancelled', finished_at: now, updated_at: now, cancel_requested: 1, lease_owner: null, lease_expires_at: null })
    .where('id', '=', id)
    .where('status', '=', 'queued')
    .executeTakeFirst();
  if (Number(cancelledQueued.numUpdatedRows) > 0) {
    await appendEvent(db, id, 'status', { status: 'cancelled' });
  } else {
    await db.updateTable('jobs').set({ cancel_requested: 1, updated_at: now }).where('id', '=', id).where('status', '=', 'running').execute();
  }
  return getJobRow(db, id, kind);
}

/** Whether a queued or running job refers to the dataset or model (deleting it would break the job). */
export async function hasActiveJobs(db: Db, where: { datasetId?: string; model?: string }): Promise<boolean> {
  let query = db.selectFrom('jobs').select('id').where('status', 'in', ['queued', 'running']);
  if (where.datasetId) query = query.where('dataset_id', '=', where.datasetId);
  if (where.model) query = query.where('model_name', '=', where.model);
  return (await query.limit(1).executeTakeFirst()) !== undefined;
}
