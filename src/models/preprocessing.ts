// Preprocessing: learned on the training split only, stored in the model version's manifest.json,
// and applied by this one implementation both when training data is prepared and when a served
// model receives rows — so training and serving cannot drift apart.
//
// The encoded vector is the exported model's input, feature by feature: a numeric column is one input
// (missing values imputed with the training mean); a categorical column is a one-hot block; a
// datetime column (ISO 8601 text, datasets/datetime.ts) is its time as days since 1970-01-01 UTC
// (missing: the training mean), followed by sin/cos pairs for the month of the year, the day of the
// week and the hour of the day (UTC, hour with its minutes as a fraction) — each pair only where
// that part varies among the training rows; a missing time encodes as 0, 0 in every pair. Standardisation is not applied
// here: the trainer folds (x − mean) / std into the network, so a downloaded ONNX or TorchScript
// model takes this raw encoded vector and is usable on its own.

import { isMissingToken } from '../datasets/csv/tokens.ts';
import { parseDateTime } from '../datasets/datetime.ts';

/** A column as read from a CSV or a JSON request: numbers (NaN = missing) or strings (null = missing). */
export type RawColumn = Float64Array | (string | null)[];

export interface NumericEncoding {
  name: string;
  kind: 'numeric';
  /** Value used for a missing cell: the training-split mean. */
  impute: number;
  /** Training-split mean and standard deviation, folded into the network (std is 1 for constant columns). */
  mean: number;
  std: number;
}

export interface CategoricalEncoding {
  name: string;
  kind: 'categorical';
  /** The most frequent training-split values, capped at `max_categories`; each gets one input. */
  categories: string[];
  /** Values outside `categories` (and missing values) encode as all zeros. */
  unknown: 'zeros';
}

/** A part of a datetime encoded as a point on a circle (sin, cos of 2π · part / period). */
export type DatetimeCycle = 'month' | 'day_of_week' | 'hour';

export interface DatetimeEncoding {
  name: string;
  kind: 'datetime';
  /** Days since 1970-01-01T00:00Z for a missing cell: the training-split mean. */
  impute: number;
  /** Training-split mean and std of the days value, folded into the network like a numeric column's. */
  mean: number;
  std: number;
  /** The cyclic parts that vary among the training rows, in this order: two inputs each. */
  cycles: DatetimeCycle[];
}

export type FeatureEncoding = NumericEncoding | CategoricalEncoding | DatetimeEncoding;

const DAY_MS = 86_400_000;
const CYCLES: readonly DatetimeCycle[] = ['month', 'day_of_week', 'hour'];

/** A cyclic part of an instant (ms since the epoch, UTC) as a fraction of its period, in [0, 1). */
function cycleOf(millis: number, cycle: DatetimeCycle): number {
  const date = new Date(millis);
  if (cycle === 'month') return date.getUTCMonth() / 12;
  if (cycle === 'day_of_week') return date.getUTCDay() / 7;
  return (date.getUTCHours() + date.getUTCMinutes() / 60) / 24;
}

export interface Preprocessing {
  features: FeatureEncoding[];
  /** Length of the encoded vector. */
  width: number;
}

export type TargetEncoding =
  | { name: string; kind: 'label'; classes: string[] }
  | { name: string; kind: 'numeric'; mean: number; std: number };

export interface FeatureColumn {
  name: string;
  kind: FeatureEncoding['kind'];
  /** numeric: numbers; categorical: text; datetime: ms since the epoch (NaN missing; see datetimeColumn). */
  values: RawColumn;
}

/** How a feature's raw column is read from a dataset or a CSV body: numbers, or text (categorical, datetime). */
export const readAs = (kind: FeatureEncoding['kind']): 'number' | 'string' => (kind === 'numeric' ? 'number' : 'string');

/** Normalises a categorical cell so "TRUE", "true" and a JSON true meet as one category. */
export function categoryOf(value: string): string {
  if (value.length !== 4 && value.length !== 5) return value; // only true/false are folded
  const lower = value.toLowerCase();
  return lower === 'true' || lower === 'false' ? lower : value;
}

/** Running count, mean and sum of squared deviations (Welford): one pass, any number of chunks. */
interface Moments {
  count: number;
  mean: number;
  m2: number;
}

function addValue(m: Moments, v: number): void {
  if (v !== v) return;
  m.count++;
  const delta = v - m.mean;
  m.mean += delta / m.count;
  m.m2 += delta * (v - m.mean);
}

/** Mean and population std of the values seen; a constant column gets std 1 (0 after centring, not NaN). */
function standardisation(m: Moments): { impute: number; mean: number; std: number } {
  if (m.count === 0) return { impute: 0, mean: 0, std: 1 };
  const std = Math.sqrt(m.m2 / m.count);
  return { impute: m.mean, mean: m.mean, std: std > 1e-12 && Number.isFinite(std) ? std : 1 };
}

