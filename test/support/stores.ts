// The store configurations every conformance suite (and any end-to-end test that wants to) runs
// against, in the manner of Kysely's DIALECTS: metadata on SQLite always and on MariaDB when
// TRAINYARD_TEST_MYSQL_URL is set; blobs on the file store and on S3 (s3rver) always.
//
//   for (const config of METADATA_STORES) {
//     describe.skipIf(config.skip)(`… on ${config.name}${config.skip ? ` (skipped: ${config.skip})` : ''}`, () => {
//       let fixture: MetadataFixture;
//       beforeAll(async () => { fixture = await config.create(); });
//       afterAll(() => fixture?.cleanup());
//       …
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlobStore } from '../../src/store/blobs/blob-store.ts';
import { FileBlobStore } from '../../src/store/blobs/file-blob-store.ts';
import { S3BlobStore } from '../../src/store/blobs/s3-blob-store.ts';
import { type DialectName, type MetadataStore } from '../../src/store/metadata/metadata-store.ts';
import { openMetadataStore } from '../../src/store/metadata/open-metadata-store.ts';
import { createTestDatabase, MYSQL_URL } from './mysql.ts';
import { startS3Server, type S3TestServer } from './s3.ts';

export interface MetadataFixture {
  /** TRAINYARD_DATABASE_URL of a fresh, empty database. */
  readonly url: string;
  /** Environment for a child process to use this database. */
  readonly env: Record<string, string>;
  /** Opens a store on the database (each call a new one; close it, or cleanup() closes them). */
  open(): Promise<MetadataStore>;
  /** Closes what open() returned and removes the database. */
  cleanup(): Promise<void>;
}

export interface MetadataStoreConfig {
  readonly name: DialectName;
  /** Why this configuration is skipped here, or false. */
  readonly skip: string | false;
  create(): Promise<MetadataFixture>;
}

function trackStores(url: string, remove: () => Promise<void>): MetadataFixture {
  const opened: MetadataStore[] = [];
  return {
    url,
    env: { TRAINYARD_DATABASE_URL: url },
    async open() {
      const store = await openMetadataStore(url);
      opened.push(store);
      return store;
    },
    async cleanup() {
      await Promise.allSettled(opened.map((s) => s.close()));
      await remove();
    },
  };
}

export const METADATA_STORES: readonly MetadataStoreConfig[] = [
  {
    name: 'sqlite',
    skip: false,
    async create() {
      const dir = await mkdtemp(join(tmpdir(), 'trainyard-sqlite-'));
      return trackStores(`sqlite:${join(dir, 'trainyard.db')}`, () => rm(dir, { recursive: true, force: true }));
    },
  },
  {
    name: 'mysql',
    skip: MYSQL_URL ? false : 'TRAINYARD_TEST_MYSQL_URL is not set',
    async create() {
      const database = await createTestDatabase();
      return trackStores(database.url, () => database.drop());
    },
  },
];

export interface BlobFixture {
  /** TRAINYARD_BLOB_URL */
  readonly url: string;
  /** Environment for a child process to use this store (blob URL, and for S3 endpoint and keys). */
  readonly env: Record<string, string>;
  /** A store on it (the same instance each call). */
  readonly store: BlobStore;
  /** The file store's root directory (file only). */
  readonly root?: string;
  /** The S3 server, to inspect uploads, inject faults or take it down (s3 only). */
  readonly s3?: S3TestServer;
  cleanup(): Promise<void>;
}

export interface BlobStoreConfig {
  readonly name: 'file' | 's3';
  readonly skip: string | false;
  create(): Promise<BlobFixture>;
}

export const BLOB_STORES: readonly BlobStoreConfig[] = [
  {
    name: 'file',
    skip: false,
    async create() {
      const root = await mkdtemp(join(tmpdir(), 'trainyard-blobs-'));
      const store = new FileBlobStore(root);
      return {
        url: store.url,
        env: { TRAINYARD_BLOB_URL: store.url },
        store,
        root,
        cleanup: () => rm(root, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 's3',
    skip: false,
    async create() {
      const s3 = await startS3Server();
      const store = S3BlobStore.fromUrl(s3.bucketUrl, s3.endpoint, { credentials: s3.credentials, region: 'us-east-1' });
      return {
        url: s3.bucketUrl,
        env: s3.env,
        store,
        s3,
        async cleanup() {
          await store.close();
          await s3.stop();
        },
      };
    },
  },
];
