// The composition root of job kinds: every kind this build can run, registered with the engine
// once, here. A new kind adds its runner below (and its routes in src/api/routes/index.ts); the
// engine in src/jobs/ never imports a kind.
import { JobRunners } from '../jobs/runner.ts';
import { trainingJobRunner } from '../training/run-training.ts';
import { inferenceJobRunner } from '../inference/run-inference.ts';
import { tuningJobRunner } from '../tuning/driver.ts';
import { exportJobRunner } from '../monitoring/export-job.ts';
import { importJobRunner } from '../datasets/import/import-job.ts';

export function jobRunners(): JobRunners {
  return new JobRunners().register(trainingJobRunner).register(inferenceJobRunner).register(tuningJobRunner).register(exportJobRunner).register(importJobRunner);
}
