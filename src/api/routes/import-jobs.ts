// Imports from object storage: POST /v1/datasets/import queues an `import` job (src/datasets/import/),
// /v1/import-jobs lists, gets, streams and cancels them. The location is parsed and checked against
// TRAINYARD_IMPORT_ALLOW here, before anything is queued (400 INVALID_IMPORT_URL, 403
// IMPORT_NOT_ALLOWED); what the objects hold is found out by the job.
import { Type, type Static } from 'typebox';
import type { Api, RouteContext } from '../route-context.ts';
import { registerJobRoutes } from '../job-routes.ts';
import { problems } from '../schemas.ts';
import { PageQuery, decodeCursor, pageOf, pageSchema } from '../pagination.ts';
import { createJob, jobSpec, listJobRows, parseJson, type JobRow, type JobStatus } from '../../jobs/jobs.ts';
import { TrainyardError } from '../../errors.ts';
import { validateName } from '../../datasets/service.ts';
import { assertAllowed, parseImportUrl } from '../../datasets/import/location.ts';
import { formatOfKey } from '../../datasets/import/source.ts';
import { ImportJobResultSchema, ImportProgressSchema, type ImportJobResult, type ImportJobSpec, type ImportProgress } from '../../datasets/import/import-job.ts';
import { JobStatusSchema } from './training-jobs.ts';

const Nullable = <T extends import('typebox').TSchema>(t: T) => Type.Union([t, Type.Null()]);

const ImportJobSchema = Type.Object(
  {
    id: Type.String(),
    status: JobStatusSchema,
    name: Type.String({ description: 'The dataset the objects are imported into (its next version)' }),
    url: Type.String({ description: 'The s3:// location, as normalised at submission' }),
    progress: Nullable(ImportProgressSchema),
    result: Nullable(ImportJobResultSchema),
    error: Nullable(Type.String()),
    error_code: Nullable(Type.String()),
    attempts: Type.Integer(),
    created_at: Type.String({ format: 'date-time' }),
    started_at: Nullable(Type.String({ format: 'date-time' })),
    finished_at: Nullable(Type.String({ format: 'date-time' })),
  },
  { $id: 'ImportJob' },
);

function toImportJob(row: JobRow): Static<typeof ImportJobSchema> {
  const spec = jobSpec<ImportJobSpec>(row);
  return {
    id: row.id,
    status: row.status as JobStatus,
    name: spec.name,
    url: spec.url,
    progress: parseJson<ImportProgress>(row.progress_json),
    result: row.status === 'succeeded' ? parseJson<ImportJobResult>(row.stats_json) : null,
    error: row.error,
    error_code: row.error_code,
    attempts: row.attempts,
    created_at: row.created_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
  };
}

const ImportBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200, description: 'Dataset name; an existing name gets its next version' }),
    url: Type.String({
      minLength: 1,
      maxLength: 1100,
      description:
        '`s3://bucket/key` (one object), `s3://bucket/prefix/` (every object under it) or `s3://bucket/folder/*.parquet` (`*` and `?` in the last segment). Objects of one format (.parquet, .jsonl, .csv), one schema; read with the server\'s own credentials, only under TRAINYARD_IMPORT_ALLOW.',
    }),
  },
  { additionalProperties: false },
);

export async function importJobRoutes(app: Api, { platform, executor }: RouteContext): Promise<void> {
  const { db } = platform.metadata;
  const { config } = platform;
  const tags = ['datasets'];
  app.addSchema(ImportJobSchema);
  const jobRef = Type.Ref('ImportJob');

  app.post(
    '/v1/datasets/import',
    {
      schema: {
        tags,
        summary: 'Import a dataset from S3 (one object, a prefix, or a glob): queues an import job',
        description:
          'A job (kind `import`) streams the objects through the same ingest as an upload; many objects of one schema make one dataset, and a schema mismatch fails the job naming the object. ' +
          'On success the job names the new dataset version; on failure or cancel nothing is kept. 403 `IMPORT_NOT_ALLOWED` outside TRAINYARD_IMPORT_ALLOW. ' +
          'A missing key or a prefix that matches nothing is found by the job (it fails naming the location).',
        body: ImportBody,
        response: { 202: jobRef, ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const name = validateName(request.body.name, 'name');
      const location = parseImportUrl(request.body.url.trim());
      const last = location.kind === 'object' ? location.path : location.kind === 'glob' ? (location.pattern as string) : null;
      if (last !== null && !/[*?]$/.test(last) && !formatOfKey(last)) {
        throw new TrainyardError('INVALID_IMPORT_URL', `${location.url} does not name a format Trainyard reads: .parquet (.pq), .jsonl (.ndjson) or .csv (.tsv, .txt)`, {
          errors: [{ field: 'url', message: 'has no .parquet, .jsonl or .csv extension' }],
        });
      }
      assertAllowed(config.importAllow, location);
      const spec: ImportJobSpec = { name, url: location.url };
      const job = await createJob(platform.metadata, { kind: 'import', spec, maxAttempts: config.maxAttempts });
      executor?.poke();
      return reply.status(202).header('location', `/v1/import-jobs/${job.id}`).send(toImportJob(job));
    },
  );

  app.get(
    '/v1/import-jobs',
    {
      schema: {
        tags,
        summary: 'List import jobs (newest first)',
        querystring: Type.Intersect([PageQuery, Type.Object({ status: Type.Optional(JobStatusSchema) })]),
        response: { 200: pageSchema(jobRef), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 50;
      const rows = await listJobRows(db, { kind: 'import', status: request.query.status, limit, cursor: decodeCursor(request.query.cursor) });
      const page = pageOf(rows, limit, (r) => r.id);
      return { items: page.items.map(toImportJob), next_cursor: page.next_cursor };
    },
  );

  registerJobRoutes(app, platform, {
    kind: 'import',
    path: '/v1/import-jobs',
    tags,
    view: { schema: jobRef, of: toImportJob },
    summaries: { get: 'Get an import job: status, progress in files and bytes, error, and once succeeded its dataset', cancel: 'Cancel a queued or running import job (nothing is kept)' },
  });
}
