// Per-parameter importance of a study, without scikit-learn (Optuna 3.1's fANOVA and mean-decrease-
// impurity evaluators both need it, and Trainyard does not install it).
//
// The estimate is the first-order part of a functional ANOVA, taken from the trials themselves
// rather than from a fitted surrogate: for each parameter, the succeeded trials are grouped by its
// value (a choice, or a numeric parameter with few distinct values, by value; otherwise into 2–5
// equal-count quantile bins), and the variance of the group means of the objective, weighted by
// group size, is compared with the objective's total variance. That share is corrected for the
// variance k groups explain by chance (epsilon squared: (SS_between − (k − 1)·MS_within) /
// SS_total, floored at 0), so noise scores near 0 rather than near (k − 1)/(n − 1).
//
// The objective is replaced by its ranks first, so one diverged trial (a val_loss of 1e6) does not
// decide every parameter's share. What it does not do: interactions (a parameter that matters only
// together with another scores low), and it reads correlated samples as they are: TPE concentrates
// trials where it found good values, so a parameter that moved with another one shares its credit.
// Pruned and failed trials are left out (a pruned trial's objective is from an earlier epoch).
import type { SearchSpace } from './search-space.ts';
import type { Trial } from './trials.ts';

/** Fewer succeeded trials than this give no estimate (two bins of three trials each at least). */
export const MIN_TRIALS_FOR_IMPORTANCE = 6;
const MAX_BINS = 5;

export interface ParamImportance {
  param: string;
  /** This parameter's share of the summed variance_explained over all parameters (they add up to 1, or are all 0). */
  importance: number;
  /** The share of the objective's variance (of its ranks) that this parameter's groups explain, corrected for chance: 0 to 1. */
  variance_explained: number;
  /** How many groups its values fell into. */
  groups: number;
}

export interface ImportanceReport {
  method: 'binned_anova_ranks';
  /** The succeeded trials the estimate used. */
  trials_used: number;
  /** Most important first. */
  params: ParamImportance[];
}

/** Average ranks (1-based), ties sharing their mean rank. */
function ranks(values: number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && order[end + 1][0] === order[start][0]) end++;
    for (let k = start; k <= end; k++) out[order[k][1]] = (start + end) / 2 + 1;
    start = end + 1;
  }
  return out;
}

/** Each value's group: by value when there are at most `bins` distinct ones (or they are not numbers), else by equal-count quantile bin (equal values share a bin). */
export function groupIndices(values: unknown[], bins: number): number[] {
  const keys = values.map((v) => JSON.stringify(v ?? null));
  const distinct = [...new Set(keys)];
  const numeric = values.every((v) => typeof v === 'number' && Number.isFinite(v));
  if (!numeric || distinct.length <= bins) return keys.map((k) => distinct.indexOf(k));
  const numbers = values as number[];
  const sorted = [...numbers].sort((a, b) => a - b);
  // A value's bin comes from the position of its first occurrence in sorted order, so ties stay together.
  return numbers.map((v) => Math.min(bins - 1, Math.floor((sorted.indexOf(v) * bins) / numbers.length)));
}

/** Epsilon squared of the objective ranks `y` grouped by `groups`: the chance-corrected share of variance the groups explain. */
function epsilonSquared(y: number[], groups: number[]): { value: number; groups: number } {
  const n = y.length;
  const mean = y.reduce((a, b) => a + b, 0) / n;
  const total = y.reduce((a, v) => a + (v - mean) ** 2, 0);
  const sums = new Map<number, { sum: number; count: number }>();
  groups.forEach((g, i) => {
    const s = sums.get(g) ?? { sum: 0, count: 0 };
    s.sum += y[i];
    s.count++;
    sums.set(g, s);
  });
  const k = sums.size;
  if (k < 2 || total === 0) return { value: 0, groups: k };
  let between = 0;
  for (const { sum, count } of sums.values()) between += count * (sum / count - mean) ** 2;
  const withinMeanSquare = n > k ? (total - between) / (n - k) : 0;
  return { value: Math.max(0, Math.min(1, (between - (k - 1) * withinMeanSquare) / total)), groups: k };
}

/** The importance of each searched parameter over the study's succeeded trials; null with fewer than MIN_TRIALS_FOR_IMPORTANCE of them. */
export function paramImportance(space: SearchSpace, trials: readonly Trial[]): ImportanceReport | null {
  const done = trials.filter((t) => t.state === 'succeeded' && t.objective !== null && Number.isFinite(t.objective));
  if (done.length < MIN_TRIALS_FOR_IMPORTANCE) return null;
  const y = ranks(done.map((t) => t.objective!));
  const bins = Math.max(2, Math.min(MAX_BINS, Math.floor(Math.sqrt(done.length))));
  const raw = Object.keys(space).map((param) => {
    const { value, groups } = epsilonSquared(y, groupIndices(done.map((t) => t.params[param]), bins));
    return { param, variance_explained: value, groups };
  });
  const sum = raw.reduce((a, r) => a + r.variance_explained, 0);
  const round = (x: number) => Math.round(x * 10_000) / 10_000;
  const params = raw
    .map((r) => ({ param: r.param, importance: round(sum > 0 ? r.variance_explained / sum : 0), variance_explained: round(r.variance_explained), groups: r.groups }))
    .sort((a, b) => b.importance - a.importance || a.param.localeCompare(b.param));
  return { method: 'binned_anova_ranks', trials_used: done.length, params };
}
