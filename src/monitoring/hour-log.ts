// What one model version logs in one hour, held until a flush: the logged rows as columns of
// numbers (typed arrays that grow by doubling), and their histogram counts. A prediction only copies
// its values in; the JSON lines and the database records are made at flush, a chunk at a time.
//
// Why columns: a JSON line and a record object made per row at once live until the next flush,
// seconds later, so the garbage collector copied each of them out of the young generation, and
// serving paid for that on every request (docs/benchmarks.md, "Prediction logging and drift").
import type { RawColumn } from '../models/preprocessing.ts';
import { isoOf } from '../datasets/datetime.ts';
import type { FeatureBinner, PredictionBinner } from './baseline.ts';
import { LATENCY_FEATURE, PREDICTION_FEATURE, type BinCount, type PredictionRecord } from './store.ts';
import { LATENCY_EDGES_MS, latencyBin } from './traffic.ts';

/** The served version's manifest fields the log needs. */
export interface LogManifest {
  task: string;
  features: ReadonlyArray<{ name: string; kind: string }>;
  target: { kind: string; classes?: string[] };
}

export interface VersionBinners {
  /** By feature name: the histograms the baseline keeps of it (a datetime has several), each under its key. */
  features: Map<string, Array<{ key: string; binner: FeatureBinner }>>;
  prediction: PredictionBinner | null;
}

/** One predicted batch as the log takes it. */
export interface LoggedBatch {
  time: number;
  requestId: string;
  /** Row number of the batch's row 0. */
  firstRow: number;
  latencyMs: number;
  columns: RawColumn[];
  output: Float32Array;
  width: number;
  /** The probability at or above which a binary classifier says its positive class. */
  threshold: number;
}

/** One histogram's counts for one hour: counts[bin + 1] (bin -1, MISSING_BIN, is a missing value). */
interface Tally {
  feature: string;
  counts: Uint32Array;
}

const tally = (feature: string, bins: number): Tally => ({ feature, counts: new Uint32Array(bins + 1) });

const FIRST_CAPACITY = 64;

function grown(values: Float64Array, capacity: number): Float64Array {
  const next = new Float64Array(capacity);
  next.set(values);
  return next;
}

/** An input column as logged: numbers (a datetime as ms since the epoch, missing as NaN), or text (missing as null). */
type InputBuffer = { text: false; datetime: boolean; values: Float64Array } | { text: true; values: Array<string | null> };

export class HourLog {
  readonly features: Array<{ column: number; binner: FeatureBinner; tally: Tally }> = [];
  readonly prediction: { binner: PredictionBinner; tally: Tally } | null;
  readonly latency = tally(LATENCY_FEATURE, LATENCY_EDGES_MS.length + 1);
  /** Rows held. */
  length = 0;
  private capacity = FIRST_CAPACITY;
  private times: Float64Array = new Float64Array(FIRST_CAPACITY);
  private rowNumbers: Float64Array = new Float64Array(FIRST_CAPACITY);
  private latencies: Float64Array = new Float64Array(FIRST_CAPACITY);
  private values: Float64Array = new Float64Array(FIRST_CAPACITY);
  private labels: Float64Array = new Float64Array(FIRST_CAPACITY);
  private readonly requestIds: string[] = [];
  private readonly inputs: InputBuffer[];
  private readonly classes: string[] | null;
  private readonly binary: boolean;
  /** The fixed pieces of its JSON lines, escaped once: `,"model":…,"version":…,"request_id":`, and `"name":` of each input. */
  private readonly modelPiece: string;
  private readonly inputPieces: string[];

  constructor(
    readonly model: string,
    readonly version: number,
    readonly hour: string,
    manifest: LogManifest,
    binners: VersionBinners,
  ) {
    manifest.features.forEach((feature, column) => {
      for (const { key, binner } of binners.features.get(feature.name) ?? []) this.features.push({ column, binner, tally: tally(key, binner.bins) });
    });
    this.prediction = binners.prediction ? { binner: binners.prediction, tally: tally(PREDICTION_FEATURE, binners.prediction.bins) } : null;
    this.classes = manifest.target.kind === 'label' ? (manifest.target.classes ?? []) : null;
    this.binary = manifest.task === 'binary_classification';
    this.inputs = manifest.features.map((f): InputBuffer => (f.kind === 'categorical' ? { text: true, values: [] } : { text: false, datetime: f.kind === 'datetime', values: new Float64Array(FIRST_CAPACITY) }));
    this.modelPiece = `,"model":${JSON.stringify(model)},"version":${version},"request_id":`;
    this.inputPieces = manifest.features.map((feature, f) => `${f === 0 ? '{' : ','}${JSON.stringify(feature.name)}:`);
  }

