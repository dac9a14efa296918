// Population stability index: Σ (live − expected) · ln(live / expected) over the bins' shares.
// A bin empty on one side would make the logarithm infinite, so shares are floored at EPSILON (the
// usual practice; it caps one empty bin's contribution instead of letting it dominate).

const EPSILON = 1e-4;

export function psi(expected: readonly number[], live: readonly number[]): number {
  const e = total(expected);
  const a = total(live);
  if (e === 0 || a === 0) return 0;
  let sum = 0;
  for (let i = 0; i < expected.length; i++) {
    const p = Math.max(expected[i] / e, EPSILON);
    const q = Math.max((live[i] ?? 0) / a, EPSILON);
    sum += (q - p) * Math.log(q / p);
  }
  return sum;
}

const total = (counts: readonly number[]): number => counts.reduce((s, c) => s + c, 0);

export interface DriftThresholds {
  /** PSI at or above which a feature is `warn` (default 0.1). */
  warn: number;
  /** PSI at or above which a feature is `drift` (default 0.2). */
  drift: number;
}

export type DriftStatus = 'ok' | 'warn' | 'drift' | 'no_data';

export function driftStatus(value: number, liveRows: number, thresholds: DriftThresholds): DriftStatus {
  if (liveRows === 0) return 'no_data';
  return value >= thresholds.drift ? 'drift' : value >= thresholds.warn ? 'warn' : 'ok';
}
