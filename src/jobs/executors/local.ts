// The `local` executor: the server's own job loop (loop.ts) claims queued jobs and runs each in a
// `trainyard run-job` subprocess, niced below the API so that HTTP stays responsive.
import type { Platform } from '../../platform.ts';
import { JobLoop, type JobLoopOptions } from '../loop.ts';
import type { Executor } from './executor.ts';

/** Niceness of the local executor's job processes (and so of their trainers): below the API. */
export const LOCAL_JOB_NICENESS = 10;

export class LocalExecutor implements Executor {
  readonly name = 'local';
  readonly loop: JobLoop;

  constructor(platform: Platform, options: Pick<JobLoopOptions, 'runners'> & Partial<Omit<JobLoopOptions, 'role' | 'runners'>>) {
    this.loop = new JobLoop(platform, { concurrency: platform.config.maxConcurrentJobs, niceness: LOCAL_JOB_NICENESS, ...options, role: 'local' });
  }

  start(): void {
    this.loop.start();
  }

  poke(): void {
    this.loop.poke();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }
}
