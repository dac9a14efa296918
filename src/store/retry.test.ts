import { describe, expect, it, vi } from 'vitest';
import { TrainyardError } from '../errors.ts';
import { backoffDelay, isConnectionError, toStoreUnavailable, withRetry } from './retry.ts';

const coded = (code: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(code), { code, ...extra });

describe('isConnectionError', () => {
  it.each([
    ['ECONNREFUSED', coded('ECONNREFUSED')],
    ['ECONNRESET', coded('ECONNRESET')],
    ['ETIMEDOUT', coded('ETIMEDOUT')],
    ['PROTOCOL_CONNECTION_LOST', coded('PROTOCOL_CONNECTION_LOST')],
    ['ER_SERVER_SHUTDOWN by errno', Object.assign(new Error('shutdown'), { errno: 1053 })],
    ['SQLITE_BUSY', coded('SQLITE_BUSY')],
    ['a closed mysql2 connection', new Error("Can't add new command when connection is in closed state")],
    ['S3 503', Object.assign(new Error('SlowDown'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } })],
    ['S3 500', Object.assign(new Error('boom'), { name: 'Unknown', $metadata: { httpStatusCode: 500 } })],
    ['an SDK timeout', Object.assign(new Error('socket timed out'), { name: 'TimeoutError' })],
    ['in the cause chain', new Error('query failed', { cause: coded('ECONNREFUSED') })],
    ['inside an AggregateError', new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')], 'connect')],
    ['STORE_UNAVAILABLE', new TrainyardError('STORE_UNAVAILABLE', 'down')],
  ])('is true for %s', (_name, error) => {
    expect(isConnectionError(error)).toBe(true);
  });

  it.each([
    ['a unique violation', coded('ER_DUP_ENTRY', { errno: 1062 })],
    ['SQLITE_CONSTRAINT_UNIQUE', coded('SQLITE_CONSTRAINT_UNIQUE')],
    ['a syntax error', coded('ER_PARSE_ERROR', { errno: 1064 })],
    ['S3 404', Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } })],
    ['S3 403', Object.assign(new Error('AccessDenied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } })],
    ['NOT_FOUND', new TrainyardError('NOT_FOUND', 'x')],
    ['a plain Error', new Error('nope')],
    ['a string', 'ECONNREFUSED'],
    ['undefined', undefined],
  ])('is false for %s', (_name, error) => {
    expect(isConnectionError(error)).toBe(false);
  });

  it('survives a cyclic cause chain', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(isConnectionError(a)).toBe(false);
  });
});

describe('toStoreUnavailable', () => {
  it('wraps connection errors as STORE_UNAVAILABLE (503) and keeps the cause', () => {
    const cause = coded('ECONNREFUSED');
    const mapped = toStoreUnavailable(cause, 'database');
    expect(mapped).toBeInstanceOf(TrainyardError);
    expect((mapped as TrainyardError).code).toBe('STORE_UNAVAILABLE');
    expect((mapped as TrainyardError).status).toBe(503);
    expect((mapped as TrainyardError).message).toMatch(/database is unavailable/);
    expect((mapped as TrainyardError).cause).toBe(cause);
  });

  it('returns other errors unchanged', () => {
    const error = coded('ER_DUP_ENTRY');
    expect(toStoreUnavailable(error, 'database')).toBe(error);
  });
});

describe('backoffDelay', () => {
  it('doubles from baseMs with equal jitter and is capped by maxMs', () => {
    expect(backoffDelay(0, 100, 5000, () => 0)).toBe(50);
    expect(backoffDelay(0, 100, 5000, () => 1)).toBe(100);
    expect(backoffDelay(3, 100, 5000, () => 0)).toBe(400);
    expect(backoffDelay(3, 100, 5000, () => 1)).toBe(800);
    expect(backoffDelay(20, 100, 5000, () => 1)).toBe(5000);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(2, 100, 5000);
      expect(d).toBeGreaterThanOrEqual(200);
      expect(d).toBeLessThanOrEqual(400);
    }
  });
});

describe('withRetry', () => {
  it('returns the first success without waiting', async () => {
    const fn = vi.fn(async () => 42);
    await expect(withRetry(fn)).resolves.toBe(42);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('retries connection errors with growing delays until it succeeds', async () => {
    const delays: number[] = [];
    let calls = 0;
    const result = await withRetry(
      async (attempt) => {
        calls++;
        if (attempt < 3) throw coded('ECONNREFUSED');
        return 'ok';
      },
      { attempts: 5, baseMs: 10, onRetry: (_e, _a, ms) => delays.push(ms) },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(3);
    expect(delays).toHaveLength(2);
    expect(delays[0]).toBeGreaterThanOrEqual(5);
    expect(delays[0]).toBeLessThanOrEqual(10);
    expect(delays[1]).toBeGreaterThanOrEqual(10);
    expect(delays[1]).toBeLessThanOrEqual(20);
  });

  it('gives up after `attempts` tries and rethrows the last error', async () => {
    let calls = 0;
    const error = coded('PROTOCOL_CONNECTION_LOST');
    await expect(
      withRetry(
        async () => {
          calls++;
          throw error;
        },
        { attempts: 3, baseMs: 1 },
      ),
    ).rejects.toBe(error);
    expect(calls).toBe(3);
  });

  it('does not retry other errors', async () => {
    let calls = 0;
    const error = coded('ER_DUP_ENTRY', { errno: 1062 });
    await expect(
      withRetry(async () => {
        calls++;
        throw error;
      }),
    ).rejects.toBe(error);
    expect(calls).toBe(1);
  });

  it('honours a custom retryIf', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new Error('custom');
        },
        { attempts: 4, baseMs: 1, retryIf: (e) => (e as Error).message === 'custom' },
      ),
    ).rejects.toThrow('custom');
    expect(calls).toBe(4);
  });

  it('stops waiting when the signal aborts and rethrows the last error', async () => {
    const controller = new AbortController();
    const error = coded('ECONNREFUSED');
    const started = Date.now();
    setTimeout(() => controller.abort(), 20);
    await expect(
      withRetry(
        async () => {
          throw error;
        },
        { attempts: 10, baseMs: 10_000, maxMs: 10_000, signal: controller.signal },
      ),
    ).rejects.toBe(error);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
