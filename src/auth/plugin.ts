// Access control for the API: one onRequest hook on the root instance, added before any route
// module registers, so every route (encapsulated ones included) passes through it before its body
// is read. Public routes pass; everything else needs `Authorization: Bearer ty_…` with a scope at
// least the one `requiredAccess` names. 401 (with `WWW-Authenticate: Bearer`) when the token is
// missing, malformed, unknown or revoked; 403 when its scope is too small. See docs/auth.md.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Api } from '../api/route-context.ts';
import type { Platform } from '../platform.ts';
import { TrainyardError } from '../errors.ts';
import { sendProblem } from '../api/problem.ts';
import { TokenVerifier, type TokenIdentity } from './tokens.ts';
import { allows, authEnabled, isLoopbackHost, requiredAccess } from './scopes.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified token of this request (null on public routes and when auth is off). */
    apiToken: TokenIdentity | null;
  }
}

const REALM = 'realm="trainyard"';
const verifiers = new WeakMap<Platform, TokenVerifier>();

/** The one TokenVerifier (and cache) of a platform, shared by the hook and the token routes. */
export function tokenVerifier(platform: Platform): TokenVerifier {
  let verifier = verifiers.get(platform);
  if (!verifier) {
    verifier = new TokenVerifier(platform.metadata.db, {
      onTouchError: (error) => platform.logger.warn({ err: error }, 'could not record an API token’s last use'),
    });
    verifiers.set(platform, verifier);
  }
  return verifier;
}

/** The token of an `Authorization: Bearer <token>` header; undefined when there is none or another scheme. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  return match ? match[1] : undefined;
}

function reject(request: FastifyRequest, reply: FastifyReply, challenge: string, error: TrainyardError): FastifyReply {
  reply.header('www-authenticate', `Bearer ${challenge}`);
  return sendProblem(request, reply, error);
}

export function registerAuth(app: Api, platform: Platform): void {
  const { config, logger } = platform;
  app.decorateRequest('apiToken', null);
  if (!authEnabled(config)) {
    const why =
      config.auth === 'off'
        ? `TRAINYARD_AUTH=off: anyone who can reach ${config.host}:${config.port} has full (admin) access`
        : `TRAINYARD_AUTH=auto and ${config.host} is loopback: only this machine can connect; set TRAINYARD_AUTH=on to require tokens anyway`;
    logger.warn({ auth: config.auth, host: config.host, loopback: isLoopbackHost(config.host) }, `API AUTHENTICATION IS OFF (${why})`);
    return;
  }
  logger.info({ auth: config.auth, host: config.host }, 'API authentication is on: /v1 requires Authorization: Bearer <token> (docs/auth.md)');
  const verifier = tokenVerifier(platform);

  // Callback style, not async: a token verified in the last few seconds is answered from the
  // cache without a promise, which keeps the hook cheap on the predict hot path.
  app.addHook('onRequest', (request, reply, done) => {
    const need = requiredAccess(request.method, request.routeOptions.url, request.url);
    if (need === 'public') return done();
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) {
      reject(
        request,
        reply,
        REALM,
        new TrainyardError('UNAUTHORIZED', 'this route needs an API token: send `Authorization: Bearer <token>` (create one with `trainyard tokens create`)'),
      );
      return;
    }
    const decide = (identity: TokenIdentity | null): void => {
      if (!identity) {
        reject(request, reply, `${REALM}, error="invalid_token"`, new TrainyardError('UNAUTHORIZED', 'the API token is not valid: it is malformed, unknown or revoked'));
        return;
      }
      if (!allows(identity.scope, need)) {
        const route = `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`;
        reject(
          request,
          reply,
          `${REALM}, error="insufficient_scope", scope="${need}"`,
          new TrainyardError('FORBIDDEN', `${route} needs a token with the "${need}" scope; token "${identity.name}" has "${identity.scope}"`, {
            errors: [{ field: 'authorization', message: `needs scope "${need}"` }],
          }),
        );
        return;
      }
      request.apiToken = identity;
      done();
    };
    const known = verifier.peek(token);
    if (known !== undefined) return decide(known);
    verifier
      .verify(token)
      .then(decide, (error: unknown) => done(error as Error))
      .catch((error: unknown) => request.log.error({ err: error }, 'the auth hook failed'));
  });
}
