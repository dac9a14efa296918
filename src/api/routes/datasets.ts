// /v1/datasets: upload (multipart `file`, or a raw text/csv body), list, get, delete, preview and
// download. Uploads stream through hashing and profiling into the blob store; nothing is buffered.
// The route lives in its own encapsulated scope: its content-type parsers (raw CSV bodies passed
// through as streams) and multipart support do not leak into other resources' routes.
import type { Readable } from 'node:stream';
import multipart from '@fastify/multipart';
import { Type, type Static } from 'typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Api, RouteContext } from '../route-context.ts';
import { IdParams, problems } from '../schemas.ts';
import { PageQuery, decodeCursor, pageOf, pageSchema } from '../pagination.ts';
import { TrainyardError } from '../../errors.ts';
import { normaliseDelimiter } from '../../datasets/csv/parser.ts';
import {
  declaredLength,
  deleteDataset,
  discardStaged,
  getDatasetRow,
  listDatasets,
  nameFromFilename,
  previewDataset,
  recordDataset,
  stageUpload,
  toDataset,
  toDatasetSummary,
  tooLarge,
  validateName,
  DATASET_FORMATS,
  type DatasetFormat,
  type StagedUpload,
} from '../../datasets/service.ts';
import { stageTableUpload } from '../../datasets/table/ingest.ts';
import { datasetAsParquet } from '../../datasets/parquet/writer.ts';
import { datasetColumns } from '../../datasets/rows.ts';

const Nullable = <T extends import('typebox').TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const DatasetColumnSchema = Type.Object({
  name: Type.String(),
  type: Type.Union([Type.Literal('integer'), Type.Literal('number'), Type.Literal('boolean'), Type.Literal('string'), Type.Literal('datetime')], {
    description: 'Inferred from a CSV or JSON Lines file\'s values; a Parquet file\'s schema declares it. `datetime`: ISO 8601 dates and timestamps.',
  }),
  missing_count: Type.Integer({ description: 'Empty cells and NA, N/A, null, NaN (any case).' }),
  distinct_count: Type.Integer({ description: 'Distinct non-missing values: exact up to 16,384 per column, then a HyperLogLog estimate (about 1 % error).' }),
  distinct_exact: Type.Boolean({ description: 'Whether distinct_count is exact.' }),
  min: Type.Union([Type.Number(), Type.String(), Type.Null()], { description: 'Numeric columns: the smallest value; datetime columns: the earliest, as ISO 8601 UTC text; else null.' }),
  max: Type.Union([Type.Number(), Type.String(), Type.Null()], { description: 'Numeric columns: the largest value; datetime columns: the latest, as ISO 8601 UTC text; else null.' }),
  mean: Nullable(Type.Number()),
  std: Nullable(Type.Number({ description: 'Sample standard deviation (n − 1); null for fewer than two values.' })),
});

export const DatasetSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    version: Type.Integer({ minimum: 1 }),
    status: Type.Literal('ready'),
    format: Type.Union([Type.Literal('csv'), Type.Literal('parquet'), Type.Literal('jsonl')], { description: 'What the original bytes are (GET …/content returns them).' }),
    delimiter: Type.String({ description: 'The field delimiter (given or sniffed); empty for Parquet and JSON Lines.' }),
    size_bytes: Type.Integer(),
    sha256: Type.String({ description: 'SHA-256 of the uploaded bytes, hex.' }),
    row_count: Type.Integer({ description: 'Data rows (the header is not counted).' }),
    columns: Type.Array(DatasetColumnSchema),
    created_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'Dataset' },
);

/** A dataset in a list: no column profiles (GET /v1/datasets/{id} has them), their count instead. */
export const DatasetSummarySchema = Type.Object(
  {
    ...Type.Omit(DatasetSchema, ['columns']).properties,
    column_count: Type.Integer({ description: 'Number of columns (their profiles: GET /v1/datasets/{id}).' }),
  },
  { $id: 'DatasetSummary' },
);

