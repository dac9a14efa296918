import { Type } from 'typebox';
import type { Api, RouteContext } from '../route-context.ts';
import { problems } from '../schemas.ts';
import { PageQuery, decodeCursor, decodeVersionCursor, pageOf, pageSchema } from '../pagination.ts';
import { ModelSchema, ModelSpecBodySchema, ModelSpecSchema, parseModelSpec, toModelResponse } from '../../models/spec.ts';
import {
  ARTIFACT_CONTENT_TYPES,
  createModel,
  deleteAlias,
  deleteModel,
  deleteVersion,
  getModel,
  getVersion,
  listModels,
  listVersions,
  setAlias,
  type ModelVersionRecord,
} from '../../models/registry.ts';
import { notFound } from '../../errors.ts';
import { deleteModelMonitoring } from '../../monitoring/retention.ts';
import { artifactKey } from '../../store/blobs/keys.ts';

const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) });
const VersionParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }), version: Type.Integer({ minimum: 1 }) });
const ALIAS_PATTERN = '^[A-Za-z][A-Za-z0-9._-]{0,99}$';
const AliasParams = Type.Object({ name: Type.String({ minLength: 1 }), alias: Type.String({ pattern: ALIAS_PATTERN, description: 'e.g. production, staging' }) });

export const ModelVersionSchema = Type.Object(
  {
    model: Type.String(),
    version: Type.Integer(),
    training_job_id: Type.String(),
    dataset_id: Type.String(),
    metrics: Type.Record(Type.String(), Type.Number()),
    signature: Type.Object({
      inputs: Type.Array(
        Type.Object({
          name: Type.String(),
          type: Type.String({ description: 'integer, number, boolean, string or datetime (the dataset column\'s type)' }),
          kind: Type.Union([Type.Literal('numeric'), Type.Literal('categorical'), Type.Literal('datetime')], {
            description: 'How the input is encoded: numeric (a number), categorical (any scalar, as text), datetime (ISO 8601 text: a date, or a timestamp taken as UTC without an offset).',
          }),
          categories: Type.Optional(Type.Array(Type.String())),
        }),
      ),
      output: Type.Object({ task: Type.String(), target: Type.String(), classes: Type.Optional(Type.Array(Type.String())) }),
    }),
    artifacts: Type.Array(Type.Object({ name: Type.String(), size_bytes: Type.Integer(), sha256: Type.String() })),
    aliases: Type.Array(Type.String()),
    init_from: Type.Union([Type.Object({ model: Type.String(), version: Type.Integer() }), Type.Null()], {
      description: 'Lineage of a warm start: the version this one was trained from (its weights and preprocessing); null when trained from scratch.',
    }),
    created_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'ModelVersion' },
);

export const toVersionResponse = (v: ModelVersionRecord) => {
  const { blob_prefix: _prefix, ...rest } = v;
  return rest;
};

