import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TrainyardError, notFound } from '../../errors.ts';
import { assertSafeKey, type BlobBody, type BlobPutOptions, type BlobStat, type BlobStore } from './blob-store.ts';

/** Filesystem errors that mean the storage itself failed (full, read-only, a broken mount). */
const STORAGE_FAILURES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'ESTALE']);

function storageFailure(error: unknown, root: string): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code && STORAGE_FAILURES.has(code)) {
    return new TrainyardError('STORE_UNAVAILABLE', `the blob store (file://${root}) cannot be written: ${code}`, { cause: error });
  }
  return error;
}

/** Blobs as files under one root. Writes go to `.tmp/` on the same filesystem, then rename. */
export class FileBlobStore implements BlobStore {
  readonly root: string;
  readonly url: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.url = `file://${this.root}`;
  }

  private path(key: string): string {
    assertSafeKey(key);
    return join(this.root, key);
  }

  async put(key: string, body: BlobBody, options: BlobPutOptions = {}): Promise<BlobStat> {
    const target = this.path(key);
    const tmpDir = join(this.root, '.tmp');
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, randomUUID());
    // flush: fsync before the rename, so a crash cannot leave a renamed but empty file. Not for
    // `durable: false` (derived data whose readers check it and can do without it): still written
    // to a temp file and renamed, so it is never seen half-written while the machine runs.
    const flush = options.durable !== false;
    try {
      if (body instanceof Readable) {
        await pipeline(body, createWriteStream(tmp, { flush }));
      } else {
        await writeFile(tmp, body, { flush });
      }
      await mkdir(dirname(target), { recursive: true });
      await rename(tmp, target);
    } catch (error) {
      await rm(tmp, { force: true });
      throw storageFailure(error, this.root);
    }
    return { size: (await stat(target)).size };
  }

  async get(key: string): Promise<Readable> {
    const path = this.path(key);
    if (!(await this.stat(key))) throw notFound('blob', key);
    // 1 MiB reads instead of the default 64 KiB: a job reading a 264 MB columnar copy makes 250
    // round trips to the thread pool instead of 4,000 (~0.15 s less per 1M-row inference job).
    return createReadStream(path, { highWaterMark: 1024 * 1024 });
  }

  async stat(key: string): Promise<BlobStat | null> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { size: s.size } : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async download(key: string, destination: string): Promise<void> {
    if (!(await this.stat(key))) throw notFound('blob', key);
    await mkdir(dirname(destination), { recursive: true });
    await copyFile(this.path(key), destination);
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async deletePrefix(prefix: string): Promise<void> {
    const trimmed = prefix.replace(/\/+$/, '');
    await rm(this.path(trimmed), { recursive: true, force: true });
  }

  async list(prefix: string): Promise<string[]> {
    const trimmed = prefix.replace(/\/+$/, '');
    const start = trimmed === '' ? this.root : this.path(trimmed);
    const keys: string[] = [];
    try {
      for (const entry of await readdir(start, { recursive: true, withFileTypes: true })) {
        if (!entry.isFile()) continue;
        const key = relative(this.root, join(entry.parentPath ?? entry.path, entry.name));
        if (key.startsWith('.tmp/')) continue;
        keys.push(key);
      }
    } catch (error) {
      // Nothing under the prefix: no directory, or a blob (not a directory) of that name.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
    }
    return keys.sort();
  }

  async sweepStaging(olderThanMs: number, options: { dryRun?: boolean } = {}): Promise<{ removed: number; bytes: number }> {
    const tmpDir = join(this.root, '.tmp');
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    let bytes = 0;
    let names: string[];
    try {
      names = await readdir(tmpDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { removed, bytes };
      throw storageFailure(error, this.root);
    }
    for (const name of names) {
      const path = join(tmpDir, name);
      const info = await stat(path).catch(() => null);
      // mtime is the last write: an upload in progress keeps it fresh, however long it runs.
      if (!info || info.mtimeMs > cutoff) continue;
      if (!options.dryRun) await rm(path, { recursive: true, force: true });
      removed++;
      bytes += info.size;
    }
    return { removed, bytes };
  }

  async ping(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await stat(this.root);
  }
}
