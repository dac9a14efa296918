// Why a job stopped decides whether it is retried: a user error (bad data, a NaN loss, a spec that
// cannot run) fails at once, while anything else is treated as an infrastructure failure (a lost
// process, a store that was briefly down) and retried while attempts remain.
export class JobUserError extends Error {
  override name = 'JobUserError';
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
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
