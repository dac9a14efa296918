// Data preparation: from a stored dataset to the float32 tensors the trainer memory-maps, in bounded
// memory whatever the row count. The dataset is read twice, chunk by chunk (TRAINYARD_PREPARE_BATCH_ROWS
// rows at a time, from its columnar copy or its original): the first pass assigns each row to the
// training or validation split by a seeded per-row draw and fits the preprocessing on the training
// rows (running moments, capped category counts); the second encodes each chunk's rows with the same
// encoder that serving uses and appends them to the splits' .npy files, in file order.
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from '../store/blobs/blob-store.ts';
import type { CsvColumnRequest } from '../datasets/csv/reader.ts';
import { readDatasetBatches } from '../datasets/read-dataset.ts';
import {
  createEncoder,
  datetimeColumn,
  preprocessingFitter,
  readAs,
  sortLabels,
  type FeatureColumn,
  type FeatureEncoding,
  type Preprocessing,
  type RawColumn,
  type TargetEncoding,
} from '../models/preprocessing.ts';
import { npyHeader, type NpyDtype } from './npy.ts';
import { BASELINE_MAX_ROWS, fitFeatureBaseline, type FeatureBaseline } from '../monitoring/baseline.ts';
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
  /** Rows read per chunk (default DEFAULT_PREPARE_BATCH_ROWS): with the columns' width, what bounds the memory preparation needs. */
  batchRows?: number;
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

/**
 * The row's draw for the train/validation split, in [0, 1): a hash of (seed, row index), so a row's
 * side depends on nothing else. Rows whose draw is below `validation_split` are validation rows.
 */
export function splitDraw(seed: number, row: number): number {
  const mix = (h: number) => {
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  };
  const key = mix((seed >>> 0) ^ 0x9e3779b9);
  // Rows beyond 2^32 fold their high part in, so every row of any dataset gets its own draw.
  return mix((mix((row >>> 0) ^ key) + Math.floor(row / 4294967296) + key) >>> 0) / 4294967296;
}

/** Rows per chunk when TRAINYARD_PREPARE_BATCH_ROWS is not given. */
export const DEFAULT_PREPARE_BATCH_ROWS = 16_384;

type Requests = CsvColumnRequest[];

function source(input: PrepareInput) {
  return { id: input.datasetId ?? '', blob_key: input.blobKey, delimiter: input.delimiter, row_count: input.rowCount, columnar_json: input.columnarJson ?? null, format: input.format, columns_json: input.columnsJson };
}

/** The dataset's requested columns, chunk by chunk, with the feature columns as the encoder takes them. */
async function* chunks(input: PrepareInput, requests: Requests, kinds: Array<{ kind: FeatureColumn['kind'] }>) {
  const n = input.rowCount;
  for await (const batch of readDatasetBatches(input.blobs, source(input), { columns: requests, batchRows: input.batchRows ?? DEFAULT_PREPARE_BATCH_ROWS, logger: input.logger })) {
    if (batch.firstRow + batch.length > n) throw new Error(`dataset has more rows than its recorded row_count ${n}`);
    // A datetime column is read as text and encoded from its time (text that is not a datetime, which
    // ingest would have typed `string`, reads as missing).
    const features: RawColumn[] = kinds.map((k, i) => (k.kind === 'datetime' ? datetimeColumn(batch.columns[i] as (string | null)[], () => {}) : (batch.columns[i] as RawColumn)));
    yield { firstRow: batch.firstRow, length: batch.length, features, target: batch.columns[kinds.length] as RawColumn };
  }
}

/** Where each row goes: validation (draw below the split), training, or nowhere (no target). */
interface SplitRule {
  isVal(row: number): boolean;
}

/**
 * The split rule: the seeded per-row draw, with one correction for tiny datasets: if the draw gives
 * no validation row (or no training row) although the split asks for one and two rows have a target,
 * the row with the lowest draw becomes a validation row (the one with the highest a training row).
 */
function splitRule(seed: number, split: number, forceVal: number, forceTrain: number): SplitRule {
  return { isVal: (row) => row === forceVal || (row !== forceTrain && split > 0 && splitDraw(seed, row) < split) };
}

interface FitPass {
  preprocessing: Preprocessing;
  target: TargetEncoding;
  trainRows: number;
  valRows: number;
  dropped: number;
  /** Set when the split needs the tiny-dataset correction: the rows to force. */
  correction: { forceVal: number; forceTrain: number } | null;
}

