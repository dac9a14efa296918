// What every client command shares: where the server is, the client, output (tables or --json),
// progress bars, and turning errors into a clear message and an exit code.
import { ApiError, TrainyardClient, UnreachableError } from '../../client/index.ts';

export interface ClientIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  env: Record<string, string | undefined>;
  /** Records the command's exit code (the process exits with it when the command returns). */
  exit(code: number): void;
  /** Hooks SIGINT for the duration of a follow; returns the unhook function. */
  onInterrupt(handler: () => void): () => void;
}

const processIO: ClientIO = {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  exit: (code) => {
    process.exitCode = code;
  },
  onInterrupt: (handler) => {
    process.on('SIGINT', handler);
    return () => process.off('SIGINT', handler);
  },
};

let io: ClientIO = processIO;

/** Swaps the streams, environment and exit hook (tests run commands in-process). */
export function setClientIO(next: Partial<ClientIO> | null): void {
  io = next ? { ...processIO, ...next } : processIO;
}

export function getIO(): ClientIO {
  return io;
}

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export function serverUrl(): string {
  return (io.env.TRAINYARD_URL || DEFAULT_URL).replace(/\/+$/, '');
}

export function makeClient(): TrainyardClient {
  return new TrainyardClient({ baseUrl: serverUrl(), token: io.env.TRAINYARD_TOKEN || undefined });
}

export const out = (text = ''): void => void io.stdout.write(`${text}\n`);
export const err = (text = ''): void => void io.stderr.write(`${text}\n`);
export const printJson = (value: unknown): void => out(JSON.stringify(value, null, 2));

/** A command-line mistake (bad --set, unreadable file): exit code 2 like commander's own. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.explain();
  if (error instanceof UnreachableError) return `${error.message}\nis the server running? (start it with \`trainyard server\`, or set TRAINYARD_URL)`;
  if (error instanceof UsageError) return error.message;
  const code = (error as { code?: string })?.code;
  if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') return (error as Error).message;
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** Wraps a command action: prints errors as `trainyard: …` and sets the exit code. */
export function action<A extends unknown[]>(run: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await run(...args);
      if (code) io.exit(code);
    } catch (error) {
      err(`trainyard: ${describeError(error)}`);
      io.exit(error instanceof UsageError ? 2 : 1);
    }
  };
}

// Formatting ---------------------------------------------------------------------------------

export { formatBytes } from '../../client/format.ts';


export function formatNumber(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'number') return typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (Number.isInteger(value)) return String(value);
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
  return value.toFixed(4).replace(/\.?0+$/, '') || '0';
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '';
  return iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

export function duration(from: string | null | undefined, to: string | null | undefined): string {
  if (!from) return '';
  const ms = (to ? Date.parse(to) : Date.now()) - Date.parse(from);
  if (!Number.isFinite(ms) || ms < 0) return '';
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A plain-text table: a header row, aligned columns, numbers right-aligned. */
export function table(headers: string[], rows: unknown[][]): string {
  const cells = rows.map((row) => row.map((cell) => (typeof cell === 'string' ? cell : formatNumber(cell))));
  const numeric = headers.map((_, c) => rows.length > 0 && rows.every((row) => typeof row[c] === 'number' || row[c] === null || row[c] === undefined));
  const widths = headers.map((h, c) => Math.max(h.length, ...cells.map((row) => (row[c] ?? '').length)));
  const line = (row: string[]) =>
    row
      .map((cell, c) => (numeric[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...cells.map(line)].join('\n');
}

/** `key: value` lines with the keys aligned. */
export function fields(pairs: [string, unknown][]): string {
  const width = Math.max(...pairs.map(([key]) => key.length));
  return pairs.map(([key, value]) => `${`${key}:`.padEnd(width + 2)}${typeof value === 'string' ? value : formatNumber(value)}`).join('\n');
}

// Progress ------------------------------------------------------------------------------------

/** A one-line progress bar redrawn on stderr; silent when stderr is not a terminal. */
export class ProgressBar {
  private last = 0;
  private drawn = false;
  constructor(
    private readonly label: string,
    private readonly format: (done: number, total: number) => string = (d, t) => `${d}/${t}`,
  ) {}

  get enabled(): boolean {
    return Boolean(io.stderr.isTTY);
  }

  update(done: number, total: number, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < 80 && done < total) return;
    this.last = now;
    const width = Math.max(10, Math.min(40, (io.stderr.columns ?? 80) - this.label.length - 32));
    const ratio = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(ratio * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    io.stderr.write(`\r\x1b[2K${this.label} ${bar} ${String(Math.round(ratio * 100)).padStart(3)}%  ${this.format(done, total)}`);
    this.drawn = true;
  }

  /** Clears the bar so normal output continues on a clean line. */
  clear(): void {
    if (this.drawn) io.stderr.write('\r\x1b[2K');
    this.drawn = false;
  }

  done(message?: string): void {
    this.clear();
    if (message) err(message);
  }
}

/** Exit codes of `train --follow`, `jobs show --wait` and `predict --wait`: how the job ended. */
export const JOB_EXIT_CODES: Record<string, number> = { succeeded: 0, failed: 1, cancelled: 130 };

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Follows a job's event stream, handing every event to `onEvent` (the `end` event too), until the
 * `end` event. With no stream (a 404 from an older server) or one that closes early (a proxy cut
 * it), polls instead: `poll` once a second until it says the job has finished. Ctrl-C stops the
 * following, not the job: the answer is then false.
 */
export async function followEvents<E extends { event: string }>(
  stream: (signal: AbortSignal) => AsyncIterable<E>,
  onEvent: (event: E) => void,
  poll: () => Promise<boolean>,
): Promise<boolean> {
  const controller = new AbortController();
  let interrupted = false;
  const unhook = io.onInterrupt(() => {
    interrupted = true;
    controller.abort();
  });
  try {
    let ended = false;
    try {
      for await (const event of stream(controller.signal)) {
        onEvent(event);
        if (event.event === 'end') {
          ended = true;
          break;
        }
      }
    } catch (error) {
      if (interrupted) throw error;
      if (error instanceof ApiError && error.status !== 404) throw error;
    }
    while (!ended && !interrupted && !(await poll())) await sleep(1000);
  } catch (error) {
    if (!interrupted) throw error;
  } finally {
    unhook();
  }
  return !interrupted;
}
