// Schema-driven fuzzing: every operation of /openapi.json gets generated valid, boundary and invalid
// requests (fast-check, seeded and time-boxed). Whatever is sent: never a 5xx, always problem+json
// on a 4xx, nothing stored by a 4xx (rows and blobs counted before and after), and the server's
// memory stays bounded. Reproduce a failure with the seed and path fast-check prints.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { startTestServer, type TestServer } from './support/server.ts';

type Schema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
};
interface Operation {
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: Schema }>;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

const SEED = 20261203;
const TIME_BUDGET_MS = 25_000;

let server: TestServer;
let doc: Doc;
beforeAll(async () => {
  server = await startTestServer();
  doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as Doc;
});
afterAll(async () => {
  await server?.close();
});

function resolve(schema: Schema): Schema {
  if (schema.$ref) return resolve(doc.components?.schemas?.[schema.$ref.split('/').pop()!] ?? {});
  return schema;
}

/** Values for a schema: valid ones, its boundaries and just past them, and arbitrary JSON. */
function valueOf(raw: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  const schema = resolve(raw ?? {});
  const anything = fc.jsonValue({ maxDepth: 2 });
  if (depth > 3) return anything;
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants) return fc.oneof(...variants.map((s) => valueOf(s, depth + 1)), anything);
  if (schema.enum) return fc.oneof(fc.constantFrom(...schema.enum), anything);
  if (schema.const !== undefined) return fc.oneof(fc.constant(schema.const), anything);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string':
      return fc.oneof(fc.string({ maxLength: 24 }), fc.constantFrom('', 'x'.repeat((schema.maxLength ?? 200) + 1), '../..', '\u202e\u200b', '__proto__', 'NaN'), anything);
    case 'integer':
    case 'number': {
      const edges = [schema.minimum, schema.maximum].filter((v): v is number => v !== undefined).flatMap((v) => [v - 1, v, v + 1]);
      return fc.oneof(fc.integer({ min: -5, max: 1_000_000 }), fc.constantFrom(0, -1, 1e10, 2 ** 53, ...edges), fc.double({ noNaN: true }), anything);
    }
    case 'boolean':
      return fc.oneof(fc.boolean(), anything);
    case 'array':
      return fc.oneof(fc.array(valueOf(schema.items, depth + 1), { maxLength: 4 }), anything);
    case 'object': {
      const properties = Object.entries(schema.properties ?? {});
      if (properties.length === 0) return fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), anything, { maxKeys: 3 }), anything);
      const record = fc.record(Object.fromEntries(properties.map(([k, s]) => [k, valueOf(s, depth + 1)])), { requiredKeys: [] });
      return fc.oneof({ weight: 4, arbitrary: record }, { weight: 1, arbitrary: anything });
    }
    default:
      return anything;
  }
}

interface Call {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

function requestsFor(path: string, method: string, operation: Operation): fc.Arbitrary<Call> {
  const params = operation.parameters ?? [];
  const pathParams = params.filter((p) => p.in === 'path');
  const queryParams = params.filter((p) => p.in === 'query');
  const json = operation.requestBody?.content?.['application/json']?.schema;
  const csv = operation.requestBody?.content?.['text/csv'];
  const scalar = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v) ?? '');
  return fc
    .record({
      path: fc.tuple(...pathParams.map((p) => fc.oneof(fc.constantFrom('x', '1', 'ds_00000000000000000000000000'), valueOf(p.schema).map(scalar)))),
      query: fc.record(Object.fromEntries(queryParams.map((p) => [p.name, valueOf(p.schema).map(scalar)])), { requiredKeys: [] }),
      extra: fc.option(fc.constantFrom('zz', 'kind', '__proto__'), { nil: undefined }),
      body: json ? fc.oneof({ weight: 5, arbitrary: valueOf(json).map((v) => JSON.stringify(v) ?? 'null') }, { weight: 1, arbitrary: fc.string({ maxLength: 40 }) }) : fc.constant(undefined),
      csv: csv ? fc.oneof(fc.constant('a,b\n1,2\n'), fc.string({ maxLength: 60 })) : fc.constant(undefined),
      asCsv: fc.boolean(),
    })
    .map(({ path: values, query, extra, body, csv: csvBody, asCsv }) => {
      let i = 0;
      const url = path.replace(/\{\w+\}/g, () => encodeURIComponent(String(values[i++] ?? 'x')));
      const search = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined) as Array<[string, string]>);
      if (extra) search.set(extra, '1');
      const qs = search.toString();
      const call: Call = { method: method.toUpperCase(), url: `${url}${qs ? `?${qs}` : ''}`, headers: {} };
      if (csvBody !== undefined && (asCsv || body === undefined)) {
        call.headers['content-type'] = 'text/csv';
        call.body = csvBody;
      } else if (body !== undefined) {
        call.headers['content-type'] = 'application/json';
        call.body = body;
      }
      return call;
    });
}

async function stored(): Promise<string> {
  const { db } = server.platform.metadata;
  const counts = await Promise.all(
    (['datasets', 'models', 'model_versions', 'model_aliases', 'jobs', 'api_tokens'] as const).map(async (table) =>
      Number((await db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n),
    ),
  );
  return `${counts.join(',')} blobs:${(await server.platform.blobs.list('')).length}`;
}

describe('schema-driven fuzzing of every operation', () => {
  it('never answers 5xx, answers problem+json on 4xx, stores nothing on 4xx, keeps memory bounded', async () => {
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([method]) => ['get', 'post', 'put', 'delete'].includes(method))
        .map(([method, operation]) => requestsFor(path, method, operation)),
    );
    expect(operations.length).toBeGreaterThan(30);
    const rssBefore = process.memoryUsage().rss;
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(...operations), async (call) => {
        const before = await stored();
        const response = await fetch(`${server.url}${call.url}`, { method: call.method, headers: call.headers, body: call.method === 'GET' || call.method === 'DELETE' ? undefined : call.body });
        const text = await response.text();
        sent++;
        expect(response.status, `${call.method} ${call.url} → ${text.slice(0, 300)}`).toBeLessThan(500);
        if (response.status >= 400) {
          expect(response.headers.get('content-type'), `${call.method} ${call.url}`).toContain('application/problem+json');
          expect((JSON.parse(text) as { code?: string }).code).toBeTruthy();
          expect(await stored(), `${call.method} ${call.url} stored something with ${response.status}`).toBe(before);
        }
      }),
      { seed: SEED, numRuns: 2000, interruptAfterTimeLimit: TIME_BUDGET_MS, markInterruptAsFailure: false },
    );
    expect(sent).toBeGreaterThan(50);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(300 * 1024 * 1024);
  }, 120_000);
});