/** First pass: counts the split and fits the preprocessing (and target encoding) on the training rows. */
async function fitPass(input: PrepareInput, requests: Requests, kinds: Array<{ name: string; kind: FeatureColumn['kind'] }>, rule: SplitRule): Promise<FitPass> {
  const classification = input.task !== 'regression';
  const fitter = preprocessingFitter(kinds, input.maxCategories);
  const labels = new Set<string>();
  const targetMoments = { count: 0, mean: 0, m2: 0 };
  let trainRows = 0;
  let valRows = 0;
  let dropped = 0;
  let lowest = { row: -1, draw: 2 };
  let highest = { row: -1, draw: -1 };
  let train = new Int32Array(0);
  for await (const chunk of chunks(input, requests, kinds)) {
    if (train.length < chunk.length) train = new Int32Array(chunk.length);
    let count = 0;
    for (let i = 0; i < chunk.length; i++) {
      const row = chunk.firstRow + i;
      const value = chunk.target[i];
      if (classification ? value === null : Number.isNaN(value)) {
        dropped++;
        continue;
      }
      const draw = splitDraw(input.seed, row);
      if (draw < lowest.draw) lowest = { row, draw };
      if (draw > highest.draw) highest = { row, draw };
      if (classification) labels.add(value as string);
      if (rule.isVal(row)) {
        valRows++;
        continue;
      }
      trainRows++;
      train[count++] = i;
      if (!classification) {
        const v = value as number;
        targetMoments.count++;
        const d = v - targetMoments.mean;
        targetMoments.mean += d / targetMoments.count;
        targetMoments.m2 += d * (v - targetMoments.mean);
      }
    }
    if (!input.fitted) fitter.add(chunk.features, train.subarray(0, count));
  }
  const withTarget = trainRows + valRows;
  const correction =
    withTarget >= 2 && input.validationSplit > 0 && (valRows === 0 || trainRows === 0)
      ? { forceVal: valRows === 0 ? lowest.row : -1, forceTrain: trainRows === 0 ? highest.row : -1 }
      : null;
  if (trainRows === 0 && !correction) {
    throw new JobUserError('BAD_DATA', `no training rows: all ${input.rowCount} rows lack a value in target column "${input.target}"`);
  }
  let target: TargetEncoding;
  if (input.fitted) {
    target = input.fitted.target;
    if (target.kind === 'label') {
      const known = new Set(target.classes);
      for (const label of labels) {
        if (!known.has(label)) {
          throw new JobUserError('BAD_DATA', `"${input.target}" holds "${label}", a class the init_from version does not know (it knows ${target.classes.join(', ')})`);
        }
      }
    }
  } else if (classification) {
    const classes = sortLabels(labels);
    if (input.task === 'binary_classification' && classes.length !== 2) {
      throw new JobUserError('BAD_DATA', `binary_classification needs exactly 2 distinct values in "${input.target}", found ${classes.length}`);
    }
    if (classes.length < 2) throw new JobUserError('BAD_DATA', `classification needs at least 2 distinct values in "${input.target}"`);
    target = { name: input.target, kind: 'label', classes };
  } else {
    const std = Math.sqrt(targetMoments.m2 / Math.max(1, targetMoments.count));
    target = { name: input.target, kind: 'numeric', mean: targetMoments.mean, std: std > 1e-12 ? std : 1 };
  }
  return { preprocessing: input.fitted?.preprocessing ?? fitter.finish(), target, trainRows, valRows, dropped, correction };
}

/** An .npy file written front to back: its header first (the row count is known), then rows as they come. */
async function npyWriter(path: string, dtype: NpyDtype, shape: number[]) {
  const file = await open(path, 'w');
  await file.write(npyHeader(dtype, shape));
  return {
    write: async (data: Float32Array | BigInt64Array) => {
      await file.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    },
    close: () => file.close(),
  };
}

