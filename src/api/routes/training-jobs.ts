import { Type, type Static } from 'typebox';
import type { Api, RouteContext } from '../route-context.ts';
import { IdParams, problems } from '../schemas.ts';
import { PageQuery, decodeCursor, pageOf, pageSchema } from '../pagination.ts';
import { HyperparametersSchema } from '../../training/hyperparameters.ts';
import { InitFromSchema, type InitFrom } from '../../training/warm-start.ts';
import { submitTrainingJob } from '../../training/submit.ts';
import { listEpochMetrics } from '../../training/epoch-metrics.ts';
import { deleteCheckpoints, latestCheckpoint, type CheckpointSummary } from '../../training/checkpoints.ts';
import { FINISHED_STATUSES, getJobRow, jobDataset, jobModel, jobSpec, listJobRows, logLines, parseJson, requestCancel, type JobKind, type JobRow, type JobStatus } from '../../jobs/jobs.ts';
import { streamJobEvents } from '../../jobs/events-stream.ts';
import { openStream } from '../../auth/streams.ts';
import { TrainyardError } from '../../errors.ts';
import { jobLogKey } from '../../store/blobs/keys.ts';

export const JobStatusSchema = Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('cancelled')]);
const Status = JobStatusSchema;
const Metrics = Type.Record(Type.String(), Type.Number());
const Nullable = <T extends import('typebox').TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const TrainingJobSchema = Type.Object(
  {
    id: Type.String(),
    status: Status,
    model: Type.String(),
    dataset: Type.String({ description: 'Dataset id' }),
    hyperparameters: Type.Record(Type.String(), Type.Unknown(), { description: 'Resolved hyperparameters (defaults filled in)' }),
    progress: Nullable(Type.Object({ epoch: Type.Integer(), epochs: Type.Integer() })),
    metrics: Nullable(Metrics),
    stats: Nullable(Type.Record(Type.String(), Type.Unknown(), { description: 'Rows used and left out, timings, threads' })),
    error: Nullable(Type.String()),
    error_code: Nullable(Type.String()),
    attempts: Type.Integer(),
    max_attempts: Type.Integer(),
    cancel_requested: Type.Boolean(),
    model_version: Nullable(Type.Integer()),
    study_id: Nullable(Type.String({ description: 'The tuning study this job is a trial of' })),
    init_from: Nullable(Type.Object({ model: Type.String(), version: Type.Integer() }, { description: 'Warm start: the version this job trains from.' })),
    checkpoint: Type.Optional(
      Nullable(
        Type.Object(
          {
            epoch: Type.Integer({ minimum: 0, description: 'Epochs the checkpoint completed.' }),
            saved_at: Type.String({ format: 'date-time' }),
            bytes: Type.Integer({ minimum: 0 }),
          },
          { description: 'The newest checkpoint a later attempt would resume from; null when there is none (checkpoints are deleted when the job ends). Given by GET /v1/training-jobs/{id}, not in lists.' },
        ),
      ),
    ),
    created_at: Type.String({ format: 'date-time' }),
    started_at: Nullable(Type.String({ format: 'date-time' })),
    finished_at: Nullable(Type.String({ format: 'date-time' })),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'TrainingJob' },
);
export type TrainingJob = Static<typeof TrainingJobSchema>;

/** `checkpoint`: the job's newest checkpoint (latestCheckpoint), shown by the single-job answer only. */
export function toTrainingJob(row: JobRow, checkpoint?: CheckpointSummary | null): TrainingJob {
  const spec = jobSpec<{ hyperparameters: Record<string, unknown>; init_from?: InitFrom }>(row);
  return {
    id: row.id,
    status: row.status as JobStatus,
    model: jobModel(row),
    dataset: jobDataset(row),
    hyperparameters: spec.hyperparameters,
    progress: parseJson(row.progress_json),
    metrics: parseJson(row.metrics_json),
    stats: parseJson(row.stats_json),
    error: row.error,
    error_code: row.error_code,
    attempts: row.attempts,
    max_attempts: row.max_attempts,
    cancel_requested: row.cancel_requested !== 0,
    model_version: row.model_version,
    study_id: row.study_id,
    init_from: spec.init_from ? { model: spec.init_from.model, version: spec.init_from.version } : null,
    ...(checkpoint !== undefined ? { checkpoint } : {}),
    created_at: row.created_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
    updated_at: row.updated_at,
  };
}

const CreateBody = Type.Object(
  {
    model: Type.String({ minLength: 1, description: 'Model name' }),
    dataset: Type.String({ minLength: 1, description: 'Dataset id, name (newest version) or name@version' }),
    hyperparameters: Type.Optional(HyperparametersSchema),
    init_from: Type.Optional(InitFromSchema),
  },
  { additionalProperties: false },
);

const ListQuery = Type.Intersect([
  PageQuery,
  Type.Object({
    status: Type.Optional(Status),
    model: Type.Optional(Type.String()),
    dataset: Type.Optional(Type.String()),
    study: Type.Optional(Type.String({ description: 'Only the trials of this tuning study' })),
  }),
]);

