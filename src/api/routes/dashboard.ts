// Serves the dashboard (a Vite single-page app built into web/dist) at `/`. Its own paths
// (/datasets/…, /models/…, /jobs/…, /tuning/…, /predict) answer index.html so that a reload or a shared link
// works; everything else (the API, /docs, unknown paths) is left to the other routes and the
// problem+json 404. None of this appears in the OpenAPI document.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyReply } from 'fastify';
import type { Api, RouteContext } from '../route-context.ts';

export const DASHBOARD_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../web/dist');

/** The client-side routes of the dashboard (see web/src/App.tsx). */
const SPA_PATHS = ['/', '/datasets', '/datasets/*', '/models', '/models/*', '/jobs', '/jobs/*', '/tuning', '/tuning/*', '/predict'];

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Trainyard</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5}code{background:#f1f3f5;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>Trainyard</h1>
<p>The API is running, but the dashboard has not been built.</p>
<p>Build it with <code>npm ci --prefix web &amp;&amp; npm run --prefix web build</code> (or <code>sh scripts/bootstrap.sh</code>), then restart the server.</p>
<p>Meanwhile: the API reference is at <a href="/docs">/docs</a> and the OpenAPI document at <a href="/openapi.json">/openapi.json</a>.</p>
</body></html>
`;

export async function dashboardRoutes(app: Api, _context: RouteContext, root = DASHBOARD_DIR): Promise<void> {
  const built = existsSync(join(root, 'index.html'));
  await app.register(async (scope) => {
    if (built) {
      // Hashed bundles, looked up per request (a rebuild while the server runs is picked up).
      await scope.register(fastifyStatic, {
        root: join(root, 'assets'),
        prefix: '/assets/',
        index: false,
        schemaHide: true,
        setHeaders: (res) => res.setHeader('cache-control', 'public, max-age=31536000, immutable'),
      });
      // The few top-level files next to index.html (favicon and the like).
      for (const file of readdirSync(root, { withFileTypes: true })) {
        if (!file.isFile() || file.name === 'index.html') continue;
        scope.get(`/${file.name}`, { schema: { hide: true } }, (_request, reply) => reply.header('cache-control', 'public, max-age=3600').sendFile(file.name, root));
      }
    }
    const page = async (_request: unknown, reply: FastifyReply) => {
      if (!built) return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(NOT_BUILT);
      return reply.header('cache-control', 'no-cache').sendFile('index.html', root);
    };
    for (const url of SPA_PATHS) scope.get(url, { schema: { hide: true } }, page);
  });
}
