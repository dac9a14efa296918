// The whole platform for end-to-end tests: the real API (startTestServer) plus the local executor's
// job loop, so training and inference jobs run for real (trainer subprocesses, ONNX Runtime).
// Also small HTTP helpers for the flows tests repeat: upload a CSV, define a model, run a job.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { startTestServer, type TestServer, type TestServerOptions } from './server.ts';
import { JobLoop } from '../../src/jobs/loop.ts';
import { api } from './processes.ts';
import { jobRunners } from '../../src/cli/job-kinds.ts';

export { api, mlp } from './processes.ts';

export interface TestPlatform extends TestServer {
  loop: JobLoop;
}

export async function startTestPlatform(options: TestServerOptions = {}): Promise<TestPlatform> {
  const executor = { poke: () => undefined as void };
  const server = await startTestServer({ ...options, app: { ...options.app, executor: { poke: () => executor.poke() } } });
  const loop = new JobLoop(server.platform, { role: 'local', concurrency: server.config.maxConcurrentJobs, niceness: 0, pollMs: 200, runners: jobRunners() });
  loop.start();
  executor.poke = () => testPlatform.loop.poke();
  const testPlatform: TestPlatform = {
    ...server,
    loop,
    async close() {
      await testPlatform.loop.stop();
      await server.close();
    },
  };
  return testPlatform;
}

export const EXAMPLES = new URL('../../examples/', import.meta.url).pathname;

export async function uploadCsv(base: string, content: string | Buffer, name: string): Promise<{ id: string; name: string; version: number }> {
  const response = await fetch(`${base}/v1/datasets?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { 'content-type': 'text/csv' },
    body: content,
  });
  const body = (await response.json()) as { id: string; name: string; version: number };
  if (response.status !== 201) throw new Error(`upload of ${name} failed: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

export async function uploadExample(base: string, file: string): Promise<{ id: string; name: string; version: number }> {
  return uploadCsv(base, await readFile(`${EXAMPLES}${file}`), basename(file, '.csv'));
}

export interface JobView {
  id: string;
  status: string;
  error: string | null;
  error_code: string | null;
  attempts: number;
  model_version: number | null;
  metrics: Record<string, number> | null;
  stats: Record<string, unknown> | null;
  progress: Record<string, number> | null;
}

export async function waitForJob(base: string, id: string, options: { kind?: 'training' | 'inference'; until?: (job: JobView) => boolean; timeoutMs?: number } = {}): Promise<JobView> {
  const path = `/v1/${options.kind ?? 'training'}-jobs/${id}`;
  const until = options.until ?? ((job: JobView) => ['succeeded', 'failed', 'cancelled'].includes(job.status));
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    const { body } = await api<JobView>(base, 'GET', path);
    if (until(body)) return body;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${body.status} after ${options.timeoutMs ?? 120_000} ms: ${JSON.stringify(body)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function train(base: string, model: string, dataset: string, hyperparameters: Record<string, unknown> = {}): Promise<JobView> {
  const created = await api<JobView>(base, 'POST', '/v1/training-jobs', { model, dataset, hyperparameters });
  if (created.status !== 202) throw new Error(`training job refused: ${created.status} ${JSON.stringify(created.body)}`);
  return waitForJob(base, created.body.id);
}