/**
 * Distinct values a categorical column's counts keep while fitting (at least this, or 10 × max_categories).
 * Up to it the counts are exact; when the table fills it keeps its most frequent half, so a column
 * with more distinct values than that costs bounded memory and keeps its frequent values.
 */
export const CATEGORY_COUNT_CAP = 10_000;

function pruneCounts(counts: Map<string, number>, keep: number): void {
  const kept = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).slice(0, keep);
  counts.clear();
  for (const [value, count] of kept) counts.set(value, count);
}

interface FeatureFitter {
  add(values: RawColumn, rows: ArrayLike<number>): void;
  finish(): FeatureEncoding;
}

function numericFitter(name: string): FeatureFitter {
  const m: Moments = { count: 0, mean: 0, m2: 0 };
  return {
    add(values, rows) {
      const column = values as Float64Array;
      for (let i = 0; i < rows.length; i++) addValue(m, column[rows[i]]);
    },
    finish: () => ({ name, kind: 'numeric', ...standardisation(m) }),
  };
}

function datetimeFitter(name: string): FeatureFitter {
  const m: Moments = { count: 0, mean: 0, m2: 0 };
  const seen = CYCLES.map(() => new Set<number>());
  return {
    add(values, rows) {
      const column = values as Float64Array;
      for (let i = 0; i < rows.length; i++) {
        const v = column[rows[i]];
        if (v !== v) continue;
        addValue(m, v / DAY_MS);
        CYCLES.forEach((cycle, k) => {
          if (seen[k].size < 2) seen[k].add(cycleOf(v, cycle));
        });
      }
    },
    finish: () => ({ name, kind: 'datetime', ...standardisation(m), cycles: CYCLES.filter((_, k) => seen[k].size > 1) }),
  };
}

function categoricalFitter(name: string, maxCategories: number): FeatureFitter {
  const counts = new Map<string, number>();
  const cap = Math.max(CATEGORY_COUNT_CAP, 10 * maxCategories);
  return {
    add(values, rows) {
      const column = values as (string | null)[];
      for (let i = 0; i < rows.length; i++) {
        const v = column[rows[i]];
        if (v === null) continue;
        const key = categoryOf(v);
        counts.set(key, (counts.get(key) ?? 0) + 1);
        if (counts.size > cap) pruneCounts(counts, cap >> 1);
      }
    },
    finish() {
      pruneCounts(counts, maxCategories);
      return { name, kind: 'categorical', categories: [...counts.keys()], unknown: 'zeros' };
    },
  };
}

/**
 * Fits the preprocessing on the training rows chunk by chunk (one streaming pass): running moments
 * for numeric and datetime columns, capped counts for categorical ones. `add` takes the feature
 * columns of one chunk (datetime columns as datetimeColumn makes them) and the chunk's training rows.
 */
export function preprocessingFitter(kinds: Array<{ name: string; kind: FeatureEncoding['kind'] }>, maxCategories: number): { add(columns: RawColumn[], rows: ArrayLike<number>): void; finish(): Preprocessing } {
  const fitters = kinds.map((k) => (k.kind === 'numeric' ? numericFitter(k.name) : k.kind === 'datetime' ? datetimeFitter(k.name) : categoricalFitter(k.name, maxCategories)));
  return {
    add(columns, rows) {
      fitters.forEach((fitter, f) => fitter.add(columns[f], rows));
    },
    finish() {
      const features = fitters.map((fitter) => fitter.finish());
      return { features, width: encodedWidth(features) };
    },
  };
}

export function fitPreprocessing(columns: FeatureColumn[], trainRows: ArrayLike<number>, maxCategories: number): Preprocessing {
  const fitter = preprocessingFitter(columns, maxCategories);
  fitter.add(columns.map((c) => c.values), trainRows);
  return fitter.finish();
}

/** Inputs a feature encodes to. */
export function featureWidth(f: FeatureEncoding): number {
  return f.kind === 'numeric' ? 1 : f.kind === 'datetime' ? 1 + 2 * f.cycles.length : f.categories.length;
}

export function encodedWidth(features: FeatureEncoding[]): number {
  return features.reduce((sum, f) => sum + featureWidth(f), 0);
}

/**
 * A datetime feature's raw column from its text (ISO 8601; missing tokens and null are missing). Text
 * that is not a datetime is reported through `bad(index, text)`, and reads as missing if it returns.
 */
