// How a job kind plugs into the engine. A kind is a string (`training`, `inference`, …) and a
// runner: the code that runs one claimed job of that kind. Runners are registered at the
// composition root (src/cli/job-kinds.ts) and handed to runClaimedJob(); the engine itself imports
// no kind, and a process that meets a kind it has no runner for treats the job as an
// infrastructure failure (retried while attempts remain: another worker may know the kind).
import type { Platform } from '../platform.ts';
import type { JobContext } from './context.ts';
import type { JobRow } from './jobs.ts';

export interface JobRunner {
  /** The string stored in jobs.kind: 1 to 32 lowercase letters, digits, '-' or '_'. */
  readonly kind: string;
  /**
   * A coordinator's job mostly waits on other jobs it starts (a tuning study's driver waits on its
   * trials, which are training jobs). The job loop runs coordinators in slots of their own
   * (TRAINYARD_MAX_CONCURRENT_STUDIES) besides the compute slots: in a compute slot, a driver would
   * hold the only place its own trials could run in.
   */
  readonly coordinator?: boolean;
  /**
   * Whether the kind can use a GPU. An executor with a separate accelerator target (AWS Batch's
   * training queue and job definition) sends only these kinds there; every other kind runs on
   * general-purpose capacity.
   */
  readonly accelerated?: boolean;
  /**
   * Runs the job to its end. Records success itself (finishJob, inside its own transaction if it
   * has one); throws a JobError with a registry code for a known failure (JobUserError for one that
   * retrying cannot fix; a retryable code such as INTERRUPTED is retried and keeps its code),
   * LeaseLostError when its final write found the lease gone, anything else for an infrastructure
   * failure. Watches
   * ctx.signal and returns soon after it fires, keeping nothing of the attempt.
   */
  run(ctx: JobContext): Promise<void>;
  /**
   * The backstop: seconds after which the engine aborts the job ('timeout') and records it failed
   * with TIMEOUT. A kind that enforces a limit itself gives that limit plus a grace period.
   */
  deadlineSeconds?(job: JobRow): number | null | undefined;
  /**
   * Called once the job has ended (succeeded, failed or cancelled) in the process that ran its last
   * attempt: removes what the kind kept only while the job ran (a training job's checkpoints). A
   * failure here is logged; the job's end stands.
   */
  ended?(platform: Platform, job: JobRow): Promise<void>;
}

const KIND = /^[a-z][a-z0-9_-]{0,31}$/;

/** The runners one process knows, by kind. */
export class JobRunners {
  private readonly byKind = new Map<string, JobRunner>();

  register(runner: JobRunner): this {
    if (!KIND.test(runner.kind)) throw new Error(`job kind "${runner.kind}" must be 1 to 32 lowercase letters, digits, '-' or '_', starting with a letter`);
    if (this.byKind.has(runner.kind)) throw new Error(`job kind "${runner.kind}" is registered twice`);
    this.byKind.set(runner.kind, runner);
    return this;
  }

  get(kind: string): JobRunner | undefined {
    return this.byKind.get(kind);
  }

  get kinds(): string[] {
    return [...this.byKind.keys()];
  }

  /** The kinds whose runners declare themselves coordinators. */
  get coordinatorKinds(): string[] {
    return [...this.byKind.values()].filter((r) => r.coordinator === true).map((r) => r.kind);
  }
}
