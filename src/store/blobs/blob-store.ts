// The blob store: where bytes live (datasets, artifacts, logs, job outputs). Keys are relative
// paths like `datasets/ds_…/data.csv`. Every put is atomic: a reader sees the whole object or none,
// and a failed put leaves nothing behind.
import type { Readable } from 'node:stream';

export type BlobBody = Readable | Buffer | string;

export interface BlobStat {
  size: number;
}

export interface BlobPutOptions {
  contentType?: string;
  /**
   * false: the object is derived data that its readers can do without (the columnar copy), so the
   * store need not make it survive a crash before answering; it stays atomic (whole or absent).
   * The file store then skips the fsync; S3 is durable either way. Default true.
   */
  durable?: boolean;
}

/**
 * Prefix semantics, the same in every store: `list(p)` returns the keys under `p/` (all keys for
 * `''`), sorted; `deletePrefix(p)` deletes the key `p` and every key under `p/`, never `p2/…`.
 * Errors: a missing object is NOT_FOUND; a store that cannot be reached is STORE_UNAVAILABLE (503).
 */
export interface BlobStore {
  /** Human-readable location, e.g. `file:///data/blobs` or `s3://bucket/prefix`. */
  readonly url: string;
  put(key: string, body: BlobBody, options?: BlobPutOptions): Promise<BlobStat>;
  /** A stream of the object's bytes. Rejects with NOT_FOUND when absent. */
  get(key: string): Promise<Readable>;
  stat(key: string): Promise<BlobStat | null>;
  /** Copies the object to a local file (job scratch space). */
  download(key: string, destination: string): Promise<void>;
  delete(key: string): Promise<void>;
  deletePrefix(prefix: string): Promise<void>;
  list(prefix: string): Promise<string[]>;
  ping(): Promise<void>;
  /** Releases connections (S3 sockets); optional. */
  close?(): Promise<void>;
}

const SAFE_KEY = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
/** First path segments the stores keep for themselves (the file store's temp area). */
const RESERVED = new Set(['.tmp']);

/**
 * Keys are relative paths of `[A-Za-z0-9._-]` segments: no leading or doubled slashes, no `.` or
 * `..` segments, no reserved first segment. Every store enforces the same rule, so a key that
 * works on `file://` works on `s3://`. Keys are built by code, so a bad one is a bug (plain Error).
 */
export function assertSafeKey(key: string): void {
  const parts = key.split('/');
  if (!SAFE_KEY.test(key) || parts.some((part) => part === '..' || part === '.') || RESERVED.has(parts[0]!)) {
    throw new Error(`invalid blob key "${key}"`);
  }
}
