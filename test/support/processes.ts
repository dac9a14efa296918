// Real `trainyard` processes for fleet and run-job tests: servers, workers and one-shot run-jobs,
// spawned as `node bin/trainyard.mjs …` exactly as an operator (or a Batch container) runs them,
// with their output kept for failure messages. Plus the small HTTP and data helpers those tests share.
//
//   const server = await startServerProcess({ ...db.env, ...s3.env, TRAINYARD_EXECUTOR: 'queue' });
//   const worker = startWorkerProcess({ ...db.env, ...s3.env });
//   await api(server.url, 'POST', '/v1/models', { … });
//   worker.kill('SIGKILL'); await worker.exited;
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CLI = join(REPO_ROOT, 'bin', 'trainyard.mjs');

export interface TrainyardProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  /** The last `lines` lines of output, for assertion messages. */
  tail(lines?: number): string;
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Environment every spawned process gets: quiet logs, one trainer thread, no SDK chatter, and one
 * HTTP process per server (tests about the cluster set TRAINYARD_WORKERS themselves): a server's
 * extra processes would cost every fleet test seconds of start-up and memory on the 2-core CI.
 */
export const BASE_ENV: Record<string, string> = {
  TRAINYARD_WORKERS: '1',
  TRAINYARD_LOG_LEVEL: process.env.TRAINYARD_TEST_LOG_LEVEL ?? 'warn',
  TRAINYARD_TRAINER_THREADS: '1',
  TRAINYARD_AUTH: 'off',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

/** Spawns `node bin/trainyard.mjs <args…>` with `env` on top of the parent's environment. */
export function spawnTrainyard(name: string, args: string[], env: Record<string, string | undefined>, options: { stdin?: 'pipe' | 'ignore' } = {}): TrainyardProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...BASE_ENV, ...env },
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const keep = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    if (text.length > 2_000_000) text = text.slice(-1_000_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal }));
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    name,
    child,
    pid: child.pid ?? -1,
    exited,
    output: () => text,
    tail: (lines = 40) => `--- ${name} (pid ${child.pid}) ---\n${text.split('\n').slice(-lines).join('\n')}`,
    kill(signal = 'SIGTERM') {
      if (alive()) child.kill(signal);
    },
    async stop(graceMs = 20_000) {
      if (!alive()) return void (await exited);
      child.kill('SIGTERM');
      const timer = setTimeout(() => alive() && child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
    }
    await sleep(intervalMs);
  }
}

export interface ServerProcess extends TrainyardProcess {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
}

/**
 * Starts `trainyard server` on a free port with its own data directory (scratch space only when the
 * stores are MySQL and S3) and waits until /healthz answers.
 */
export async function startServerProcess(env: Record<string, string>, options: { name?: string; readyTimeoutMs?: number } = {}): Promise<ServerProcess> {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'trainyard-server-'));
  const proc = spawnTrainyard(options.name ?? `server:${port}`, ['server'], { TRAINYARD_DATA_DIR: dataDir, TRAINYARD_HOST: '127.0.0.1', TRAINYARD_PORT: String(port), ...env });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      `${proc.name} to answer /healthz`,
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`exited with ${proc.child.exitCode}\n${proc.tail()}`);
        const res = await fetch(`${url}/healthz`).catch(() => undefined);
        return res?.ok === true;
      },
      options.readyTimeoutMs ?? 45_000,
      200,
    );
  } catch (error) {
    proc.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`${(error as Error).message}\n${proc.tail()}`);
  }
  const stop = proc.stop;
  return {
    ...proc,
    url,
    port,
    dataDir,
    async stop(graceMs) {
      await stop(graceMs);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface WorkerProcess extends TrainyardProcess {
  readonly dataDir: string;
}

/** Starts `trainyard worker` with its own scratch directory. */
export async function startWorkerProcess(env: Record<string, string>, options: { name?: string } = {}): Promise<WorkerProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'trainyard-worker-'));
  const proc = spawnTrainyard(options.name ?? 'worker', ['worker'], { TRAINYARD_DATA_DIR: dataDir, ...env });
  const stop = proc.stop;
  return {
    ...proc,
    dataDir,
    async stop(graceMs) {
      await stop(graceMs);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Whether process `pid` exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** All processes a run-job spawned beneath `pid` (the job subprocess and its trainer), from /proc. */
export async function descendants(pid: number): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const parents = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid …; comm may hold spaces and parentheses, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!Number.isFinite(ppid)) continue;
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of parents.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

// ---- HTTP -----------------------------------------------------------------------------------

export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

/** One JSON request; the body is parsed as JSON when the response says so, else kept as text. */
export async function api<T = Record<string, unknown>>(base: string, method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, headers: res.headers, body: (type.includes('json') && text ? JSON.parse(text) : text) as T };
}

/** Uploads CSV text as a multipart `file` (the way `curl -F file=@x.csv` does). */
export async function uploadCsv(base: string, name: string, csv: string): Promise<ApiResponse<{ id: string; row_count: number } & Record<string, unknown>>> {
  const form = new FormData();
  form.append('name', name);
  form.append('file', new Blob([csv], { type: 'text/csv' }), `${name}.csv`);
  const res = await fetch(`${base}/v1/datasets`, { method: 'POST', body: form });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : {} };
}

/** Reads a job's Server-Sent Events stream to its `end` event; returns the events in order. */
export async function readSse(url: string, timeoutMs = 60_000): Promise<Array<{ id?: string; event: string; data: unknown }>> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const res = await fetch(url, { signal: controller.signal, headers: { accept: 'text/event-stream' } });
    if (!res.ok || !res.body) throw new Error(`GET ${url} answered ${res.status}`);
    const events: Array<{ id?: string; event: string; data: unknown }> = [];
    let buffer = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let split;
      while ((split = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, split);
        buffer = buffer.slice(split + 2);
        let id: string | undefined;
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) id = line.slice(4);
          else if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length === 0) continue;
        const text = data.join('\n');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* keep text */
        }
        events.push({ id, event, data: parsed });
        // Leaving the loop cancels the body (closing the connection). Aborting first raced that
        // cancel: the loop's exit could then throw the AbortError.
        if (event === 'end') return events;
      }
    }
    return events;
  } finally {
    clearTimeout(timer);
  }
}

// ---- data -----------------------------------------------------------------------------------

/**
 * A small, learnable binary-classification CSV: `rows` rows of three numeric features and a label
 * that depends on them (plus a little noise), deterministic for a seed.
 */
export function tinyCsv(rows = 200, seed = 1): string {
  let state = seed >>> 0 || 1;
  const random = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const lines = ['x1,x2,x3,label'];
  for (let i = 0; i < rows; i++) {
    const x1 = random() * 4 - 2;
    const x2 = random() * 4 - 2;
    const x3 = random() * 10;
    const label = x1 + 0.5 * x2 + (random() - 0.5) * 0.3 > 0 ? 'yes' : 'no';
    lines.push(`${x1.toFixed(4)},${x2.toFixed(4)},${x3.toFixed(3)},${label}`);
  }
  return lines.join('\n') + '\n';
}

/** `[Linear(n), ReLU]…, Linear(out)` as a layer list. */
export function mlp(hidden: number[], out: number): Array<Record<string, unknown>> {
  return [...hidden.flatMap((n) => [{ type: 'Linear', out_features: n }, { type: 'ReLU' }]), { type: 'Linear', out_features: out }];
}

/** An isolated temp dir, removed by the returned function. */
export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