export function datetimeColumn(texts: ArrayLike<string | null>, bad: (index: number, text: string) => void): Float64Array {
  const out = new Float64Array(texts.length);
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i];
    if (text === null || isMissingToken(text)) {
      out[i] = NaN;
      continue;
    }
    const time = parseDateTime(text);
    if (time !== time) bad(i, text);
    out[i] = time;
  }
  return out;
}

/** Per-input mean and std the trainer folds into the network (one-hot inputs pass unchanged). */
export function normalizationVectors(pre: Preprocessing): { mean: number[]; std: number[] } {
  const mean: number[] = [];
  const std: number[] = [];
  for (const f of pre.features) {
    if (f.kind === 'numeric' || f.kind === 'datetime') {
      mean.push(f.mean);
      std.push(f.std);
      if (f.kind === 'datetime') {
        for (let i = 0; i < 2 * f.cycles.length; i++) {
          mean.push(0);
          std.push(1);
        }
      }
    } else {
      for (let i = 0; i < f.categories.length; i++) {
        mean.push(0);
        std.push(1);
      }
    }
  }
  return { mean, std };
}

export interface Encoder {
  width: number;
  /** Encodes rows [start, end) of `columns` (in feature order) into `out`, starting at row `outRow`. */
  encode(columns: RawColumn[], start: number, end: number, out: Float32Array, outRow?: number): void;
  /** Encodes rows `rows[0]`, `rows[1]`, … of `columns` into rows 0, 1, … of `out`. */
  encodeRows(columns: RawColumn[], rows: Int32Array, out: Float32Array): void;
}

/** 0, 1, 2, …: the row list of a contiguous range (shared, grown on demand, never written after). */
let identity = new Int32Array(0);
function firstIndices(count: number): Int32Array {
  if (identity.length < count) identity = Int32Array.from({ length: Math.max(count, 2 * identity.length) }, (_, i) => i);
  return identity;
}

export function createEncoder(pre: Preprocessing): Encoder {
  const width = pre.width;
  const offsets: number[] = [];
  let offset = 0;
  for (const f of pre.features) {
    offsets.push(offset);
    offset += featureWidth(f);
  }
  const lookups = pre.features.map((f) => (f.kind === 'categorical' ? new Map(f.categories.map((c, i) => [c, i])) : undefined));

  // Column by column: each loop reads one column and writes one strided output slot, so every loop
  // is monomorphic (a Float64Array or a string array) and the feature's settings stay in registers.
  // Row i of the output is source row rows[i] + shift.
  const encodeInto = (columns: RawColumn[], rows: Int32Array, shift: number, count: number, out: Float32Array, outRow: number): void => {
    for (let f = 0; f < pre.features.length; f++) {
      const feature = pre.features[f];
      let at = outRow * width + offsets[f];
      if (feature.kind === 'numeric') {
        const column = columns[f] as Float64Array;
        const impute = feature.impute;
        for (let i = 0; i < count; i++, at += width) {
          const v = column[rows[i] + shift];
          out[at] = v === v ? v : impute;
        }
      } else if (feature.kind === 'datetime') {
        const column = columns[f] as Float64Array;
        const impute = feature.impute;
        const cycles = feature.cycles;
        for (let i = 0; i < count; i++, at += width) {
          const v = column[rows[i] + shift];
          if (v !== v) {
            out[at] = impute;
            out.fill(0, at + 1, at + 1 + 2 * cycles.length);
            continue;
          }
          out[at] = v / DAY_MS;
          for (let k = 0; k < cycles.length; k++) {
            const angle = 2 * Math.PI * cycleOf(v, cycles[k]);
            out[at + 1 + 2 * k] = Math.sin(angle);
            out[at + 2 + 2 * k] = Math.cos(angle);
          }
        }
      } else {
        const column = columns[f] as (string | null)[];
        const lookup = lookups[f]!;
        const n = feature.categories.length;
        for (let i = 0; i < count; i++, at += width) {
          out.fill(0, at, at + n);
          const v = column[rows[i] + shift];
          if (v !== null) {
            const index = lookup.get(categoryOf(v));
            if (index !== undefined) out[at + index] = 1;
          }
        }
      }
    }
  };

  return {
    width,
    encode(columns, start, end, out, outRow = 0) {
      encodeInto(columns, firstIndices(end - start), start, end - start, out, outRow);
    },
    encodeRows(columns, rows, out) {
      encodeInto(columns, rows, 0, rows.length, out, 0);
    },
  };
}

/** Sorts class labels numerically when they all are numbers ("2" before "10"), else as text. */
export function sortLabels(labels: Iterable<string>): string[] {
  const list = [...labels];
  const numeric = list.every((l) => l.trim() !== '' && Number.isFinite(Number(l)));
  return numeric ? list.sort((a, b) => Number(a) - Number(b)) : list.sort();
}