export async function trainingJobRoutes(app: Api, { platform, executor }: RouteContext): Promise<void> {
  const { db } = platform.metadata;
  app.addSchema(TrainingJobSchema);
  const tags = ['training-jobs'];
  const jobRef = Type.Ref('TrainingJob');

  app.post(
    '/v1/training-jobs',
    { schema: { tags, summary: 'Queue a training job for a model on a dataset', body: CreateBody, response: { 202: jobRef, ...problems(400, 401, 403, 404, 409) } } },
    async (request, reply) => {
      const job = await submitTrainingJob(platform, request.body);
      executor?.poke();
      return reply.status(202).header('location', `/v1/training-jobs/${job.id}`).send(toTrainingJob(job));
    },
  );

  app.get(
    '/v1/training-jobs',
    { schema: { tags, summary: 'List training jobs (newest first)', querystring: ListQuery, response: { 200: pageSchema(jobRef), ...problems(400, 401, 403) } } },
    async (request) => {
      const limit = request.query.limit ?? 50;
      const rows = await listJobRows(db, { kind: 'training', ...request.query, limit, cursor: decodeCursor(request.query.cursor) });
      const page = pageOf(rows, limit, (r) => r.id);
      return { items: page.items.map((row) => toTrainingJob(row)), next_cursor: page.next_cursor };
    },
  );

  app.get(
    '/v1/training-jobs/:id',
    { schema: { tags, summary: 'Get a training job', params: IdParams, response: { 200: jobRef, ...problems(401, 403, 404) } } },
    async (request) => {
      const row = await getJobRow(db, request.params.id, 'training');
      // A job that has ended resumes no more: its checkpoints are being deleted, if they are not gone yet.
      return toTrainingJob(row, FINISHED_STATUSES.includes(row.status as JobStatus) ? null : await latestCheckpoint(db, row.id));
    },
  );

  app.get(
    '/v1/training-jobs/:id/metrics',
    {
      schema: {
        tags,
        summary: 'Per-epoch metric history',
        params: IdParams,
        response: {
          200: Type.Object({ job_id: Type.String(), epochs: Type.Array(Type.Object({ epoch: Type.Integer(), metrics: Metrics, created_at: Type.String() })) }),
          ...problems(401, 403, 404),
        },
      },
    },
    async (request) => {
      await getJobRow(db, request.params.id, 'training');
      return { job_id: request.params.id, epochs: await listEpochMetrics(db, request.params.id) };
    },
  );

  app.get(
    '/v1/training-jobs/:id/logs',
    { schema: { tags, summary: 'The job log as plain text (live while it runs)', params: IdParams, produces: ['text/plain'], response: { 200: Type.String(), ...problems(401, 403, 404) } } },
    async (request, reply) => {
      reply.type('text/plain; charset=utf-8');
      return jobLogText(platform, request.params.id, 'training');
    },
  );

  app.get(
    '/v1/training-jobs/:id/events',
    {
      schema: {
        tags,
        summary: 'Server-Sent Events: status, epoch, log; then end',
        description:
          'Events: `status` {status, error?, model_version?}, `epoch` {epoch, epochs, train, val, lr, seconds} (each epoch once, across attempts), `checkpoint` {epoch, batch, bytes, saved_at}, `resumed` {epoch, attempt} (an attempt continues after that epoch), `log` {message, level, source}, and a final `end` {status}. Resume with Last-Event-ID.',
        params: IdParams,
        produces: ['text/event-stream'],
        response: { 200: Type.String({ description: 'text/event-stream' }), ...problems(401, 403, 404, 429) },
      },
    },
    async (request, reply) => streamJobEvents(db, request, reply, request.params.id, 'training', openStream(platform, request)),
  );

  app.post(
    '/v1/training-jobs/:id/cancel',
    { schema: { tags, summary: 'Cancel a queued or running job', params: IdParams, response: { 202: jobRef, ...problems(401, 403, 404, 409) } } },
    async (request, reply) => {
      const job = await requestCancel(db, request.params.id, 'training');
      // A queued job that an interrupted attempt left checkpoints for ends here, not in a runner.
      if (job.status === 'cancelled') await deleteCheckpoints(platform, job.id);
      return reply.status(202).send(toTrainingJob(job));
    },
  );
}

/** The stored log once the job has ended; while it runs, the log lines recorded so far. */
export async function jobLogText(platform: RouteContext['platform'], id: string, kind: JobKind): Promise<string> {
  const { db } = platform.metadata;
  await getJobRow(db, id, kind);
  const stored = await platform.blobs.get(jobLogKey(id)).catch((error: unknown) => {
    if (error instanceof TrainyardError && error.code === 'NOT_FOUND') return null;
    throw error;
  });
  if (stored) {
    const chunks: Buffer[] = [];
    for await (const chunk of stored) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  return (await logLines(db, id)).map((line) => `${line.created_at} [${line.source}] ${line.message}`).join('\n');
}
