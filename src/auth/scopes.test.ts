import { describe, expect, it } from 'vitest';
import { allows, authEnabled, isLoopbackHost, requiredAccess } from './scopes.ts';
import { bearerToken } from './plugin.ts';

describe('requiredAccess', () => {
  it('decides /v1 routes by method: GET/HEAD read, POST/PUT/PATCH write, DELETE admin', () => {
    expect(requiredAccess('GET', '/v1/models', '/v1/models')).toBe('read');
    expect(requiredAccess('HEAD', '/v1/models/:name', '/v1/models/x')).toBe('read');
    expect(requiredAccess('POST', '/v1/models', '/v1/models')).toBe('write');
    expect(requiredAccess('POST', '/v1/training-jobs', '/v1/training-jobs')).toBe('write');
    expect(requiredAccess('PUT', '/v1/models/:name/aliases/:alias', '/v1/models/m/aliases/production')).toBe('write');
    expect(requiredAccess('DELETE', '/v1/models/:name', '/v1/models/m')).toBe('admin');
    expect(requiredAccess('DELETE', '/v1/models/:name/aliases/:alias', '/v1/models/m/aliases/production')).toBe('admin');
    expect(requiredAccess('OPTIONS', '/v1/models', '/v1/models')).toBe('admin');
  });

  it('predict and cancel are write; every token route is admin, whatever the method', () => {
    expect(requiredAccess('POST', '/v1/models/:name/predict', '/v1/models/m/predict')).toBe('write');
    expect(requiredAccess('POST', '/v1/models/:name/versions/:version/predict', '/v1/models/m/versions/1/predict')).toBe('write');
    expect(requiredAccess('POST', '/v1/training-jobs/:id/cancel', '/v1/training-jobs/j/cancel')).toBe('write');
    expect(requiredAccess('GET', '/v1/tokens', '/v1/tokens')).toBe('admin');
    expect(requiredAccess('POST', '/v1/tokens', '/v1/tokens')).toBe('admin');
    expect(requiredAccess('DELETE', '/v1/tokens/:id', '/v1/tokens/tok_1')).toBe('admin');
    expect(requiredAccess('GET', '/v1/tokensmith', '/v1/tokensmith')).toBe('read');
  });

  it('asks a read token for /metrics', () => {
    expect(requiredAccess('GET', '/metrics', '/metrics')).toBe('read');
    expect(requiredAccess('GET', undefined, '//METRICS')).toBe('read');
  });

  it('leaves health, docs and dashboard GETs public, and fails closed for other methods there', () => {
    for (const [route, url] of [
      ['/healthz', '/healthz'],
      ['/readyz', '/readyz'],
      ['/openapi.json', '/openapi.json'],
      ['/docs', '/docs'],
      ['/docs/*', '/docs/static/index.html'],
      ['/', '/'],
      ['/assets/index-abc.js', '/assets/index-abc.js'],
      ['/models/*', '/models/iris'],
    ]) {
      expect(requiredAccess('GET', route, url)).toBe('public');
      expect(requiredAccess('HEAD', route, url)).toBe('public');
    }
    expect(requiredAccess('POST', '/healthz', '/healthz')).toBe('admin');
  });

  it('judges unmatched requests by their path: any spelling of /v1 needs a token', () => {
    expect(requiredAccess('GET', undefined, '/v1/nothing-here')).toBe('read');
    expect(requiredAccess('GET', undefined, '/v1')).toBe('read');
    expect(requiredAccess('DELETE', undefined, '//v1/models/x')).toBe('read');
    expect(requiredAccess('GET', undefined, '/%761/models')).toBe('read');
    expect(requiredAccess('GET', undefined, '/V1/models?x=1')).toBe('read');
    expect(requiredAccess('GET', undefined, '/nothing-here')).toBe('public');
    expect(requiredAccess('POST', undefined, '/v1x')).toBe('public');
  });
});

describe('allows', () => {
  it('ranks read < write < admin', () => {
    expect(allows('read', 'read')).toBe(true);
    expect(allows('read', 'write')).toBe(false);
    expect(allows('read', 'admin')).toBe(false);
    expect(allows('write', 'read')).toBe(true);
    expect(allows('write', 'write')).toBe(true);
    expect(allows('write', 'admin')).toBe(false);
    expect(allows('admin', 'admin')).toBe(true);
    expect(allows('read', 'public')).toBe(true);
  });
});

describe('isLoopbackHost / authEnabled', () => {
  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '127.255.255.254', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST']) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '192.168.1.1', '::2', 'example.com', 'localhost.example.com', '127.0.0.1.nip.io', '']) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });

  it('auto is on unless the server listens on loopback; on and off win', () => {
    expect(authEnabled({ auth: 'auto', host: '127.0.0.1' })).toBe(false);
    expect(authEnabled({ auth: 'auto', host: 'localhost' })).toBe(false);
    expect(authEnabled({ auth: 'auto', host: '0.0.0.0' })).toBe(true);
    expect(authEnabled({ auth: 'auto', host: '::' })).toBe(true);
    expect(authEnabled({ auth: 'auto', host: '10.1.2.3' })).toBe(true);
    expect(authEnabled({ auth: 'on', host: '127.0.0.1' })).toBe(true);
    expect(authEnabled({ auth: 'off', host: '0.0.0.0' })).toBe(false);
  });
});

describe('bearerToken', () => {
  it('reads the Bearer scheme case-insensitively and nothing else', () => {
    expect(bearerToken('Bearer ty_abc')).toBe('ty_abc');
    expect(bearerToken('bearer  ty_abc ')).toBe('ty_abc');
    expect(bearerToken(undefined)).toBeUndefined();
    expect(bearerToken('')).toBeUndefined();
    expect(bearerToken('Basic dXNlcjpwYXNz')).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
  });
});
