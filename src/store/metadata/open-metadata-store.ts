// Opens the metadata store a TRAINYARD_DATABASE_URL names. Each dialect is loaded only when used,
// so that a SQLite setup never loads the MySQL driver (and the interface file imports neither).
import type { MetadataStore } from './metadata-store.ts';

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
