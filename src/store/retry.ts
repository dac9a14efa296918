// Retrying what a lost connection broke. Stores fail in two ways: the request was wrong (a unique
// violation, a missing object, bad SQL) and retrying changes nothing, or the store could not be
// reached (a database restarting, S3 throttling, a dropped socket) and the same request a moment
// later succeeds. `withRetry` retries only the second kind, with exponential backoff and jitter, so
// a fleet of workers that lost the database together does not come back in lock step.
import { TrainyardError } from '../errors.ts';

/** Error codes (Node, mysql2, better-sqlite3) that mean "the store was not reachable just now". */
const CONNECTION_CODES = new Set([
  // Node sockets and DNS
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  // mysql2
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
  'ER_CONNECTION_KILLED',
  'ER_QUERY_INTERRUPTED',
  'ER_CLIENT_INTERACTION_TIMEOUT',
  // better-sqlite3: another connection holds the write lock beyond busy_timeout
  'SQLITE_BUSY',
  'SQLITE_BUSY_SNAPSHOT',
  'SQLITE_BUSY_RECOVERY',
  'SQLITE_BUSY_TIMEOUT',
  'SQLITE_LOCKED',
]);

/** MySQL/MariaDB errno values for the same conditions (for errors whose `code` was lost). */
const CONNECTION_ERRNOS = new Set([
  1040, // ER_CON_COUNT_ERROR: too many connections
  1053, // ER_SERVER_SHUTDOWN
  1927, // ER_CONNECTION_KILLED (MariaDB)
  2002, // CR_CONNECTION_ERROR
  2003, // CR_CONN_HOST_ERROR
  2006, // CR_SERVER_GONE_ERROR
  2013, // CR_SERVER_LOST
  4031, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8)
]);

/** Messages without a code that mysql2 throws when a pooled connection died under a query. */
const CONNECTION_MESSAGES = [
  "Can't add new command when connection is in closed state",
  'Connection lost: The server closed the connection',
  'connect ETIMEDOUT',
];

/** S3 (and other AWS) error names that mean "unavailable now, try later". */
const UNAVAILABLE_NAMES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
]);

interface ErrorLike {
  code?: unknown;
  errno?: unknown;
  name?: unknown;
  message?: unknown;
  cause?: unknown;
  errors?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/** The error, its `cause` chain and the members of any AggregateError, depth-first. */
function* errorChain(error: unknown, depth = 0): Generator<ErrorLike> {
  if (depth > 8 || error === null || typeof error !== 'object') return;
  const e = error as ErrorLike;
  yield e;
  if (Array.isArray(e.errors)) for (const inner of e.errors) yield* errorChain(inner, depth + 1);
  if (e.cause !== undefined) yield* errorChain(e.cause, depth + 1);
}

function isConnectionLike(e: ErrorLike): boolean {
  if (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
  if (typeof e.errno === 'number' && CONNECTION_ERRNOS.has(e.errno)) return true;
  if (typeof e.name === 'string' && UNAVAILABLE_NAMES.has(e.name)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number' && (status >= 500 || status === 429)) return true;
  if (typeof e.message === 'string' && CONNECTION_MESSAGES.some((m) => (e.message as string).includes(m))) return true;
  return false;
}

/**
 * True when the error (or anything in its cause chain) means the store could not be reached or
 * was temporarily unable to answer: refused or dropped connections, timeouts, a server shutting
 * down, S3 5xx/throttling, SQLite's write lock held too long, or a STORE_UNAVAILABLE TrainyardError.
 */
export function isConnectionError(error: unknown): boolean {
  for (const e of errorChain(error)) {
    if (e instanceof TrainyardError) {
      if (e.code === 'STORE_UNAVAILABLE') return true;
      continue;
    }
    if (isConnectionLike(e)) return true;
  }
  return false;
}

/**
 * Turns a connection-class error into `TrainyardError('STORE_UNAVAILABLE')` (HTTP 503) that keeps
 * the original as its cause; returns any other error unchanged. `store` names the store in the
 * message, e.g. "database" or "blob store".
 */
export function toStoreUnavailable(error: unknown, store: string): unknown {
  if (error instanceof TrainyardError) return error;
  if (!isConnectionError(error)) return error;
  const message = error instanceof Error ? error.message || error.name : String(error);
  return new TrainyardError('STORE_UNAVAILABLE', `the ${store} is unavailable: ${message}`, { cause: error });
}

export interface RetryOptions {
  /** Total tries including the first (default 5). */
  attempts?: number;
  /** Delay before the first retry in ms; doubles each retry (default 100). */
  baseMs?: number;
  /** Upper bound on one delay in ms (default 5000). */
  maxMs?: number;
  /** Which errors to retry (default: isConnectionError). */
  retryIf?: (error: unknown) => boolean;
  /** Called before each wait, e.g. to log. `attempt` is the try that just failed (1-based). */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Stops waiting and rethrows the last error when aborted. */
  signal?: AbortSignal;
}

/** The wait before retry number `retry` (0-based): half fixed, half random ("equal jitter"). */
export function backoffDelay(retry: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** retry);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `fn`, retrying it while it fails with a connection-class error (see isConnectionError), up
 * to `attempts` tries in all, waiting `baseMs·2^n` (capped at `maxMs`, with jitter) between tries.
 * Any other error, or the last failure, is rethrown as is. `fn` must be safe to run again: wrap a
 * whole transaction, not one statement of it.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 5);
  const baseMs = options.baseMs ?? 100;
  const maxMs = options.maxMs ?? 5000;
  const retryIf = options.retryIf ?? isConnectionError;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= attempts || !retryIf(error) || options.signal?.aborted) throw error;
      const delay = backoffDelay(attempt - 1, baseMs, maxMs);
      options.onRetry?.(error, attempt, delay);
      try {
        await sleep(delay, options.signal);
      } catch {
        throw error;
      }
    }
  }
}
