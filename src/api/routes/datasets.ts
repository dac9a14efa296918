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
  deleteDataset,
  discardStaged,
  getDatasetRow,
  listDatasets,
  nameFromFilename,
  previewDataset,
  recordDataset,
  stageUpload,
  toDataset,
  tooLarge,
  validateName,
  type StagedUpload,
} from '../../datasets/service.ts';

const Nullable = <T extends import('typebox').TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const DatasetColumnSchema = Type.Object({
  name: Type.String(),
  type: Type.Union([Type.Literal('integer'), Type.Literal('number'), Type.Literal('boolean'), Type.Literal('string')]),
  missing_count: Type.Integer({ description: 'Empty cells and NA, N/A, null, NaN (any case).' }),
  distinct_count: Type.Integer({ description: 'Distinct non-missing values: exact up to 16,384 per column, then a HyperLogLog estimate (about 1 % error).' }),
  distinct_exact: Type.Boolean({ description: 'Whether distinct_count is exact.' }),
  min: Nullable(Type.Number()),
  max: Nullable(Type.Number()),
  mean: Nullable(Type.Number()),
  std: Nullable(Type.Number({ description: 'Sample standard deviation (n − 1); null for fewer than two values.' })),
});

export const DatasetSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    version: Type.Integer({ minimum: 1 }),
    status: Type.Literal('ready'),
    format: Type.Literal('csv'),
    delimiter: Type.String({ description: 'The field delimiter (given or sniffed).' }),
    size_bytes: Type.Integer(),
    sha256: Type.String({ description: 'SHA-256 of the uploaded bytes, hex.' }),
    row_count: Type.Integer({ description: 'Data rows (the header is not counted).' }),
    columns: Type.Array(DatasetColumnSchema),
    created_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'Dataset' },
);

const UploadQuery = Type.Object({
  name: Type.Optional(Type.String({ description: 'Dataset name (required for a raw body; multipart defaults to the file name).' })),
  delimiter: Type.Optional(Type.String({ description: 'Field delimiter: one character (`,` `;` `|`, tab, …) or comma|semicolon|tab|pipe. Sniffed when absent.' })),
});

const ListQuery = Type.Object({
  ...PageQuery.properties,
  name: Type.Optional(Type.String({ description: 'Only versions of this dataset name.' })),
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
          file: { type: 'string', format: 'binary', description: 'The CSV file.' },
          name: { type: 'string', description: 'Dataset name (default: the file name without .csv).' },
          delimiter: { type: 'string', description: 'As the `delimiter` query parameter.' },
        },
        required: ['file'],
      },
    },
    'text/csv': { schema: { type: 'string', format: 'binary', description: 'The CSV bytes; give `?name=`.' } },
    'application/octet-stream': { schema: { type: 'string', format: 'binary', description: 'The CSV bytes; give `?name=`.' } },
  },
};

function uploadQuery(raw: unknown): Static<typeof UploadQuery> {
  const query = (raw ?? {}) as Record<string, unknown>;
  const out: Static<typeof UploadQuery> = {};
  for (const key of ['name', 'delimiter'] as const) {
    const value = query[key];
    if (value === undefined) continue;
    if (typeof value !== 'string') {
      throw new TrainyardError('VALIDATION_FAILED', `querystring.${key} must be given once`, { errors: [{ field: `querystring.${key}`, message: 'must be given once' }] });
    }
    out[key] = value;
  }
  return out;
}

function parseDelimiter(value: string | undefined, field: string): string | undefined {
  return value === undefined || value === '' ? undefined : normaliseDelimiter(value, field);
}

