// Long-lived streams (job events over SSE) are held to what a token may do for as long as they run:
// the token is verified again every STREAM_RECHECK_MS (a revoked token's streams end within that,
// plus the verifier's cache), and streams are counted per token and per process, with limits
// (TRAINYARD_MAX_STREAMS_PER_TOKEN, TRAINYARD_MAX_STREAMS) answered 429 TOO_MANY_STREAMS.
import type { FastifyRequest } from 'fastify';
import type { Platform } from '../platform.ts';
import { TrainyardError } from '../errors.ts';
import { authEnabled } from './scopes.ts';
import { bearerToken, tokenVerifier } from './plugin.ts';

export const STREAM_RECHECK_MS = 10_000;

export interface StreamLease {
  /** False once the stream's token no longer verifies (revoked); re-checked at most every STREAM_RECHECK_MS. */
  allowed(): Promise<boolean>;
  release(): void;
}

const counts = new WeakMap<Platform, { total: number; perToken: Map<string, number> }>();

/** Takes a stream slot for this request (throws TOO_MANY_STREAMS when none is left). */
export function openStream(platform: Platform, request: FastifyRequest, recheckMs = STREAM_RECHECK_MS): StreamLease {
  let state = counts.get(platform);
  if (!state) counts.set(platform, (state = { total: 0, perToken: new Map() }));
  const { maxStreams, maxStreamsPerToken } = platform.config;
  const token = authEnabled(platform.config) ? bearerToken(request.headers.authorization) : undefined;
  const key = request.apiToken?.id ?? 'anonymous';
  const mine = state.perToken.get(key) ?? 0;
  if (state.total >= maxStreams) {
    throw new TrainyardError('TOO_MANY_STREAMS', `this server already serves ${state.total} event streams (TRAINYARD_MAX_STREAMS); retry later`);
  }
  if (mine >= maxStreamsPerToken) {
    throw new TrainyardError('TOO_MANY_STREAMS', `${mine} event streams are already open with this token (TRAINYARD_MAX_STREAMS_PER_TOKEN); close one first`);
  }
  state.total++;
  state.perToken.set(key, mine + 1);
  let released = false;
  let checkedAt = Date.now();
  let ok = true;
  const s = state;
  return {
    async allowed() {
      if (!token || !ok || Date.now() - checkedAt < recheckMs) return ok;
      checkedAt = Date.now();
      ok = (await tokenVerifier(platform).verify(token).catch(() => null)) !== null;
      return ok;
    },
    release() {
      if (released) return;
      released = true;
      s.total--;
      const left = (s.perToken.get(key) ?? 1) - 1;
      if (left > 0) s.perToken.set(key, left);
      else s.perToken.delete(key);
    },
  };
}
