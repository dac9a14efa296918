// The drift baseline of a model version: how its training split was distributed, per feature, and
// how its predictions on the validation split were distributed. Stored with the version
// (`baseline.json`, next to manifest.json) and compared with live traffic by drift.ts.
//
// Bins: a numeric feature is cut at the training split's deciles (the distinct ones), a categorical
// feature has one bin per value of its training vocabulary (the encoder's categories) and one for
// "unseen" (any other value). A datetime feature gives several histograms: its instant cut at the
// training deciles (like a number), and one per cyclic part the encoder uses (those that vary in
// training): the month of the year, the day of the week, the hour of the day (UTC), one bin per
// value. Missing values are counted apart. Live values go through the same binner, so both sides of
// a comparison always have the same bins.
import type { DatetimeCycle, FeatureColumn, FeatureEncoding, RawColumn } from '../models/preprocessing.ts';
import { categoryOf } from '../models/preprocessing.ts';

/** Bin index of a missing value (NaN, null). */
export const MISSING_BIN = -1;

export interface NumericBaseline {
  name: string;
  kind: 'numeric';
  /** Ascending cut points: bin i holds values in [edges[i-1], edges[i]); bin 0 everything below edges[0]. */
  edges: number[];
  counts: number[];
  missing: number;
}

export interface CategoricalBaseline {
  name: string;
  kind: 'categorical';
  /** One bin per category; the bin after the last holds every other value ("unseen"). */
  categories: string[];
  counts: number[];
  missing: number;
}

/** A datetime feature's instant (ms since the epoch, UTC), cut at the training deciles like a number. */
export interface DatetimeBaseline {
  name: string;
  kind: 'datetime';
  part: 'time';
  edges: number[];
  counts: number[];
  missing: number;
}

/** A cyclic part of a datetime feature: one bin per month (0 = January), weekday (0 = Sunday) or hour, UTC. */
export interface CycleBaseline {
  name: string;
  kind: 'datetime';
  part: DatetimeCycle;
  counts: number[];
  missing: number;
}

export type FeatureBaseline = NumericBaseline | CategoricalBaseline | DatetimeBaseline | CycleBaseline;

/** Bins of each cyclic part of a datetime. */
export const CYCLE_BINS: Readonly<Record<DatetimeCycle, number>> = { month: 12, day_of_week: 7, hour: 24 };

/** Bin of an instant (ms since the epoch) in a cyclic part: its month, weekday or hour (UTC). */
export function cycleBin(millis: number, part: DatetimeCycle): number {
  if (Number.isNaN(millis)) return MISSING_BIN;
  const date = new Date(millis);
  return part === 'month' ? date.getUTCMonth() : part === 'day_of_week' ? date.getUTCDay() : date.getUTCHours();
}

/**
 * The name a baseline histogram goes by in the live drift bins: the column's name, with the part
 * after a NUL for a datetime's cyclic parts (no column name holds a NUL, so no name is taken twice).
 */
export function histogramKey(feature: FeatureBaseline): string {
  return feature.kind === 'datetime' && feature.part !== 'time' ? `${feature.name}\u0000${feature.part}` : feature.name;
}

/**
 * The distribution of the version's outputs on its validation split: for classifiers, the predicted
 * label (one bin per class); for regression, the predicted value cut at its deciles.
 */
export type PredictionBaseline =
  | { kind: 'label'; classes: string[]; counts: number[] }
  | { kind: 'value'; edges: number[]; counts: number[] };

export interface DriftBaseline {
  format_version: 1;
  /** Training rows the feature histograms were counted over (a seeded sample when the split is larger). */
  rows: number;
  features: FeatureBaseline[];
  prediction: PredictionBaseline | null;
}

/** Rows of the training split the feature baseline counts at most: a seeded, evenly spread sample beyond. */
export const BASELINE_MAX_ROWS = 200_000;
const DECILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/** The distinct deciles of `values` (sorted in place). Empty when every value is the same or none exist. */
export function decileEdges(sorted: Float64Array): number[] {
  const edges: number[] = [];
  if (sorted.length === 0) return edges;
  for (const q of DECILES) {
    const edge = sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    if (edge > sorted[0] && (edges.length === 0 || edge > edges[edges.length - 1])) edges.push(edge);
  }
  return edges;
}

