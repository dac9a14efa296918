// How a job kind plugs into the engine. A kind is a string (`training`, `inference`, …) and a
// runner: the code that runs one claimed job of that kind. Kinds are declared at the composition
// root (src/cli/job-kinds.ts) and handed to runClaimedJob(); the engine itself imports no kind, and
// a process that meets a kind it has no runner for treats the job as an infrastructure failure
// (retried while attempts remain: another worker may know the kind).
//
// A declaration says what the job loop and the executors need to know of a kind (its flags) and
// loads the runner's code only when a job of the kind runs in this process: the job loop of a
// server's primary or of `trainyard worker` then starts without ONNX Runtime, the tuning sampler
// and the import readers, which run in `run-job` children.
import type { Platform } from '../platform.ts';
import type { JobContext } from './context.ts';
import type { JobRow } from './jobs.ts';

/** What the job loop and the executors know of a kind without loading its code. */
export interface JobKindFlags {
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
}

/** A kind as the composition root declares it: its flags, and its runner loaded on first use. */
export interface JobKindDeclaration extends JobKindFlags {
  /** The string stored in jobs.kind: 1 to 32 lowercase letters, digits, '-' or '_'. */
  readonly kind: string;
  load(): Promise<JobRunner>;
}

export interface JobRunner {
  /** The kind it runs (checked against the declaration when loaded). */
  readonly kind: string;
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

/** The kinds one process knows, by name: declarations, or runners given directly (flags included). */
export class JobRunners {
  private readonly byKind = new Map<string, JobKindDeclaration>();
  private readonly loaded = new Map<string, Promise<JobRunner>>();

  register(entry: JobKindDeclaration | (JobRunner & JobKindFlags)): this {
    if (!KIND.test(entry.kind)) throw new Error(`job kind "${entry.kind}" must be 1 to 32 lowercase letters, digits, '-' or '_', starting with a letter`);
    if (this.byKind.has(entry.kind)) throw new Error(`job kind "${entry.kind}" is registered twice`);
    const declaration: JobKindDeclaration =
      'load' in entry ? entry : { kind: entry.kind, coordinator: entry.coordinator, accelerated: entry.accelerated, load: () => Promise.resolve(entry) };
    this.byKind.set(entry.kind, declaration);
    return this;
  }

  /** The kind's declaration (its flags), without loading its code. */
  get(kind: string): JobKindDeclaration | undefined {
    return this.byKind.get(kind);
  }

  /** The kind's runner, its code loaded once per process; undefined for a kind this process does not know. */
  async load(kind: string): Promise<JobRunner | undefined> {
    const declaration = this.byKind.get(kind);
    if (!declaration) return undefined;
    let runner = this.loaded.get(kind);
    if (!runner) {
      runner = declaration.load().then((loaded) => {
        if (loaded.kind !== kind) throw new Error(`job kind "${kind}" loaded the runner of "${loaded.kind}"`);
        return loaded;
      });
      this.loaded.set(kind, runner);
      runner.catch(() => this.loaded.delete(kind)); // a failed load is tried again by the next job
    }
    return runner;
  }

  get kinds(): string[] {
    return [...this.byKind.keys()];
  }

  /** The kinds whose declarations say they are coordinators. */
  get coordinatorKinds(): string[] {
    return [...this.byKind.values()].filter((r) => r.coordinator === true).map((r) => r.kind);
  }
}
