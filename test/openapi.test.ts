// The OpenAPI document is generated from the route schemas: it must be a valid OpenAPI 3 document,
// cover every route the server answers, and declare the errors each operation can give.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startTestServer, type TestServer } from './support/server.ts';
import { ALL_ROUTES } from '../src/api/routes/index.ts';
import type { RouteModule } from '../src/api/route-context.ts';

let server: TestServer;
const registered: Array<{ method: string; url: string }> = [];
const collectRoutes: RouteModule = (app) => {
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) registered.push({ method, url: route.url });
  });
};
let doc: { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown>; summary?: string }>> };

beforeAll(async () => {
  server = await startTestServer({ routes: [collectRoutes, ...ALL_ROUTES] });
  doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as typeof doc;
});
afterAll(() => server?.close());

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(doc as unknown as Parameters<Validator["validate"]>[0]);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 2)?.slice(0, 2000)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toMatch(/^3\./);
  });

  it('covers every /v1 route the server registers, each with a summary and its 4xx answers', () => {
    const v1 = registered.filter((r) => r.url.startsWith('/v1/') && r.method !== 'HEAD');
    expect(v1.length).toBeGreaterThan(20);
    for (const { method, url } of v1) {
      const path = url.replace(/:(\w+)/g, '{$1}');
      const operation = doc.paths[path]?.[method.toLowerCase()];
      expect(operation, `${method} ${path}`).toBeDefined();
      expect(operation.summary, `${method} ${path} summary`).toBeTruthy();
      expect(Object.keys(operation.responses).some((code) => code.startsWith('4')), `${method} ${path} errors`).toBe(true);
    }
  });
});
