import { Readable } from 'node:stream';
import { Type } from 'typebox';
import AjvCompiler from '@fastify/ajv-compiler';
import { AJV_OPTIONS, type Api, type RouteContext } from '../route-context.ts';
import { problems } from '../schemas.ts';
import { ModelCache } from '../../inference/model-cache.ts';
import { VersionResolver, predict, type PredictInput, type PredictResult } from '../../inference/predict.ts';
import { JsonRows, parseJsonRows, tooManyColumns, tooManyRows, type JsonRowsLimits } from '../../inference/json-rows.ts';
import type { FastifyReply, FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';
import { TrainyardError } from '../../errors.ts';
import { jsonBodyParser } from '../json-body.ts';
import type { ObservedPredictions } from '../../monitoring/monitor.ts';

const Prediction = Type.Union([
  Type.Object({
    label: Type.String(),
    probability: Type.Number({ description: 'Probability of the predicted label' }),
    probabilities: Type.Record(Type.String(), Type.Number(), { description: 'Every class and its probability' }),
  }),
  Type.Object({ value: Type.Number() }),
]);

const PredictResponse = Type.Object(
  { model: Type.String(), version: Type.Integer(), predictions: Type.Array(Prediction) },
  { $id: 'PredictResponse' },
);

// Per content type: JSON rows, or a CSV with a header row (typed the same way as JSON).
const PredictBody = {
  content: {
    'application/json': {
      // Rows are objects of column → value; their columns are checked against the version's
      // signature by the handler (naming row and column), not here.
      schema: Type.Object({ inputs: Type.Array(Type.Object({}, { additionalProperties: true }), { description: 'Rows as column → value' }) }, { additionalProperties: false }),
    },
    'text/csv': { schema: Type.String({ description: 'CSV with a header row naming the columns' }) },
  },
};

const PredictQuery = Type.Object({
  threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Binary models: probability at or above which the positive label is predicted (default 0.5)' })),
});

// The response schema documents the answer; the answer itself is written as JSON text directly
// (predictionsJson: what JSON.stringify would make of it, without an object per row).
const send = (reply: FastifyReply, result: PredictResult) =>
  reply.type('application/json; charset=utf-8').send(`{"model":${JSON.stringify(result.model)},"version":${result.version},"predictions":${result.predictions}}`);

// The body size from which parseJsonRows beats JSON.parse (≈ 20 rows of 30 numbers).
const COLUMNS_FROM_BYTES = 16 * 1024;

function toInput(body: unknown, limits: JsonRowsLimits): PredictInput {
  if (body instanceof JsonRows) return { kind: 'rows', rows: body };
  if (typeof body === 'string') return { kind: 'csv', body: Readable.from([Buffer.from(body)]) };
  const inputs = (body as { inputs?: unknown }).inputs;
  if (!Array.isArray(inputs)) throw new TrainyardError('VALIDATION_FAILED', 'body must be {"inputs": [...]} or a text/csv body', { errors: [{ field: 'inputs', message: 'is required' }] });
  // The limits parseJsonRows applies while reading, for bodies the general parser read.
  if (inputs.length > limits.maxRows) throw tooManyRows(inputs.length, limits.maxRows);
  const keys = new Set<string>();
  for (const row of inputs) {
    if (typeof row !== 'object' || row === null) continue;
    for (const key in row) {
      keys.add(key);
      if (keys.size > limits.maxColumns) throw tooManyColumns(limits.maxColumns);
    }
  }
  return { kind: 'json', inputs: inputs as Record<string, unknown>[] };
}

export async function predictRoutes(root: Api, context: RouteContext): Promise<void> {
  // Predict bodies are small (capped rows), so CSV is read as a string here, unlike dataset uploads,
  // which stream: this scope gets its own text/csv parser.
  await root.register(async (app) => {
    app.removeContentTypeParser(['text/csv']);
    const limits: JsonRowsLimits = { maxRows: context.platform.config.maxPredictRows, maxColumns: context.platform.config.maxColumns };
    const bodyLimit = context.platform.config.maxPredictBytes;
    app.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit }, (_request, body, done) => done(null, body));
    // Large JSON bodies of the usual form are read from their bytes into columns (parseJsonRows),
    // which costs half of JSON.parse and makes no object per row; small ones (a few rows, where
    // JSON.parse is quicker than setting up columns) and any other body go to Fastify's own parser
    // (prototype-poisoning checks included) and on as before.
    const generalJson = jsonBodyParser(app);
    app.removeContentTypeParser(['application/json']);
    app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
      let rows: JsonRows | undefined;
      try {
        rows = (body as Buffer).length >= COLUMNS_FROM_BYTES ? parseJsonRows(body as Buffer, limits) : undefined;
      } catch (error) {
        done(error as Error, undefined);
        return;
      }
      if (rows) done(null, rows);
      else generalJson(request, (body as Buffer).toString('utf8'), done);
    });
    app.setValidatorCompiler(predictValidators(app));
    await scopedPredictRoutes(app, context, limits);
  });
}

