// Opens the metadata store a TRAINYARD_DATABASE_URL names. Each dialect is loaded only when used,
// so that a SQLite setup never loads the MySQL driver (and the interface file imports neither).
import type { Config } from '../../config.ts';
import type { MetadataStore } from './metadata-store.ts';

/** The store the configuration names: TRAINYARD_DATABASE_SECRET_ARN, else TRAINYARD_DATABASE_URL. */
export async function openConfiguredStore(config: Pick<Config, 'databaseUrl' | 'databaseSecret'>): Promise<MetadataStore> {
  if (!config.databaseSecret) return openMetadataStore(config.databaseUrl);
  const [{ openMysqlStore }, { secretConnectionSource }] = await Promise.all([import('./mysql-store.ts'), import('./database-secret.ts')]);
  return openMysqlStore(secretConnectionSource(config.databaseSecret));
}

export async function openMetadataStore(url: string): Promise<MetadataStore> {
  if (url.startsWith('sqlite:')) {
    const { openSqliteStore } = await import('./sqlite-store.ts');
    return openSqliteStore(url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, ''));
  }
  if (url.startsWith('mysql://')) {
    const { openMysqlStore } = await import('./mysql-store.ts');
    return openMysqlStore(url);
  }
  throw new Error(`TRAINYARD_DATABASE_URL must start with sqlite: or mysql://, got "${url}"`);
}
