// Drift of a version: per feature, the live histogram over a window (summed from the drift bins every
// server adds to) against the training split's histogram in the version's baseline, as PSI, with the
// shares of missing and unseen values; the same for the predictions against validation. The work is
// proportional to features × bins × hours, never to the rows served.
import type { MetadataStore } from '../store/metadata/metadata-store.ts';
import { MISSING_BIN, histogramKey, type DriftBaseline, type FeatureBaseline } from './baseline.ts';
import type { DatetimeCycle } from '../models/preprocessing.ts';
import { isoOf } from '../datasets/datetime.ts';
import { PREDICTION_FEATURE, windowBinCounts } from './store.ts';
import { driftStatus, psi, type DriftStatus, type DriftThresholds } from './psi.ts';

export interface HistogramBin {
  /** `< 3.5`, `[3.5, 7)`, `≥ 7`, a category, `(unseen)`, a month, weekday or hour, or `(missing)`. */
  bin: string;
  expected: number;
  live: number;
}

export interface FeatureDrift {
  /** The column; for a datetime's cyclic part, the column and the part: `signup.month`. */
  feature: string;
  kind: 'numeric' | 'categorical' | 'datetime';
  /** Datetime features: the column, and which histogram (the instant, or a cyclic part). */
  column?: string;
  part?: 'time' | DatetimeCycle;
  psi: number;
  status: DriftStatus;
  live_rows: number;
  missing_share: { expected: number; live: number };
  /** Categorical features: share of values outside the training vocabulary. */
  unseen_share?: { expected: number; live: number };
  histogram: HistogramBin[];
}

export interface DriftReport {
  model: string;
  version: number;
  window: string;
  from: string;
  thresholds: DriftThresholds;
  live_rows: number;
  status: DriftStatus;
  features: FeatureDrift[];
  prediction: Omit<FeatureDrift, 'feature' | 'kind' | 'missing_share'> | null;
}

const SEVERITY: Record<DriftStatus, number> = { no_data: 0, ok: 1, warn: 2, drift: 3 };

export async function computeDrift(
  store: MetadataStore,
  input: { model: string; version: number; baseline: DriftBaseline; window: string; from: Date; thresholds: DriftThresholds },
): Promise<DriftReport> {
  const fromHour = input.from.toISOString().slice(0, 13);
  const live = await windowBinCounts(store, input.model, input.version, fromHour);
  const features = input.baseline.features.map((f) => featureDrift(f, live.get(histogramKey(f)) ?? new Map(), input.thresholds));
  let prediction: DriftReport['prediction'] = null;
  const p = input.baseline.prediction;
  if (p) {
    const counts = live.get(PREDICTION_FEATURE) ?? new Map<number, number>();
    const labels = p.kind === 'label' ? p.classes : rangeLabels(p.edges);
    const liveCounts = p.counts.map((_, i) => counts.get(i) ?? 0);
    const rows = sum(liveCounts);
    const value = psi(p.counts, liveCounts);
    prediction = {
      psi: value,
      status: driftStatus(value, rows, input.thresholds),
      live_rows: rows,
      histogram: labels.map((bin, i) => ({ bin, expected: share(p.counts[i], sum(p.counts)), live: share(liveCounts[i], rows) })),
    };
  }
  const liveRows = prediction?.live_rows ?? Math.max(0, ...features.map((f) => f.live_rows));
  const worst = [...features.map((f) => f.status), prediction?.status ?? 'no_data'].reduce((a, b) => (SEVERITY[b] > SEVERITY[a] ? b : a), 'no_data' as DriftStatus);
  return {
    model: input.model,
    version: input.version,
    window: input.window,
    from: `${fromHour}:00:00.000Z`,
    thresholds: input.thresholds,
    live_rows: liveRows,
    status: worst,
    features,
    prediction,
  };
}

function featureDrift(feature: FeatureBaseline, live: Map<number, number>, thresholds: DriftThresholds): FeatureDrift {
  // PSI over the bins and the missing bin together: a feature that starts arriving empty drifts too.
  const expected = [...feature.counts, feature.missing];
  const actual = [...feature.counts.map((_, i) => live.get(i) ?? 0), live.get(MISSING_BIN) ?? 0];
  const expectedRows = sum(expected);
  const liveRows = sum(actual);
  const value = psi(expected, actual);
  const result: FeatureDrift = {
    feature: feature.kind === 'datetime' && feature.part !== 'time' ? `${feature.name}.${feature.part}` : feature.name,
    kind: feature.kind,
    ...(feature.kind === 'datetime' ? { column: feature.name, part: feature.part } : {}),
    psi: value,
    status: driftStatus(value, liveRows, thresholds),
    live_rows: liveRows,
    missing_share: { expected: share(feature.missing, expectedRows), live: share(actual[actual.length - 1], liveRows) },
    histogram: [...binLabels(feature), '(missing)'].map((bin, i) => ({ bin, expected: share(expected[i], expectedRows), live: share(actual[i], liveRows) })),
  };
  if (feature.kind === 'categorical') {
    const unseen = feature.categories.length;
    result.unseen_share = { expected: share(feature.counts[unseen], expectedRows), live: share(actual[unseen], liveRows) };
  }
  return result;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** Labels of a feature's bins (without the missing bin). */
function binLabels(feature: FeatureBaseline): string[] {
  if (feature.kind === 'numeric') return rangeLabels(feature.edges);
  if (feature.kind === 'categorical') return [...feature.categories, '(unseen)'];
  if (feature.part === 'time') return rangeLabels(feature.edges, isoOf);
  if (feature.part === 'month') return MONTHS;
  if (feature.part === 'day_of_week') return WEEKDAYS;
  return Array.from({ length: 24 }, (_, h) => `${String(h).padStart(2, '0')}:00`);
}

/** Labels of the bins that `edges` cut the line into. */
function rangeLabels(edges: number[], fmt = (x: number) => String(Number(x.toPrecision(4)))): string[] {
  if (edges.length === 0) return ['all'];
  return [`< ${fmt(edges[0])}`, ...edges.slice(1).map((e, i) => `[${fmt(edges[i])}, ${fmt(e)})`), `≥ ${fmt(edges[edges.length - 1])}`];
}

const sum = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0);
const share = (part: number, whole: number): number => (whole > 0 ? part / whole : 0);
