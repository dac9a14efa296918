// The job loop behind the `local` executor (inside `trainyard server`) and `trainyard worker`: it
// claims queued jobs up to its concurrency and runs each in a `trainyard run-job` subprocess, niced
// below the API so HTTP stays responsive. It also reaps jobs whose worker was lost.
//
// Loading the job code takes a new Node process ~2 s (tsx, the stores, ONNX Runtime), so the loop
// keeps one `run-job --standby` process loaded and waiting (TRAINYARD_JOB_STANDBY): a claimed job
// is written to its stdin and starts at once. A new standby is started when a job process exits,
// not while one starts, so that it never competes with a job's own start-up for the CPU.
import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Platform } from '../platform.ts';
import { storeEnvironment } from '../config.ts';
import { claimNext, finishJob, isDeadLocalOwner, newLeaseOwner, reapLostJobs, renewLease, requeue } from './queue.ts';
import type { JobRow } from './jobs.ts';
import type { JobRunners } from './runner.ts';
import { STORE_OUTAGE_RETRY } from './errors.ts';
import { withRetry } from '../store/retry.ts';

const CLI = fileURLToPath(new URL('../../bin/trainyard.mjs', import.meta.url));

export interface JobLoopOptions {
  role: 'local' | 'worker';
  concurrency: number;
  /** The kinds the job processes run (the `cli`'s registry): those that declare `coordinator` get the coordinator slots. */
  runners: JobRunners;
  /** Niceness of job subprocesses (10 when they share the machine with the API). */
  niceness: number;
  pollMs?: number;
  reapEveryMs?: number;
  /** Keep a loaded `run-job --standby` process waiting for the next job (default: config.jobStandby). */
  standby?: boolean;
  /** Coordinator jobs (JobKindFlags.coordinator: tuning-study drivers) run at once besides `concurrency` (default: config.maxConcurrentStudies). */
  coordinators?: number;
  /** The command-line entry whose `run-job` runs the jobs (default bin/trainyard.mjs; tests add job kinds). */
  cli?: string;
}

/**
 * How long a job process told to stop (SIGTERM) may take before it is killed: longer than a kind's
 * own stop (a trainer finishing its batch and saving a checkpoint, 60 s), shorter than the two
 * minutes AWS Batch and most orchestrators give a process between SIGTERM and SIGKILL.
 */
const JOB_STOP_GRACE_MS = 90_000;

export class JobLoop {
  readonly owner: string;
  private readonly running = new Map<string, ChildProcess>();
  private readonly coordinating = new Set<string>();
  private readonly coordinatorKinds: readonly string[];
  private standby: ChildProcess | null = null;
  /** Jobs started in the waiting standby process (warm) and in a new process (cold). */
  readonly starts = { warm: 0, cold: 0 };
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private stopping = false;
  private ticking = false;
  private lastReap = 0;
  private backoffUntil = 0;
  private failures = 0;

  constructor(
    private readonly platform: Platform,
    private readonly options: JobLoopOptions,
  ) {
    this.owner = newLeaseOwner(options.role);
    this.coordinatorKinds = options.runners.coordinatorKinds;
  }

  get activeJobs(): string[] {
    return [...this.running.keys()];
  }

  start(): void {
    this.platform.logger.info({ owner: this.owner, concurrency: this.options.concurrency }, 'job loop started');
    this.timer = setInterval(() => void this.tick(), this.options.pollMs ?? 500);
    const leaseMs = this.platform.config.leaseSeconds * 1000;
    this.heartbeat = setInterval(() => void this.renewLeases(leaseMs), Math.max(200, Math.floor(leaseMs / 3)));
    void this.tick();
    this.keepStandby();
  }

  /** The waiting `run-job --standby` process's pid, if there is one. */
  get standbyPid(): number | undefined {
    return this.standby?.pid;
  }

  private spawnJobProcess(args: string[]): ChildProcess {
    const child = spawn(process.execPath, [this.options.cli ?? CLI, 'run-job', ...args], {
      env: { ...process.env, ...storeEnvironment(this.platform.config) },
      // stdin stays open: when this process dies, the child sees EOF and abandons the job.
      stdio: ['pipe', 'inherit', 'inherit'],
    });
    // Writing an assignment to a standby that just died fails here; its 'exit' handles the job.
    child.stdin?.on('error', (error) => this.platform.logger.debug({ err: error }, 'job process stdin closed'));
    if (child.pid && this.options.niceness > 0) {
      try {
        setPriority(child.pid, this.options.niceness);
      } catch {
        this.platform.logger.debug('could not lower job priority');
      }
    }
    return child;
  }

  private keepStandby(): void {
    if (this.stopping || this.standby || !(this.options.standby ?? this.platform.config.jobStandby)) return;
    const child = this.spawnJobProcess(['--standby']);
    this.standby = child;
    child.once('exit', () => {
      if (this.standby === child) this.standby = null;
    });
  }

