// Retention: each model's prediction-log parts, records and live histograms older than its
// `retention_days` are deleted, hourly, by every API process (the deletes are idempotent, so
// several servers sweeping at once do no harm).
import type { BlobStore } from '../store/blobs/blob-store.ts';
import type { MetadataStore } from '../store/metadata/metadata-store.ts';
import { deleteMonitoringRows, deleteOlderThan, listMonitoredModels } from './store.ts';
import { predictionLogPartHour, predictionLogPrefix } from '../store/blobs/keys.ts';

export async function sweepExpired(stores: { metadata: MetadataStore; blobs: BlobStore }, now = new Date()): Promise<{ parts: number }> {
  let parts = 0;
  for (const { model, retention_days } of await listMonitoredModels(stores.metadata)) {
    const before = new Date(now.getTime() - retention_days * 86_400_000);
    const beforeHour = before.toISOString().slice(0, 13);
    for (const key of await stores.blobs.list(predictionLogPrefix(model))) {
      const hour = predictionLogPartHour(key);
      if (hour !== undefined && hour < beforeHour) {
        await stores.blobs.delete(key);
        parts++;
      }
    }
    await deleteOlderThan(stores.metadata, model, before.toISOString(), beforeHour);
  }
  return { parts };
}

/** Everything monitoring holds for a model: its rows, then its log parts (the model is being deleted). */
export async function deleteModelMonitoring(metadata: MetadataStore, blobs: BlobStore, model: string): Promise<void> {
  await deleteMonitoringRows(metadata, model);
  await blobs.deletePrefix(predictionLogPrefix(model));
}
