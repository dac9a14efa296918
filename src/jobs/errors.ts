// The job-error registry, like the API's (src/errors.ts): every code a failed job can carry in
// `error_code`, with a status on the API's scale (4xx: the job's own input or settings are at fault;
// 5xx: the platform's), a title, whether the failure is retried while attempts remain, and whether
// the Python trainer reports it (in a `failed` event). docs/errors.md documents each code (a test
// keeps the two in step), and contracts/job-errors.json carries the registry to the trainer.

interface JobErrorInfo {
  status: number;
  title: string;
  /** Retried while attempts remain (a lost process, an interrupted trainer); otherwise the job fails at once. */
  retryable: boolean;
  /** The trainer reports it itself. */
  trainer: boolean;
}

export const JOB_ERROR_CODES = {
  INVALID_SPEC: { status: 422, title: 'The network cannot be built, run or exported as defined', retryable: false, trainer: true },
  BAD_DATA: { status: 422, title: 'The data cannot be used', retryable: false, trainer: true },
  NAN_LOSS: { status: 422, title: 'The training loss became NaN or infinite', retryable: false, trainer: true },
  TIMEOUT: { status: 408, title: 'max_runtime_seconds passed before there was a model to save', retryable: false, trainer: true },
  OUT_OF_MEMORY: { status: 413, title: 'The job ran out of memory', retryable: false, trainer: true },
  INTERRUPTED: { status: 503, title: 'The trainer was interrupted and asks to be run again', retryable: true, trainer: true },
  WORKER_LOST: { status: 503, title: 'The process running the job was lost', retryable: true, trainer: false },
  INFRASTRUCTURE: { status: 500, title: 'The job failed for a reason outside the user’s control', retryable: true, trainer: false },
  BATCH_JOB_FAILED: { status: 502, title: 'AWS Batch reports the job’s container failed', retryable: false, trainer: false },
} as const satisfies Record<string, JobErrorInfo>;

export type JobErrorCode = keyof typeof JOB_ERROR_CODES;
export const JOB_ERROR_CODE_LIST = Object.keys(JOB_ERROR_CODES) as JobErrorCode[];
type CodesWhere<K extends keyof JobErrorInfo, V> = { [C in JobErrorCode]: (typeof JOB_ERROR_CODES)[C][K] extends V ? C : never }[JobErrorCode];
/** The codes the trainer reports in its `failed` event. */
export type TrainerErrorCode = CodesWhere<'trainer', true>;
export const TRAINER_ERROR_CODES = JOB_ERROR_CODE_LIST.filter((code) => JOB_ERROR_CODES[code].trainer) as TrainerErrorCode[];
/** The codes that fail a job at once. */
export type UserErrorCode = CodesWhere<'retryable', false>;

/**
 * The trainer's exit statuses (trainer/README.md). Any other status is an infrastructure failure.
 * INTERRUPTED is EX_TEMPFAIL from sysexits.h: the trainer was stopped before it finished (a spot
 * machine reclaimed, a worker draining) and asks to be run again.
 */
export const TRAINER_EXIT_CODES = { OK: 0, INTERNAL: 1, USER_ERROR: 3, INTERRUPTED: 75 } as const;

export const isJobErrorCode = (code: unknown): code is JobErrorCode => typeof code === 'string' && Object.hasOwn(JOB_ERROR_CODES, code);

/** A job failure with a registry code: retried while attempts remain if the code is retryable, failed at once otherwise. */
export class JobError extends Error {
  override name = 'JobError';
  readonly code: JobErrorCode;

  constructor(code: JobErrorCode, message: string) {
    super(message);
    this.code = code;
  }

  get retryable(): boolean {
    return JOB_ERROR_CODES[this.code].retryable;
  }
}

/**
 * Why a job stopped decides whether it is retried: a user error (bad data, a NaN loss, a spec that
 * cannot run) fails at once, while anything else is treated as an infrastructure failure (a lost
 * process, a store that was briefly down) and retried while attempts remain.
 */
export class JobUserError extends JobError {
  override name = 'JobUserError';

  constructor(code: UserErrorCode, message: string) {
    super(code, message);
  }
}

/** Why a job's AbortSignal fired. */
export type AbortReason = 'cancel' | 'lease-lost' | 'shutdown' | 'parent-gone' | 'timeout';

export function abortReason(signal: AbortSignal): AbortReason | undefined {
  return signal.aborted ? (signal.reason as AbortReason) : undefined;
}

/**
 * How long the writes that end a job (record the version, mark it failed or cancelled, hand it back)
 * wait for a database that went away: about 30 s in all, with backoff and jitter. A job's result is
 * worth more than a few seconds; the lease (30 s by default) bounds how long another worker waits.
 */
export const STORE_OUTAGE_RETRY = { attempts: 10, baseMs: 250, maxMs: 5000 } as const;

/**
 * Thrown by a runner whose final write found the job no longer held under its lease: a cancel
 * arrived at the last moment, or another worker owns the job now. The engine sorts out which.
 */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
  constructor() {
    super('this worker lost the job’s lease before recording the result; another worker owns it now');
  }
}
