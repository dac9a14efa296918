// Schemas shared by route modules: the problem+json body and the error responses a route declares.
import { Type } from 'typebox';

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable error code (docs/errors.md).' }),
    instance: Type.Optional(Type.String()),
    request_id: Type.Optional(Type.String()),
    errors: Type.Array(
      Type.Object({
        field: Type.String({ description: 'The offending field, column, or `body`.' }),
        message: Type.String(),
        line: Type.Optional(Type.Integer({ description: '1-based line in the uploaded file.' })),
        row: Type.Optional(Type.Integer({ description: '0-based index in `inputs`, or 1-based data row of a CSV body.' })),
      }),
    ),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details.' },
);

const problem = (description: string) => ({ ...Type.Ref('Problem'), description });

/** The error answers every route can give, for the OpenAPI document. */
export const PROBLEM_RESPONSES = {
  400: problem('Invalid request (problem+json naming each bad field)'),
  401: problem('Missing or invalid API token'),
  403: problem('The token’s scope does not allow this route'),
  404: problem('Not found'),
  409: problem('Conflict with the current state'),
  413: problem('Payload too large'),
  415: problem('Unsupported content type'),
  429: problem('Too many open streams'),
  500: problem('Internal error'),
  503: problem('A backing store is unavailable'),
};

export function problems<K extends keyof typeof PROBLEM_RESPONSES>(...codes: K[]): Pick<typeof PROBLEM_RESPONSES, K> {
  const out = {} as Pick<typeof PROBLEM_RESPONSES, K>;
  for (const code of codes) out[code] = PROBLEM_RESPONSES[code];
  return out;
}

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
