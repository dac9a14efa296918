import { createInterface } from 'node:readline';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config.ts';
import { openPlatform } from '../platform.ts';
import { claimById, newLeaseOwner } from '../jobs/queue.ts';
import { getJobRow } from '../jobs/jobs.ts';
import { TRAINER_EXIT_CODES } from '../jobs/errors.ts';
import type { JobRunners } from '../jobs/runner.ts';

/** What a job loop writes to a standby process's stdin: the job it claimed, and its lease owner. */
export interface StandbyAssignment {
  id: string;
  owner: string;
}

/** The first line on stdin, parsed as an assignment; null when stdin closes first (not needed after all). */
async function readAssignment(): Promise<StandbyAssignment | null> {
  const lines = createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    lines.close();
    const parsed = JSON.parse(line) as Partial<StandbyAssignment>;
    if (typeof parsed.id !== 'string' || typeof parsed.owner !== 'string') throw new Error(`run-job --standby: bad assignment line ${line}`);
    return { id: parsed.id, owner: parsed.owner };
  }
  return null;
}

/** `runners` gives the job kinds this process can run (default: every kind of this build, job-kinds.ts). */
export function runJobCommand(runners?: () => JobRunners): Command {
  return new Command('run-job')
    .description('Run exactly one job and exit (the AWS Batch container entrypoint; also what workers spawn)')
    .argument('[id]', 'job id (not with --standby)')
    .option('--owner <owner>', 'lease owner that already claimed the job (set by a worker; omit to claim it here)')
    .option('--standby', 'load everything, then wait for {"id","owner"} on a line of stdin (what a job loop keeps warm)')
    .action(async (idArgument: string | undefined, options: { owner?: string; standby?: boolean }) => {
      if (options.standby ? idArgument !== undefined || options.owner !== undefined : idArgument === undefined) {
        throw new InvalidArgumentError('give a job id, or --standby alone');
      }
      // Loaded on use so that other commands do not pay for the job code (and ONNX Runtime).
      const [{ runClaimedJob }, { jobRunners }] = await Promise.all([import('../jobs/run-job.ts'), import('./job-kinds.ts')]);
      const kinds = (runners ?? jobRunners)();
      const config = loadConfig();
      const platform = await openPlatform(config);
      // A standby loads every kind's code before it waits, so that the job it is given starts at
      // once; a process given its job loads only that job's kind.
      if (options.standby) await Promise.all(kinds.kinds.map((kind) => kinds.load(kind)));
      let exitCode = 0;
      try {
        // A standby whose stdin closes before an assignment was not needed after all: it just exits.
        const assignment = options.standby ? await readAssignment() : { id: idArgument!, owner: options.owner };
        if (assignment) exitCode = await runOne(assignment.id, assignment.owner);
      } finally {
        await platform.close();
      }
      process.exit(exitCode);

      async function runOne(id: string, claimedBy: string | undefined): Promise<number> {
        const stop = new AbortController();
        process.once('SIGTERM', () => stop.abort('shutdown'));
        process.once('SIGINT', () => stop.abort('shutdown'));
        if (claimedBy) {
          // Spawned by a worker: when the worker dies our stdin closes, and the job is abandoned to
          // its lease so that another worker picks it up.
          process.stdin.on('end', () => stop.abort('parent-gone'));
          process.stdin.on('error', () => stop.abort('parent-gone'));
          process.stdin.resume();
        }
        const owner = claimedBy ?? newLeaseOwner('run-job');
        const job = claimedBy ? await getJobRow(platform.metadata.db, id) : await claimById(platform.metadata, id, owner, config.leaseSeconds * 1000);
        if (!job || job.status !== 'running' || job.lease_owner !== owner) {
          const current = await getJobRow(platform.metadata.db, id);
          process.stderr.write(`trainyard run-job: job ${id} is ${current.status}${current.lease_owner ? ` (held by ${current.lease_owner})` : ''}; nothing to do\n`);
          return 0;
        }
        const end = await runClaimedJob(platform, kinds, job, owner, { stop: stop.signal });
        platform.logger.info({ job: id, end }, 'run-job finished');
        // Handed back to the queue (a SIGTERM, a retryable failure): exit with the trainer's
        // "interrupted, run me again" status, on which AWS Batch's retry strategy runs this
        // container again (it resumes from the job's checkpoint). Elsewhere the status is only read.
        return end === 'failed' ? 1 : end === 'requeued' ? TRAINER_EXIT_CODES.INTERRUPTED : 0;
      }
    });
}
