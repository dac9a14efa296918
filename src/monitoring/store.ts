// The monitoring tables (migration 0008), owned here: settings per model, prediction records
// (feedback joins on them) and live drift-bin counts (every server adds its own; sums are the view).
import { CompiledQuery, sql } from 'kysely';
import { together, type MetadataStore } from '../store/metadata/metadata-store.ts';
import type { PredictionRecordTable } from '../store/metadata/schema.ts';
import { nowIso } from '../ids.ts';

export interface MonitoringSettings {
  log_sample_rate: number;
  retention_days: number;
  updated_at: string | null;
}

/** Monitoring is off until a user turns it on (prediction inputs can be personal data). */
export const MONITORING_OFF: MonitoringSettings = { log_sample_rate: 0, retention_days: 30, updated_at: null };

export async function getSettings(store: MetadataStore, model: string): Promise<MonitoringSettings> {
  const row = await store.db.selectFrom('model_monitoring').selectAll().where('model_name', '=', model).executeTakeFirst();
  return row ? { log_sample_rate: Number(row.log_sample_rate), retention_days: Number(row.retention_days), updated_at: row.updated_at } : MONITORING_OFF;
}

export async function putSettings(store: MetadataStore, model: string, settings: { log_sample_rate: number; retention_days: number }): Promise<MonitoringSettings> {
  const row = { model_name: model, ...settings, updated_at: nowIso() };
  const { model_name: _name, ...update } = row;
  const insert = store.db.insertInto('model_monitoring').values(row);
  await (store.dialect === 'mysql' ? insert.onDuplicateKeyUpdate(update) : insert.onConflict((c) => c.column('model_name').doUpdateSet(update))).execute();
  return { ...settings, updated_at: row.updated_at };
}

/** Models whose prediction logs are on, with their settings (the retention sweep's list). */
export async function listMonitoredModels(store: MetadataStore): Promise<Array<{ model: string } & MonitoringSettings>> {
  const rows = await store.db.selectFrom('model_monitoring').selectAll().execute();
  return rows.map((r) => ({ model: r.model_name, log_sample_rate: Number(r.log_sample_rate), retention_days: Number(r.retention_days), updated_at: r.updated_at }));
}

/** A logged prediction as the monitor writes it (feedback fills in the label later). */
export type PredictionRecord = Omit<PredictionRecordTable, 'label' | 'labelled_at'>;

/** Rows or ids per statement built with Kysely: well under both dialects' limits on bound parameters. */
const INSERT_CHUNK = 500;

const RECORD_COLUMNS = ['model_name', 'request_id', 'row_index', 'version', 'logged_at', 'predicted_label', 'predicted_value'] as const;

/**
 * Rows per INSERT statement, largest first: a flush of any size is a few statements of these fixed
 * shapes, so their text is built once and SQLite's prepared statements are reused
 * (sqlite-store.ts). Well under both dialects' limits on bound parameters.
 */
const INSERT_SHAPES = [256, 16, 1];

const insertTexts = new Map<string, string>();

/**
 * The INSERT of `rows` records. A record seen twice (a flush retried after a timeout that had in
 * fact committed) is kept once. Written as SQL text rather than through Kysely's builder: logging
 * inserts every logged row, and building and compiling a 500-row query cost as much per row as
 * SQLite's own work (bench/monitoring.ts, docs/benchmarks.md).
 */
function insertText(dialect: MetadataStore['dialect'], rows: number): string {
  const key = `${dialect}:${rows}`;
  let text = insertTexts.get(key);
  if (!text) {
    const values = Array.from({ length: rows }, () => `(${RECORD_COLUMNS.map(() => '?').join(', ')}, null, null)`).join(', ');
    const into = `into prediction_records (${RECORD_COLUMNS.join(', ')}, label, labelled_at) values ${values}`;
    text = dialect === 'mysql' ? `insert ignore ${into}` : `insert ${into} on conflict do nothing`;
    insertTexts.set(key, text);
  }
  return text;
}

export async function insertRecords(store: MetadataStore, records: readonly PredictionRecord[]): Promise<void> {
  let at = 0;
  for (const shape of INSERT_SHAPES) {
    for (; records.length - at >= shape; at += shape) {
      const parameters: unknown[] = [];
      for (let i = at; i < at + shape; i++) {
        for (const column of RECORD_COLUMNS) parameters.push(records[i][column]);
      }
      await store.db.executeQuery(CompiledQuery.raw(insertText(store.dialect, shape), parameters));
    }
  }
}

export interface BinCount {
  model_name: string;
  version: number;
  hour: string;
  feature: string;
  bin: number;
  count: number;
}

/** Adds counts to the live histograms (creating bins on first use); safe from many servers at once. */
export async function addBinCounts(store: MetadataStore, counts: readonly BinCount[]): Promise<void> {
  for (let i = 0; i < counts.length; i += INSERT_CHUNK) {
    const insert = store.db.insertInto('drift_bins').values(counts.slice(i, i + INSERT_CHUNK));
    await (store.dialect === 'mysql'
      ? insert.onDuplicateKeyUpdate({ count: sql`count + values(count)` })
      : insert.onConflict((c) => c.columns(['model_name', 'version', 'hour', 'feature', 'bin']).doUpdateSet({ count: sql`drift_bins.count + excluded.count` }))
    ).execute();
  }
}

