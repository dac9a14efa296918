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
