// The stores and settings every process (server, worker, run-job, migrate) opens the same way.
import { pino, type Logger } from 'pino';
import type { Config } from './config.ts';
import { type MetadataStore } from './store/metadata/metadata-store.ts';
import { openConfiguredStore } from './store/metadata/open-metadata-store.ts';
import { migrateToLatest } from './store/metadata/migrate.ts';
import { type BlobStore } from './store/blobs/blob-store.ts';
import { openBlobStore } from './store/blobs/open-blob-store.ts';

export interface Platform {
  readonly config: Config;
  readonly metadata: MetadataStore;
  readonly blobs: BlobStore;
  readonly logger: Logger;
  close(): Promise<void>;
}

export function createLogger(config: Pick<Config, 'logLevel'>, name = 'trainyard'): Logger {
  return pino({ name, level: config.logLevel, redact: ['req.headers.authorization', '*.headers.authorization'] });
}

export async function openPlatform(config: Config, options: { migrate?: boolean; logger?: Logger } = {}): Promise<Platform> {
  const logger = options.logger ?? createLogger(config);
  const metadata = await openConfiguredStore(config);
  try {
    if (options.migrate) {
      const { applied } = await migrateToLatest(metadata);
      if (applied.length > 0) logger.info({ applied }, 'applied database migrations');
    }
    const blobs = await openBlobStore(config.blobUrl, { s3Endpoint: config.s3Endpoint });
    return {
      config,
      metadata,
      blobs,
      logger,
      async close() {
        await metadata.close();
        await blobs.close?.();
      },
    };
  } catch (error) {
    await metadata.close();
    throw error;
  }
}
