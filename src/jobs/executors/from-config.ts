// Picks the executor TRAINYARD_EXECUTOR names, for the server (and benchmarks). The interface
// (executor.ts) knows no implementation; this is the one place that knows them all. AWS Batch is
// loaded only when chosen, so that other setups never load the AWS SDK.
import type { Platform } from '../../platform.ts';
import type { JobRunners } from '../runner.ts';
import type { Executor } from './executor.ts';
import { LocalExecutor } from './local.ts';
import { QueueExecutor } from './queue.ts';

/** The configured executor, started. `runners`: the kinds of this build (the local loop gives coordinators slots of their own; AWS Batch places jobs by kind). */
export async function startExecutor(platform: Platform, runners: JobRunners): Promise<Executor> {
  let executor: Executor;
  switch (platform.config.executor) {
    case 'local':
      executor = new LocalExecutor(platform, { runners });
      break;
    case 'queue':
      executor = new QueueExecutor();
      break;
    case 'aws-batch': {
      const { AwsBatchExecutor } = await import('./aws-batch.ts');
      executor = new AwsBatchExecutor(platform, runners);
      break;
    }
  }
  executor.start();
  return executor;
}
