// `trainyard server` with TRAINYARD_WORKERS > 1: one primary process and N HTTP processes that
// share the port through node's `cluster` module (the primary accepts connections and hands them
// round-robin to the HTTP processes; docs/scale-out.md says why this and not SO_REUSEPORT).
//
//   primary        migrations, the executor (job loop, warm standby job process, reaper, or the
//                  Batch dispatcher): everything that must run once per server. It serves no HTTP.
//                  It replaces an HTTP process that dies, and on SIGTERM drains them all.
//   HTTP process   the Fastify app with every route, its own ONNX sessions and profiling threads.
//                  It wakes the primary's job loop over IPC when it queues a job, and answers
//                  /metrics with the primary's aggregate of every process's registry.
//
// The messages between them are the small protocol below (all tagged `trainyard:`).
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Platform } from '../platform.ts';
import type { Api } from './route-context.ts';

const CLI = fileURLToPath(new URL('../../bin/trainyard.mjs', import.meta.url));

/** How long an HTTP process has to finish its in-flight requests on shutdown before its remaining
 *  connections (e.g. an event stream of a running job, whose client reconnects) are cut. */
export const DRAIN_MS = 10_000;
/** How long the primary waits for one process's metrics (a process that is busy or dying is left out). */
const METRICS_PART_MS = 2000;
/** An HTTP process that dies sooner than this after its start is restarted with a growing delay. */
const CRASH_LOOP_MS = 10_000;

type JsonMetrics = MetricObjectWithValues<MetricValue<string>>[];

type ToPrimary =
  | { type: 'trainyard:poke' }
  | { type: 'trainyard:metrics'; id: number }
  | { type: 'trainyard:metrics-part'; id: number; metrics: JsonMetrics };

type ToHttpProcess =
  | { type: 'trainyard:shutdown' }
  | { type: 'trainyard:collect-metrics'; id: number }
  | { type: 'trainyard:metrics'; id: number; text?: string; error?: string };

function isMessage<T extends { type: string }>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string' && (message as { type: string }).type.startsWith('trainyard:');
}

/**
 * Closes an app the way SIGTERM should: stop accepting, let in-flight requests finish, then after
 * `graceMs` cut what is still open (long-lived event streams) so shutdown cannot hang on a client.
 */
export async function drainApp(app: Api, graceMs = DRAIN_MS): Promise<void> {
  const cut = setTimeout(() => app.server.closeAllConnections(), graceMs);
  cut.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(cut);
  }
}

// ---- primary ------------------------------------------------------------------------------------

export interface PrimaryOptions {
  platform: Platform;
  workers: number;
  /** The executor's wake-up (the local job loop or the Batch dispatcher). */
  poke(): void;
}

/** What the primary offers to `trainyard server`: wait for the HTTP processes, and drain them. */
export interface Primary {
  /** Resolves once every HTTP process listens; rejects when one dies before (e.g. the port is taken). */
  ready: Promise<void>;
  /** Drains every HTTP process (stop accepting, finish in-flight requests) and waits for their exit. */
  stop(): Promise<void>;
}

