// Builds the Fastify app: OpenAPI from the route schemas, problem+json errors, request ids in the
// logs, Prometheus request histograms, and one route module per resource.
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Platform } from '../platform.ts';
import { TrainyardError } from '../errors.ts';
import { sendProblem } from './problem.ts';
import { createMetrics, registerMonitoringMetrics, type ApiMetrics } from './metrics.ts';
import { AJV_OPTIONS, type Api, type RouteContext, type RouteModule } from './route-context.ts';
import { healthRoutes } from './routes/health.ts';
import { ProblemSchema } from './schemas.ts';
import { registerAuth } from '../auth/plugin.ts';
import { DEFAULT_MONITOR_OPTIONS, PredictionMonitor } from '../monitoring/monitor.ts';
import { monitoringSnapshot } from '../monitoring/gauges.ts';

export interface AppOptions {
  /** Route modules to register (ALL_ROUTES in the server); tests may build slices. */
  routes?: RouteModule[];
  executor?: { poke(): void };
  /** The app's metrics (default: a new registry), e.g. for a cluster primary to collect. */
  metrics?: ApiMetrics;
  /** What `/metrics` answers (default: this app's registry). */
  exportMetrics?: () => Promise<string>;
}

const API_DESCRIPTION = `Trainyard: ingest tabular data, define PyTorch models, train them as jobs, version the results and serve predictions.

Errors are RFC 9457 \`application/problem+json\` with \`errors[]\` naming each bad field; codes are listed in docs/errors.md.`;

/**
 * Fastify's request log lines as one access-log line per request: `incoming request` moves to debug
 * (at the default info level, two lines per request cost a quarter of the single-row predict
 * throughput), and the line at the end names the method and URL as well as the status and time.
 */
class AccessLog extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

export async function buildApp(platform: Platform, options: AppOptions = {}): Promise<Api> {
  const app = Fastify({
    // pino's Logger is wider than Fastify's base logger type; Fastify only uses the base methods.
    loggerInstance: platform.logger as FastifyBaseLogger,
    genReqId: (request) => {
      const header = request.headers['x-request-id'];
      return typeof header === 'string' && /^[\w.-]{1,128}$/.test(header) ? header : randomUUID();
    },
    bodyLimit: 16 * 1024 * 1024,
    ajv: { customOptions: AJV_OPTIONS },
    logController: new AccessLog(),
  }).withTypeProvider<TypeBoxTypeProvider>();

  const metrics = options.metrics ?? createMetrics();
  const monitor = new PredictionMonitor(platform, {
    ...DEFAULT_MONITOR_OPTIONS,
    flushMs: platform.config.monitoringFlushMs,
    maxQueuedRows: platform.config.monitoringMaxQueuedRows,
  }).start();
  app.addHook('onClose', async () => monitor.close());
  const thresholds = { warn: platform.config.driftWarn, drift: platform.config.driftAlert };
  registerMonitoringMetrics(metrics.registry, { counters: monitor.counters, snapshot: () => monitoringSnapshot(platform, thresholds) });
  const context: RouteContext = { platform, metrics, executor: options.executor, monitor, exportMetrics: options.exportMetrics ?? (() => metrics.registry.metrics()) };

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Trainyard API', version: '1.0.0', description: API_DESCRIPTION },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API token from `trainyard tokens create`.' } },
      },
      security: [{ bearerAuth: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.addSchema(ProblemSchema);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requestDuration.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  app.setErrorHandler((error, request, reply) => sendProblem(request, reply, error));
  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, new TrainyardError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  registerAuth(app, platform);
  await healthRoutes(app, context);
  for (const routes of options.routes ?? []) {
    await routes(app, context);
  }
  return app;
}