/**
 * Ajv, as everywhere, except that a JSON body read by parseJsonRows is already known to have the
 * schema's shape ({"inputs": [objects]}, nothing else), so it skips Ajv; other bodies are checked by
 * the schema as before. The schema stays on the route, so OpenAPI documents it.
 */
function predictValidators(app: Api): FastifySchemaCompiler<unknown> {
  type Validate = ((data: unknown) => boolean) & { errors?: FastifySchemaValidationError[] | null };
  type Route = Parameters<FastifySchemaCompiler<unknown>>[0];
  let compile: ((route: Route) => Validate) | undefined;
  return (route) => {
    compile ??= AjvCompiler()(app.getSchemas() as Parameters<ReturnType<typeof AjvCompiler>>[0], { customOptions: AJV_OPTIONS }) as (route: Route) => Validate;
    const validate = compile(route);
    if (route.httpPart !== 'body') return validate;
    const check: Validate = (body) => {
      if (body instanceof JsonRows) return true;
      const valid = validate(body);
      check.errors = validate.errors;
      return valid;
    };
    return check;
  };
}

async function scopedPredictRoutes(app: Api, { platform, metrics, monitor }: RouteContext, limits: JsonRowsLimits): Promise<void> {
  const { config, logger } = platform;
  const cache = new ModelCache(platform.blobs, config.modelCacheBytes, (model, error) => {
    metrics.modelLoadFailures.inc({ model });
    logger.error({ err: error, model }, 'model version could not be loaded for serving');
  });
  const versions = new VersionResolver(platform.metadata.db);
  app.addHook('onClose', async () => cache.close());
  app.addSchema(PredictResponse);
  const tags = ['inference'];
  const response = { 200: Type.Ref('PredictResponse'), ...problems(400, 401, 403, 404, 413, 415, 500) };

  const run = async (name: string, reference: string | number | undefined, body: unknown, reply: FastifyReply, threshold = 0.5) => {
    const version = await versions.resolve(name, reference);
    const record = await monitor.recorder(version, { requestId: String(reply.request.id), threshold });
    // The logged latency is the request's so far (body read and parsed, model run), as the client saw it.
    const observe = record && ((batch: ObservedPredictions) => record({ ...batch, latencyMs: reply.elapsedTime }));
    const result = await predict(cache, version, toInput(body, limits), { maxRows: config.maxPredictRows, threshold, observe });
    metrics.predictions.inc({ model: name }, result.rows);
    return result;
  };

  // The model (and version) is looked up before the body is read: a request for a model that does
  // not exist gets its 404 without the server reading, let alone parsing, its body. Parameters that
  // do not look valid are left to the schema (answered after parsing, as 400).
  const lookUpFirst = async (request: { params: unknown; query: unknown }) => {
    const params = request.params as { name?: string; version?: string };
    const query = request.query as { alias?: unknown };
    if (!params.name) return;
    if (params.version !== undefined) {
      if (!/^[1-9][0-9]{0,8}$/.test(params.version)) return;
      await versions.resolve(params.name, Number(params.version));
    } else await versions.resolve(params.name, typeof query.alias === 'string' ? query.alias : undefined);
  };

  app.post(
    '/v1/models/:name/predict',
    {
      preParsing: async (request) => lookUpFirst(request),
      schema: {
        tags,
        summary: 'Predict with the production alias (else the newest version)',
        params: Type.Object({ name: Type.String({ minLength: 1 }) }),
        querystring: Type.Intersect([PredictQuery, Type.Object({ alias: Type.Optional(Type.String({ description: 'Use this alias instead of production' })) })]),
        body: PredictBody,
        response,
      },
    },
    async (request, reply) => send(reply, await run(request.params.name, request.query.alias, request.body, reply, request.query.threshold)),
  );

  app.post(
    '/v1/models/:name/versions/:version/predict',
    {
      preParsing: async (request) => lookUpFirst(request),
      schema: {
        tags,
        summary: 'Predict with one model version',
        params: Type.Object({ name: Type.String({ minLength: 1 }), version: Type.Integer({ minimum: 1 }) }),
        querystring: PredictQuery,
        body: PredictBody,
        response,
      },
    },
    async (request, reply) => send(reply, await run(request.params.name, request.params.version, request.body, reply, request.query.threshold)),
  );
}