  /** The standby process, handed over to a job, or null when there is none alive. */
  private takeStandby(): ChildProcess | null {
    const child = this.standby;
    this.standby = null;
    if (!child || child.exitCode !== null || child.signalCode !== null || !child.stdin?.writable) return null;
    return child;
  }

  /**
   * The loop holds the lease of every job it launched, from the claim until its process exits, so a
   * job process that is slow to start (loading the platform takes seconds on a busy machine) does not
   * lose its job to a reaper before its own first heartbeat. The job process heartbeats too (that is
   * where cancel requests are noticed). When this process dies, both stop and the lease expires.
   */
  private async renewLeases(leaseMs: number): Promise<void> {
    for (const id of this.running.keys()) {
      try {
        await renewLease(this.platform.metadata, id, this.owner, leaseMs);
      } catch (error) {
        this.platform.logger.debug({ err: error, job: id }, 'could not renew a lease; the job process keeps trying too');
      }
    }
  }

  /** Wakes the loop now (after a job was queued through this process). */
  poke(): void {
    void this.tick();
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopping || Date.now() < this.backoffUntil) return;
    this.ticking = true;
    try {
      if (Date.now() - this.lastReap > (this.options.reapEveryMs ?? 5000)) {
        this.lastReap = Date.now();
        const reaped = await reapLostJobs(this.platform.metadata, { deadOwners: isDeadLocalOwner });
        if (reaped > 0) this.platform.logger.warn({ reaped }, 're-queued or failed jobs whose worker was lost');
      }
      const leaseMs = this.platform.config.leaseSeconds * 1000;
      const coordinators = this.options.coordinators ?? this.platform.config.maxConcurrentStudies;
      while (!this.stopping && this.running.size - this.coordinating.size < this.options.concurrency) {
        const job = await claimNext(this.platform.metadata, this.owner, leaseMs, { kinds: { except: this.coordinatorKinds } });
        if (!job) break;
        this.launch(job);
      }
      while (!this.stopping && this.coordinating.size < coordinators) {
        const job = await claimNext(this.platform.metadata, this.owner, leaseMs, { kinds: { only: this.coordinatorKinds } });
        if (!job) break;
        this.launch(job);
      }
      this.failures = 0;
    } catch (error) {
      // The database may be down for a moment: back off exponentially (capped) and try again.
      this.failures++;
      const delay = Math.min(10_000, 250 * 2 ** Math.min(this.failures, 6)) * (0.5 + Math.random() / 2);
      this.backoffUntil = Date.now() + delay;
      this.platform.logger.warn({ err: error, retryInMs: Math.round(delay) }, 'job loop could not reach the database');
    } finally {
      this.ticking = false;
    }
  }

  private launch(job: JobRow): void {
    const { platform } = this;
    let child = this.takeStandby();
    const warm = child !== null;
    this.starts[warm ? 'warm' : 'cold']++;
    if (child) child.stdin!.write(`${JSON.stringify({ id: job.id, owner: this.owner })}\n`);
    else child = this.spawnJobProcess([job.id, '--owner', this.owner]);
    this.running.set(job.id, child);
    if (this.coordinatorKinds.includes(job.kind)) this.coordinating.add(job.id);
    platform.logger.info({ job: job.id, kind: job.kind, pid: child.pid, attempt: job.attempts, warm }, 'job started');
    child.once('exit', (code, signal) => {
      this.running.delete(job.id);
      this.coordinating.delete(job.id);
      this.keepStandby();
      void this.afterExit(job, code, signal).finally(() => this.poke());
    });
  }

  /** A child that exits while its job is still `running` under our lease crashed: retry or fail. */
  private async afterExit(job: JobRow, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    const { db } = this.platform.metadata;
    try {
      // Retried across a database blip (each step re-checks the lease, so a retry is harmless).
      await withRetry(async () => {
        const row = await db.selectFrom('jobs').select(['status', 'lease_owner', 'attempts', 'max_attempts']).where('id', '=', job.id).executeTakeFirst();
        if (!row || row.status !== 'running' || row.lease_owner !== this.owner) return;
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        if (row.attempts < row.max_attempts) {
          await requeue(this.platform.metadata, job.id, this.owner, `job process ${how}`);
        } else {
          await finishJob(this.platform.metadata, job.id, this.owner, { status: 'failed', error: `the job process ${how} on each of ${row.attempts} attempts`, errorCode: 'WORKER_LOST' });
        }
      }, STORE_OUTAGE_RETRY);
    } catch (error) {
      // The lease will expire and another reaper will take care of it.
      this.platform.logger.error({ err: error, job: job.id }, 'could not record a crashed job');
    }
  }

  /** Stops claiming; running jobs are handed back (their processes get SIGTERM, and save a checkpoint) and awaited. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    clearInterval(this.heartbeat);
    this.standby?.stdin?.end(); // a standby exits when its stdin closes
    this.standby = null;
    const exits = [...this.running.values()].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), JOB_STOP_GRACE_MS).unref();
        }),
    );
    await Promise.all(exits);
  }
}
