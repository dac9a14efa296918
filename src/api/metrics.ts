// Prometheus metrics. One registry per app instance so tests can build several apps in a process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MonitorCounters } from '../monitoring/monitor.ts';
import type { MonitoringSnapshot } from '../monitoring/gauges.ts';

/** What the metrics read from model monitoring, at scrape time. */
export interface MonitoringSource {
  counters: MonitorCounters;
  snapshot(): Promise<MonitoringSnapshot>;
}

export interface ApiMetrics {
  registry: Registry;
  requestDuration: Histogram<'method' | 'route' | 'status_code'>;
  modelLoadFailures: Counter<'model'>;
  predictions: Counter<'model'>;
}

export function createMetrics(): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'trainyard_' });
  return {
    registry,
    requestDuration: new Histogram({
      name: 'trainyard_http_request_duration_seconds',
      help: 'HTTP request duration by route template and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    modelLoadFailures: new Counter({
      name: 'trainyard_model_load_failures_total',
      help: 'Model versions whose artifact could not be loaded for serving',
      labelNames: ['model'],
      registers: [registry],
    }),
    predictions: new Counter({
      name: 'trainyard_predicted_rows_total',
      help: 'Rows predicted by real-time predict calls',
      labelNames: ['model'],
      registers: [registry],
    }),
  };
}

/** Model monitoring's series, read from the monitor and the shared database at scrape time. */
export function registerMonitoringMetrics(registry: Registry, monitoring: MonitoringSource): void {
  new Counter({
    name: 'trainyard_prediction_log_rows_total',
    help: 'Predicted rows the prediction log took (logged) or dropped because its buffer was full or a write failed',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ outcome: 'logged' }, monitoring.counters.logged);
      this.inc({ outcome: 'dropped' }, monitoring.counters.dropped);
    },
  });
  // One snapshot serves both gauges of a scrape. The values come from the shared database, so every
  // process reports the same ones: aggregated across processes by max, not summed.
  let pending: Promise<MonitoringSnapshot> | undefined;
  const snapshot = () => {
    pending ??= monitoring.snapshot().finally(() => setTimeout(() => (pending = undefined), 1000).unref());
    return pending;
  };
  new Gauge({
    name: 'trainyard_feature_psi',
    help: 'Population stability index of a feature (or the prediction) over the last 24 h against the training data',
    labelNames: ['model', 'version', 'feature'],
    registers: [registry],
    aggregator: 'max',
    async collect() {
      this.reset();
      for (const p of (await snapshot()).psi) this.set({ model: p.model, version: String(p.version), feature: p.feature }, p.value);
    },
  });
  new Gauge({
    name: 'trainyard_live_quality',
    help: 'Live quality of a model version from feedback over the last 24 h (accuracy, f1, roc_auc, rmse, mae, r2)',
    labelNames: ['model', 'version', 'metric'],
    registers: [registry],
    aggregator: 'max',
    async collect() {
      this.reset();
      for (const q of (await snapshot()).quality) this.set({ model: q.model, version: String(q.version), metric: q.metric }, q.value);
    },
  });
}
