// Which scope a request needs, and whether auth is on at all.
//
// Everything under /v1 needs a token, and so does /metrics (read); what else the server answers
// (health, the API docs, the dashboard's pages and assets) is public for GET/HEAD. Under /v1 the method decides —
// GET/HEAD read, POST/PUT/PATCH write (create, train, predict, cancel, set alias), DELETE admin —
// unless ROUTE_SCOPES names the route: that map is where the method alone is wrong.
//
// The decision is made on the *matched route pattern* (`/v1/models/:name`), not on the raw URL, so
// spellings that the router normalises (percent-encoding, `//`) cannot dodge it. A request that
// matches no route is judged by its path, failing closed: an unknown /v1 path needs a token too.
import { isIP } from 'node:net';
import type { AuthMode } from '../config.ts';
import type { Scope } from './tokens.ts';

export type Access = 'public' | Scope;

const RANK: Record<Scope, number> = { read: 1, write: 2, admin: 3 };

/** True when a token with scope `have` may call a route needing `need`. */
export function allows(have: Scope, need: Access): boolean {
  return need === 'public' || RANK[have] >= RANK[need];
}

/**
 * Routes whose scope differs from what their method says, as `METHOD /pattern` (a pattern ending
 * in `/**` covers everything under it, any method). POST …/predict and POST …/cancel need
 * `write`, which their method already gives; they are listed so the table reads complete.
 */
export const ROUTE_SCOPES: Readonly<Record<string, Scope>> = {
  '* /v1/tokens/**': 'admin',
  'POST /v1/models/:name/predict': 'write',
  'POST /v1/models/:name/versions/:version/predict': 'write',
  'POST /v1/training-jobs/:id/cancel': 'write',
  'POST /v1/inference-jobs/:id/cancel': 'write',
};

function byMethod(method: string): Scope {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return 'read';
    case 'POST':
    case 'PUT':
    case 'PATCH':
      return 'write';
    default:
      // DELETE, and anything unusual (OPTIONS, …): fail closed.
      return 'admin';
  }
}

function isApiPath(path: string): boolean {
  return path === '/v1' || path.startsWith('/v1/');
}

function override(method: string, pattern: string): Scope | undefined {
  const exact = ROUTE_SCOPES[`${method} ${pattern}`];
  if (exact) return exact;
  for (const [key, scope] of Object.entries(ROUTE_SCOPES)) {
    const [m, p] = key.split(' ', 2);
    if (!p.endsWith('/**') || (m !== '*' && m !== method)) continue;
    const base = p.slice(0, -3);
    if (pattern === base || pattern.startsWith(`${base}/`)) return scope;
  }
  return undefined;
}

/** Normalises a raw request path the way a lenient router might, for requests that matched no route. */
function normalisePath(url: string): string {
  let path = url.split('?', 1)[0].split('#', 1)[0];
  try {
    path = decodeURIComponent(path);
  } catch {
    // keep it raw
  }
  return path.replace(/\/{2,}/g, '/').toLowerCase();
}

/**
 * The access a request needs. `routePattern` is Fastify's `request.routeOptions.url` (undefined when
 * no route matched); `url` the raw request URL.
 */
export function requiredAccess(method: string, routePattern: string | undefined, url: string): Access {
  if (routePattern === undefined) return decide(method.toUpperCase(), undefined, url);
  // Matched routes are few: remember each decision (this runs on every request).
  const key = `${method} ${routePattern}`;
  let access = decided.get(key);
  if (access === undefined) {
    access = decide(method.toUpperCase(), routePattern, url);
    if (decided.size < 10_000) decided.set(key, access);
  }
  return access;
}

const decided = new Map<string, Access>();

/** Routes outside /v1 that still need a token (with this scope) when auth is on. */
export const PROTECTED_OUTSIDE_API: Readonly<Record<string, Scope>> = {
  // Request counts per route and model names: not for anyone who can reach the port.
  '/metrics': 'read',
};

function decide(upper: string, routePattern: string | undefined, url: string): Access {
  const pattern = routePattern ?? normalisePath(url);
  const outside = PROTECTED_OUTSIDE_API[pattern];
  if (outside) return outside;
  if (!isApiPath(pattern)) {
    if (routePattern === undefined) return 'public'; // the 404 answer; nothing runs
    return upper === 'GET' || upper === 'HEAD' ? 'public' : 'admin';
  }
  if (routePattern === undefined) return 'read'; // unknown /v1 path: a token first, then the 404
  return override(upper, pattern) ?? byMethod(upper);
}

/** True for addresses that only this machine can reach: 127.0.0.0/8, ::1 (and v4-mapped), localhost. */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === 'localhost') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (mapped) h = mapped[1];
  switch (isIP(h)) {
    case 4:
      return h.split('.')[0] === '127';
    case 6:
      return /^(0{0,4}:){7}0{0,3}1$|^::1$/.test(h);
    default:
      return false;
  }
}

/** Whether requests need tokens: `on`, `off`, or `auto` = on unless the server listens on loopback only. */
export function authEnabled(config: { auth: AuthMode; host: string }): boolean {
  if (config.auth === 'on') return true;
  if (config.auth === 'off') return false;
  return !isLoopbackHost(config.host);
}
