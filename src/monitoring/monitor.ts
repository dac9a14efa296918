// The prediction monitor of one process (an API process, or a batch inference job): samples
// predicted rows by each model's `log_sample_rate`, and off the request path writes them as JSON
// Lines parts to the blob store, their compact records to the database (feedback joins on them) and
// their histogram counts to the live drift bins. Every process writes its own parts and adds its own
// counts, so a fleet needs no coordination.
//
// Serving never waits for it: a recorder only copies the rows' values into in-memory columns
// (hour-log.ts), bounded by `maxQueuedRows`; when they are full, rows are dropped and counted. A
// flush runs every `flushMs` (and when the buffer is half full) and makes the lines and records a
// chunk at a time, letting requests in between. What a `kill -9` loses is what was not flushed yet:
// at most `flushMs` of logged traffic (plus the flush under way), at most `maxQueuedRows` rows.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { BlobStore } from '../store/blobs/blob-store.ts';
import type { MetadataStore } from '../store/metadata/metadata-store.ts';
import type { RawColumn } from '../models/preprocessing.ts';
import type { ModelVersionRecord } from '../models/registry.ts';
import { featureBinner, histogramKey, predictionBinner, type DriftBaseline, type FeatureBinner } from './baseline.ts';
import { addBinCounts, getSettings, insertRecords, type MonitoringSettings } from './store.ts';
import { readBaseline } from './baseline-artifact.ts';
import { predictionLogPartKey } from '../store/blobs/keys.ts';
import { sweepExpired } from './retention.ts';
import { HourLog, type LogManifest, type LoggedBatch, type VersionBinners } from './hour-log.ts';

export interface MonitorOptions {
  /** How often buffered rows are written (default 2 s). */
  flushMs: number;
  /** Rows held in memory at most; more are dropped and counted (default 50,000). */
  maxQueuedRows: number;
  /** How long a model's settings are cached (default 5 s): a change shows within it on every server. */
  settingsTtlMs: number;
}

const SWEEP_EVERY_MS = 3600_000;

/**
 * Rows a flush turns into lines or records before it lets the event loop serve requests again
 * (≈ 1–2 ms of work: on SQLite the insert blocks the loop too), so a flush adds little to any one
 * request's latency.
 */
const ROWS_PER_TURN = 256;

export const DEFAULT_MONITOR_OPTIONS: MonitorOptions = { flushMs: 2000, maxQueuedRows: 50_000, settingsTtlMs: 5000 };

/** What a predict call (or one batch of an inference job) hands its recorder. */
export interface ObservedPredictions {
  manifest: LogManifest;
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

export class PredictionMonitor {
  readonly counters: MonitorCounters = { logged: 0, dropped: 0, flushFailures: 0 };
  private readonly writer = `${hostname().replace(/[^A-Za-z0-9-]/g, '-').slice(0, 40)}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private sequence = 0;
  /** Rows held in all hour logs. */
  private buffered = 0;
  /** By model, version and hour. */
  private hours = new Map<string, HourLog>();
  private readonly settings = new Map<string, { at: number; value: MonitoringSettings }>();
  private readonly binners = new Map<string, Promise<VersionBinners>>();
  private timer: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private clock = { start: Number.NaN, hour: '' };

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
    return this.buffered;
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
    const time = Date.now();
    const log = this.hourLog(version, this.hourOf(time), batch.manifest, binners);
    const logged: LoggedBatch = { time, requestId: context.requestId, firstRow: batch.firstRow ?? 0, latencyMs: batch.latencyMs, columns: batch.columns, output: batch.output, width: batch.width, threshold: context.threshold ?? 0.5 };
    const loggedBefore = this.counters.logged;
    for (let i = 0; i < batch.rows; i++) {
      if (sampleRate < 1 && Math.random() >= sampleRate) continue;
      if (this.buffered >= this.options.maxQueuedRows) {
        this.counters.dropped++;
        continue;
      }
      log.add(logged, i);
      this.buffered++;
      this.counters.logged++;
    }
    if (this.counters.logged > loggedBefore) log.countLatency(batch.latencyMs);
    if (this.buffered >= this.options.maxQueuedRows / 2) void this.flush();
  }

  /** The UTC hour of `time` as YYYY-MM-DDTHH, made once an hour. */
  private hourOf(time: number): string {
    if (!(time >= this.clock.start && time < this.clock.start + 3600_000)) {
      const start = time - (time % 3600_000);
      this.clock = { start, hour: new Date(start).toISOString().slice(0, 13) };
    }
    return this.clock.hour;
  }

  private hourLog(version: ModelVersionRecord, hour: string, manifest: LogManifest, binners: VersionBinners): HourLog {
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
    if (this.hours.size === 0) return;
    const hours = [...this.hours.values()];
    const rows = this.buffered;
    this.hours = new Map();
    this.buffered = 0;
    try {
      // One part per model and hour (versions of a model share its hour's parts).
      const parts = new Map<string, HourLog[]>();
      const stamp = `${Date.now()}-${this.writer}-${this.sequence++}`;
      for (const log of hours) {
        if (log.length === 0) continue;
        const key = predictionLogPartKey(log.model, log.hour, stamp);
        parts.set(key, [...(parts.get(key) ?? []), log]);
      }
      for (const [key, logs] of parts) {
        const chunks: Buffer[] = [];
        for (const log of logs) {
          for (let from = 0; from < log.length; from += ROWS_PER_TURN) {
            chunks.push(Buffer.from(log.lines(from, Math.min(log.length, from + ROWS_PER_TURN))));
            await nextTurn();
          }
        }
        await this.stores.blobs.put(key, Buffer.concat(chunks), { contentType: 'application/x-ndjson' });
      }
      for (const log of hours) {
        for (let from = 0; from < log.length; from += ROWS_PER_TURN) {
          await insertRecords(this.stores.metadata, log.records(from, Math.min(log.length, from + ROWS_PER_TURN)));
          await nextTurn();
        }
      }
      await addBinCounts(this.stores.metadata, hours.flatMap((log) => log.binCounts()));
    } catch (error) {
      this.counters.flushFailures++;
      this.counters.dropped += rows;
      this.stores.logger.warn({ err: error, rows }, 'could not write prediction logs; these rows are dropped');
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