export async function modelRoutes(app: Api, { platform }: RouteContext): Promise<void> {
  const { db } = platform.metadata;
  const tags = ['models'];
  app.addSchema(ModelVersionSchema);
  app.addSchema({ ...ModelSchema, $id: 'Model' });
  app.addSchema({ ...ModelSpecSchema, $id: 'ModelSpec' });
  const modelRef = Type.Ref('Model');
  const versionRef = Type.Ref('ModelVersion');

  const present = async (name: string) => toModelResponse(await getModel(db, name));


  app.post(
    '/v1/models',
    {
      schema: {
        tags,
        summary: 'Define a model: task, target column, features and torch.nn layers',
        description: 'The full layer schema is the `ModelSpec` component. Errors name the layer and argument, e.g. `layers[2].out_features`.',
        body: ModelSpecBodySchema,
        response: { 201: modelRef, ...problems(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const spec = parseModelSpec(request.body, { maxParameters: platform.config.maxModelParameters, maxActivationElements: platform.config.maxActivationElements });
      await createModel(db, spec);
      return reply.status(201).header('location', `/v1/models/${spec.name}`).send(await present(spec.name));
    },
  );

  app.get(
    '/v1/models',
    { schema: { tags, summary: 'List model definitions (newest first)', querystring: PageQuery, response: { 200: pageSchema(modelRef), ...problems(400, 401, 403) } } },
    async (request) => {
      const limit = request.query.limit ?? 50;
      const rows = await listModels(db, limit, decodeCursor(request.query.cursor));
      const page = pageOf(rows, limit, (r) => r.id);
      return { items: page.items.map(toModelResponse), next_cursor: page.next_cursor };
    },
  );

  app.get(
    '/v1/models/:name',
    { schema: { tags, summary: 'Get a model definition with its inferred shapes', params: NameParams, response: { 200: modelRef, ...problems(401, 403, 404) } } },
    async (request) => present(request.params.name),
  );

  app.delete(
    '/v1/models/:name',
    { schema: { tags, summary: 'Delete a model with all its versions and artifacts', params: NameParams, response: { 204: Type.Null(), ...problems(401, 403, 404, 409) } } },
    async (request, reply) => {
      await deleteModel(platform.metadata, platform.blobs, request.params.name);
      await deleteModelMonitoring(platform.metadata, platform.blobs, request.params.name);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/v1/models/:name/versions',
    {
      schema: {
        tags,
        summary: 'List trained versions (newest first) with metrics and lineage',
        params: NameParams,
        querystring: PageQuery,
        response: { 200: pageSchema(versionRef), ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 50;
      const cursor = decodeVersionCursor(request.query.cursor);
      const rows = await listVersions(db, request.params.name, limit, cursor);
      const page = pageOf(rows, limit, (r) => String(r.version));
      return { items: page.items.map(toVersionResponse), next_cursor: page.next_cursor };
    },
  );

  app.get(
    '/v1/models/:name/versions/:version',
    { schema: { tags, summary: 'Get one model version', params: VersionParams, response: { 200: versionRef, ...problems(400, 401, 403, 404) } } },
    async (request) => toVersionResponse(await getVersion(db, request.params.name, request.params.version)),
  );

  app.delete(
    '/v1/models/:name/versions/:version',
    {
      schema: { tags, summary: 'Delete a version that no alias points at', params: VersionParams, response: { 204: Type.Null(), ...problems(400, 401, 403, 404, 409) } },
    },
    async (request, reply) => {
      await deleteVersion(db, platform.blobs, request.params.name, request.params.version);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/v1/models/:name/versions/:version/artifacts/:artifact',
    {
      schema: {
        tags,
        summary: 'Download an artifact: model.onnx, model.pt (TorchScript), state_dict.pt, manifest.json',
        params: Type.Object({ ...VersionParams.properties, artifact: Type.String({ pattern: '^[A-Za-z0-9._-]+$' }) }),
        produces: ['application/octet-stream', 'application/json'],
        response: { 200: Type.String({ description: 'The artifact bytes' }), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const version = await getVersion(db, request.params.name, request.params.version);
      const artifact = version.artifacts.find((a) => a.name === request.params.artifact);
      if (!artifact) {
        throw notFound('artifact', `${request.params.artifact} (this version has ${version.artifacts.map((a) => a.name).join(', ')})`);
      }
      const stream = await platform.blobs.get(artifactKey(version.blob_prefix, artifact.name));
      return reply
        .type(ARTIFACT_CONTENT_TYPES[artifact.name] ?? 'application/octet-stream')
        .header('content-length', artifact.size_bytes)
        .header('content-disposition', `attachment; filename="${version.model}-v${version.version}-${artifact.name}"`)
        .header('etag', `"${artifact.sha256}"`)
        .send(stream);
    },
  );

  app.put(
    '/v1/models/:name/aliases/:alias',
    {
      schema: {
        tags,
        summary: 'Point an alias (e.g. production) at a version, or move it',
        params: AliasParams,
        body: Type.Object({ version: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
        response: { 200: versionRef, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await setAlias(db, request.params.name, request.params.alias, request.body.version);
      return toVersionResponse(await getVersion(db, request.params.name, request.body.version));
    },
  );

  app.delete(
    '/v1/models/:name/aliases/:alias',
    { schema: { tags, summary: 'Remove an alias', params: AliasParams, response: { 204: Type.Null(), ...problems(400, 401, 403, 404) } } },
    async (request, reply) => {
      await deleteAlias(db, request.params.name, request.params.alias);
      return reply.status(204).send(null);
    },
  );
}
