// Traffic per hour and version (logged rows, from the prediction histogram's counts) and serving
// latency (from a fixed-bucket histogram of logged requests), for the dashboard's monitoring tab.
import type { MetadataStore } from '../store/metadata/metadata-store.ts';
import { numericBin } from './baseline.ts';
import { LATENCY_FEATURE, PREDICTION_FEATURE, hourlyBins } from './store.ts';

/** Upper bounds (ms) of the latency buckets; the last bucket is everything slower. */
export const LATENCY_EDGES_MS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10_000];

export const latencyBin = (ms: number): number => numericBin(LATENCY_EDGES_MS, ms);

export interface HourTraffic {
  hour: string;
  version: number;
  rows: number;
  latency_ms: { p50: number | null; p99: number | null };
}

export async function hourlyTraffic(store: MetadataStore, model: string, fromHour: string): Promise<HourTraffic[]> {
  const byKey = new Map<string, { hour: string; version: number; rows: number; latency: number[] }>();
  for (const r of await hourlyBins(store, model, [PREDICTION_FEATURE, LATENCY_FEATURE], fromHour)) {
    const key = `${r.hour}\u0000${r.version}`;
    let entry = byKey.get(key);
    if (!entry) byKey.set(key, (entry = { hour: r.hour, version: r.version, rows: 0, latency: new Array<number>(LATENCY_EDGES_MS.length + 1).fill(0) }));
    if (r.feature === PREDICTION_FEATURE) entry.rows += r.count;
    else if (r.bin >= 0 && r.bin < entry.latency.length) entry.latency[r.bin] += r.count;
  }
  return [...byKey.values()].map((e) => ({ hour: e.hour, version: e.version, rows: e.rows, latency_ms: { p50: quantile(e.latency, 0.5), p99: quantile(e.latency, 0.99) } }));
}

/** The upper bound of the bucket holding quantile q (the last bucket reports its lower bound). */
export function quantile(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((s, c) => s + c, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= q * total) return LATENCY_EDGES_MS[Math.min(i, LATENCY_EDGES_MS.length - 1)];
  }
  return LATENCY_EDGES_MS[LATENCY_EDGES_MS.length - 1];
}
