// Preprocessing: learned on the training split only, stored in the model version's manifest.json,
// and applied by this one implementation both when training data is prepared and when a served
// model receives rows — so training and serving cannot drift apart.
//
// The encoded vector is the exported model's input: numeric columns (missing values imputed with the
// training mean) followed by one-hot blocks for categorical columns. Standardisation is not applied
// here: the trainer folds (x − mean) / std into the network, so a downloaded ONNX or TorchScript
// model takes this raw encoded vector and is usable on its own.

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

export type FeatureEncoding = NumericEncoding | CategoricalEncoding;

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
  kind: 'numeric' | 'categorical';
  values: RawColumn;
}

/** Normalises a categorical cell so "TRUE", "true" and a JSON true meet as one category. */
export function categoryOf(value: string): string {
  if (value.length !== 4 && value.length !== 5) return value; // only true/false are folded
  const lower = value.toLowerCase();
  return lower === 'true' || lower === 'false' ? lower : value;
}

function fitNumeric(name: string, values: Float64Array, rows: ArrayLike<number>): NumericEncoding {
  let count = 0;
  let mean = 0;
  let m2 = 0;
  for (let i = 0; i < rows.length; i++) {
    const v = values[rows[i]];
    if (Number.isNaN(v)) continue;
    count++;
    const delta = v - mean;
    mean += delta / count;
    m2 += delta * (v - mean);
  }
  if (count === 0) return { name, kind: 'numeric', impute: 0, mean: 0, std: 1 };
  const std = Math.sqrt(m2 / count);
  // A constant column would divide by zero; std 1 keeps it at 0 after centring instead of NaN.
  return { name, kind: 'numeric', impute: mean, mean, std: std > 1e-12 && Number.isFinite(std) ? std : 1 };
}

function fitCategorical(name: string, values: (string | null)[], rows: ArrayLike<number>, maxCategories: number): CategoricalEncoding {
  const counts = new Map<string, number>();
  for (let i = 0; i < rows.length; i++) {
    const v = values[rows[i]];
    if (v === null) continue;
    const key = categoryOf(v);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const categories = [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, maxCategories)
    .map(([value]) => value);
  return { name, kind: 'categorical', categories, unknown: 'zeros' };
}

export function fitPreprocessing(columns: FeatureColumn[], trainRows: ArrayLike<number>, maxCategories: number): Preprocessing {
  const features = columns.map((column): FeatureEncoding =>
    column.kind === 'numeric'
      ? fitNumeric(column.name, column.values as Float64Array, trainRows)
      : fitCategorical(column.name, column.values as (string | null)[], trainRows, maxCategories),
  );
  return { features, width: encodedWidth(features) };
}

export function encodedWidth(features: FeatureEncoding[]): number {
  return features.reduce((sum, f) => sum + (f.kind === 'numeric' ? 1 : f.categories.length), 0);
}

/** Per-input mean and std the trainer folds into the network (one-hot inputs pass unchanged). */
export function normalizationVectors(pre: Preprocessing): { mean: number[]; std: number[] } {
  const mean: number[] = [];
  const std: number[] = [];
  for (const f of pre.features) {
    if (f.kind === 'numeric') {
      mean.push(f.mean);
      std.push(f.std);
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
    offset += f.kind === 'numeric' ? 1 : f.categories.length;
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
