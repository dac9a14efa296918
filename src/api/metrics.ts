// Prometheus metrics. One registry per app instance so tests can build several apps in a process.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
