// What the benchmarks share: generated input files, a free port, and the real server as a child.
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Writes a CSV once (it is cached under bench/.data/): the header, then `row(i, random)` per row. */
export async function writeCsvOnce(path: string, header: string, rows: number, row: (i: number, random: () => number) => string): Promise<void> {
  if (existsSync(path) && statSync(path).size > 0) return;
  await mkdir(dirname(path), { recursive: true });
  let seed = 7;
  const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
  const out = createWriteStream(`${path}.tmp`);
  let chunk = header + '\n';
  for (let i = 0; i < rows; i++) {
    chunk += row(i, random) + '\n';
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
  await rename(`${path}.tmp`, path);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface BenchServer {
  base: string;
  dataDir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * `trainyard server` on a fresh data dir (or `options.dataDir`, which stop() then leaves in place)
 * and a free port, ready when /healthz answers and, with several HTTP processes, all of them listen.
 * `options.root`: another checkout of Trainyard to run (e.g. main, to compare with).
 */
export async function startServer(env: Record<string, string> = {}, options: { dataDir?: string; root?: string } = {}): Promise<BenchServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'bench-')));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [join(options.root ?? ROOT, 'bin', 'trainyard.mjs'), 'server'], {
    // warn by default: the figures are the server's, not the terminal's. TRAINYARD_LOG_LEVEL=info in
    // the environment measures the server as it starts by default (two log lines per request).
    env: { ...process.env, TRAINYARD_DATA_DIR: dataDir, TRAINYARD_PORT: String(port), TRAINYARD_LOG_LEVEL: process.env.TRAINYARD_LOG_LEVEL ?? 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit').catch(() => undefined);
    }
    if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
  };
  for (let i = 0; !(await fetch(`${base}/healthz`).catch(() => null))?.ok; i++) {
    if (i > 1800 || child.exitCode !== null) {
      await stop();
      throw new Error('the server did not start within 3 minutes');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // /healthz answers as soon as one HTTP process listens; the primary counts them in /metrics.
  const processes = Number(env.TRAINYARD_WORKERS ?? 1);
  for (let i = 0; processes > 1; i++) {
    const metrics = await (await fetch(`${base}/metrics`)).text();
    if (new RegExp(`^trainyard_http_processes ${processes}$`, 'm').test(metrics)) break;
    if (i > 1800 || child.exitCode !== null) {
      await stop();
      throw new Error('the server did not start all its HTTP processes within 3 minutes');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { base, dataDir, child, stop };
}

export function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

/** POSTs the file at `path` to `${url}/v1/datasets` as a raw body (text/csv unless told), streamed in 1 MiB reads. */
export function upload(url: string, path: string, name: string, contentType = 'text/csv'): Promise<{ status: number; body: string; seconds: number }> {
  const size = statSync(path).size;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}/v1/datasets?name=${encodeURIComponent(name)}`,
      { method: 'POST', headers: { 'content-type': contentType, 'content-length': String(size) } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, seconds: (performance.now() - started) / 1000 }));
      },
    );
    req.on('error', reject);
    createReadStream(path, { highWaterMark: 1024 * 1024 }).pipe(req);
  });
}

/** Features of the benchmarks' binary training CSV (bench/train.ts, bench/memory.ts). */
export const TRAINING_FEATURES = 32;

const TRAINING_WEIGHTS = (() => {
  let seed = 3;
  return Array.from({ length: TRAINING_FEATURES }, () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296) * 2 - 1);
})();

export const TRAINING_HEADER = [...Array.from({ length: TRAINING_FEATURES }, (_, i) => `f${String(i + 1).padStart(2, '0')}`), 'label'].join(',');

/** A row of 32 features and a label drawn from a logistic model of them, so there is something to learn. */
export function trainingRow(_i: number, random: () => number): string {
  let z = 0;
  const cells: string[] = [];
  for (let k = 0; k < TRAINING_FEATURES; k++) {
    const v = (random() - 0.5) * 6;
    z += v * TRAINING_WEIGHTS[k];
    cells.push(v.toFixed(5));
  }
  cells.push(random() < 1 / (1 + Math.exp(-z)) ? '1' : '0');
  return cells.join(',');
}
