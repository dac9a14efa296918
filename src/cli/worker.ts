import { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { openPlatform } from '../platform.ts';
import { JobLoop } from '../jobs/loop.ts';

export function workerCommand(): Command {
  return new Command('worker')
    .description('Claim and run queued jobs from the database (TRAINYARD_EXECUTOR=queue fleets); SIGTERM hands running jobs back')
    .action(async () => {
      const config = loadConfig();
      // Loaded here, not at the top: every `trainyard` command imports this file.
      const { jobRunners } = await import('./job-kinds.ts');
      const platform = await openPlatform(config);
      const loop = new JobLoop(platform, { role: 'worker', concurrency: config.maxConcurrentJobs, niceness: 0, runners: jobRunners() });
      loop.start();
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          platform.logger.info({ signal, active: loop.activeJobs }, 'worker draining');
          void loop.stop().then(resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      await platform.close();
      process.exit(0);
    });
}
