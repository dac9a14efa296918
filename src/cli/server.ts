import { Command } from 'commander';
import { loadConfig, type Config } from '../config.ts';
import { openPlatform, type Platform } from '../platform.ts';

export function serverCommand(): Command {
  return new Command('server')
    .description('Run the HTTP API, one process per core (TRAINYARD_WORKERS), and with the local executor the job loop')
    .action(async () => {
      const config = loadConfig();
      // Loaded here, not at the top: every `trainyard` process (a job, a client command) imports
      // this file, and only the server needs the HTTP app and ONNX Runtime.
      const { isHttpProcess } = await import('../api/cluster.ts');
      if (isHttpProcess()) await httpProcess(config);
      else if (config.workers > 1) await primary(config);
      else await singleProcess(config);
    });
}

const loadApp = () => Promise.all([import('../api/app.ts'), import('../api/routes/index.ts'), import('../datasets/csv/worker-profiler.ts')]);
const loadExecutor = () =>
  Promise.all([import('../jobs/executors/from-config.ts'), import('./job-kinds.ts')]).then(([{ startExecutor }, { jobRunners }]) => ({
    startExecutor: (platform: Platform) => startExecutor(platform, jobRunners()),
  }));

const ready = (platform: { logger: { info(o: object, m: string): void } }, config: Config, extra: object = {}) =>
  platform.logger.info({ executor: config.executor, url: `http://${config.host}:${config.port}`, docs: `http://${config.host}:${config.port}/docs`, ...extra }, 'trainyard is ready');

/** TRAINYARD_WORKERS=1: this process serves HTTP and runs the executor. */
async function singleProcess(config: Config): Promise<void> {
  const [[{ buildApp }, { ALL_ROUTES }, { warmProfilingWorker }], { startExecutor }, { drainApp }] = await Promise.all([loadApp(), loadExecutor(), import('../api/cluster.ts')]);
  const platform = await openPlatform(config, { migrate: config.autoMigrate });
  const executor = await startExecutor(platform);
  const app = await buildApp(platform, { routes: ALL_ROUTES, executor });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    platform.logger.info({ signal }, 'shutting down');
    await drainApp(app);
    await executor.stop();
    await platform.close();
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  await app.listen({ host: config.host, port: config.port });
  warmProfilingWorker();
  ready(platform, config);
}

/**
 * The cluster primary: migrations and the executor (job loop, standby job process, reaper) run here
 * once; the HTTP processes are forked, replaced when they die, and drained on SIGTERM/SIGINT.
 */
async function primary(config: Config): Promise<void> {
  const [{ startExecutor }, { startPrimary }] = await Promise.all([loadExecutor(), import('../api/cluster.ts')]);
  const platform = await openPlatform(config, { migrate: config.autoMigrate });
  const executor = await startExecutor(platform);
  const cluster = startPrimary({ platform, workers: config.workers, poke: () => executor.poke() });
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) =>
    (stopping ??= (async () => {
      platform.logger.info({ signal }, 'shutting down');
      // Stop serving and hand jobs back at the same time: a job's checkpoint does not wait on a slow client.
      await Promise.all([cluster.stop(), executor.stop()]);
      await platform.close();
    })());
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  try {
    await cluster.ready;
  } catch (error) {
    platform.logger.error({ err: error }, 'the server could not start');
    await stop('start-up failure');
    process.exitCode = 1;
    return;
  }
  ready(platform, config, { http_processes: config.workers });
}

/** One of the primary's HTTP processes: every route, its own model cache; no executor. */
async function httpProcess(config: Config): Promise<void> {
  const [[{ buildApp }, { ALL_ROUTES }, { warmProfilingWorker }], { createMetrics }, { linkToPrimary, drainApp }] = await Promise.all([
    loadApp(),
    import('../api/metrics.ts'),
    import('../api/cluster.ts'),
  ]);
  const link = linkToPrimary();
  // The primary migrated before it forked this process.
  const platform = await openPlatform(config, { migrate: false });
  const metrics = createMetrics();
  link.serveMetrics(metrics.registry);
  // Set once built; a shutdown that comes earlier has no app to drain.
  let app: Awaited<ReturnType<typeof buildApp>> | undefined = undefined;
  let stopping = false;
  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    platform.logger.debug({ reason }, 'HTTP process draining');
    if (app) await drainApp(app);
    await platform.close();
    process.exit(0); // the IPC channel to the primary would keep the process alive
  };
  link.onShutdown(() => void stop('primary'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  // Ctrl-C reaches the whole process group: the primary coordinates, so the HTTP processes wait for it.
  process.on('SIGINT', () => undefined);
  app = await buildApp(platform, { routes: ALL_ROUTES, executor: { poke: link.poke }, metrics, exportMetrics: link.metrics });
  if (stopping) return;
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    platform.logger.error({ err: error }, 'HTTP process could not listen');
    await platform.close();
    process.exit(1);
  }
  warmProfilingWorker();
}
