// The prediction monitor of one process (an API process, or a batch inference job): samples
// predicted rows by each model's `log_sample_rate`, and off the request path writes them as JSON
// Lines parts to the blob store, their compact records to the database (feedback joins on them) and
// their histogram counts to the live drift bins. Every process writes its own parts and adds its own
// counts, so a fleet needs no coordination.
//
// Serving never waits for it: a recorder only appends to in-memory buffers, bounded by
// `maxQueuedRows`; when they are full, rows are dropped and counted. A flush runs every `flushMs`
// (and when the buffer is half full). What a `kill -9` loses is what was not flushed yet: at most
// `flushMs` of logged traffic, at most `maxQueuedRows` rows.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { BlobStore } from '../store/blobs/blob-store.ts';
import type { MetadataStore } from '../store/metadata/metadata-store.ts';
import type { RawColumn } from '../models/preprocessing.ts';
import type { ModelVersionRecord } from '../models/registry.ts';
import { featureBinner, histogramKey, predictionBinner, type DriftBaseline, type FeatureBinner, type PredictionBinner } from './baseline.ts';
import { isoOf } from '../datasets/datetime.ts';
import { LATENCY_FEATURE, PREDICTION_FEATURE, addBinCounts, getSettings, insertRecords, type BinCount, type MonitoringSettings, type PredictionRecord } from './store.ts';
import { readBaseline } from './baseline-artifact.ts';
import { predictionLogPartKey } from '../store/blobs/keys.ts';
import { LATENCY_EDGES_MS, latencyBin } from './traffic.ts';
import { sweepExpired } from './retention.ts';

export interface MonitorOptions {
  /** How often buffered rows are written (default 2 s). */
  flushMs: number;
  /** Rows held in memory at most; more are dropped and counted (default 50,000). */
  maxQueuedRows: number;
  /** How long a model's settings are cached (default 5 s): a change shows within it on every server. */
  settingsTtlMs: number;
}

const SWEEP_EVERY_MS = 3600_000;

export const DEFAULT_MONITOR_OPTIONS: MonitorOptions = { flushMs: 2000, maxQueuedRows: 50_000, settingsTtlMs: 5000 };

/** What a predict call (or one batch of an inference job) hands its recorder. */
export interface ObservedPredictions {
  /** The served version's manifest fields the log needs. */
  manifest: { task: string; features: ReadonlyArray<{ name: string; kind: string }>; target: { kind: string; classes?: string[] } };
  /** Feature columns, in the manifest's feature order, as the encoder received them (a datetime as ms since the epoch). */
  columns: RawColumn[];
  rows: number;
  /** Outputs as served: probabilities for classifiers (one per class, or of the positive class), values for regression. */
  output: Float32Array;
  width: number;
  /** Row number of the first row (an inference job's batches); 0 for a request. */
  firstRow?: number;
  latencyMs: number;
}

export interface MonitorCounters {
  logged: number;
  dropped: number;
  flushFailures: number;
}

interface VersionBinners {
  /** By feature name: the histograms the baseline keeps of it (a datetime has several), each under its key. */
  features: Map<string, Array<{ key: string; binner: FeatureBinner }>>;
  prediction: PredictionBinner | null;
}

/** One histogram's counts for one hour: counts[bin + 1] (bin -1, MISSING_BIN, is a missing value). */
interface Tally {
  feature: string;
  counts: Uint32Array;
}

const tally = (feature: string, bins: number): Tally => ({ feature, counts: new Uint32Array(bins + 1) });

/**
 * What one model version logs in one hour: its JSON Lines and its histogram counts. The per-row
 * work is indexing: each feature's tallies are resolved once per hour, not a string key per row and
 * feature.
 */
class HourLog {
  readonly lines: string[] = [];
  readonly features: Array<{ column: number; binner: FeatureBinner; tally: Tally }> = [];
  readonly prediction: { binner: PredictionBinner; tally: Tally } | null;
  readonly latency = tally(LATENCY_FEATURE, LATENCY_EDGES_MS.length + 1);
  /** The fixed pieces of its JSON lines, escaped once: `,"model":…,"version":…,"request_id":`, and `"name":` of each input. */
  private readonly modelPiece: string;
  private readonly inputPieces: string[];
  private readonly kinds: string[];

  constructor(
    readonly model: string,
    readonly version: number,
    readonly hour: string,
    manifest: ObservedPredictions['manifest'],
    binners: VersionBinners,
  ) {
    manifest.features.forEach((feature, column) => {
      for (const { key, binner } of binners.features.get(feature.name) ?? []) this.features.push({ column, binner, tally: tally(key, binner.bins) });
    });
    this.prediction = binners.prediction ? { binner: binners.prediction, tally: tally(PREDICTION_FEATURE, binners.prediction.bins) } : null;
    this.modelPiece = `,"model":${JSON.stringify(model)},"version":${version},"request_id":`;
    this.inputPieces = manifest.features.map((feature, f) => `${f === 0 ? '{' : ','}${JSON.stringify(feature.name)}:`);
    this.kinds = manifest.features.map((feature) => feature.kind);
  }