/** Upload from a multipart request: fields may come before or after the one `file` part. */
async function multipartUpload(request: FastifyRequest, platform: RouteContext['platform'], query: { name?: string; delimiter?: string }): Promise<{ staged: StagedUpload; name: string }> {
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
        staged = await stageUpload(platform, part.file, { delimiter, expectedBytes: Number(request.headers['content-length']) || 0 });
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
  const datasetRef = Type.Ref('Dataset');

  await root.register(async (app) => {
    // Raw CSV bodies reach the handler as the request stream itself (no body limit applies here;
    // the ingest enforces TRAINYARD_MAX_UPLOAD_BYTES while streaming).
    app.addContentTypeParser(['text/csv', 'application/octet-stream', 'text/plain'], (_request, payload, done) => done(null, payload));
    await app.register(multipart, {
      limits: { fileSize: platform.config.maxUploadBytes + 1, files: 1, fields: 10, parts: 20, fieldSize: 1024 * 1024 },
    });

    app.post(
      '/v1/datasets',
      {
        schema: {
          tags,
          summary: 'Upload a CSV dataset',
          description:
            'Multipart with a `file` field (and optional `name`, `delimiter` fields), or the raw CSV as a `text/csv` or `application/octet-stream` body with `?name=`. ' +
            'The upload streams to the blob store while it is hashed and profiled; the same name again makes the next version. ' +
            'Bad CSV (empty, header only, bad header, ragged rows, unclosed quote, binary, not UTF-8) is a 400 naming the line; nothing is stored.',
          consumes: ['multipart/form-data', 'text/csv', 'application/octet-stream'],
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
            const declared = Number(request.headers['content-length']);
            if (Number.isFinite(declared) && declared > platform.config.maxUploadBytes) throw tooLarge(platform.config.maxUploadBytes);
            const body = request.body as Readable | undefined;
            if (body !== undefined && body !== null && typeof (body as Readable).pipe !== 'function') {
              throw new TrainyardError('UNSUPPORTED_MEDIA_TYPE', `a dataset upload is multipart/form-data, text/csv or application/octet-stream, not ${request.headers['content-type']}`, {
                errors: [{ field: 'content-type', message: 'must be multipart/form-data, text/csv or application/octet-stream' }],
              });
            }
            if (!body) {
              throw new TrainyardError('MISSING_FILE', 'no file: send multipart with a `file` field, or a text/csv body', { errors: [{ field: 'file', message: 'is required' }] });
            }
            result = { staged: await stageUpload(platform, body, { delimiter, expectedBytes: Number.isFinite(declared) ? declared : 0 }), name };
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
        summary: 'List datasets, newest first',
        querystring: ListQuery,
        response: { 200: pageSchema(datasetRef), ...problems(400, 401, 403, 500, 503) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 50;
      const rows = await listDatasets(platform, { limit, after: decodeCursor(request.query.cursor), name: request.query.name });
      const page = pageOf(rows, limit, (row) => row.id);
      return { items: page.items.map(toDataset), next_cursor: page.next_cursor };
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
        summary: 'Download the original bytes',
        description: 'Exactly the uploaded bytes (their SHA-256 is the dataset’s `sha256`, also sent as the ETag).',
        params: IdParams,
        produces: ['text/csv'],
        response: {
          200: { description: 'The CSV file', content: { 'text/csv': { schema: { type: 'string', format: 'binary' } } } },
          ...problems(401, 403, 404, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const row = await getDatasetRow(platform, request.params.id);
      const stream = await platform.blobs.get(row.blob_key);
      const filename = `${row.name}-v${row.version}.csv`.replace(/[^A-Za-z0-9._-]+/g, '_');
      reply
        .type('text/csv; charset=utf-8')
        .header('content-length', String(row.size_bytes))
        .header('etag', `"${row.sha256}"`)
        .header('content-disposition', `attachment; filename="${filename}"`);
      return reply.send(stream);
    },
  );
}

/** When an upload fails before its body was read, close the connection after the answer. */
function closeIfUnread(request: FastifyRequest, reply: FastifyReply, _error: unknown): void {
  // Whatever the failure (too large, a store write failing early), a body left unread would hold the
  // connection: the client is still sending it, and its next request on the connection waits behind it.
  if (!request.raw.complete) reply.header('connection', 'close');
}
