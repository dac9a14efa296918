// The jobs table, owned here: jobs of every kind share it, and it is also the queue (see queue.ts).
// A kind is the string a runner registers with the engine (runner.ts); this module knows none.
// Job events (status changes, epochs, log lines) go to job_events so that any API server can
// stream them over SSE, whichever process runs the job.
import type { ExpressionBuilder, Kysely, Selectable, Transaction } from 'kysely';
import type { Database, JobTable } from '../store/metadata/schema.ts';
import { together, type DialectName, type MetadataStore } from '../store/metadata/metadata-store.ts';
import { TrainyardError, notFound } from '../errors.ts';
import { newId, nowIso } from '../ids.ts';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
/** The string a runner registered (runner.ts): `training`, `inference`, and whatever kinds come next. */
export type JobKind = string;
export type JobRow = Selectable<JobTable>;
export type Db = Kysely<Database> | Transaction<Database>;

export const FINISHED_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];

/**
 * Decodes one of the jobs table's JSON columns (spec, progress, metrics, stats). Their shapes are
 * the kind's (each kind writes and reads its own), so the caller names the type.
 */
export function parseJson<T>(text: string | null | undefined): T | null {
  return text === null || text === undefined ? null : (JSON.parse(text) as T);
}

/** A job's spec, as its kind wrote it at createJob. */
export const jobSpec = <Spec>(row: Pick<JobRow, 'spec_json'>): Spec => JSON.parse(row.spec_json) as Spec;

export async function createJob(
  store: MetadataStore,
  input: { kind: JobKind; model?: string | null; datasetId?: string | null; modelVersion?: number | null; spec: unknown; maxAttempts: number; id?: string; studyId?: string | null },
): Promise<JobRow> {
  const now = nowIso();
  const row: JobRow = {
    id: input.id ?? newId('job'),
    kind: input.kind,
    status: 'queued',
    model_name: input.model ?? null,
    dataset_id: input.datasetId ?? null,
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
    if (!(await insertIfReferencesExist(q, row))) throw await missingReference(q, row);
    await appendEvent(q, row.id, 'status', { status: 'queued' });
  });
  return row;
}

/**
 * Inserts the job in the one statement that finds its dataset and model
 * (`INSERT … SELECT … FROM datasets WHERE id = ? AND EXISTS (model)`), the counterpart of
 * deleteUnlessInUse: a delete that runs first leaves nothing to select, and one that runs after
 * finds the job. On MySQL the SELECT takes shared locks on the rows it reads, which the delete's
 * FOR UPDATE waits for. False when a reference was missing and nothing was inserted.
 */
async function insertIfReferencesExist(q: Db, row: JobRow): Promise<boolean> {
  if (row.dataset_id === null && row.model_name === null) {
    await q.insertInto('jobs').values(row).execute();
    return true;
  }
  const columns = Object.keys(row) as Array<keyof JobRow>;
  const values = <TB extends keyof Database>(eb: ExpressionBuilder<Database, TB>) => columns.map((column) => eb.val(row[column]).as(column));
  const source =
    row.dataset_id === null
      ? q.selectFrom('models').select(values).where('models.name', '=', row.model_name as string)
      : q
          .selectFrom('datasets')
          .select(values)
          .where('datasets.id', '=', row.dataset_id)
          .$if(row.model_name !== null, (query) => query.where((eb) => eb.exists(eb.selectFrom('models').select('models.id').where('models.name', '=', row.model_name as string))));
  const result = await q.insertInto('jobs').columns(columns).expression(source).executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** The 404 for a job whose dataset or model was not there (any more) when it was inserted, naming the request's field. */
async function missingReference(q: Db, row: JobRow): Promise<TrainyardError> {
  const missing =
    row.dataset_id !== null && !(await q.selectFrom('datasets').select('id').where('id', '=', row.dataset_id).executeTakeFirst())
      ? { field: 'dataset', what: 'dataset', id: row.dataset_id }
      : { field: 'model', what: 'model', id: row.model_name ?? '' };
  return new TrainyardError('NOT_FOUND', `${missing.what} "${missing.id}" does not exist (deleted while the job was being queued)`, {
    errors: [{ field: missing.field, message: `no such ${missing.what}` }],
  });
}

export async function getJobRow(db: Db, id: string, kind?: JobKind): Promise<JobRow> {
  const row = await db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row || (kind && row.kind !== kind)) throw notFound(kind ? `${kind} job` : 'job', id);
  return row;
}