  /**
   * Row `i`'s JSON line (`requestId` already JSON): time, model, version, request_id, row,
   * latency_ms, inputs, output. Joined from pieces rather than JSON.stringify of an object made per
   * row, which cost half as much again (docs/benchmarks.md, "Prediction logging and drift").
   */
  line(time: string, requestId: string, row: number, latencyMs: number, columns: RawColumn[], i: number, output: Record<string, unknown>): string {
    const pieces = ['{"time":"', time, '"', this.modelPiece, requestId, ',"row":', String(row), ',"latency_ms":', jsonNumber(latencyMs), ',"inputs":'];
    for (let f = 0; f < this.inputPieces.length; f++) pieces.push(this.inputPieces[f], inputJson(columns[f], this.kinds[f], i));
    pieces.push(this.inputPieces.length === 0 ? '{}' : '}', ',"output":', JSON.stringify(output), '}');
    return pieces.join('');
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

const jsonNumber = (value: number): string => (Number.isFinite(value) ? String(value) : 'null');

/** An input value as logged, in JSON: numbers as they are, a missing value as null, a datetime as ISO 8601 text (as it was sent, and as an export reads it back). */
function inputJson(column: RawColumn, kind: string, row: number): string {
  if (!(column instanceof Float64Array)) {
    const value = column[row];
    return value === null || value === undefined ? 'null' : JSON.stringify(value);
  }
  const value = column[row];
  if (!Number.isFinite(value)) return 'null';
  return kind === 'datetime' ? `"${isoOf(value)}"` : String(value);
}

export class PredictionMonitor {
  readonly counters: MonitorCounters = { logged: 0, dropped: 0, flushFailures: 0 };
  private readonly writer = `${hostname().replace(/[^A-Za-z0-9-]/g, '-').slice(0, 40)}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private sequence = 0;
  private records: PredictionRecord[] = [];
  /** By model, version and hour. */
  private hours = new Map<string, HourLog>();
  private readonly settings = new Map<string, { at: number; value: MonitoringSettings }>();
  private readonly binners = new Map<string, Promise<VersionBinners>>();
  private timer: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private clock = { ms: Number.NaN, iso: '' };

  constructor(
    private readonly stores: { metadata: MetadataStore; blobs: BlobStore; logger: Logger },
    private readonly options: MonitorOptions = DEFAULT_MONITOR_OPTIONS,
  ) {}

  start(): this {
    this.timer = setInterval(() => void this.flush(), this.options.flushMs);
    this.timer.unref();
    this.sweeper = setInterval(() => {
      sweepExpired(this.stores).catch((error: unknown) => this.stores.logger.warn({ err: error }, 'prediction-log retention sweep failed'));
    }, SWEEP_EVERY_MS);
    this.sweeper.unref();
    return this;
  }

  /** The model's settings, cached for `settingsTtlMs`; a lookup that fails leaves logging off for it. */
  async settingsFor(model: string): Promise<MonitoringSettings> {
    const hit = this.settings.get(model);
    if (hit && Date.now() - hit.at < this.options.settingsTtlMs) return hit.value;
    const value = await getSettings(this.stores.metadata, model).catch((error: unknown) => {
      this.stores.logger.warn({ err: error, model }, 'could not read monitoring settings; not logging');
      return hit?.value ?? { log_sample_rate: 0, retention_days: 0, updated_at: null };
    });
    if (this.settings.size > 10_000) this.settings.clear();
    this.settings.set(model, { at: Date.now(), value });
    return value;
  }

  /** Rows buffered and not yet written (a batch job waits on flush() when this grows, instead of dropping). */
  get backlog(): number {
    return this.records.length;
  }

  /** Forgets cached settings of a model, so a change made through this process applies at once. */
  invalidate(model: string): void {
    this.settings.delete(model);
  }

  /**
   * A recorder for one request (or one inference job) on `version`, or undefined when the model's
   * logging is off. The recorder is synchronous: it samples and buffers rows at once (the output
   * buffer may be reused once the caller returns) and never waits for storage.
   */
  async recorder(version: ModelVersionRecord, context: { requestId: string; threshold?: number }): Promise<((batch: ObservedPredictions) => void) | undefined> {
    const { log_sample_rate: rate } = await this.settingsFor(version.model);
    if (rate <= 0) return undefined;
    const binners = await this.binnersFor(version);
    return (batch) => this.record(version, binners, rate, context, batch);
  }

  private record(version: ModelVersionRecord, binners: VersionBinners, sampleRate: number, context: { requestId: string; threshold?: number }, batch: ObservedPredictions): void {
    const { manifest, columns, output, width } = batch;
    const model = version.model;
    const time = this.now();
    const hour = time.slice(0, 13);
    const requestId = JSON.stringify(context.requestId);
    const log = this.hourLog(version, hour, manifest, binners);
    const classes = manifest.target.kind === 'label' ? (manifest.target.classes ?? []) : null;
    const threshold = context.threshold ?? 0.5;
    const loggedBefore = this.counters.logged;
    for (let i = 0; i < batch.rows; i++) {
      if (sampleRate < 1 && Math.random() >= sampleRate) continue;
      if (this.records.length >= this.options.maxQueuedRows) {
        this.counters.dropped++;
        continue;
      }
      const row = (batch.firstRow ?? 0) + i;
      const prediction = describeOutput(manifest.task, classes, output, width, i, threshold);
      log.lines.push(log.line(time, requestId, row, batch.latencyMs, columns, i, prediction.output));
      this.records.push({ model_name: model, request_id: context.requestId, row_index: row, version: version.version, logged_at: time, predicted_label: prediction.label, predicted_value: prediction.value });
      for (const feature of log.features) feature.tally.counts[feature.binner.bin(columns[feature.column], i) + 1]++;
      if (log.prediction) log.prediction.tally.counts[log.prediction.binner.bin(output, width, i) + 1]++;
      this.counters.logged++;
    }
    if (this.counters.logged > loggedBefore) log.latency.counts[latencyBin(batch.latencyMs) + 1]++;
    if (this.records.length >= this.options.maxQueuedRows / 2) void this.flush();
  }

  /** The time now in ISO 8601, made once per millisecond (a busy server logs many rows in one). */
  private now(): string {
    const ms = Date.now();
    if (ms !== this.clock.ms) this.clock = { ms, iso: new Date(ms).toISOString() };
    return this.clock.iso;
  }

  private hourLog(version: ModelVersionRecord, hour: string, manifest: ObservedPredictions['manifest'], binners: VersionBinners): HourLog {
    const key = `${version.model}\u0000${version.version}\u0000${hour}`;
    let log = this.hours.get(key);
    if (!log) this.hours.set(key, (log = new HourLog(version.model, version.version, hour, manifest, binners)));
    return log;
  }

  private binnersFor(version: ModelVersionRecord): Promise<VersionBinners> {
    const key = `${version.model}\u0000${version.version}`;
    let hit = this.binners.get(key);
    if (!hit) {
      hit = readBaseline(this.stores.blobs, version.blob_prefix).then(
        (baseline) => binnersOf(baseline, version.signature.output.task),
        (error: unknown) => {
          this.stores.logger.warn({ err: error, model: version.model, version: version.version }, 'could not read the drift baseline');
          this.binners.delete(key);
          return { features: new Map(), prediction: null };
        },
      );
      if (this.binners.size > 1000) this.binners.clear();
      this.binners.set(key, hit);
    }
    return hit;
  }

  /** Writes what is buffered: one part per model and hour, then the records, then the counts. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async write(): Promise<void> {
    if (this.records.length === 0 && this.hours.size === 0) return;
    const records = this.records;
    const hours = [...this.hours.values()];
    this.records = [];
    this.hours = new Map();
    try {
      // One part per model and hour (versions of a model share its hour's parts).
      const parts = new Map<string, string[]>();
      const stamp = `${Date.now()}-${this.writer}-${this.sequence++}`;
      for (const log of hours) {
        if (log.lines.length === 0) continue;
        const key = predictionLogPartKey(log.model, log.hour, stamp);
        parts.set(key, parts.get(key)?.concat(log.lines) ?? log.lines);
      }
      for (const [key, texts] of parts) await this.stores.blobs.put(key, texts.join('\n') + '\n', { contentType: 'application/x-ndjson' });
      await insertRecords(this.stores.metadata, records);
      await addBinCounts(this.stores.metadata, hours.flatMap((log) => log.binCounts()));
    } catch (error) {
      this.counters.flushFailures++;
      this.counters.dropped += records.length;
      this.stores.logger.warn({ err: error, rows: records.length }, 'could not write prediction logs; these rows are dropped');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.sweeper);
    await this.flush();
  }
}

function binnersOf(baseline: DriftBaseline | null, task: string): VersionBinners {
  if (!baseline) return { features: new Map(), prediction: null };
  const features = new Map<string, Array<{ key: string; binner: FeatureBinner }>>();
  for (const f of baseline.features) {
    let list = features.get(f.name);
    if (!list) features.set(f.name, (list = []));
    list.push({ key: histogramKey(f), binner: featureBinner(f) });
  }
  return {
    features,
    prediction: baseline.prediction ? predictionBinner(baseline.prediction, task) : null,
  };
}

/** The logged form of one output row, and its compact record (label and score). */
export function describeOutput(
  task: string,
  classes: string[] | null,
  output: Float32Array,
  width: number,
  row: number,
  threshold: number,
): { output: Record<string, unknown>; label: string | null; value: number } {
  if (!classes) return { output: { value: output[row] }, label: null, value: output[row] };
  if (task === 'binary_classification') {
    const p = output[row];
    const label = classes[p >= threshold ? 1 : 0];
    return { output: { label, probability: p >= threshold ? p : 1 - p }, label, value: p };
  }
  let best = 0;
  for (let k = 1; k < width; k++) if (output[row * width + k] > output[row * width + best]) best = k;
  const p = output[row * width + best];
  return { output: { label: classes[best], probability: p }, label: classes[best], value: p };
}
