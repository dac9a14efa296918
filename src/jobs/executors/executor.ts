// Executors decide only *where* jobs run; the job code path is the same everywhere (run-job.ts).
//   local      the server's own job loop, running jobs in niced subprocesses
//   queue      the server only enqueues; `trainyard worker` processes run jobs
//   aws-batch  a dispatcher submits each queued job to AWS Batch as `run-job <id>`
import type { Platform } from '../../platform.ts';
import { JobLoop } from '../loop.ts';

/** Niceness of the local executor's job processes (and so of their trainers): below the API. */
export const LOCAL_JOB_NICENESS = 10;

export interface Executor {
  /** Called when this server queued a job, to start it without waiting for the next poll. */
  poke(): void;
  stop(): Promise<void>;
}

export async function startExecutor(platform: Platform): Promise<Executor> {
  const { config } = platform;
  switch (config.executor) {
    case 'local': {
      const loop = new JobLoop(platform, { role: 'local', concurrency: config.maxConcurrentJobs, niceness: LOCAL_JOB_NICENESS });
      loop.start();
      return { poke: () => loop.poke(), stop: () => loop.stop() };
    }
    case 'queue':
      return { poke: () => undefined, stop: async () => undefined };
    case 'aws-batch': {
      const { startBatchDispatcher } = await import('./aws-batch.ts');
      return startBatchDispatcher(platform);
    }
  }
}
