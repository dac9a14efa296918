// Starts the real API on a fresh data directory for end-to-end tests: SQLite file and file blob
// store under a temp dir, all routes (ALL_ROUTES) unless told otherwise, listening on 127.0.0.1
// with an ephemeral port. Each call is independent; close() stops the server and removes the dir.
//
//   const server = await startTestServer({ env: { TRAINYARD_MAX_UPLOAD_BYTES: '1000' } });
//   const res = await fetch(`${server.url}/v1/datasets`);
//   await server.close();
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config.ts';
import { openPlatform, type Platform } from '../../src/platform.ts';
import { buildApp, type AppOptions } from '../../src/api/app.ts';
import type { Api, RouteModule } from '../../src/api/route-context.ts';
import { ALL_ROUTES } from '../../src/api/routes/index.ts';

export interface TestServerOptions {
  /** TRAINYARD_* overrides; TRAINYARD_DATA_DIR defaults to a fresh temp dir. */
  env?: Record<string, string | undefined>;
  /** Route modules to mount (default ALL_ROUTES). */
  routes?: RouteModule[];
  /** Further buildApp options (e.g. an executor). */
  app?: Omit<AppOptions, 'routes'>;
}

export interface TestServer {
  /** Base URL, e.g. http://127.0.0.1:43121 (no trailing slash). */
  url: string;
  port: number;
  platform: Platform;
  app: Api;
  config: Config;
  dataDir: string;
  close(): Promise<void>;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'trainyard-test-'));
  const env: Record<string, string | undefined> = {
    TRAINYARD_DATA_DIR: dataDir,
    TRAINYARD_HOST: '127.0.0.1',
    TRAINYARD_PORT: '0',
    TRAINYARD_LOG_LEVEL: process.env.TRAINYARD_TEST_LOG_LEVEL ?? 'silent',
    ...options.env,
  };
  const config = loadConfig(env);
  const platform = await openPlatform(config, { migrate: true });
  let app: Api;
  try {
    app = await buildApp(platform, { ...options.app, routes: options.routes ?? ALL_ROUTES });
    await app.listen({ host: config.host, port: 0 });
  } catch (error) {
    await platform.close();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  let closed = false;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    platform,
    app,
    config,
    dataDir,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await platform.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