export function startPrimary(options: PrimaryOptions): Primary {
  const { platform, workers } = options;
  const log = platform.logger;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'trainyard_' });
  const live = new Gauge({ name: 'trainyard_http_processes', help: 'HTTP processes of this server that are up (TRAINYARD_WORKERS)', registers: [registry] });
  const restarts = new Counter({ name: 'trainyard_http_process_restarts_total', help: 'HTTP processes that died and were replaced', registers: [registry] });
  const startedAt = new Map<Worker, number>();
  const listening = new Set<Worker>();
  let stopping = false;
  let quickDeaths = 0;
  let restartCount = 0;
  let metricsRequests = 0;
  const parts = new Map<string, (metrics: JsonMetrics | null) => void>();

  cluster.setupPrimary({ exec: CLI, args: ['server'], silent: false });

  let settleReady: { resolve(): void; reject(error: Error): void } | undefined;
  const ready = new Promise<void>((resolve, reject) => (settleReady = { resolve, reject }));

  const fork = () => {
    const worker = cluster.fork();
    startedAt.set(worker, Date.now());
    worker.on('message', (message: unknown) => onMessage(worker, message));
    worker.once('listening', () => {
      listening.add(worker);
      live.set(listening.size);
      log.info({ http_pid: worker.process.pid, http_processes: listening.size }, 'HTTP process listening');
      if (settleReady && listening.size === workers) {
        settleReady.resolve();
        settleReady = undefined;
      }
    });
  };

  const onExit = (worker: Worker, code: number | null, signal: string | null) => {
    const wasListening = listening.delete(worker);
    live.set(listening.size);
    for (const [key, resolve] of parts) if (key.endsWith(`:${worker.id}`)) resolve(null);
    if (stopping) return;
    if (settleReady) {
      // Dying before the server is up is a configuration problem (port taken, store unreachable):
      // fail the start instead of restarting forever.
      settleReady.reject(new Error(`an HTTP process (pid ${worker.process.pid}) exited during start-up (code ${code}, signal ${signal}); its error is above`));
      settleReady = undefined;
      return;
    }
    restarts.inc();
    restartCount++;
    const lived = Date.now() - (startedAt.get(worker) ?? 0);
    startedAt.delete(worker);
    quickDeaths = lived < CRASH_LOOP_MS ? quickDeaths + 1 : 0;
    const delayMs = quickDeaths === 0 ? 0 : Math.min(30_000, 500 * 2 ** (quickDeaths - 1));
    log.error(
      { http_pid: worker.process.pid, code, signal, was_listening: wasListening, restarts: restartCount, restart_in_ms: delayMs },
      'HTTP process died; starting a replacement',
    );
    setTimeout(() => !stopping && fork(), delayMs).unref();
  };
  cluster.on('exit', onExit);

  const onMessage = (worker: Worker, message: unknown) => {
    if (!isMessage<ToPrimary>(message)) return;
    switch (message.type) {
      case 'trainyard:poke':
        options.poke();
        break;
      case 'trainyard:metrics':
        void aggregate().then(
          (text) => send(worker, { type: 'trainyard:metrics', id: message.id, text }),
          (error: Error) => send(worker, { type: 'trainyard:metrics', id: message.id, error: error.message }),
        );
        break;
      case 'trainyard:metrics-part':
        parts.get(`${message.id}:${worker.id}`)?.(message.metrics);
        break;
    }
  };

  /** One process's registry as JSON, or null when it does not answer in time. */
  const collect = (worker: Worker, id: number) =>
    new Promise<JsonMetrics | null>((resolve) => {
      const key = `${id}:${worker.id}`;
      const done = (metrics: JsonMetrics | null) => {
        clearTimeout(timer);
        parts.delete(key);
        resolve(metrics);
      };
      const timer = setTimeout(() => done(null), METRICS_PART_MS);
      parts.set(key, done);
      if (!send(worker, { type: 'trainyard:collect-metrics', id })) done(null);
    });

  /** Every process's metrics summed (histograms bucket by bucket) by prom-client's aggregator. */
  const aggregate = async (): Promise<string> => {
    const id = ++metricsRequests;
    const workersNow = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
    const all = await Promise.all([...workersNow.map((w) => collect(w, id)), registry.getMetricsAsJSON()]);
    return AggregatorRegistry.aggregate(all.filter((m): m is JsonMetrics => m !== null)).metrics();
  };

  for (let i = 0; i < workers; i++) fork();

  return {
    ready,
    async stop() {
      stopping = true;
      const running = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      await Promise.all(
        running.map(
          (worker) =>
            new Promise<void>((resolve) => {
              if (worker.isDead()) return resolve();
              worker.once('exit', () => resolve());
              if (!send(worker, { type: 'trainyard:shutdown' })) worker.process.kill('SIGTERM');
              // A process that has not drained well after its own grace period is killed.
              setTimeout(() => worker.isDead() || worker.process.kill('SIGKILL'), DRAIN_MS + 5000).unref();
            }),
        ),
      );
      cluster.off('exit', onExit);
    },
  };
}

function send(worker: Worker, message: ToHttpProcess): boolean {
  if (!worker.isConnected()) return false;
  try {
    worker.send(message);
    return true;
  } catch {
    return false;
  }
}

// ---- HTTP process -------------------------------------------------------------------------------

export interface PrimaryLink {
  /** Wakes the primary's job loop (a job was queued here). */
  poke(): void;
  /** The server's metrics: every process's, aggregated by the primary. */
  metrics(): Promise<string>;
  /** Called when the primary asks this process to drain (shutdown). */
  onShutdown(handler: () => void): void;
  /** Answers the primary's requests for this process's metrics from `registry`. */
  serveMetrics(registry: Registry): void;
}

/** The HTTP process's side of the protocol (only valid in a cluster worker). */
export function linkToPrimary(): PrimaryLink {
  let requests = 0;
  const pending = new Map<number, { resolve(text: string): void; reject(error: Error): void }>();
  let shutdown: (() => void) | undefined;
  let shutdownRequested = false;
  let registry: Registry | undefined;
  const sendToPrimary = (message: ToPrimary) => {
    if (process.connected) process.send?.(message);
    return process.connected;
  };
  process.on('message', (message: unknown) => {
    if (!isMessage<ToHttpProcess>(message)) return;
    switch (message.type) {
      case 'trainyard:shutdown':
        shutdownRequested = true;
        shutdown?.();
        break;
      case 'trainyard:collect-metrics':
        void registry?.getMetricsAsJSON().then((metrics) => sendToPrimary({ type: 'trainyard:metrics-part', id: message.id, metrics: metrics as JsonMetrics }));
        break;
      case 'trainyard:metrics': {
        const request = pending.get(message.id);
        pending.delete(message.id);
        if (message.text !== undefined) request?.resolve(message.text);
        else request?.reject(new Error(`the primary could not aggregate metrics: ${message.error}`));
        break;
      }
    }
  });
  return {
    poke: () => void sendToPrimary({ type: 'trainyard:poke' }),
    metrics: () =>
      new Promise<string>((resolve, reject) => {
        const id = ++requests;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error('the primary did not answer for metrics within 5 s'));
        }, 5000);
        pending.set(id, {
          resolve: (text) => (clearTimeout(timer), resolve(text)),
          reject: (error) => (clearTimeout(timer), reject(error)),
        });
        if (!sendToPrimary({ type: 'trainyard:metrics', id })) pending.get(id)?.reject(new Error('the primary is gone'));
      }),
    onShutdown: (handler) => {
      shutdown = handler;
      if (shutdownRequested) handler(); // asked before this process got this far
    },
    serveMetrics: (r) => (registry = r),
  };
}

export const isHttpProcess = (): boolean => cluster.isWorker;
