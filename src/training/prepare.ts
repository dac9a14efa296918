// Data preparation: from a stored dataset to the float32 tensors the trainer memory-maps. The CSV is
// parsed once into columns, split by a seeded shuffle (deterministic for a given seed), the
// preprocessing is fitted on the training rows only, and both splits are encoded with the same
// encoder that serving uses.
import { join } from 'node:path';
import type { BlobStore } from '../store/blobs/blob-store.ts';
import type { CsvColumnRequest } from '../datasets/csv/reader.ts';
import { readDatasetBatches } from '../datasets/read-dataset.ts';
import {
  createEncoder,
  datetimeColumn,
  fitPreprocessing,
  readAs,
  sortLabels,
  type FeatureColumn,
  type Preprocessing,
  type RawColumn,
  type TargetEncoding,
} from '../models/preprocessing.ts';
import { writeNpy } from './npy.ts';
import { fitFeatureBaseline, type FeatureBaseline } from '../monitoring/baseline.ts';
import { JobUserError } from '../jobs/errors.ts';
import type { Task } from '../models/spec.ts';

export interface DatasetColumnInfo {
  name: string;
  type: string;
}

export interface PrepareInput {
  blobs: BlobStore;
  blobKey: string;
  delimiter: string;
  rowCount: number;
  /** The dataset's id and columnar copy (its `columnar_json`); without one the CSV is read. */
  datasetId?: string;
  columnarJson?: string | null;
  /** The dataset's format and column profiles (its `format`, `columns_json`): a Parquet or JSON Lines original is read by its own reader. */
  format?: string;
  columnsJson?: string;
  logger?: { warn(object: object, message: string): void };
  columns: DatasetColumnInfo[];
  task: Task;
  target: string;
  features: string[];
  maxCategories: number;
  validationSplit: number;
  seed: number;
  jobDir: string;
  /** Warm start: the earlier version's fitted preprocessing and target encoding, used as they are instead of fitting them here. */
  fitted?: { preprocessing: Preprocessing; target: TargetEncoding };
}

export interface PreparedData {
  preprocessing: Preprocessing;
  /** The training split's feature histograms, for drift monitoring. */
  baseline: { rows: number; features: FeatureBaseline[] };
  target: TargetEncoding;
  trainRows: number;
  valRows: number;
  droppedMissingTarget: number;
  inputDim: number;
  outputDim: number;
  files: { train_x: string; train_y: string; val_x: string; val_y: string };
}

export const isNumericType = (type: string): boolean => type === 'integer' || type === 'number';

/** Which feature columns are numeric, datetime or categorical, from the dataset's column types. */
export function featureKinds(columns: DatasetColumnInfo[], features: string[]): Array<{ name: string; kind: FeatureColumn['kind'] }> {
  const types = new Map(columns.map((c) => [c.name, c.type]));
  return features.map((name) => {
    const type = types.get(name) ?? 'string';
    return { name, kind: isNumericType(type) ? 'numeric' : type === 'datetime' ? 'datetime' : 'categorical' };
  });
}

