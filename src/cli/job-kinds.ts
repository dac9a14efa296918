// The composition root of job kinds: every kind this build can run, declared with the engine once,
// here, with the flags the job loop and executors read. A kind's code is imported only when a job
// of it runs in the process (runner.ts). A new kind adds its declaration below (and its routes in
// src/api/routes/index.ts); the engine in src/jobs/ never imports a kind.
import { JobRunners } from '../jobs/runner.ts';

export function jobRunners(): JobRunners {
  return new JobRunners()
    .register({ kind: 'training', accelerated: true, load: async () => (await import('../training/run-training.ts')).trainingJobRunner })
    .register({ kind: 'inference', load: async () => (await import('../inference/run-inference.ts')).inferenceJobRunner })
    .register({ kind: 'tuning', coordinator: true, load: async () => (await import('../tuning/driver.ts')).tuningJobRunner })
    .register({ kind: 'export', load: async () => (await import('../monitoring/export-job.ts')).exportJobRunner })
    .register({ kind: 'import', load: async () => (await import('../datasets/import/import-job.ts')).importJobRunner });
}