const UploadQuery = Type.Object({
  name: Type.Optional(Type.String({ description: 'Dataset name (required for a raw body; multipart defaults to the file name).' })),
  delimiter: Type.Optional(Type.String({ description: 'Field delimiter: one character (`,` `;` `|`, tab, …) or comma|semicolon|tab|pipe. Sniffed when absent.' })),
  format: Type.Optional(
    Type.Union([Type.Literal('csv'), Type.Literal('parquet'), Type.Literal('jsonl')], {
      description: 'What the file is, where its content type or file name does not say (an application/octet-stream body). Default: from the content type (application/vnd.apache.parquet, application/x-ndjson) or the file name (.parquet, .jsonl, .ndjson), else csv.',
    }),
  ),
});

const ListQuery = Type.Object({
  ...PageQuery.properties,
  name: Type.Optional(Type.String({ description: 'Only versions of this dataset name.' })),
});

const ContentQuery = Type.Object({
  format: Type.Optional(Type.Literal('parquet', { description: 'parquet: the dataset as a Parquet file, whatever it was uploaded as.' })),
});

const PreviewQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 20, description: 'Rows to return (1–1000).' })),
});

const CellSchema = Type.Union([Type.Number(), Type.Boolean(), Type.String(), Type.Null()]);
const PreviewSchema = Type.Object({
  columns: Type.Array(Type.String()),
  rows: Type.Array(Type.Array(CellSchema), { description: 'Rows as arrays in column order; typed by the column types, null for missing.' }),
});

const UploadBody = {
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        properties: {
          file: { type: 'string', format: 'binary', description: 'The file: CSV, Parquet (.parquet, or part content type application/vnd.apache.parquet) or JSON Lines (.jsonl, .ndjson, or application/x-ndjson).' },
          name: { type: 'string', description: 'Dataset name (default: the file name without .csv).' },
          delimiter: { type: 'string', description: 'As the `delimiter` query parameter.' },
        },
        required: ['file'],
      },
    },
    'text/csv': { schema: { type: 'string', format: 'binary', description: 'The CSV bytes; give `?name=`.' } },
    'application/vnd.apache.parquet': { schema: { type: 'string', format: 'binary', description: 'A Parquet file; give `?name=`.' } },
    'application/x-ndjson': { schema: { type: 'string', format: 'binary', description: 'JSON Lines: one flat JSON object per line; give `?name=`.' } },
    'application/octet-stream': { schema: { type: 'string', format: 'binary', description: 'The file\'s bytes (CSV unless `?format=` says otherwise); give `?name=`.' } },
  },
};

function uploadQuery(raw: unknown): Static<typeof UploadQuery> {
  const query = (raw ?? {}) as Record<string, unknown>;
  const unknown = Object.keys(query).filter((key) => key !== 'name' && key !== 'delimiter');
  if (unknown.length > 0) {
    throw new TrainyardError('VALIDATION_FAILED', `querystring.${unknown[0]} is not a known parameter`, { errors: unknown.map((key) => ({ field: `querystring.${key}`, message: 'is not a known parameter' })) });
  }
  const out: Static<typeof UploadQuery> = {};
  for (const key of ['name', 'delimiter', 'format'] as const) {
    const value = query[key];
    if (value === undefined) continue;
    if (typeof value !== 'string') {
      throw new TrainyardError('VALIDATION_FAILED', `querystring.${key} must be given once`, { errors: [{ field: `querystring.${key}`, message: 'must be given once' }] });
    }
    if (key === 'format') out.format = formatParameter(value, 'querystring.format');
    else out[key] = value;
  }
  return out;
}

function formatParameter(value: string, field: string): DatasetFormat {
  if (!(DATASET_FORMATS as readonly string[]).includes(value)) {
    throw new TrainyardError('VALIDATION_FAILED', `${field} must be one of ${DATASET_FORMATS.join(', ')}`, { errors: [{ field, message: `must be one of ${DATASET_FORMATS.join(', ')}` }] });
  }
  return value as DatasetFormat;
}

const PARQUET_TYPES = ['application/vnd.apache.parquet', 'application/x-parquet'];
const JSONL_TYPES = ['application/x-ndjson', 'application/jsonl', 'application/x-jsonlines'];

