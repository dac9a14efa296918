// Answers that used to carry the wrong status or a misleading message (hardening probe).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

const problem = async (response: Response) => {
  expect(response.headers.get('content-type')).toContain('application/problem+json');
  return (await response.json()) as { code: string; detail: string; errors: Array<{ field: string; message: string }> };
};

describe('statuses', () => {
  it('says a "__proto__" key is refused, rather than that the JSON is invalid; says where invalid JSON is invalid', async () => {
    const poisoned = await fetch(`${server.url}/v1/models`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"a","__proto__":{"admin":true}}' });
    expect(poisoned.status).toBe(400);
    expect((await problem(poisoned)).detail).toContain('__proto__');
    const broken = await fetch(`${server.url}/v1/models`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' });
    expect(broken.status).toBe(400);
    expect((await problem(broken)).detail).toMatch(/not valid JSON: .+/);
  });

  it('answers 400 to a pagination cursor this server did not issue, instead of an empty page', async () => {
    for (const cursor of ['garbage', Buffer.from('zz_abc').toString('base64url'), Buffer.from('ds_00000000000000000000000000').toString('base64url') + 'A']) {
      for (const path of ['/v1/datasets', '/v1/training-jobs', '/v1/models']) {
        const response = await fetch(`${server.url}${path}?cursor=${cursor}`);
        expect(response.status, `${path} ${cursor}`).toBe(400);
        expect((await problem(response)).errors[0].field).toBe('querystring.cursor');
      }
    }
    expect((await fetch(`${server.url}/v1/datasets?cursor=${Buffer.from('ds_0000000000aaaaaaaaaaaaaaaa').toString('base64url')}`)).status).toBe(200);
  });

  it('answers a URL that does not decode with problem+json (found by test/fuzz.test.ts)', async () => {
    const response = await fetch(`${server.url}/v1/models/%E0%A4%A`);
    expect(response.status).toBe(400);
    expect((await problem(response)).code).toBe('VALIDATION_FAILED');
  });

  it('does not answer a file the static server refuses as a validation failure', async () => {
    for (const path of ['/assets/.env', '/assets/%2e%2e/index.html', '/assets/..%2f..%2fpackage.json']) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(404);
      expect((await problem(response)).code).toBe('NOT_FOUND');
    }
  });
});

describe('security headers', () => {
  it('sends nosniff, no framing and a content security policy on the dashboard, API answers and downloads', async () => {
    const dashboard = await fetch(`${server.url}/`);
    const api = await fetch(`${server.url}/v1/datasets`);
    const missing = await fetch(`${server.url}/v1/datasets/nope/content`);
    for (const response of [dashboard, api, missing]) {
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    }
    expect(dashboard.headers.get('content-type')).toContain('text/html');
    expect(dashboard.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(api.headers.get('content-security-policy')).toContain("default-src 'none'");
    const docs = await fetch(`${server.url}/docs`, { redirect: 'manual' });
    expect(docs.headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
  });
});
