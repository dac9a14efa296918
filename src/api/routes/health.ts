import { Type } from 'typebox';
import type { Api, RouteContext } from '../route-context.ts';

const ReadyCheck = Type.Object({ ok: Type.Boolean(), error: Type.Optional(Type.String()) });
const Readiness = Type.Object({ ready: Type.Boolean(), checks: Type.Object({ database: ReadyCheck, blobs: ReadyCheck }) });

async function check(probe: () => Promise<void>): Promise<{ ok: boolean; error?: string }> {
  try {
    await withTimeout(probe(), 2000);
    return { ok: true };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function healthRoutes(app: Api, { platform, metrics, exportMetrics }: RouteContext): Promise<void> {
  app.get(
    '/healthz',
    { schema: { tags: ['health'], summary: 'Liveness: the process answers', security: [], response: { 200: Type.Object({ ok: Type.Boolean() }) } } },
    async () => ({ ok: true }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Readiness: the database and the blob store are reachable',
        security: [],
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (_request, reply) => {
      const [database, blobs] = await Promise.all([check(() => platform.metadata.ping()), check(() => platform.blobs.ping())]);
      const ready = database.ok && blobs.ok;
      return reply.status(ready ? 200 : 503).send({ ready, checks: { database, blobs } });
    },
  );

  app.get(
    '/metrics',
    { schema: { tags: ['health'], summary: 'Prometheus metrics', security: [], produces: ['text/plain'] } },
    async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return exportMetrics();
    },
  );
}