/** Mulberry32: a small, fast, seedable PRNG; good enough to shuffle row indices reproducibly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffledIndices(n: number, seed: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const random = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

async function readColumns(input: PrepareInput, requests: CsvColumnRequest[]): Promise<{ columns: RawColumn[]; rows: number }> {
  const n = input.rowCount;
  const columns: RawColumn[] = requests.map((r) => (r.as === 'number' ? new Float64Array(n) : new Array<string | null>(n).fill(null)));
  let rows = 0;
  const dataset = { id: input.datasetId ?? '', blob_key: input.blobKey, delimiter: input.delimiter, row_count: n, columnar_json: input.columnarJson ?? null, format: input.format, columns_json: input.columnsJson };
  for await (const batch of readDatasetBatches(input.blobs, dataset, { columns: requests, logger: input.logger })) {
    if (batch.firstRow + batch.length > n) throw new Error(`dataset has more rows than its recorded row_count ${n}`);
    for (let c = 0; c < requests.length; c++) {
      const from = batch.columns[c];
      const to = columns[c];
      if (to instanceof Float64Array) to.set(from as Float64Array, batch.firstRow);
      else for (let i = 0; i < batch.length; i++) to[batch.firstRow + i] = (from as (string | null)[])[i];
    }
    rows = batch.firstRow + batch.length;
  }
  return { columns, rows };
}

export async function prepareTrainingData(input: PrepareInput): Promise<PreparedData> {
  const kinds = featureKinds(input.columns, input.features);
  const classification = input.task !== 'regression';
  const requests: CsvColumnRequest[] = [
    ...kinds.map((k): CsvColumnRequest => ({ name: k.name, as: readAs(k.kind) })),
    { name: input.target, as: classification ? 'string' : 'number' },
  ];
  const { columns, rows: n } = await readColumns(input, requests);
  const targetColumn = columns[columns.length - 1];
  // A datetime column is read as text and encoded from its time (text that is not a datetime, which
  // ingest would have typed `string`, reads as missing).
  const featureColumns: FeatureColumn[] = kinds.map((k, i) => ({ ...k, values: k.kind === 'datetime' ? datetimeColumn(columns[i] as (string | null)[], () => {}) : columns[i] }));

  const hasTarget = (row: number) =>
    classification ? (targetColumn as (string | null)[])[row] !== null : !Number.isNaN((targetColumn as Float64Array)[row]);

  // The validation rows are the first valCount of a seeded shuffle. Both splits are then listed in
  // file order: the trainer shuffles every epoch anyway, and reading the columns in order (rather
  // than at random) keeps fitting and encoding cache-friendly.
  const order = shuffledIndices(n, input.seed);
  const valCount = input.validationSplit > 0 && n > 1 ? Math.max(1, Math.round(n * input.validationSplit)) : 0;
  const isVal = new Uint8Array(n);
  for (let i = 0; i < valCount; i++) isVal[order[i]] = 1;
  const val: number[] = [];
  const train: number[] = [];
  let dropped = 0;
  for (let row = 0; row < n; row++) {
    if (!hasTarget(row)) {
      dropped++;
      continue;
    }
    (isVal[row] ? val : train).push(row);
  }
  if (train.length === 0) {
    throw new JobUserError('BAD_DATA', `no training rows: all ${n} rows lack a value in target column "${input.target}"`);
  }

  let target: TargetEncoding;
  let classIndex: Map<string, number> | undefined;
  if (input.fitted) {
    target = input.fitted.target;
    if (target.kind === 'label') {
      classIndex = new Map(target.classes.map((c, i) => [c, i]));
      for (const row of [...train, ...val]) {
        const label = (targetColumn as (string | null)[])[row]!;
        if (!classIndex.has(label)) {
          throw new JobUserError('BAD_DATA', `"${input.target}" holds "${label}", a class the init_from version does not know (it knows ${target.classes.join(', ')})`);
        }
      }
    }
  } else if (classification) {
    const labels = new Set<string>();
    for (const row of [...train, ...val]) labels.add((targetColumn as (string | null)[])[row]!);
    const classes = sortLabels(labels);
    if (input.task === 'binary_classification' && classes.length !== 2) {
      throw new JobUserError('BAD_DATA', `binary_classification needs exactly 2 distinct values in "${input.target}", found ${classes.length}`);
    }
    if (classes.length < 2) throw new JobUserError('BAD_DATA', `classification needs at least 2 distinct values in "${input.target}"`);
    target = { name: input.target, kind: 'label', classes };
    classIndex = new Map(classes.map((c, i) => [c, i]));
  } else {
    let mean = 0;
    let m2 = 0;
    train.forEach((row, i) => {
      const v = (targetColumn as Float64Array)[row];
      const d = v - mean;
      mean += d / (i + 1);
      m2 += d * (v - mean);
    });
    const std = Math.sqrt(m2 / train.length);
    target = { name: input.target, kind: 'numeric', mean, std: std > 1e-12 ? std : 1 };
  }

  const preprocessing = input.fitted?.preprocessing ?? fitPreprocessing(featureColumns, train, input.maxCategories);
  const baseline = fitFeatureBaseline(featureColumns, preprocessing.features, train);
  if (preprocessing.width === 0) throw new JobUserError('BAD_DATA', 'the selected features encode to zero inputs (every categorical column is empty)');
  const encoder = createEncoder(preprocessing);
  const rawFeatures = featureColumns.map((f) => f.values);

  const writeSplit = async (rows: number[], name: 'train' | 'val') => {
    const x = new Float32Array(rows.length * encoder.width);
    encoder.encodeRows(rawFeatures, Int32Array.from(rows), x);
    await writeNpy(join(input.jobDir, `${name}_x.npy`), '<f4', [rows.length, encoder.width], x);
    if (classIndex && input.task === 'multiclass_classification') {
      const y = new BigInt64Array(rows.length);
      rows.forEach((row, i) => (y[i] = BigInt(classIndex.get((targetColumn as (string | null)[])[row]!)!)));
      await writeNpy(join(input.jobDir, `${name}_y.npy`), '<i8', [rows.length], y);
    } else {
      const y = new Float32Array(rows.length);
      rows.forEach((row, i) => {
        y[i] = classIndex ? classIndex.get((targetColumn as (string | null)[])[row]!)! : (targetColumn as Float64Array)[row];
      });
      await writeNpy(join(input.jobDir, `${name}_y.npy`), '<f4', [rows.length], y);
    }
  };
  await writeSplit(train, 'train');
  await writeSplit(val, 'val');

  return {
    preprocessing,
    baseline,
    target,
    trainRows: train.length,
    valRows: val.length,
    droppedMissingTarget: dropped,
    inputDim: encoder.width,
    outputDim: target.kind === 'label' && input.task === 'multiclass_classification' ? target.classes.length : 1,
    files: { train_x: 'train_x.npy', train_y: 'train_y.npy', val_x: 'val_x.npy', val_y: 'val_y.npy' },
  };
}