  /** Copies row `i` of the batch in and counts it into the histograms. */
  add(batch: LoggedBatch, i: number): void {
    if (this.length === this.capacity) this.grow();
    const n = this.length++;
    const { columns, output, width } = batch;
    this.times[n] = batch.time;
    this.rowNumbers[n] = batch.firstRow + i;
    this.latencies[n] = batch.latencyMs;
    this.requestIds.push(batch.requestId);
    if (!this.classes) this.values[n] = output[i];
    else if (this.binary) {
      this.values[n] = output[i];
      this.labels[n] = output[i] >= batch.threshold ? 1 : 0;
    } else {
      let best = 0;
      for (let k = 1; k < width; k++) if (output[i * width + k] > output[i * width + best]) best = k;
      this.values[n] = output[i * width + best];
      this.labels[n] = best;
    }
    for (let f = 0; f < this.inputs.length; f++) {
      const buffer = this.inputs[f];
      const column = columns[f];
      if (buffer.text) buffer.values.push(column instanceof Float64Array ? null : (column[i] ?? null));
      else buffer.values[n] = column instanceof Float64Array ? column[i] : Number.NaN;
    }
    for (const feature of this.features) feature.tally.counts[feature.binner.bin(columns[feature.column], i) + 1]++;
    if (this.prediction) this.prediction.tally.counts[this.prediction.binner.bin(output, width, i) + 1]++;
  }

  /** Counts one request's latency (once per request, not per row). */
  countLatency(latencyMs: number): void {
    this.latency.counts[latencyBin(latencyMs) + 1]++;
  }

  private grow(): void {
    this.capacity *= 2;
    this.times = grown(this.times, this.capacity);
    this.rowNumbers = grown(this.rowNumbers, this.capacity);
    this.latencies = grown(this.latencies, this.capacity);
    this.values = grown(this.values, this.capacity);
    this.labels = grown(this.labels, this.capacity);
    for (const buffer of this.inputs) if (!buffer.text) buffer.values = grown(buffer.values, this.capacity);
  }

  /** The predicted label of row `n` and the probability the log shows for it (null for regression). */
  private output(n: number): { label: string | null; probability: number } | null {
    if (!this.classes) return null;
    const p = this.values[n];
    return { label: this.classes[this.labels[n]] ?? null, probability: this.binary && this.labels[n] === 0 ? 1 - p : p };
  }

  /**
   * Rows [from, to) as JSON Lines, each ending in a newline: time, model, version, request_id, row,
   * latency_ms, inputs (a datetime as ISO 8601 text, a missing or non-finite value as null), output.
   * Joined from pieces escaped once rather than JSON.stringify of an object per row, which cost half
   * as much again.
   */
  lines(from: number, to: number): string {
    const isoAt = isoCache();
    const pieces: string[] = [];
    let lastId: string | undefined;
    let idJson = '';
    for (let n = from; n < to; n++) {
      if (this.requestIds[n] !== lastId) idJson = JSON.stringify((lastId = this.requestIds[n]));
      pieces.push('{"time":"', isoAt(this.times[n]), '"', this.modelPiece, idJson, ',"row":', String(this.rowNumbers[n]), ',"latency_ms":', jsonNumber(this.latencies[n]), ',"inputs":');
      for (let f = 0; f < this.inputs.length; f++) pieces.push(this.inputPieces[f], inputJson(this.inputs[f], n));
      const output = this.output(n);
      pieces.push(this.inputs.length === 0 ? '{}' : '}', ',"output":', output ? `{"label":${JSON.stringify(output.label)},"probability":${jsonNumber(output.probability)}}` : `{"value":${jsonNumber(this.values[n])}}`, '}\n');
    }
    return pieces.join('');
  }

  /** Rows [from, to) as database records. */
  records(from: number, to: number): PredictionRecord[] {
    const isoAt = isoCache();
    const records: PredictionRecord[] = [];
    for (let n = from; n < to; n++) {
      const output = this.output(n);
      records.push({ model_name: this.model, request_id: this.requestIds[n], row_index: this.rowNumbers[n], version: this.version, logged_at: isoAt(this.times[n]), predicted_label: output?.label ?? null, predicted_value: this.values[n] });
    }
    return records;
  }

  /** Its counts as drift_bins rows (bins never hit are left out). */
  binCounts(): BinCount[] {
    const rows: BinCount[] = [];
    for (const { feature, counts } of [...this.features.map((f) => f.tally), ...(this.prediction ? [this.prediction.tally] : []), this.latency]) {
      counts.forEach((count, index) => {
        if (count > 0) rows.push({ model_name: this.model, version: this.version, hour: this.hour, feature, bin: index - 1, count });
      });
    }
    return rows;
  }
}

/** ISO 8601 text of a time in ms, made once per distinct millisecond (rows of one request share it). */
function isoCache(): (millis: number) => string {
  let last = Number.NaN;
  let iso = '';
  return (millis) => (millis === last ? iso : (iso = isoOf((last = millis))));
}

const jsonNumber = (value: number): string => (Number.isFinite(value) ? String(value) : 'null');

/** An input value as logged, in JSON: numbers as they are, a missing value as null, a datetime as ISO 8601 text (as it was sent, and as an export reads it back). */
function inputJson(buffer: InputBuffer, n: number): string {
  if (buffer.text) {
    const value = buffer.values[n];
    return value === null ? 'null' : JSON.stringify(value);
  }
  const value = buffer.values[n];
  if (!Number.isFinite(value)) return 'null';
  return buffer.datetime ? `"${isoOf(value)}"` : String(value);
}