/** The format a content type or file name says, if any. */
export function formatOf(contentType: string | undefined, filename?: string): DatasetFormat | undefined {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (PARQUET_TYPES.includes(type)) return 'parquet';
  if (JSONL_TYPES.includes(type)) return 'jsonl';
  if (type === 'text/csv') return 'csv';
  const name = (filename ?? '').toLowerCase();
  if (/\.(parquet|pq)$/.test(name)) return 'parquet';
  if (/\.(jsonl|ndjson)$/.test(name)) return 'jsonl';
  return undefined;
}

/** Streams an upload of `format` into storage (the CSV engine, or the Parquet / JSON Lines ingest). */
function stageAny(platform: RouteContext['platform'], source: Readable, format: DatasetFormat, options: { delimiter?: string; expectedBytes: number | undefined }): Promise<StagedUpload> {
  if (format === 'csv') return stageUpload(platform, source, options);
  if (options.delimiter !== undefined) {
    throw new TrainyardError('VALIDATION_FAILED', `a delimiter applies to CSV only, not ${format}`, { errors: [{ field: 'delimiter', message: 'applies to CSV only' }] });
  }
  return stageTableUpload(platform, source, format);
}

function parseDelimiter(value: string | undefined, field: string): string | undefined {
  return value === undefined || value === '' ? undefined : normaliseDelimiter(value, field);
}

/** Upload from a multipart request: fields may come before or after the one `file` part. */
async function multipartUpload(request: FastifyRequest, platform: RouteContext['platform'], query: Static<typeof UploadQuery>): Promise<{ staged: StagedUpload; name: string }> {
  let staged: StagedUpload | undefined;
  let name = query.name;
  let delimiter = parseDelimiter(query.delimiter, 'querystring.delimiter');
  let filename: string | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'file' || staged) {
          part.file.resume();
          throw new TrainyardError('VALIDATION_FAILED', `unexpected file field "${part.fieldname}": send one file in the field "file"`, {
            errors: [{ field: part.fieldname, message: 'unexpected file field (use one field named "file")' }],
          });
        }
        if (name !== undefined) validateName(name);
        filename = part.filename;
        const format = query.format ?? formatOf(part.mimetype, part.filename) ?? 'csv';
        staged = await stageAny(platform, part.file, format, { delimiter, expectedBytes: declaredLength(request.headers['content-length']) });
      } else if (part.fieldname === 'name') {
        name = String(part.value);
        validateName(name);
      } else if (part.fieldname === 'delimiter') {
        if (staged) throw new TrainyardError('VALIDATION_FAILED', 'send the delimiter field before the file', { errors: [{ field: 'delimiter', message: 'must come before the file part' }] });
        delimiter = parseDelimiter(String(part.value), 'delimiter');
      }
    }
    if (!staged) {
      throw new TrainyardError('MISSING_FILE', 'the multipart request has no `file` field', { errors: [{ field: 'file', message: 'is required' }] });
    }
    return { staged, name: validateName(name ?? nameFromFilename(filename)) };
  } catch (error) {
    if (staged) await discardStaged(platform, staged);
    const code = (error as { code?: string }).code;
    if (code === 'FST_REQ_FILE_TOO_LARGE') throw tooLarge(platform.config.maxUploadBytes);
    if (code === 'FST_PARTS_LIMIT' || code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT') {
      throw new TrainyardError('VALIDATION_FAILED', (error as Error).message, { errors: [{ field: 'body', message: (error as Error).message }] });
    }
    throw error;
  }
}