/** Live counts per feature and bin over the hours from `fromHour` on (summed over servers and hours). */
export async function windowBinCounts(store: MetadataStore, model: string, version: number, fromHour: string): Promise<Map<string, Map<number, number>>> {
  const rows = await store.db
    .selectFrom('drift_bins')
    .select(['feature', 'bin', (eb) => eb.fn.sum<number | string>('count').as('total')])
    .where('model_name', '=', model)
    .where('version', '=', version)
    .where('hour', '>=', fromHour)
    .groupBy(['feature', 'bin'])
    .execute();
  const byFeature = new Map<string, Map<number, number>>();
  for (const row of rows) {
    let bins = byFeature.get(row.feature);
    if (!bins) byFeature.set(row.feature, (bins = new Map()));
    // MySQL sums to DECIMAL, which mysql2 hands over as a string.
    bins.set(Number(row.bin), Number(row.total));
  }
  return byFeature;
}

/** Counts of the given pseudo-features per hour, version and bin over the window (traffic, latency). */
export async function hourlyBins(store: MetadataStore, model: string, features: string[], fromHour: string): Promise<Array<{ hour: string; version: number; feature: string; bin: number; count: number }>> {
  const rows = await store.db
    .selectFrom('drift_bins')
    .select(['hour', 'version', 'feature', 'bin', (eb) => eb.fn.sum<number | string>('count').as('total')])
    .where('model_name', '=', model)
    .where('feature', 'in', features)
    .where('hour', '>=', fromHour)
    .groupBy(['hour', 'version', 'feature', 'bin'])
    .orderBy('hour')
    .execute();
  return rows.map((r) => ({ hour: r.hour, version: Number(r.version), feature: r.feature, bin: Number(r.bin), count: Number(r.total) }));
}

/** The histogram of a version's outputs is kept under this feature name (not a valid column name). */
export const PREDICTION_FEATURE = '\u0000prediction';
/** Serving latency of logged requests, binned by LATENCY_EDGES_MS, under this feature name. */
export const LATENCY_FEATURE = '\u0000latency';

export interface Feedback {
  request_id: string;
  row: number;
  label: string;
}

/**
 * Attaches true labels to logged predictions, all or nothing: when any (request id, row) was never
 * logged for this model, nothing is written and the positions of the unknown ones are returned.
 * (Checked first, then written: records only ever disappear through the retention sweep.)
 */
export async function applyFeedback(store: MetadataStore, model: string, items: readonly Feedback[]): Promise<{ unknown: number[] }> {
  const known = new Set<string>();
  const ids = [...new Set(items.map((i) => i.request_id))];
  for (let i = 0; i < ids.length; i += INSERT_CHUNK) {
    const rows = await store.db
      .selectFrom('prediction_records')
      .select(['request_id', 'row_index'])
      .where('model_name', '=', model)
      .where('request_id', 'in', ids.slice(i, i + INSERT_CHUNK))
      .execute();
    for (const r of rows) known.add(`${r.request_id}\u0000${r.row_index}`);
  }
  const unknown = items.flatMap((item, i) => (known.has(`${item.request_id}\u0000${item.row}`) ? [] : [i]));
  if (unknown.length > 0) return { unknown };
  const at = nowIso();
  await together(store, async (q) => {
    for (const { request_id, row, label } of items) {
      await q
        .updateTable('prediction_records')
        .set({ label, labelled_at: at })
        .where('model_name', '=', model)
        .where('request_id', '=', request_id)
        .where('row_index', '=', row)
        .execute();
    }
  });
  return { unknown };
}

export interface LabelledPrediction {
  predicted_label: string | null;
  predicted_value: number;
  label: string;
}

/** Predictions of a version that have feedback, logged since `from` (newest first, at most `limit`). */
export async function labelledPredictions(store: MetadataStore, model: string, version: number, from: string, limit: number): Promise<LabelledPrediction[]> {
  const rows = await store.db
    .selectFrom('prediction_records')
    .select(['predicted_label', 'predicted_value', 'label'])
    .where('model_name', '=', model)
    .where('version', '=', version)
    .where('logged_at', '>=', from)
    .where('label', 'is not', null)
    .orderBy('logged_at', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ predicted_label: r.predicted_label, predicted_value: Number(r.predicted_value), label: r.label as string }));
}

/** Labels by (request id, row) for the export, for records logged in [from, to). */
export async function labelsBetween(store: MetadataStore, model: string, from: string, to: string): Promise<Map<string, string>> {
  const rows = await store.db
    .selectFrom('prediction_records')
    .select(['request_id', 'row_index', 'label'])
    .where('model_name', '=', model)
    .where('logged_at', '>=', from)
    .where('logged_at', '<', to)
    .where('label', 'is not', null)
    .execute();
  return new Map(rows.map((r) => [`${r.request_id}\u0000${r.row_index}`, r.label as string]));
}

/** Drops what is older than the retention: records before `beforeIso`, bins of hours before `beforeHour`. */
export async function deleteOlderThan(store: MetadataStore, model: string, beforeIso: string, beforeHour: string): Promise<void> {
  await store.db.deleteFrom('prediction_records').where('model_name', '=', model).where('logged_at', '<', beforeIso).execute();
  await store.db.deleteFrom('drift_bins').where('model_name', '=', model).where('hour', '<', beforeHour).execute();
}

/** Every monitoring row of a model (the model is being deleted). */
export async function deleteMonitoringRows(store: MetadataStore, model: string): Promise<void> {
  await store.db.deleteFrom('prediction_records').where('model_name', '=', model).execute();
  await store.db.deleteFrom('drift_bins').where('model_name', '=', model).execute();
  await store.db.deleteFrom('model_monitoring').where('model_name', '=', model).execute();
}
