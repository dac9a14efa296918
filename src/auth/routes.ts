// Token management over the API (admin scope, see scopes.ts): create (the secret is in the answer
// once), list, revoke. A revocation here drops this server's cached answer at once; other servers
// stop accepting the token within the verification cache window (docs/auth.md).
import { Type } from 'typebox';
import type { Api, RouteContext } from '../api/route-context.ts';
import { IdParams, problems } from '../api/schemas.ts';
import { PageQuery, decodeCursor, pageOf, pageSchema } from '../api/pagination.ts';
import { SCOPES, TOKEN_NAME_PATTERN, createToken, listTokens, revokeToken } from './tokens.ts';
import { tokenVerifier } from './plugin.ts';
import { TrainyardError } from '../errors.ts';

const Nullable = <T extends import('typebox').TSchema>(t: T) => Type.Union([t, Type.Null()]);
const ScopeSchema = Type.Union(
  SCOPES.map((s) => Type.Literal(s)),
  { description: 'read: GET routes; write: read + create, train, predict, cancel; admin: everything, incl. deletes and tokens' },
);

const TokenSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    scope: ScopeSchema,
    created_at: Type.String({ format: 'date-time' }),
    last_used_at: Nullable(Type.String({ format: 'date-time', description: 'Updated at most once a minute' })),
    revoked_at: Nullable(Type.String({ format: 'date-time' })),
  },
  { $id: 'ApiToken' },
);

const CreatedTokenSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    scope: ScopeSchema,
    token: Type.String({ description: 'The secret, shown this once: only its hash is stored.' }),
    created_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'CreatedApiToken' },
);

const CreateBody = Type.Object(
  {
    name: Type.String({ pattern: TOKEN_NAME_PATTERN, description: 'Unique among active tokens, e.g. ci-deploy' }),
    scope: ScopeSchema,
  },
  { additionalProperties: false },
);

export async function tokenRoutes(app: Api, { platform }: RouteContext): Promise<void> {
  const { db } = platform.metadata;
  const tags = ['tokens'];
  app.addSchema(TokenSchema);
  app.addSchema(CreatedTokenSchema);

  app.post(
    '/v1/tokens',
    {
      schema: {
        tags,
        summary: 'Create an API token (admin); the token is in this answer only',
        body: CreateBody,
        response: { 201: Type.Ref('CreatedApiToken'), ...problems(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const created = await createToken(db, request.body);
      request.log.info({ token_id: created.id, name: created.name, scope: created.scope, by: request.apiToken?.id }, 'API token created');
      const { id, name, scope, token, created_at } = created;
      return reply.status(201).header('cache-control', 'no-store').send({ id, name, scope, token, created_at });
    },
  );

  app.get(
    '/v1/tokens',
    {
      schema: {
        tags,
        summary: 'List API tokens, newest first (never their secrets)',
        querystring: PageQuery,
        response: { 200: pageSchema(Type.Ref('ApiToken')), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 50;
      const rows = await listTokens(db, { limit, cursor: decodeCursor(request.query.cursor) });
      return pageOf(rows, limit, (r) => r.id);
    },
  );

  app.delete(
    '/v1/tokens/:id',
    {
      schema: {
        tags,
        summary: 'Revoke an API token (kept in the list with revoked_at)',
        params: IdParams,
        response: { 204: Type.Null(), ...problems(401, 403, 404) },
      },
    },
    async (request, reply) => {
      if (!request.params.id.startsWith('tok_')) {
        // Only ids here (names are for the CLI): a name could match several tokens.
        throw new TrainyardError('NOT_FOUND', `token "${request.params.id}" does not exist (revoke by id, e.g. tok_…)`);
      }
      const revoked = await revokeToken(db, request.params.id);
      tokenVerifier(platform).forget(revoked.map((t) => t.id));
      request.log.info({ token_id: request.params.id, by: request.apiToken?.id }, 'API token revoked');
      return reply.status(204).send(null);
    },
  );
}
