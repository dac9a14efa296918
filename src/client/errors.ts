// Errors a client of the API can meet, with messages a person can act on.
import type { Problem } from './types.ts';

/** The server could not be reached at all (refused, unknown host, timeout, TLS). */
export class UnreachableError extends Error {
  override name = 'UnreachableError';
  constructor(
    readonly url: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot reach Trainyard at ${url}: ${reason}`, options);
  }
}

/** The API answered with an error status; `problem` is its problem+json body (or one made up). */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(problem.detail || problem.title || `HTTP ${status}`);
  }

  get code(): string {
    return this.problem.code;
  }

  /** Field errors, each as `field: message` (with line or row when the server named one). */
  fieldMessages(): string[] {
    return (this.problem.errors ?? []).map((e) => {
      const where = e.line !== undefined ? ` (line ${e.line})` : e.row !== undefined ? ` (row ${e.row})` : '';
      return `${e.field}: ${e.message}${where}`;
    });
  }

  /** A multi-line explanation: what went wrong, then one line per offending field. */
  explain(maxFields = 12): string {
    const lines: string[] = [];
    if (this.status === 401) {
      lines.push(`authentication failed (401): ${this.problem.detail || 'missing or invalid API token'}`);
      lines.push('set TRAINYARD_TOKEN to a valid API token (create one with `trainyard tokens create`)');
    } else if (this.status === 403) {
      lines.push(`permission denied (403): ${this.problem.detail || 'the token does not allow this'}`);
    } else {
      const title = this.problem.title && this.problem.title !== this.problem.detail ? `${this.problem.title}: ` : '';
      lines.push(`${title}${this.problem.detail || `HTTP ${this.status}`}`);
    }
    const fields = this.fieldMessages();
    for (const message of fields.slice(0, maxFields)) lines.push(`  - ${message}`);
    if (fields.length > maxFields) lines.push(`  … and ${fields.length - maxFields} more`);
    return lines.join('\n');
  }
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found (DNS lookup failed)',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed by the server',
};

/** Describes why fetch() threw (Node puts the system error code in `cause`). */
export function networkReason(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_REASONS[code]) return NETWORK_REASONS[code];
    const errors = (current as { errors?: unknown[] }).errors;
    if (Array.isArray(errors) && errors.length > 0) current = errors[0];
    else current = (current as { cause?: unknown }).cause;
  }
  const cause = (error as { cause?: unknown })?.cause;
  const message = cause instanceof Error && cause.message ? cause.message : error instanceof Error ? error.message : String(error);
  return message === 'fetch failed' || message === 'Failed to fetch' ? 'the connection failed' : message;
}

export function isProblem(value: unknown): value is Problem {
  return typeof value === 'object' && value !== null && typeof (value as Problem).status === 'number' && 'title' in value;
}
