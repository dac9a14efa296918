// Builds the Fastify app: OpenAPI from the route schemas, problem+json errors, request ids in the
// logs, Prometheus request histograms, and one route module per resource.
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
import { startStagingSweeper } from '../store/gc.ts';
import { jsonBodyParser } from './json-body.ts';
import { DEFAULT_MONITOR_OPTIONS, PredictionMonitor } from '../monitoring/monitor.ts';
import { monitoringSnapshot } from '../monitoring/gauges.ts';
import { timeOrderedId } from './request-id.ts';

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

/** The dashboard's policy: its own scripts and styles only (Mantine sets inline style attributes). */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/** API answers and downloads: nothing in them may run, load or be framed, even if a browser renders one. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox";

/**
 * Headers on every answer: no MIME sniffing (a CSV or a log served as text must never run as HTML),
 * no framing (clickjacking), no referrer, and a content security policy: strict for the dashboard's
 * HTML, nothing at all for API answers and downloads. /docs (Swagger UI, which brings inline
 * scripts) is only kept out of frames.
 */
function securityHeaders(url: string, reply: FastifyReply): void {
  reply.header('x-content-type-options', 'nosniff');
  reply.header('x-frame-options', 'DENY');
  reply.header('referrer-policy', 'no-referrer');
  if (url === '/docs' || url.startsWith('/docs/') || url.startsWith('/docs?')) {
    reply.header('content-security-policy', "frame-ancestors 'none'");
    return;
  }
  // A 304 has no body and no content type: the browser keeps the cached answer's headers, and a
  // policy sent here would replace the dashboard's own (a revisited page would load blank).
  if (reply.statusCode === 304) return;
  const type = String(reply.getHeader('content-type') ?? '');
  reply.header('content-security-policy', type.startsWith('text/html') ? DASHBOARD_CSP : API_CSP);
}

interface QuerySchema {
  type?: string;
  allOf?: QuerySchema[];
  properties?: Record<string, unknown>;
  required?: string[];
  additionalProperties?: unknown;
}

/** The query schema with no other parameters allowed (an intersection of objects merged into one). */
export function closedQuery(schema: QuerySchema | undefined): QuerySchema {
  if (!schema) return { type: 'object', properties: {}, additionalProperties: false };
  if (schema.allOf) {
    const parts = schema.allOf.map(closedQuery);
    return {
      type: 'object',
      properties: Object.assign({}, ...parts.map((p) => p.properties ?? {})) as Record<string, unknown>,
      required: parts.flatMap((p) => p.required ?? []),
      additionalProperties: false,
    };
  }
  return { ...schema, additionalProperties: false };
}

export async function buildApp(platform: Platform, options: AppOptions = {}): Promise<Api> {
  const app = Fastify({
    // pino's Logger is wider than Fastify's base logger type; Fastify only uses the base methods.
    loggerInstance: platform.logger as FastifyBaseLogger,
    genReqId: (request) => {
      const header = request.headers['x-request-id'];
      return typeof header === 'string' && /^[\w.-]{1,128}$/.test(header) ? header : timeOrderedId();
    },
    bodyLimit: 16 * 1024 * 1024,
    // Errors Fastify raises before routing (a URL that does not decode, a bad content type): the
    // same problem+json as everything else, not Fastify's own JSON.
    frameworkErrors: (error, request, reply) => {
      sendProblem(request, reply, error);
    },
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
  const json = jsonBodyParser(app);
  app.removeContentTypeParser(['application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => json(request, body as string, done));
  // Unknown query parameters are refused on every /v1 route (400 naming them), never passed on: an
  // undeclared ?kind= once overrode a route's own filter. Declared ones stay as the routes say.
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/v1/')) return;
    const schema = (route.schema ?? {}) as Record<string, unknown>;
    route.schema = { ...schema, querystring: closedQuery(schema.querystring as QuerySchema | undefined) };
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onSend', async (request, reply, payload) => {
    securityHeaders(request.url, reply);
    return payload;
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

  // Staging left by writes that never finished (a server killed mid-upload), at start and periodically.
  let stopSweeper: (() => void) | undefined;
  app.addHook('onReady', async () => {
    stopSweeper = startStagingSweeper(platform, platform.config.staleStagingSeconds * 1000);
  });
  app.addHook('onClose', async () => stopSweeper?.());

  registerAuth(app, platform);
  await healthRoutes(app, context);
  for (const routes of options.routes ?? []) {
    await routes(app, context);
  }
  return app;
}
