// What /metrics exports about monitored models: PSI per feature and live quality per version, over
// the last 24 hours, for the versions of monitored models that served logged traffic in that time.
// Computed at scrape time from the summed histograms (bounded: MAX_GAUGE_MODELS models, their
// MAX_GAUGE_VERSIONS most recently served versions).
import type { BlobStore } from '../store/blobs/blob-store.ts';
import type { MetadataStore } from '../store/metadata/metadata-store.ts';
import { getVersion } from '../models/registry.ts';
import { computeDrift } from './drift.ts';
import { readBaseline } from './baseline-artifact.ts';
import { liveQuality } from './quality.ts';
import { PREDICTION_FEATURE, hourlyBins, labelledPredictions, listMonitoredModels } from './store.ts';
import type { DriftThresholds } from './psi.ts';

const MAX_GAUGE_MODELS = 50;
const MAX_GAUGE_VERSIONS = 3;
const GAUGE_WINDOW_HOURS = 24;
const QUALITY_ROWS = 100_000;

export interface MonitoringSnapshot {
  psi: Array<{ model: string; version: number; feature: string; value: number }>;
  quality: Array<{ model: string; version: number; metric: string; value: number }>;
}

export async function monitoringSnapshot(stores: { metadata: MetadataStore; blobs: BlobStore }, thresholds: DriftThresholds): Promise<MonitoringSnapshot> {
  const snapshot: MonitoringSnapshot = { psi: [], quality: [] };
  const from = new Date(Date.now() - GAUGE_WINDOW_HOURS * 3600_000);
  const fromHour = from.toISOString().slice(0, 13);
  const models = (await listMonitoredModels(stores.metadata)).filter((m) => m.log_sample_rate > 0).slice(0, MAX_GAUGE_MODELS);
  for (const { model } of models) {
    const served = await hourlyBins(stores.metadata, model, [PREDICTION_FEATURE], fromHour);
    const versions = [...new Set(served.map((r) => r.version))].sort((a, b) => b - a).slice(0, MAX_GAUGE_VERSIONS);
    for (const number of versions) {
      const version = await getVersion(stores.metadata.db, model, number).catch(() => null);
      if (!version) continue;
      const baseline = await readBaseline(stores.blobs, version.blob_prefix);
      if (baseline) {
        const drift = await computeDrift(stores.metadata, { model, version: number, baseline, window: `${GAUGE_WINDOW_HOURS}h`, from, thresholds });
        for (const f of drift.features) snapshot.psi.push({ model, version: number, feature: f.feature, value: f.psi });
        if (drift.prediction) snapshot.psi.push({ model, version: number, feature: '(prediction)', value: drift.prediction.psi });
      }
      const labelled = await labelledPredictions(stores.metadata, model, number, from.toISOString(), QUALITY_ROWS);
      const quality = liveQuality(version.signature.output.task, version.signature.output.classes, labelled);
      for (const [metric, value] of Object.entries(quality)) if (value !== null) snapshot.quality.push({ model, version: number, metric, value });
    }
  }
  return snapshot;
}
