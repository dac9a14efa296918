import { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { openPlatform } from '../platform.ts';
import { claimById, newLeaseOwner } from '../training/queue.ts';
import { getJobRow } from '../training/jobs.ts';

export function runJobCommand(): Command {
  return new Command('run-job')
    .description('Run exactly one job and exit (the AWS Batch container entrypoint; also what workers spawn)')
    .argument('<id>', 'job id')
    .option('--owner <owner>', 'lease owner that already claimed the job (set by a worker; omit to claim it here)')
    .action(async (id: string, options: { owner?: string }) => {
      // Loaded on use so that other commands do not pay for the job code (and ONNX Runtime).
      const { runClaimedJob } = await import('../training/run-job.ts');
      const config = loadConfig();
      const platform = await openPlatform(config);
      const stop = new AbortController();
      process.once('SIGTERM', () => stop.abort('shutdown'));
      process.once('SIGINT', () => stop.abort('shutdown'));
      if (options.owner) {
        // Spawned by a worker: when the worker dies our stdin closes, and the job is abandoned to
        // its lease so that another worker picks it up.
        process.stdin.on('end', () => stop.abort('parent-gone'));
        process.stdin.on('error', () => stop.abort('parent-gone'));
        process.stdin.resume();
      }
      let exitCode = 0;
      try {
        const owner = options.owner ?? newLeaseOwner('run-job');
        const job = options.owner
          ? await getJobRow(platform.metadata.db, id)
          : await claimById(platform.metadata, id, owner, config.leaseSeconds * 1000);
        if (!job || job.status !== 'running' || job.lease_owner !== owner) {
          const current = await getJobRow(platform.metadata.db, id);
          process.stderr.write(`trainyard run-job: job ${id} is ${current.status}${current.lease_owner ? ` (held by ${current.lease_owner})` : ''}; nothing to do\n`);
        } else {
          const end = await runClaimedJob(platform, job, owner, { stop: stop.signal });
          platform.logger.info({ job: id, end }, 'run-job finished');
          exitCode = end === 'failed' ? 1 : 0;
        }
      } finally {
        await platform.close();
      }
      process.exit(exitCode);
    });
}
