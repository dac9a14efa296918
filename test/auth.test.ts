// Access control end to end, over real HTTP with TRAINYARD_AUTH=on: every route of the OpenAPI
// document is called with no token, a read, a write and an admin token, so a route added later
// cannot ship unprotected (or with the wrong scope) without this test failing. Also: revocation,
// public routes, the first admin token from the CLI, and that tokens never reach the logs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../src/config.ts';
import { createLogger, openPlatform, type Platform } from '../src/platform.ts';
import { buildApp } from '../src/api/app.ts';
import type { Api } from '../src/api/route-context.ts';
import { ALL_ROUTES } from '../src/api/routes/index.ts';
import { DASHBOARD_DIR } from '../src/api/routes/dashboard.ts';
import { tokensCommand, type TokensIO } from '../src/cli/tokens.ts';

interface Server {
  url: string;
  platform: Platform;
  app: Api;
  env: Record<string, string>;
  /** Every line the logger wrote (trace level), raw. */
  logs: string[];
  close(): Promise<void>;
}

/** Starts the API with a logger from createLogger (the production redaction) whose output is captured. */
async function startServer(env: Record<string, string>, routes = ALL_ROUTES): Promise<Server> {
  const dataDir = await mkdtemp(join(tmpdir(), 'trainyard-auth-'));
  const fullEnv = { TRAINYARD_DATA_DIR: dataDir, TRAINYARD_HOST: '127.0.0.1', TRAINYARD_PORT: '0', TRAINYARD_LOG_LEVEL: 'trace', ...env };
  const config = loadConfig(fullEnv);
  const logs: string[] = [];
  const logger = createLogger(config);
  // Swap pino's destination for an in-memory one; the options (level, redaction) stay createLogger's.
  (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] = { write: (line: string) => void logs.push(line) };
  const platform = await openPlatform(config, { migrate: true, logger });
  const app = await buildApp(platform, { routes });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    platform,
    app,
    env: fullEnv,
    logs,
    async close() {
      await app.close();
      await platform.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs `trainyard tokens …` in-process against the server's database. */
async function cli(env: Record<string, string>, ...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  let stdout = '';
  let stderr = '';
  let code = 0;
  const io: TokensIO = { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env, exit: (c) => (code = c) };
  const command = tokensCommand(io);
  for (const c of [command, ...command.commands]) c.exitOverride().configureOutput({ writeErr: (t) => (stderr += t), writeOut: (t) => (stdout += t) });
  await command.parseAsync(args, { from: 'user' });
  return { stdout, stderr, code };
}

interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

async function call(server: Server, method: string, path: string, token?: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(server.url + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  // Event streams would never end: what matters is the status; read a small body only.
  const streaming = (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
  const text = streaming ? '' : await response.text();
  if (streaming) await response.body?.cancel();
  return { status: response.status, headers: response.headers, body: text };
}

const DUMMY: Record<string, string> = { version: '1', artifact: 'model.onnx', alias: 'zz-alias' };
const fill = (path: string) => path.replace(/\{(\w+)\}/g, (_, name: string) => DUMMY[name] ?? 'zz-dummy-0');

interface Operation {
  method: string;
  path: string;
  url: string;
  declared: string[];
  security: unknown;
}

describe('access control over HTTP (TRAINYARD_AUTH=on)', () => {
  let server: Server;
  let operations: Operation[];
  const tokens: Record<'read' | 'write' | 'admin', string> = { read: '', write: '', admin: '' };

  beforeAll(async () => {
    server = await startServer({ TRAINYARD_AUTH: 'on' });
    // The first admin token is made on the server host, directly in the database.
    const made = await cli(server.env, 'create', '--name', 'bootstrap', '--scope', 'admin');
    expect(made.code).toBe(0);
    tokens.admin = made.stdout.trim();
    expect(tokens.admin).toMatch(/^ty_[A-Za-z0-9_-]{43}$/);
    expect(made.stderr).toContain('not shown again');
    expect(made.stderr).not.toContain(tokens.admin);
    // The others through the API, with that admin token.
    for (const scope of ['read', 'write'] as const) {
      const answer = await call(server, 'POST', '/v1/tokens', tokens.admin, { name: `e2e-${scope}`, scope });
      expect(answer.status).toBe(201);
      expect(answer.headers.get('cache-control')).toBe('no-store');
      const created = JSON.parse(answer.body) as { token: string; scope: string; id: string };
      expect(created.scope).toBe(scope);
      tokens[scope] = created.token;
    }

    const doc = JSON.parse((await call(server, 'GET', '/openapi.json')).body) as {
      paths: Record<string, Record<string, { responses?: Record<string, unknown>; security?: unknown }>>;
    };
    operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        url: fill(path),
        declared: Object.keys(op.responses ?? {}),
        security: op.security,
      })),
    );
  });

  afterAll(async () => {
    await server?.close();
  });

  const v1 = () => operations.filter((o) => o.path.startsWith('/v1/'));
  const isTokenRoute = (o: Operation) => o.path === '/v1/tokens' || o.path.startsWith('/v1/tokens/');

  it('finds the whole API in the OpenAPI document, each /v1 operation declaring 401 and 403', () => {
    const names = operations.map((o) => `${o.method} ${o.path}`);
    for (const expected of [
      'GET /v1/models',
      'POST /v1/models/{name}/predict',
      'POST /v1/training-jobs',
      'DELETE /v1/models/{name}',
      'PUT /v1/models/{name}/aliases/{alias}',
      'POST /v1/tokens',
      'GET /v1/tokens',
      'DELETE /v1/tokens/{id}',
    ]) {
      expect(names).toContain(expected);
    }
    expect(v1().length).toBeGreaterThanOrEqual(25);
    for (const o of v1()) {
      expect(o.declared, `${o.method} ${o.path}`).toEqual(expect.arrayContaining(['401', '403']));
      expect(o.security, `${o.method} ${o.path} must not opt out of bearerAuth`).not.toEqual([]);
    }
  });

  it('answers 401 problem+json with WWW-Authenticate: Bearer on every /v1 route without a token', async () => {
    for (const o of v1()) {
      const answer = await call(server, o.method, o.url, undefined, o.method === 'POST' || o.method === 'PUT' ? {} : undefined);
      expect(answer.status, `${o.method} ${o.path}`).toBe(401);
      expect(answer.headers.get('www-authenticate'), `${o.method} ${o.path}`).toMatch(/^Bearer realm="trainyard"/);
      expect(answer.headers.get('content-type')).toContain('application/problem+json');
      expect(JSON.parse(answer.body)).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    }
  });

  it('lets a read token GET, and refuses it (403, naming the scope) everything else', async () => {
    for (const o of v1()) {
      const answer = await call(server, o.method, o.url, tokens.read, o.method === 'POST' || o.method === 'PUT' ? {} : undefined);
      const label = `${o.method} ${o.path} → ${answer.status} ${answer.body.slice(0, 200)}`;
      if (o.method === 'GET' && !isTokenRoute(o)) {
        expect([401, 403], label).not.toContain(answer.status);
      } else {
        expect(answer.status, label).toBe(403);
        const need = o.method === 'DELETE' || isTokenRoute(o) ? 'admin' : 'write';
        expect(JSON.parse(answer.body).detail, label).toContain(`"${need}" scope`);
        expect(answer.headers.get('www-authenticate'), label).toContain(`error="insufficient_scope", scope="${need}"`);
      }
    }
  });

  it('lets a write token GET, create, train, predict and cancel, but not delete or manage tokens', async () => {
    for (const o of v1()) {
      const answer = await call(server, o.method, o.url, tokens.write, o.method === 'POST' || o.method === 'PUT' ? {} : undefined);
      const label = `${o.method} ${o.path} → ${answer.status} ${answer.body.slice(0, 200)}`;
      if (isTokenRoute(o) || o.method === 'DELETE') {
        expect(answer.status, label).toBe(403);
      } else {
        expect(['GET', 'POST', 'PUT'], label).toContain(o.method);
        expect([401, 403], label).not.toContain(answer.status);
      }
    }
  });

  it('lets an admin token through everywhere', async () => {
    for (const o of v1()) {
      const answer = await call(server, o.method, o.url, tokens.admin, o.method === 'POST' || o.method === 'PUT' ? {} : undefined);
      expect([401, 403], `${o.method} ${o.path} → ${answer.status} ${answer.body.slice(0, 200)}`).not.toContain(answer.status);
    }
  });

  it('keeps health, metrics, docs and the dashboard public', async () => {
    for (const o of operations.filter((op) => !op.path.startsWith('/v1/'))) {
      expect((await call(server, o.method, o.url)).status, o.path).toBeLessThan(400);
      expect(o.security, o.path).toEqual([]);
    }
    const publicPaths = ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs', '/docs/json', '/', '/models', '/jobs/abc'];
    if (existsSync(join(DASHBOARD_DIR, 'index.html'))) {
      const assets = existsSync(join(DASHBOARD_DIR, 'assets')) ? await readdir(join(DASHBOARD_DIR, 'assets')) : [];
      if (assets.length > 0) publicPaths.push(`/assets/${assets[0]}`);
    }
    for (const path of publicPaths) {
      const answer = await call(server, 'GET', path);
      expect(answer.status, path).toBeLessThan(400);
      expect(answer.headers.get('www-authenticate'), path).toBeNull();
    }
    // An unknown path outside /v1 is a plain 404; an unknown one inside needs a token first.
    expect((await call(server, 'GET', '/no-such-page')).status).toBe(404);
    expect((await call(server, 'GET', '/v1/no-such-route')).status).toBe(401);
    expect((await call(server, 'GET', '/v1/no-such-route', tokens.read)).status).toBe(404);
  });

  it('cannot be dodged by spelling /v1 differently or by HEAD', async () => {
    for (const path of ['/%761/models', '//v1/models', '/v1//models', '/V1/models', '/v1/models/', '/v1/models?x=1', '/v1/models#frag']) {
      expect([401, 404], path).toContain((await call(server, 'GET', path)).status);
      expect((await call(server, 'GET', path)).body, path).not.toContain('"items"');
    }
    expect((await call(server, 'HEAD', '/v1/models')).status).toBe(401);
    expect((await call(server, 'HEAD', '/v1/models', tokens.read)).status).toBe(200);
  });

  it('refuses malformed, unknown and wrongly-schemed credentials with invalid_token', async () => {
    const forged = `ty_${'A'.repeat(43)}`;
    for (const authorization of [`Bearer ${forged}`, 'Bearer nonsense', `Bearer ${tokens.read}x`, `Bearer ${tokens.read.slice(0, -1)}`]) {
      const response = await fetch(`${server.url}/v1/models`, { headers: { authorization } });
      expect(response.status, authorization).toBe(401);
      expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
    }
    const basic = await fetch(`${server.url}/v1/models`, { headers: { authorization: `Basic ${Buffer.from(`x:${tokens.read}`).toString('base64')}` } });
    expect(basic.status).toBe(401);
    const lower = await fetch(`${server.url}/v1/models`, { headers: { authorization: `bearer ${tokens.read}` } });
    expect(lower.status).toBe(200);
  });

  it('lists tokens without secrets or hashes, and records last use', async () => {
    const answer = await call(server, 'GET', '/v1/tokens', tokens.admin);
    expect(answer.status).toBe(200);
    const page = JSON.parse(answer.body) as { items: Array<Record<string, unknown>> };
    expect(page.items.map((t) => t.name)).toEqual(expect.arrayContaining(['bootstrap', 'e2e-read', 'e2e-write']));
    for (const item of page.items) {
      expect(Object.keys(item).sort()).toEqual(['created_at', 'id', 'last_used_at', 'name', 'revoked_at', 'scope']);
    }
    for (const token of Object.values(tokens)) expect(answer.body).not.toContain(token.slice(3));
    expect(page.items.find((t) => t.name === 'bootstrap')?.last_used_at).not.toBeNull();
  });

  it('rejects a token revoked over the API at once (401)', async () => {
    const created = JSON.parse((await call(server, 'POST', '/v1/tokens', tokens.admin, { name: 'short-lived', scope: 'write' })).body) as { id: string; token: string };
    expect((await call(server, 'GET', '/v1/models', created.token)).status).toBe(200);
    expect((await call(server, 'DELETE', `/v1/tokens/${created.id}`, tokens.admin)).status).toBe(204);
    const after = await call(server, 'GET', '/v1/models', created.token);
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toContain('invalid_token');
    expect((await call(server, 'DELETE', '/v1/tokens/tok_doesnotexist', tokens.admin)).status).toBe(404);
  });

  it('rejects a token revoked with the CLI (another connection) within the cache window', async () => {
    const created = JSON.parse((await call(server, 'POST', '/v1/tokens', tokens.admin, { name: 'cli-revoked', scope: 'read' })).body) as { token: string };
    expect((await call(server, 'GET', '/v1/models', created.token)).status).toBe(200);
    const revoked = await cli(server.env, 'revoke', 'cli-revoked');
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain('revoked tok_');
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < 8_000) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      status = (await call(server, 'GET', '/v1/models', created.token)).status;
    }
    expect(status).toBe(401);
    expect(Date.now() - started).toBeLessThan(7_000);
  });

  it('manages tokens from the CLI: list shows no secrets; bad input fails clearly', async () => {
    const listed = await cli(server.env, 'list');
    expect(listed.stdout).toMatch(/^ID\s+NAME\s+SCOPE/);
    expect(listed.stdout).toContain('bootstrap');
    for (const token of Object.values(tokens)) expect(listed.stdout).not.toContain(token.slice(3));
    const json = JSON.parse((await cli(server.env, 'list', '--json', '--active')).stdout) as Array<{ name: string; revoked_at: string | null }>;
    expect(json.every((t) => t.revoked_at === null)).toBe(true);
    expect(json.map((t) => t.name)).not.toContain('cli-revoked');
    const missing = await cli(server.env, 'revoke', 'nobody-by-that-name');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('no active token has that name');
    const duplicate = await cli(server.env, 'create', '--name', 'bootstrap', '--scope', 'read');
    expect(duplicate.code).not.toBe(0);
    expect(duplicate.stdout).toBe('');
    await expect(cli(server.env, 'create', '--name', 'x', '--scope', 'root')).rejects.toThrow(/scope/);
  });

  it('never writes a token to the logs', async () => {
    // Something that logs request headers wholesale still has the Authorization header redacted.
    server.platform.logger.info({ req: { headers: { authorization: `Bearer ${tokens.admin}` } } }, 'headers logged by mistake');
    server.platform.logger.child({ name: 'x' }).info({ request: { headers: { authorization: `Bearer ${tokens.write}` } } }, 'again');
    const text = server.logs.join('');
    expect(text).toContain('headers logged by mistake');
    expect(text).toContain('[Redacted]');
    expect(text).toContain('request completed'); // the access log lines are in here
    expect(text).toContain('request rejected');
    for (const token of Object.values(tokens)) {
      expect(token).not.toBe('');
      expect(text).not.toContain(token.slice(3));
    }
    expect(text).not.toMatch(/ty_[A-Za-z0-9_-]{43}/);
  });
});

describe('auth modes', () => {
  it('auto on loopback and explicit off let requests through, with one loud warning line', async () => {
    for (const mode of ['off', 'auto']) {
      const server = await startServer({ TRAINYARD_AUTH: mode }, []);
      try {
        const warnings = server.logs.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.msg.includes('AUTHENTICATION IS OFF'));
        expect(warnings, mode).toHaveLength(1);
        expect(warnings[0].level).toBe(40);
        expect((await fetch(`${server.url}/v1/tokens`)).status, mode).toBe(404); // no route mounted, but no 401
      } finally {
        await server.close();
      }
    }
  });

  it('auto beyond loopback is on', async () => {
    const server = await startServer({ TRAINYARD_AUTH: 'auto', TRAINYARD_HOST: '0.0.0.0' }, []);
    try {
      expect(server.logs.join('')).toContain('API authentication is on');
      expect((await fetch(`${server.url}/v1/anything`)).status).toBe(401);
    } finally {
      await server.close();
    }
  });
});
