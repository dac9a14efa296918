// What a route module gets, and the app type it registers on: shared by app.ts (which builds the
// app and registers the modules) and every route module, without either importing the other.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Platform } from '../platform.ts';
import type { ApiMetrics } from './metrics.ts';
import type { PredictionMonitor } from '../monitoring/monitor.ts';

export type Api = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  import('fastify').FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** Everything a route module may use. */
export interface RouteContext {
  platform: Platform;
  metrics: ApiMetrics;
  /** The job loop (local executor), woken when a route queues a job: in this process, or over IPC. */
  executor?: { poke(): void };
  /** This process's prediction monitor (logs, feedback records, live histograms). */
  monitor: PredictionMonitor;
  /** The text `/metrics` answers: this app's registry, or every HTTP process's aggregated. */
  exportMetrics(): Promise<string>;
}

export type RouteModule = (app: Api, context: RouteContext) => Promise<void> | void;

/** Ajv's options for request validation (route scopes that build their own validators use them too). */
export const AJV_OPTIONS = { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: true } as const;
