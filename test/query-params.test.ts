// Every /v1 operation of the OpenAPI document refuses a query parameter it does not declare (400
// naming it), instead of passing it on to the handler: `GET /v1/training-jobs?kind=inference` once
// overrode the route's own job-kind filter and answered 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';

interface Operation {
  parameters?: Array<{ in: string; name: string }>;
}

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

describe('unknown query parameters', () => {
  it('are refused by every /v1 operation of the OpenAPI document', async () => {
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, Operation>> };
    let checked = 0;
    for (const [path, operations] of Object.entries(doc.paths)) {
      if (!path.startsWith('/v1/')) continue;
      for (const [method, operation] of Object.entries(operations)) {
        const url = path.replace(/\{(\w+)\}/g, (_m, name: string) => (name === 'version' ? '1' : 'x'));
        const declared = (operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
        expect(declared).not.toContain('zz_unknown');
        const response = await fetch(`${server.url}${url}?zz_unknown=1`, {
          method: method.toUpperCase(),
          // A body the route accepts, where it takes JSON, so that only the query is wrong.
          ...(method === 'get' || method === 'delete' ? {} : { headers: { 'content-type': 'application/json' }, body: '{}' }),
        });
        const problem = (await response.json()) as { code: string; errors: Array<{ field: string }> };
        // Predict looks its model up before anything else (404 for a model that does not exist).
        if (path.endsWith('/predict')) {
          expect(response.status, `${method} ${path}`).toBe(404);
          continue;
        }
        expect(response.status, `${method} ${path}`).toBe(400);
        if (method === 'get' || method === 'delete') expect(problem.errors.map((e) => e.field), `${method} ${path}`).toContain('querystring.zz_unknown');
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
    // The probe that found it.
    const kind = await fetch(`${server.url}/v1/training-jobs?kind=inference`);
    expect(kind.status).toBe(400);
    expect(((await kind.json()) as { errors: Array<{ field: string }> }).errors[0].field).toBe('querystring.kind');
  });
});