export async function datasetRoutes(root: Api, { platform }: RouteContext): Promise<void> {
  const tags = ['datasets'];
  root.addSchema(DatasetSchema);
  root.addSchema(DatasetSummarySchema);
  const datasetRef = Type.Ref('Dataset');

  await root.register(async (app) => {
    // Raw CSV bodies reach the handler as the request stream itself (no body limit applies here;
    // the ingest enforces TRAINYARD_MAX_UPLOAD_BYTES while streaming). Not text/plain: a web page
    // may send that cross-origin without a preflight (415, docs/security.md).
    app.addContentTypeParser(['text/csv', 'application/octet-stream', ...PARQUET_TYPES, ...JSONL_TYPES], (_request, payload, done) => done(null, payload));
    await app.register(multipart, {
      limits: { fileSize: platform.config.maxUploadBytes + 1, files: 1, fields: 10, parts: 20, fieldSize: 1024 * 1024 },
    });

    app.post(
      '/v1/datasets',
      {
        schema: {
          tags,
          summary: 'Upload a dataset (CSV, Parquet or JSON Lines)',
          description:
            'Multipart with a `file` field (and optional `name`, `delimiter` fields), or the raw file as the body with `?name=`: `text/csv`, `application/vnd.apache.parquet`, `application/x-ndjson` or `application/octet-stream` (CSV unless `?format=` says otherwise). ' +
            'Parquet column types come from its schema (nested columns are a 400 naming the column); JSON Lines keys may vary between lines (absent = missing) and values must be scalars. ' +
            'The upload streams to the blob store while it is hashed and profiled; the same name again makes the next version. ' +
            'Bad CSV (empty, header only, bad header, ragged rows, unclosed quote, binary, not UTF-8) is a 400 naming the line; nothing is stored.',
          consumes: ['multipart/form-data', 'text/csv', 'application/vnd.apache.parquet', 'application/x-ndjson', 'application/octet-stream'],
          querystring: UploadQuery,
          body: UploadBody,
          response: { 201: datasetRef, ...problems(400, 401, 403, 413, 415, 500, 503) },
        },
        // The body is a stream and the query two optional strings checked by the handler (with
        // errors naming the field): the schemas above document the route, they do not validate it.
        validatorCompiler: () => () => true,
      },
      async (request, reply) => {
        const query = uploadQuery(request.query);
        try {
          let result: { staged: StagedUpload; name: string };
          if (request.isMultipart()) {
            result = await multipartUpload(request, platform, query);
          } else {
            const name = validateName(query.name, 'querystring.name');
            const delimiter = parseDelimiter(query.delimiter, 'querystring.delimiter');
            const declared = declaredLength(request.headers['content-length']);
            if (declared !== undefined && declared > platform.config.maxUploadBytes) throw tooLarge(platform.config.maxUploadBytes);
            const body = request.body as Readable | undefined;
            if (body !== undefined && body !== null && typeof (body as Readable).pipe !== 'function') {
              throw new TrainyardError('UNSUPPORTED_MEDIA_TYPE', `a dataset upload is multipart/form-data, text/csv, application/vnd.apache.parquet, application/x-ndjson or application/octet-stream, not ${request.headers['content-type']}`, {
                errors: [{ field: 'content-type', message: 'must be multipart/form-data, text/csv, application/vnd.apache.parquet, application/x-ndjson or application/octet-stream' }],
              });
            }
            if (!body) {
              throw new TrainyardError('MISSING_FILE', 'no file: send multipart with a `file` field, or a text/csv body', { errors: [{ field: 'file', message: 'is required' }] });
            }
            const format = query.format ?? formatOf(request.headers['content-type']) ?? 'csv';
            result = { staged: await stageAny(platform, body, format, { delimiter, expectedBytes: declared }), name };
          }
          const dataset = await recordDataset(platform, result.staged, result.name);
          request.log.info({ dataset: dataset.id, name: dataset.name, version: dataset.version, bytes: dataset.size_bytes, rows: dataset.row_count }, 'dataset ingested');
          return reply.status(201).send(dataset);
        } catch (error) {
          closeIfUnread(request, reply, error);
          throw error;
        }
      },
    );
  });

  root.get(
    '/v1/datasets',
    {
      schema: {
        tags,
        summary: 'List datasets, newest first (without column profiles)',
        querystring: ListQuery,
        response: { 200: pageSchema(Type.Ref('DatasetSummary')), ...problems(400, 401, 403, 500, 503) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 50;
      const rows = await listDatasets(platform, { limit, after: decodeCursor(request.query.cursor), name: request.query.name });
      const page = pageOf(rows, limit, (row) => row.id);
      return { items: page.items.map(toDatasetSummary), next_cursor: page.next_cursor };
    },
  );

  root.get(
    '/v1/datasets/:id',
    { schema: { tags, summary: 'Get a dataset and its column profile', params: IdParams, response: { 200: datasetRef, ...problems(401, 403, 404, 500, 503) } } },
    async (request) => toDataset(await getDatasetRow(platform, request.params.id)),
  );

  root.delete(
    '/v1/datasets/:id',
    {
      schema: {
        tags,
        summary: 'Delete a dataset and its stored bytes',
        description: 'Refused with 409 IN_USE while a queued or running job reads the dataset.',
        params: IdParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...problems(401, 403, 404, 409, 500, 503) },
      },
    },
    async (request, reply) => {
      await deleteDataset(platform, request.params.id);
      return reply.status(204).send(null);
    },
  );

  root.get(
    '/v1/datasets/:id/preview',
    {
      schema: {
        tags,
        summary: 'The first rows, typed by the column types',
        params: IdParams,
        querystring: PreviewQuery,
        response: { 200: PreviewSchema, ...problems(400, 401, 403, 404, 500, 503) },
      },
    },
    async (request) => previewDataset(platform, request.params.id, request.query.limit ?? 20),
  );

  root.get(
    '/v1/datasets/:id/content',
    {
      schema: {
        tags,
        summary: 'Download the original bytes, or the dataset as Parquet',
        description:
          'Without `format`: exactly the uploaded bytes (their SHA-256 is the dataset’s `sha256`, also sent as the ETag), with the content type of their format. ' +
          'With `format=parquet`: the dataset as a Parquet file whatever it was uploaded as (a Parquet upload returns its original bytes), streamed as it is written: ' +
          'integer → INT64, number → DOUBLE, boolean → BOOLEAN, string → UTF-8, datetime → TIMESTAMP_MILLIS (UTC); missing values are nulls.',
        params: IdParams,
        querystring: ContentQuery,
        produces: ['text/csv', 'application/vnd.apache.parquet', 'application/x-ndjson'],
        response: {
          200: {
            description: 'The file',
            content: {
              'text/csv': { schema: { type: 'string', format: 'binary' } },
              'application/vnd.apache.parquet': { schema: { type: 'string', format: 'binary' } },
              'application/x-ndjson': { schema: { type: 'string', format: 'binary' } },
            },
          },
          ...problems(400, 401, 403, 404, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const row = await getDatasetRow(platform, request.params.id);
      if (request.query.format === 'parquet' && row.format !== 'parquet') {
        const filename = `${row.name}-v${row.version}.parquet`.replace(/[^A-Za-z0-9._-]+/g, '_');
        reply.type(CONTENT_TYPES.parquet.type).header('content-disposition', `attachment; filename="${filename}"`);
        return reply.send(datasetAsParquet(platform.blobs, row, datasetColumns(row), request.log));
      }
      const stream = await platform.blobs.get(row.blob_key);
      const kind = CONTENT_TYPES[row.format as DatasetFormat] ?? CONTENT_TYPES.csv;
      const filename = `${row.name}-v${row.version}.${kind.extension}`.replace(/[^A-Za-z0-9._-]+/g, '_');
      reply
        .type(kind.type)
        .header('content-length', String(row.size_bytes))
        .header('etag', `"${row.sha256}"`)
        .header('content-disposition', `attachment; filename="${filename}"`);
      return reply.send(stream);
    },
  );
}

const CONTENT_TYPES: Record<DatasetFormat, { type: string; extension: string }> = {
  csv: { type: 'text/csv; charset=utf-8', extension: 'csv' },
  parquet: { type: 'application/vnd.apache.parquet', extension: 'parquet' },
  jsonl: { type: 'application/x-ndjson; charset=utf-8', extension: 'jsonl' },
};

/** When an upload fails before its body was read, close the connection after the answer. */
function closeIfUnread(request: FastifyRequest, reply: FastifyReply, _error: unknown): void {
  // Whatever the failure (too large, a store write failing early), a body left unread would hold the
  // connection: the client is still sending it, and its next request on the connection waits behind it.
  if (!request.raw.complete) reply.header('connection', 'close');
}
