import { Type, type Static } from 'typebox';
import type { Api, RouteContext } from '../route-context.ts';
import { registerJobRoutes } from '../job-routes.ts';
import { IdParams, problems } from '../schemas.ts';
import { PageQuery, decodeCursor, pageOf, pageSchema } from '../pagination.ts';
import { createJob, getJobRow, jobDataset, jobModel, jobSpec, listJobRows, parseJson, type JobRow, type JobStatus } from '../../jobs/jobs.ts';
import { resolveVersion } from '../../models/registry.ts';
import { resolveDataset } from '../../datasets/resolve-dataset.ts';
import { datasetColumns } from '../../datasets/rows.ts';
import type { InferenceJobSpec } from '../../inference/run-inference.ts';
import { predictionsKey } from '../../store/blobs/keys.ts';
import { TrainyardError } from '../../errors.ts';
import { Readable } from 'node:stream';
import { declaredLength, deleteDataset, recordDataset, stageUpload, validateName } from '../../datasets/service.ts';
import { JobStatusSchema } from './training-jobs.ts';

const Nullable = <T extends import('typebox').TSchema>(t: T) => Type.Union([t, Type.Null()]);

const InferenceJobSchema = Type.Object(
  {
    id: Type.String(),
    status: JobStatusSchema,
    model: Type.String(),
    version: Type.Integer(),
    dataset: Type.String({ description: 'Dataset id of the input' }),
    threshold: Type.Number(),
    progress: Nullable(Type.Object({ rows_done: Type.Integer(), rows_total: Type.Integer() })),
    stats: Nullable(
      Type.Object(
        {
          rows: Type.Integer(),
          by_label: Type.Optional(Type.Record(Type.String(), Type.Integer())),
          threshold: Type.Optional(Type.Number()),
          positive_label: Type.Optional(Type.String()),
          positive_count: Type.Optional(Type.Integer()),
          positive_rate: Type.Optional(Type.Number()),
          mean: Type.Optional(Type.Number()),
          std: Type.Optional(Type.Number()),
          min: Type.Optional(Type.Number()),
          max: Type.Optional(Type.Number()),
          seconds: Type.Optional(Type.Number()),
          rows_per_second: Type.Optional(Nullable(Type.Number())),
        },
        { description: 'Classifiers: per-label counts (binary: positive_count and positive_rate at the threshold); regression: mean, std, min, max' },
      ),
    ),
    error: Nullable(Type.String()),
    error_code: Nullable(Type.String()),
    attempts: Type.Integer(),
    output: Nullable(Type.String({ description: 'Where to download the predictions CSV once succeeded' })),
    created_at: Type.String({ format: 'date-time' }),
    started_at: Nullable(Type.String({ format: 'date-time' })),
    finished_at: Nullable(Type.String({ format: 'date-time' })),
  },
  { $id: 'InferenceJob' },
);
type InferenceJob = Static<typeof InferenceJobSchema>;

function toInferenceJob(row: JobRow): InferenceJob {
  const spec = jobSpec<InferenceJobSpec>(row);
  return {
    id: row.id,
    status: row.status as JobStatus,
    model: jobModel(row),
    version: row.model_version ?? 0,
    dataset: jobDataset(row),
    threshold: spec.threshold,
    progress: parseJson(row.progress_json),
    stats: parseJson(row.stats_json),
    error: row.error,
    error_code: row.error_code,
    attempts: row.attempts,
    output: row.status === 'succeeded' ? `/v1/inference-jobs/${row.id}/output` : null,
    created_at: row.created_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
  };
}

const CreateBody = Type.Object(
  {
    model: Type.String({ minLength: 1 }),
    version: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1 })], { description: 'A version number or an alias; default production, else the newest' })),
    dataset: Type.String({ minLength: 1, description: 'Dataset id, name (newest version) or name@version: the rows to predict' }),
    threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'Binary models: the positive-label threshold' })),
  },
  { additionalProperties: false },
);

const CsvQuery = Type.Object({
  model: Type.Optional(Type.String({ minLength: 1, description: 'With a text/csv body: the model' })),
  version: Type.Optional(Type.String({ minLength: 1, description: 'With a text/csv body: a version number or alias' })),
  threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'With a text/csv body: the positive-label threshold' })),
  name: Type.Optional(Type.String({ description: 'With a text/csv body: the name the uploaded input is stored under as a dataset (default <model>-inference-input)' })),
});

