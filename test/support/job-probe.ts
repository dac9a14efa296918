// A job kind for testing the engine and its executors without a trainer: `probe` jobs refer to no
// model and no dataset (as import, tuning and export jobs may not), record which process ran them
// (a `probe` event with the pid and attempt), wait, and succeed. A real runner through the real
// engine in real `run-job` processes; only what it does is small.
//
//   spec: { run_ms: how long each attempt works, deadline_seconds?: the engine's backstop }
import { Command } from 'commander';
import { runJobCommand } from '../../src/cli/run-job.ts';
import { jobRunners } from '../../src/cli/job-kinds.ts';
import { durably } from '../../src/jobs/context.ts';
import { LeaseLostError } from '../../src/jobs/errors.ts';
import { jobSpec } from '../../src/jobs/jobs.ts';
import { finishJob } from '../../src/jobs/queue.ts';
import type { JobRunner } from '../../src/jobs/runner.ts';

export interface ProbeSpec {
  run_ms: number;
  deadline_seconds?: number;
}

export const probeRunner: JobRunner = {
  kind: 'probe',
  async run(ctx) {
    const { platform, job, owner, events, signal } = ctx;
    const spec = jobSpec<ProbeSpec>(job);
    events.emit('probe', { pid: process.pid, attempt: job.attempts });
    await events.flush();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, spec.run_ms);
      signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
    if (signal.aborted) return;
    const finished = await durably(platform, job.id, 'record the probe', () => finishJob(platform.metadata, job.id, owner, { status: 'succeeded', stats: { pid: process.pid } }));
    if (!finished) throw new LeaseLostError();
  },
  deadlineSeconds: (job) => jobSpec<ProbeSpec>(job).deadline_seconds,
};

/** The real kinds and the probe: what probe-trainyard.mjs's `run-job` runs, and so what a loop over it is given. */
export const probeJobRunners = () => jobRunners().register(probeRunner);

/** `run-job` with the probe kind registered beside the real ones (test/support/probe-trainyard.mjs). */
export async function probeMain(argv: string[]): Promise<void> {
  const program = new Command('trainyard-probe').exitOverride();
  program.addCommand(runJobCommand(probeJobRunners));
  await program.parseAsync(argv);
}