/** The model a job refers to, for kinds whose jobs always name one (training, inference). */
export function jobModel(row: JobRow): string {
  if (row.model_name === null) throw new Error(`job ${row.id} (${row.kind}) refers to no model`);
  return row.model_name;
}

/** The dataset a job refers to, for kinds whose jobs always name one (training, inference). */
export function jobDataset(row: JobRow): string {
  if (row.dataset_id === null) throw new Error(`job ${row.id} (${row.kind}) refers to no dataset`);
  return row.dataset_id;
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

/** The log lines a job recorded so far (job_events of type log), oldest first. */
export async function logLines(db: Db, jobId: string): Promise<Array<{ created_at: string; message: string; source: string }>> {
  const rows = await db.selectFrom('job_events').select(['data_json', 'created_at']).where('job_id', '=', jobId).where('type', '=', 'log').orderBy('seq').execute();
  return rows.map((r) => {
    const data = JSON.parse(r.data_json) as { message: string; source?: string };
    return { created_at: r.created_at, message: data.message, source: data.source ?? 'platform' };
  });
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

type JobReference = { datasetId: string } | { model: string };

/**
 * The queued or running jobs (up to `limit`, oldest first) that refer to the dataset or model:
 * deleting it would break them. The one "is this in use by a job" query, whatever the kind.
 */
function activeJobsUsing(db: Db, where: JobReference, limit = 5) {
  let query = db.selectFrom('jobs').select('jobs.id').where('jobs.status', 'in', ['queued', 'running']);
  query = 'datasetId' in where ? query.where('jobs.dataset_id', '=', where.datasetId) : query.where('jobs.model_name', '=', where.model);
  return query.orderBy('jobs.id').limit(limit);
}

/** 409 IN_USE naming the jobs (activeJobsUsing) when any queued or running job uses the dataset or model. */
async function assertNotInUse(db: Db, where: JobReference): Promise<void> {
  const limit = 5;
  const users = (await activeJobsUsing(db, where, limit).execute()).map((r) => r.id);
  if (users.length === 0) return;
  const what = 'datasetId' in where ? `dataset "${where.datasetId}"` : `model "${where.model}"`;
  throw new TrainyardError('IN_USE', `${what} is used by ${users.length === limit ? `at least ${limit}` : users.length} queued or running job(s): ${users.join(', ')}; cancel them first`, {
    errors: users.map((id) => ({ field: 'datasetId' in where ? 'id' : 'name', message: `used by job ${id}` })),
  });
}

/**
 * Deletes the dataset or model row unless a queued or running job uses it, in one statement
 * (`DELETE … WHERE NOT EXISTS (active jobs)`), so no job can start using it between the check and the
 * delete; on MySQL the row is locked first (FOR UPDATE, `q` is a transaction), so a concurrent
 * reader of it waits for the outcome. Throws IN_USE naming the jobs; returns false when no such row
 * exists (any more).
 */
export async function deleteUnlessInUse(q: Db, dialect: DialectName, ref: JobReference): Promise<boolean> {
  let deleted: number;
  if ('datasetId' in ref) {
    if (dialect === 'mysql') await q.selectFrom('datasets').select('id').where('id', '=', ref.datasetId).forUpdate().execute();
    const result = await q.deleteFrom('datasets').where('id', '=', ref.datasetId).where((eb) => eb.not(eb.exists(activeJobsUsing(q, ref, 1)))).executeTakeFirst();
    deleted = Number(result.numDeletedRows);
  } else {
    if (dialect === 'mysql') await q.selectFrom('models').select('id').where('name', '=', ref.model).forUpdate().execute();
    const result = await q.deleteFrom('models').where('name', '=', ref.model).where((eb) => eb.not(eb.exists(activeJobsUsing(q, ref, 1)))).executeTakeFirst();
    deleted = Number(result.numDeletedRows);
  }
  if (deleted > 0) return true;
  await assertNotInUse(q, ref);
  return false;
}