export async function inferenceJobRoutes(root: Api, context: RouteContext): Promise<void> {
  const { platform, executor } = context;
  const { db } = platform.metadata;
  root.addSchema(InferenceJobSchema);
  const tags = ['inference'];
  const jobRef = Type.Ref('InferenceJob');

  /** Checks the version can read the dataset, then queues the job. */
  const queue = async (model: string, reference: string | number | undefined, datasetRef: string, threshold: number | undefined) => {
    const version = await resolveVersion(db, model, reference);
    const dataset = await resolveDataset(db, datasetRef);
    if (dataset.status !== 'ready') throw new TrainyardError('DATASET_NOT_READY', `dataset ${dataset.id} is ${dataset.status}`);
    const present = new Set(datasetColumns(dataset).map((c) => c.name));
    const missing = version.signature.inputs.filter((i) => !present.has(i.name));
    if (missing.length > 0) {
      throw new TrainyardError('INVALID_INPUT', `dataset "${dataset.name}" lacks column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m.name}"`).join(', ')} that ${version.model} version ${version.version} needs`, {
        errors: missing.map((m) => ({ field: m.name, message: 'column is missing from the dataset' })),
      });
    }
    const spec: InferenceJobSpec = { threshold: threshold ?? 0.5 };
    const job = await createJob(platform.metadata, { kind: 'inference', model: version.model, modelVersion: version.version, datasetId: dataset.id, spec, maxAttempts: platform.config.maxAttempts });
    executor?.poke();
    return job;
  };

  // A CSV sent with the request is stored as a dataset first (so its rows, profile and lineage stay
  // visible), streamed like any upload; this scope passes text/csv bodies through as streams.
  await root.register(async (app) => {
    app.addContentTypeParser(['text/csv'], (_request, payload, done) => done(null, payload));
    app.post(
      '/v1/inference-jobs',
      {
        schema: {
          tags,
          summary: 'Queue a batch inference job over a dataset, or over a CSV sent with the request',
          description: 'JSON `{model, version?, dataset, threshold?}`; or a `text/csv` body with `?model=&version=&threshold=&name=`, stored as a dataset and then predicted.',
          querystring: CsvQuery,
          body: {
            content: {
              'application/json': { schema: CreateBody },
              'text/csv': { schema: Type.Unknown({ description: 'The rows to predict, with a header naming the columns' }) },
            },
          },
          response: { 202: jobRef, ...problems(400, 401, 403, 404, 409, 413, 415) },
        },
      },
      async (request, reply) => {
        let job;
        if (request.body instanceof Readable) {
          const { model, version, threshold, name } = request.query as Static<typeof CsvQuery>;
          if (!model) {
            request.body.resume();
            throw new TrainyardError('VALIDATION_FAILED', 'with a text/csv body, name the model in ?model=', { errors: [{ field: 'querystring.model', message: 'is required' }] });
          }
          // Everything that can be checked before the upload is stored is checked first (the name,
          // the model: 404); a job that cannot be queued removes the dataset it was given.
          let datasetName: string;
          try {
            datasetName = validateName(name ?? `${model}-inference-input`, 'querystring.name');
            await resolveVersion(db, model, version);
          } catch (error) {
            request.body.resume();
            throw error;
          }
          const staged = await stageUpload(platform, request.body, { expectedBytes: declaredLength(request.headers['content-length']) });
          const dataset = await recordDataset(platform, staged, datasetName);
          try {
            job = await queue(model, version, dataset.id, threshold);
          } catch (error) {
            await deleteDataset(platform, dataset.id).catch((cleanup: unknown) => request.log.warn({ err: cleanup, dataset: dataset.id }, 'could not remove the dataset of an inference job that was not queued'));
            throw error;
          }
        } else {
          const body = request.body as Static<typeof CreateBody>;
          job = await queue(body.model, body.version, body.dataset, body.threshold);
        }
        return reply.status(202).header('location', `/v1/inference-jobs/${job.id}`).send(toInferenceJob(job));
      },
    );
  });
  const app = root;

  app.get(
    '/v1/inference-jobs',
    {
      schema: {
        tags,
        summary: 'List inference jobs (newest first)',
        querystring: Type.Intersect([PageQuery, Type.Object({ status: Type.Optional(JobStatusSchema), model: Type.Optional(Type.String()), dataset: Type.Optional(Type.String()) })]),
        response: { 200: pageSchema(jobRef), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 50;
      const rows = await listJobRows(db, { kind: 'inference', ...request.query, limit, cursor: decodeCursor(request.query.cursor) });
      const page = pageOf(rows, limit, (r) => r.id);
      return { items: page.items.map(toInferenceJob), next_cursor: page.next_cursor };
    },
  );

  registerJobRoutes(app, platform, {
    kind: 'inference',
    path: '/v1/inference-jobs',
    tags,
    view: { schema: jobRef, of: toInferenceJob },
    summaries: { get: 'Get an inference job with its progress and statistics', cancel: 'Cancel a queued or running inference job' },
  });

  app.get(
    '/v1/inference-jobs/:id/output',
    {
      schema: {
        tags,
        summary: 'The predictions as CSV (row, label, probability, p_<class>… | row, value)',
        description:
          'One line per input row, in order; `row` counts from 1. Labels are quoted when they contain a comma, quote or line break (RFC 4180). ' +
          'Probabilities and values are the network’s float32 outputs, each printed with the shortest decimal text that reads back to the same float32 ' +
          '(at most 9 significant digits, JavaScript number notation: `0.8682207`, `1.5e-7`; `NaN` where the network gave NaN).',
        params: IdParams,
        produces: ['text/csv'],
        response: { 200: Type.String({ description: 'text/csv' }), ...problems(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const job = await getJobRow(db, request.params.id, 'inference');
      if (job.status !== 'succeeded') throw new TrainyardError('OUTPUT_NOT_READY', `job ${job.id} is ${job.status}; its output exists once it has succeeded`);
      const stream = await platform.blobs.get(predictionsKey(job.id));
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${job.id}-predictions.csv"`).send(stream);
    },
  );

}
