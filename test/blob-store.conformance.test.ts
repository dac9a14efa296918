// One suite, every BlobStore (test/support/stores.ts): what a caller may rely on whichever store
// TRAINYARD_BLOB_URL selects. Bytes round-trip exactly, puts are atomic (a reader sees all or
// nothing, a failed put leaves nothing: no object, no temp file, no multipart upload), prefixes are
// whole path segments, missing keys are NOT_FOUND and an unreachable store is STORE_UNAVAILABLE.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrainyardError } from '../src/errors.ts';
import type { BlobStore } from '../src/store/blobs/blob-store.ts';
import { S3BlobStore } from '../src/store/blobs/s3-blob-store.ts';
import { BLOB_STORES, type BlobFixture } from './support/stores.ts';

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A stream of `total` pseudo-random bytes in 1 MiB chunks that fails after `failAfter` bytes. */
function generated(total: number, options: { failAfter?: number; seed?: number } = {}): { stream: Readable; hash: () => string } {
  const hash = createHash('sha256');
  let sent = 0;
  let counter = options.seed ?? 1;
  const stream = new Readable({
    read() {
      if (options.failAfter !== undefined && sent >= options.failAfter) {
        this.destroy(new Error('source stream broke'));
        return;
      }
      if (sent >= total) {
        this.push(null);
        return;
      }
      const size = Math.min(1024 * 1024, total - sent);
      const chunk = Buffer.alloc(size);
      for (let i = 0; i + 4 <= size; i += 4) chunk.writeUInt32LE((counter = (counter * 1103515245 + 12345) >>> 0), i);
      hash.update(chunk);
      sent += size;
      this.push(chunk);
    },
  });
  return { stream, hash: () => hash.digest('hex') };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<TrainyardError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}`).toBeInstanceOf(TrainyardError);
  expect((error as TrainyardError).code).toBe(code);
  return error as TrainyardError;
}

/** Nothing the store keeps for itself is left over: the file store's temp dir, S3's multipart uploads. */
async function expectNoLeftovers(fixture: BlobFixture): Promise<void> {
  if (fixture.root) {
    const tmp = await readdir(join(fixture.root, '.tmp')).catch(() => []);
    expect(tmp, 'files left in .tmp').toEqual([]);
  }
  if (fixture.s3) {
    expect(await fixture.s3.pendingMultipartUploads(), 'multipart uploads left on the server').toEqual([]);
    const store = fixture.store as S3BlobStore;
    const listed = await store.client.send(new ListMultipartUploadsCommand({ Bucket: store.bucket }));
    expect(listed.Uploads ?? [], 'ListMultipartUploads').toEqual([]);
  }
}

for (const config of BLOB_STORES) {
  describe.skipIf(config.skip)(`BlobStore conformance: ${config.name}${config.skip ? ` (skipped: ${config.skip})` : ''}`, () => {
    let fixture: BlobFixture;
    let store: BlobStore;
    let scratch: string;

    beforeAll(async () => {
      fixture = await config.create();
      store = fixture.store;
      scratch = await mkdtemp(join(tmpdir(), 'trainyard-blob-scratch-'));
    });
    afterAll(async () => {
      await fixture?.cleanup();
      if (scratch) await rm(scratch, { recursive: true, force: true });
    });

    it('has a URL of its scheme and answers ping', async () => {
      expect(store.url.startsWith(`${config.name}://`)).toBe(true);
      await store.ping();
    });

    it('stores a string, a Buffer and a stream and returns the same bytes', async () => {
      const text = 'id,label\n1,ü\n';
      expect(await store.put('roundtrip/text.csv', text, { contentType: 'text/csv' })).toEqual({ size: Buffer.byteLength(text) });
      expect((await bytesOf(await store.get('roundtrip/text.csv'))).toString('utf8')).toBe(text);

      const buffer = randomBytes(100_000);
      expect(await store.put('roundtrip/buffer.bin', buffer)).toEqual({ size: buffer.length });
      expect((await bytesOf(await store.get('roundtrip/buffer.bin'))).equals(buffer)).toBe(true);

      const streamed = randomBytes(300_000);
      expect(await store.put('roundtrip/stream.bin', Readable.from([streamed.subarray(0, 1000), streamed.subarray(1000)]))).toEqual({
        size: streamed.length,
      });
      expect((await bytesOf(await store.get('roundtrip/stream.bin'))).equals(streamed)).toBe(true);

      expect(await store.put('roundtrip/empty', '')).toEqual({ size: 0 });
      expect((await bytesOf(await store.get('roundtrip/empty'))).length).toBe(0);
      expect(await store.stat('roundtrip/empty')).toEqual({ size: 0 });
      expect(await store.put('roundtrip/empty-stream', Readable.from([]))).toEqual({ size: 0 });
      expect(await store.stat('roundtrip/empty-stream')).toEqual({ size: 0 });
    });

    it('a put with durable: false (derived data) is atomic the same way: whole object, or none and no leftovers', async () => {
      const streamed = randomBytes(300_000);
      expect(await store.put('derived/copy.bin', Readable.from([streamed.subarray(0, 1000), streamed.subarray(1000)]), { durable: false })).toEqual({ size: streamed.length });
      expect((await bytesOf(await store.get('derived/copy.bin'))).equals(streamed)).toBe(true);
      expect(await store.put('derived/text', 'x,y\n', { durable: false })).toEqual({ size: 4 });
      const broken = generated(3 * 1024 * 1024, { failAfter: 2 * 1024 * 1024 });
      await expect(store.put('derived/broken.bin', broken.stream, { durable: false })).rejects.toThrow('source stream broke');
      expect(await store.stat('derived/broken.bin')).toBeNull();
      expect(await store.list('derived')).toEqual(['derived/copy.bin', 'derived/text']);
      await store.deletePrefix('derived');
      await expectNoLeftovers(fixture);
    });

    it('streams a 20 MB object in and out intact (multipart on S3)', async () => {
      const total = 20 * 1024 * 1024 + 12345;
      const source = generated(total);
      expect(await store.put('big/20mb.bin', source.stream)).toEqual({ size: total });
      const expected = source.hash();
      expect(await store.stat('big/20mb.bin')).toEqual({ size: total });
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of await store.get('big/20mb.bin')) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      expect(size).toBe(total);
      expect(hash.digest('hex')).toBe(expected);

      const destination = join(scratch, 'nested', 'dir', '20mb.bin');
      await store.download('big/20mb.bin', destination);
      expect((await stat(destination)).size).toBe(total);
      expect(sha256(await readFile(destination))).toBe(expected);
      expect((await readdir(join(scratch, 'nested', 'dir'))).sort()).toEqual(['20mb.bin']);
      await expectNoLeftovers(fixture);
    });

    it('overwrites a key with the new bytes', async () => {
      await store.put('overwrite/x', 'first version, longer');
      await store.put('overwrite/x', 'second');
      expect((await bytesOf(await store.get('overwrite/x'))).toString()).toBe('second');
      expect(await store.stat('overwrite/x')).toEqual({ size: 6 });
    });

    it('answers NOT_FOUND for a missing key, and stat says null', async () => {
      await expectCode(store.get('missing/nothing-here'), 'NOT_FOUND');
      expect(await store.stat('missing/nothing-here')).toBeNull();
      const destination = join(scratch, 'missing.bin');
      await expectCode(store.download('missing/nothing-here', destination), 'NOT_FOUND');
      await expect(stat(destination)).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await readdir(scratch)).not.toContain(expect.stringContaining('missing'));
    });

    it('lists keys under a prefix as whole path segments, sorted', async () => {
      await store.put('list/a/2.txt', '2');
      await store.put('list/a/1.txt', '1');
      await store.put('list/a/deeper/3.txt', '3');
      await store.put('list/ab/4.txt', '4');
      await store.put('list/a.txt', '5');
      expect(await store.list('list/a')).toEqual(['list/a/1.txt', 'list/a/2.txt', 'list/a/deeper/3.txt']);
      expect(await store.list('list/a/')).toEqual(['list/a/1.txt', 'list/a/2.txt', 'list/a/deeper/3.txt']);
      expect(await store.list('list')).toEqual(['list/a.txt', 'list/a/1.txt', 'list/a/2.txt', 'list/a/deeper/3.txt', 'list/ab/4.txt'].sort());
      expect(await store.list('list/none')).toEqual([]);
      expect(await store.list('list/a.txt')).toEqual([]);
      const all = await store.list('');
      expect(all).toEqual(expect.arrayContaining(['list/a/1.txt', 'list/ab/4.txt', 'roundtrip/text.csv']));
      expect(all.every((key) => !key.startsWith('.'))).toBe(true);
    });

    it('deletes a key, and deleting a missing key is not an error', async () => {
      await store.put('del/one', 'x');
      await store.delete('del/one');
      expect(await store.stat('del/one')).toBeNull();
      await expectCode(store.get('del/one'), 'NOT_FOUND');
      await store.delete('del/one');
      await store.delete('del/never-existed');
    });

    it('deletePrefix removes the prefix and everything under it, not its siblings', async () => {
      // (No key is also a prefix of other keys: the file store cannot have both `a` and `a/b`.)
      await store.put('dp/run/a', 'a');
      await store.put('dp/run/b/c', 'c');
      await store.put('dp/run2/keep', 'keep');
      await store.put('dp/runx', 'keep too');
      await store.deletePrefix('dp/run');
      expect(await store.list('dp')).toEqual(['dp/run2/keep', 'dp/runx']);
      expect(await store.stat('dp/run/a')).toBeNull();
      await store.deletePrefix('dp/runx');
      expect(await store.list('dp')).toEqual(['dp/run2/keep']);
      await store.deletePrefix('dp/run');
      await store.deletePrefix('dp/never');
      await expect(store.deletePrefix('')).rejects.toThrow(/invalid blob key/);
    });

    it('deletePrefix removes more than one page of keys (over 1000 on S3)', async () => {
      const keys = Array.from({ length: 1010 }, (_, i) => `many/k${String(i).padStart(5, '0')}`);
      for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((key) => store.put(key, 'x')));
      expect((await store.list('many')).length).toBe(keys.length);
      await store.deletePrefix('many');
      expect(await store.list('many')).toEqual([]);
    });

    it('a put whose source stream fails leaves no object and no leftovers', async () => {
      // Before the first multipart part is full …
      const early = generated(3 * 1024 * 1024, { failAfter: 2 * 1024 * 1024 });
      await expect(store.put('broken/early.bin', early.stream)).rejects.toThrow('source stream broke');
      // … and after two 8 MiB parts were uploaded (S3 must abort the multipart upload).
      const late = generated(30 * 1024 * 1024, { failAfter: 18 * 1024 * 1024 });
      const error = await store.put('broken/late.bin', late.stream).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((error as Error).message).toBe('source stream broke');
      if (fixture.s3) {
        // It really was a multipart upload, and it was aborted.
        expect(fixture.s3.requests.some((r) => r.startsWith('POST ') && r.includes('broken/late.bin?uploads'))).toBe(true);
        expect(fixture.s3.requests.some((r) => r.startsWith('DELETE ') && r.includes('broken/late.bin?uploadId='))).toBe(true);
      }
      expect(error).not.toBeInstanceOf(TrainyardError); // the caller's fault, not the store's
      expect(await store.stat('broken/early.bin')).toBeNull();
      expect(await store.stat('broken/late.bin')).toBeNull();
      expect(await store.list('broken')).toEqual([]);
      await expectNoLeftovers(fixture);
    });

    it('a put in progress is invisible until it completes', async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const first = randomBytes(64 * 1024);
      async function* slow() {
        yield first;
        await gate;
        yield Buffer.from('tail');
      }
      const put = store.put('atomic/slow.bin', Readable.from(slow()));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await store.stat('atomic/slow.bin')).toBeNull();
      expect(await store.list('atomic')).toEqual([]);
      release();
      expect(await put).toEqual({ size: first.length + 4 });
      expect(await store.stat('atomic/slow.bin')).toEqual({ size: first.length + 4 });
    });

    it.each(['../escape', '/absolute', 'a//b', 'a/./b', 'a/../b', '', 'has space', 'back\\slash', '.tmp/x', 'trailing/', 'é'])(
      'rejects the unsafe key %j and writes nothing',
      async (key) => {
        const before = await store.list('');
        await expect(store.put(key, 'x')).rejects.toThrow(/invalid blob key/);
        await expect(store.get(key)).rejects.toThrow(/invalid blob key/);
        await expect(store.stat(key)).rejects.toThrow(/invalid blob key/);
        await expect(store.delete(key)).rejects.toThrow(/invalid blob key/);
        expect(await store.list('')).toEqual(before);
      },
    );

    if (config.name === 's3') {
      describe('when S3 fails', () => {
        it('answers STORE_UNAVAILABLE (503) for 5xx answers', async () => {
          await store.put('outage/present', 'here');
          fixture.s3!.setFault({ status: 503 });
          try {
            for (const call of [
              () => store.put('outage/x', 'x'),
              () => store.get('outage/present'),
              () => store.stat('outage/present'),
              () => store.list('outage'),
              () => store.ping(),
            ]) {
              const error = await expectCode(call(), 'STORE_UNAVAILABLE');
              expect(error.status).toBe(503);
            }
          } finally {
            fixture.s3!.setFault(null);
          }
          expect(await store.stat('outage/x')).toBeNull();
        });

        it('a multipart upload whose parts fail is aborted and leaves nothing', async () => {
          fixture.s3!.setFault({ status: 500, match: (req) => req.method === 'PUT' && (req.url ?? '').includes('partNumber=2') });
          try {
            await expectCode(store.put('outage/multipart.bin', generated(20 * 1024 * 1024).stream), 'STORE_UNAVAILABLE');
          } finally {
            fixture.s3!.setFault(null);
          }
          expect(await store.stat('outage/multipart.bin')).toBeNull();
          await expectNoLeftovers(fixture);
        });

        it('answers STORE_UNAVAILABLE quickly when the server is down, and recovers when it is back', async () => {
          await fixture.s3!.down();
          try {
            const started = Date.now();
            await expectCode(store.put('outage/down', 'x'), 'STORE_UNAVAILABLE');
            await expectCode(store.put('outage/down-stream', Readable.from([Buffer.from('x')])), 'STORE_UNAVAILABLE');
            await expectCode(store.get('outage/present'), 'STORE_UNAVAILABLE');
            await expectCode(store.ping(), 'STORE_UNAVAILABLE');
            expect(Date.now() - started).toBeLessThan(10_000);
          } finally {
            await fixture.s3!.up();
          }
          await store.ping();
          expect((await bytesOf(await store.get('outage/present'))).toString()).toBe('here');
        });

        it('a fresh store on an endpoint nobody listens on fails ping fast', async () => {
          const dead = S3BlobStore.fromUrl('s3://nobody/prefix', 'http://127.0.0.1:9', { credentials: fixture.s3!.credentials });
          const started = Date.now();
          await expectCode(dead.ping(), 'STORE_UNAVAILABLE');
          expect(Date.now() - started).toBeLessThan(5000);
          await dead.close();
        });

        it('ping says when the bucket does not exist', async () => {
          const wrong = S3BlobStore.fromUrl('s3://no-such-bucket/x', fixture.s3!.endpoint, { credentials: fixture.s3!.credentials });
          await expect(wrong.ping()).rejects.toThrow(/bucket "no-such-bucket" does not exist/);
          await wrong.close();
        });
      });
    }
  });
}
