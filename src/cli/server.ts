import { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { openPlatform } from '../platform.ts';

export function serverCommand(): Command {
  return new Command('server').description('Run the HTTP API (and, with the local executor, the job loop)').action(async () => {
    // Loaded here, not at the top: every `trainyard` process (a job, a client command) imports
    // this file, and only the server needs the HTTP app and ONNX Runtime.
    const [{ buildApp }, { ALL_ROUTES }, { startExecutor }, { warmProfilingWorker }] = await Promise.all([
      import('../api/app.ts'),
      import('../api/routes/index.ts'),
      import('../jobs/executors/from-config.ts'),
      import('../datasets/csv/worker-profiler.ts'),
    ]);
    const config = loadConfig();
    const platform = await openPlatform(config, { migrate: config.autoMigrate });
    const executor = await startExecutor(platform);
    const app = await buildApp(platform, { routes: ALL_ROUTES, executor });
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      platform.logger.info({ signal }, 'shutting down');
      await app.close();
      await executor.stop();
      await platform.close();
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
    await app.listen({ host: config.host, port: config.port });
    warmProfilingWorker();
    platform.logger.info({ executor: config.executor, url: `http://${config.host}:${config.port}`, docs: `http://${config.host}:${config.port}/docs` }, 'trainyard is ready');
  });
}
