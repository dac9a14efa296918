import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { notFound } from '../../errors.ts';
import { assertSafeKey, type BlobBody, type BlobStat, type BlobStore } from './blob-store.ts';

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

  async put(key: string, body: BlobBody): Promise<BlobStat> {
    const target = this.path(key);
    const tmpDir = join(this.root, '.tmp');
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, randomUUID());
    try {
      if (body instanceof Readable) {
        await pipeline(body, createWriteStream(tmp));
      } else {
        await writeFile(tmp, body);
      }
      await mkdir(dirname(target), { recursive: true });
      await rename(tmp, target);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
    return { size: (await stat(target)).size };
  }

  async get(key: string): Promise<Readable> {
    const path = this.path(key);
    if (!(await this.stat(key))) throw notFound('blob', key);
    return createReadStream(path);
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
    const start = this.path(trimmed);
    const keys: string[] = [];
    try {
      for (const entry of await readdir(start, { recursive: true, withFileTypes: true })) {
        if (entry.isFile()) keys.push(relative(this.root, join(entry.parentPath ?? entry.path, entry.name)));
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return keys.sort();
  }

  async ping(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await stat(this.root);
  }
}