/** Bin of a number among ascending `edges` (binary search): 0 … edges.length. */
export function numericBin(edges: readonly number[], value: number): number {
  if (Number.isNaN(value)) return MISSING_BIN;
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (value < edges[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Maps each raw value of one feature to its bin; shared by the baseline and by live traffic. */
export interface FeatureBinner {
  readonly bins: number;
  bin(column: RawColumn, row: number): number;
}

export function featureBinner(feature: FeatureBaseline): FeatureBinner {
  if (feature.kind === 'numeric' || (feature.kind === 'datetime' && feature.part === 'time')) {
    const { edges } = feature;
    return { bins: edges.length + 1, bin: (column, row) => numericBin(edges, (column as Float64Array)[row]) };
  }
  if (feature.kind === 'datetime') {
    const { part } = feature;
    return { bins: CYCLE_BINS[part], bin: (column, row) => cycleBin((column as Float64Array)[row], part) };
  }
  const index = new Map(feature.categories.map((c, i) => [c, i]));
  const unseen = feature.categories.length;
  return {
    bins: unseen + 1,
    bin: (column, row) => {
      const value = (column as (string | null)[])[row];
      return value === null ? MISSING_BIN : (index.get(categoryOf(value)) ?? unseen);
    },
  };
}

/** Evenly spread row positions (at most `max`) of a list, so a huge split costs a bounded pass. */
function sampleRows(rows: ArrayLike<number>, max: number): ArrayLike<number> {
  if (rows.length <= max) return rows;
  const step = rows.length / max;
  const out = new Int32Array(max);
  for (let i = 0; i < max; i++) out[i] = rows[Math.floor(i * step)];
  return out;
}

/**
 * The training split's histograms, binned by its own deciles (numeric, and a datetime's instants), by
 * the vocabulary the encoder was fitted with (categorical), so "unseen" means exactly what serving
 * treats as unknown, and by the cyclic parts of a datetime that the encoder uses.
 */
export function fitFeatureBaseline(columns: FeatureColumn[], encodings: FeatureEncoding[], trainRows: ArrayLike<number>): { rows: number; features: FeatureBaseline[] } {
  const rows = sampleRows(trainRows, BASELINE_MAX_ROWS);
  const features = columns.flatMap((column, c): FeatureBaseline[] => {
    const encoding = encodings[c];
    if (column.kind === 'categorical') {
      const categories = encoding?.kind === 'categorical' ? encoding.categories : [];
      return [count({ name: column.name, kind: 'categorical', categories: [...categories], counts: new Array<number>(categories.length + 1).fill(0), missing: 0 }, column, rows)];
    }
    // Numbers, and a datetime's instants (ms since the epoch), are cut at their training deciles.
    const edges = presentDeciles(column.values as Float64Array, rows);
    const counts = new Array<number>(edges.length + 1).fill(0);
    if (column.kind === 'numeric') return [count({ name: column.name, kind: 'numeric', edges, counts, missing: 0 }, column, rows)];
    const cycles = encoding?.kind === 'datetime' ? encoding.cycles : [];
    return [
      count({ name: column.name, kind: 'datetime', part: 'time', edges, counts, missing: 0 }, column, rows),
      ...cycles.map((part) => count({ name: column.name, kind: 'datetime', part, counts: new Array<number>(CYCLE_BINS[part]).fill(0), missing: 0 }, column, rows)),
    ];
  });
  return { rows: rows.length, features };
}

/** The distinct deciles of the values at `rows` that are not missing. */
function presentDeciles(values: Float64Array, rows: ArrayLike<number>): number[] {
  const present = new Float64Array(rows.length);
  let n = 0;
  for (let i = 0; i < rows.length; i++) {
    const v = values[rows[i]];
    if (!Number.isNaN(v)) present[n++] = v;
  }
  return decileEdges(present.subarray(0, n).sort());
}

/** Fills `feature`'s counts from the column's values at `rows`, through the binner serving uses. */
function count<F extends FeatureBaseline>(feature: F, column: FeatureColumn, rows: ArrayLike<number>): F {
  const binner = featureBinner(feature);
  for (let i = 0; i < rows.length; i++) {
    const bin = binner.bin(column.values, rows[i]);
    if (bin === MISSING_BIN) feature.missing++;
    else feature.counts[bin]++;
  }
  return feature;
}

/** Bins of a model output row: the predicted class, or the predicted value among the edges. */
export interface PredictionBinner {
  readonly bins: number;
  bin(output: Float32Array, width: number, row: number): number;
}

export function predictionBinner(baseline: PredictionBaseline, task: string): PredictionBinner {
  if (baseline.kind === 'value') {
    const { edges } = baseline;
    return { bins: edges.length + 1, bin: (output, _width, row) => numericBin(edges, output[row]) };
  }
  const classes = baseline.classes.length;
  if (task === 'binary_classification') return { bins: 2, bin: (output, _width, row) => (output[row] >= 0.5 ? 1 : 0) };
  return {
    bins: classes,
    bin: (output, width, row) => {
      let best = 0;
      for (let k = 1; k < width; k++) if (output[row * width + k] > output[row * width + best]) best = k;
      return best;
    },
  };
}

/** The validation outputs' distribution (outputs as served: probabilities, or values in target units). */
export function fitPredictionBaseline(task: string, classes: string[] | undefined, output: Float32Array, width: number, rows: number): PredictionBaseline {
  let baseline: PredictionBaseline;
  if (classes) {
    baseline = { kind: 'label', classes: [...classes], counts: new Array<number>(classes.length).fill(0) };
  } else {
    const sorted = Float64Array.from(output.subarray(0, rows)).sort();
    const edges = decileEdges(sorted);
    baseline = { kind: 'value', edges, counts: new Array<number>(edges.length + 1).fill(0) };
  }
  const binner = predictionBinner(baseline, task);
  for (let i = 0; i < rows; i++) baseline.counts[binner.bin(output, width, i)]++;
  return baseline;
}