/** The training split's rows for the drift baseline: the same evenly spread sample fitFeatureBaseline takes. */
function baselineSampler(kinds: Array<{ name: string; kind: FeatureColumn['kind'] }>, trainRows: number) {
  const size = Math.min(trainRows, BASELINE_MAX_ROWS);
  const step = trainRows / size;
  const columns: FeatureColumn[] = kinds.map((k) => ({ ...k, values: k.kind === 'categorical' ? new Array<string | null>(size).fill(null) : new Float64Array(size) }));
  let taken = 0;
  return {
    /** Called with each training row in file order, `ordinal` counting from 0. */
    offer(ordinal: number, features: RawColumn[], i: number) {
      while (taken < size && Math.floor(taken * step) === ordinal) {
        columns.forEach((c, f) => ((c.values as RawColumn)[taken] = (features[f] as RawColumn)[i] as never));
        taken++;
      }
    },
    baseline: (encodings: FeatureEncoding[]) => fitFeatureBaseline(columns, encodings, firstRows(size)),
  };
}

function firstRows(count: number): Int32Array {
  return Int32Array.from({ length: count }, (_, i) => i);
}

export async function prepareTrainingData(input: PrepareInput): Promise<PreparedData> {
  const kinds = featureKinds(input.columns, input.features);
  const classification = input.task !== 'regression';
  const requests: Requests = [...kinds.map((k): CsvColumnRequest => ({ name: k.name, as: readAs(k.kind) })), { name: input.target, as: classification ? 'string' : 'number' }];

  let rule = splitRule(input.seed, input.validationSplit, -1, -1);
  let fit = await fitPass(input, requests, kinds, rule);
  if (fit.correction) {
    rule = splitRule(input.seed, input.validationSplit, fit.correction.forceVal, fit.correction.forceTrain);
    fit = await fitPass(input, requests, kinds, rule);
  }
  const { preprocessing, target } = fit;
  if (preprocessing.width === 0) throw new JobUserError('BAD_DATA', 'the selected features encode to zero inputs (every categorical column is empty)');
  const encoder = createEncoder(preprocessing);
  const width = encoder.width;
  const multiclass = input.task === 'multiclass_classification';
  const classIndex = target.kind === 'label' ? new Map(target.classes.map((c, i) => [c, i])) : null;

  // Second pass: encode each chunk's rows into the two splits' files, in file order.
  const splits = await Promise.all(
    (['train', 'val'] as const).map(async (name) => {
      const rows = name === 'train' ? fit.trainRows : fit.valRows;
      return {
        x: await npyWriter(join(input.jobDir, `${name}_x.npy`), '<f4', [rows, width]),
        y: await npyWriter(join(input.jobDir, `${name}_y.npy`), multiclass ? '<i8' : '<f4', [rows]),
        rows: new Int32Array(0),
        count: 0,
      };
    }),
  );
  const [train, val] = splits;
  const sampler = baselineSampler(kinds, fit.trainRows);
  let trainOrdinal = 0;
  try {
    for await (const chunk of chunks(input, requests, kinds)) {
      for (const split of splits) {
        if (split.rows.length < chunk.length) split.rows = new Int32Array(chunk.length);
        split.count = 0;
      }
      for (let i = 0; i < chunk.length; i++) {
        const row = chunk.firstRow + i;
        const value = chunk.target[i];
        if (classification ? value === null : Number.isNaN(value)) continue;
        if (rule.isVal(row)) val.rows[val.count++] = i;
        else {
          train.rows[train.count++] = i;
          sampler.offer(trainOrdinal++, chunk.features, i);
        }
      }
      for (const split of splits) {
        if (split.count === 0) continue;
        const rows = split.rows.subarray(0, split.count);
        const x = new Float32Array(rows.length * width);
        encoder.encodeRows(chunk.features, rows, x);
        await split.x.write(x);
        const labelOf = (i: number) => classIndex!.get(chunk.target[i] as string)!;
        if (multiclass) await split.y.write(BigInt64Array.from(rows, (i) => BigInt(labelOf(i))));
        else await split.y.write(Float32Array.from(rows, (i) => (classIndex ? labelOf(i) : (chunk.target[i] as number))));
      }
    }
  } finally {
    for (const split of splits) await Promise.all([split.x.close(), split.y.close()]);
  }

  return {
    preprocessing,
    baseline: sampler.baseline(preprocessing.features),
    target,
    trainRows: fit.trainRows,
    valRows: fit.valRows,
    droppedMissingTarget: fit.dropped,
    inputDim: width,
    outputDim: target.kind === 'label' && multiclass ? target.classes.length : 1,
    files: { train_x: 'train_x.npy', train_y: 'train_y.npy', val_x: 'val_x.npy', val_y: 'val_y.npy' },
  };
}
