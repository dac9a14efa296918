// The metadata store: a Kysely instance over one of two dialects, plus the little each dialect
// must do differently (opening, pinging). Domain code imports only this interface.
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

export type DialectName = 'sqlite' | 'mysql';

export interface MetadataStore {
  readonly db: Kysely<Database>;
  readonly dialect: DialectName;
  /** Cheap round trip used by /readyz. Throws when the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
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
