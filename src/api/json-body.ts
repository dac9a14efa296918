// JSON request bodies, parsed by Fastify's own parser (prototype-poisoning checks included) but
// answered precisely: Fastify reports every failure as "Body is not valid JSON", including a body
// that is valid JSON with a "__proto__" or "constructor.prototype" key, which it refuses on purpose.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TrainyardError } from '../errors.ts';

type Done = (error: Error | null, value?: unknown) => void;
type JsonParser = (request: FastifyRequest, body: string, done: Done) => void;

/** Why a body Fastify's parser refused was refused, as a 400 naming the problem. */
function explain(body: string): TrainyardError {
  try {
    JSON.parse(body);
  } catch (error) {
    const message = `the body is not valid JSON: ${(error as Error).message}`;
    return new TrainyardError('VALIDATION_FAILED', message, { errors: [{ field: 'body', message }] });
  }
  const message = 'the body has a "__proto__" or "constructor" key with a prototype, which is refused (prototype poisoning)';
  return new TrainyardError('VALIDATION_FAILED', message, { errors: [{ field: 'body', message }] });
}

/** Fastify's JSON parser, with its refusals explained (see explain). */
export function jsonBodyParser(app: FastifyInstance | { getDefaultJsonParser: FastifyInstance['getDefaultJsonParser'] }): JsonParser {
  const parse = app.getDefaultJsonParser('error', 'error') as unknown as JsonParser;
  return (request, body, done) =>
    parse(request, body, (error, value) => {
      if (!error) done(null, value);
      else if ((error as { code?: string }).code === 'FST_ERR_CTP_INVALID_JSON_BODY') done(explain(body));
      else done(error);
    });
}
