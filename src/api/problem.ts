// The one place where errors become HTTP answers: RFC 9457 problem+json with `errors[]` naming each
// bad field. Domain errors carry their code; Fastify's own errors (validation, body limits, content
// types) are translated to the same registry so a client sees one shape everywhere.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, TrainyardError, problemType, type ErrorCode, type FieldError } from '../errors.ts';
import { isConnectionError, toStoreUnavailable } from '../store/retry.ts';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  instance?: string;
  request_id?: string;
  errors: FieldError[];
}

/** Most entries one answer lists in `errors[]`; the detail says how many more there were. */
export const MAX_PROBLEM_ERRORS = 20;
/** Longest `detail` (and logged detail), in characters. */
export const MAX_PROBLEM_DETAIL = 2000;

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * The answer for an error. Bounded whatever the input was: at most MAX_PROBLEM_ERRORS entries (a
 * header of 100,000 empty names is one answer of 20 entries, not 10 MB) and a detail of at most
 * MAX_PROBLEM_DETAIL characters, each entry's text clipped too.
 */
export function toProblem(error: TrainyardError, instance?: string): Problem {
  const more = error.errors.length - MAX_PROBLEM_ERRORS;
  const detail = clip(error.message, MAX_PROBLEM_DETAIL - 40) + (more > 0 ? ` (${error.errors.length} problems, the first ${MAX_PROBLEM_ERRORS} listed)` : '');
  return {
    type: problemType(error.code),
    title: ERROR_CODES[error.code].title,
    status: error.status,
    detail,
    code: error.code,
    instance: instance === undefined ? undefined : clip(instance, 1000),
    errors: error.errors.slice(0, MAX_PROBLEM_ERRORS).map((e) => ({ ...e, field: clip(e.field, 200), message: clip(e.message, 500) })),
  };
}

interface AjvIssue {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

function validationField(context: string | undefined, issue: AjvIssue): string {
  const path = (issue.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
  const missing = issue.params?.missingProperty ?? issue.params?.additionalProperty;
  const leaf = typeof missing === 'string' ? (path ? `${path}.${missing}` : missing) : path;
  return [context, leaf].filter(Boolean).join('.') || (context ?? 'body');
}

/** Translates any thrown value to a TrainyardError (unknown errors become INTERNAL). */
export function asTrainyardError(error: unknown): TrainyardError {
  if (error instanceof TrainyardError) return error;
  // The database went away mid-request: a 503 the client may retry, not a 500.
  if (isConnectionError(error)) return toStoreUnavailable(error, 'database') as TrainyardError;
  const fastifyError = error as FastifyError & { validation?: AjvIssue[]; validationContext?: string };
  if (Array.isArray(fastifyError.validation)) {
    const errors = fastifyError.validation.map((issue) => ({
      field: validationField(fastifyError.validationContext, issue),
      message: issue.params?.additionalProperty ? 'is not a known property' : (issue.message ?? 'is invalid'),
    }));
    const detail = errors
      .slice(0, MAX_PROBLEM_ERRORS)
      .map((e) => `${e.field} ${e.message}`)
      .join('; ');
    return new TrainyardError('VALIDATION_FAILED', detail, { errors });
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return new TrainyardError('UPLOAD_TOO_LARGE', fastifyError.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new TrainyardError('UNSUPPORTED_MEDIA_TYPE', fastifyError.message);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new TrainyardError('VALIDATION_FAILED', fastifyError.message, { errors: [{ field: 'body', message: fastifyError.message }] });
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new TrainyardError('UNSUPPORTED_MEDIA_TYPE', fastifyError.message);
  }
  // Other 4xx from Fastify and its plugins (the static-file server's 403 and 404, …) keep their meaning.
  switch (fastifyError.statusCode) {
    case 403:
      return new TrainyardError('NOT_FOUND', 'not found'); // a file the static server will not serve is, to the client, not there
    case 404:
      return new TrainyardError('NOT_FOUND', fastifyError.message || 'not found');
    case 413:
      return new TrainyardError('UPLOAD_TOO_LARGE', fastifyError.message);
    case 415:
      return new TrainyardError('UNSUPPORTED_MEDIA_TYPE', fastifyError.message);
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return new TrainyardError('VALIDATION_FAILED', fastifyError.message);
  }
  return new TrainyardError('INTERNAL', 'An unexpected error occurred; the request id in this answer finds it in the server log.', { cause: error });
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  const trainyardError = asTrainyardError(error);
  if (trainyardError.status >= 500) {
    request.log.error({ err: error, code: trainyardError.code }, 'request failed');
  } else {
    request.log.info({ code: trainyardError.code, detail: clip(trainyardError.message, MAX_PROBLEM_DETAIL) }, 'request rejected');
  }
  const problem = toProblem(trainyardError, request.url);
  problem.request_id = String(request.id);
  return reply.status(problem.status).type('application/problem+json').send(problem);
}
