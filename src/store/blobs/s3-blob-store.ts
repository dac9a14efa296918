// Blobs in S3 (or any S3-compatible server: MinIO, s3rver, Ceph). Keys live under one prefix of
// one bucket. Atomicity comes from S3 itself: an object becomes visible only when its PutObject
// or CompleteMultipartUpload succeeds, so a reader never sees half an object. Streams are uploaded
// as multipart uploads (8 MiB parts, 4 in flight); a failed upload is aborted so no parts are
// left behind (a bucket lifecycle rule for incomplete uploads covers a process killed mid-way).
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { notFound } from '../../errors.ts';
import { toStoreUnavailable, withRetry } from '../retry.ts';
import { assertSafeKey, type BlobBody, type BlobPutOptions, type BlobStat, type BlobStore } from './blob-store.ts';

/** Size of one multipart part; S3 wants ≥ 5 MiB (except the last). 10,000 parts → objects up to ~78 GiB. */
export const PART_SIZE = 8 * 1024 * 1024;
/** Parts uploaded concurrently per put (memory: about QUEUE_SIZE × PART_SIZE per upload in flight). */
const QUEUE_SIZE = 4;
/** Connect timeout: an unreachable endpoint fails in seconds, not minutes. */
const CONNECT_TIMEOUT_MS = 5000;
/** A request with no bytes moving for this long is abandoned (and retried by the SDK). */
const SOCKET_IDLE_MS = 10_000;
/** Once a get's body is flowing the consumer sets the pace; allow it to pause this long. */
const STREAM_IDLE_MS = 120_000;

export interface S3BlobStoreOptions {
  /** Region; default AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1 (redirects are followed). */
  region?: string;
  /** Explicit credentials; default the SDK's chain (env, shared config, SSO, instance/task role). */
  credentials?: S3ClientConfig['credentials'];
  /** Total tries per request, including the first (default 3). */
  maxAttempts?: number;
}

interface S3ErrorShape {
  name?: string;
  $metadata?: { httpStatusCode?: number };
}

function s3Status(error: unknown): number | undefined {
  return (error as S3ErrorShape | null)?.$metadata?.httpStatusCode;
}

function s3Name(error: unknown): string | undefined {
  return (error as S3ErrorShape | null)?.name;
}

/**
 * An S3 client as Trainyard uses one (the blob store, imports): the default credential chain unless
 * given, path-style addressing with `endpoint` (an S3-compatible server), region redirects followed,
 * checksums only where required, connect and idle timeouts.
 */
export function createS3Client(endpoint: string | undefined, options: S3BlobStoreOptions = {}): S3Client {
  const agentOptions = { keepAlive: true, maxSockets: 64 };
  return new S3Client({
    region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    endpoint: endpoint || undefined,
    forcePathStyle: Boolean(endpoint),
    followRegionRedirects: true,
    credentials: options.credentials,
    // Without these the SDK sends stream bodies aws-chunked with a trailing CRC32, which
    // S3-compatible servers (s3rver, older MinIO) store verbatim: silent corruption.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: options.maxAttempts ?? 3,
    // Options for the SDK's NodeHttpHandler (without importing @smithy/* directly).
    requestHandler: {
      connectionTimeout: CONNECT_TIMEOUT_MS,
      socketTimeout: SOCKET_IDLE_MS,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
    },
  });
}

/** Relaxes a get's idle timeout once its body flows: a slow consumer pausing the stream is not a dead server. */
export function relaxBodyTimeout(body: Readable): void {
  (body as Partial<IncomingMessage>).socket?.setTimeout(STREAM_IDLE_MS);
}

export class S3BlobStore implements BlobStore {
  readonly url: string;
  readonly bucket: string;
  /** '' or a prefix ending in '/'. */
  readonly prefix: string;
  readonly client: S3Client;

  constructor(client: S3Client, bucket: string, prefix = '') {
    const trimmed = prefix.replace(/^\/+|\/+$/g, '');
    if (trimmed) assertSafeKey(trimmed);
    this.client = client;
    this.bucket = bucket;
    this.prefix = trimmed ? `${trimmed}/` : '';
    this.url = `s3://${bucket}${trimmed ? `/${trimmed}` : ''}`;
  }

  /**
   * Opens `s3://bucket/prefix`. With `endpoint` (an S3-compatible server such as MinIO or s3rver)
   * path-style addressing is used; without, the AWS endpoint of the region.
   */
  static fromUrl(url: string, endpoint?: string, options: S3BlobStoreOptions = {}): S3BlobStore {
    const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
    if (!match || !match[1]) throw new Error(`an S3 blob URL looks like s3://bucket/prefix, got "${url}"`);
    const [, bucket, prefix] = match;
    const client = createS3Client(endpoint, options);
    return new S3BlobStore(client, bucket, prefix);
  }

  private objectKey(key: string): string {
    assertSafeKey(key);
    return this.prefix + key;
  }

  /** A directory-like prefix: '' for everything, else 'a/b/' (always a whole path segment). */
  private listPrefix(prefix: string): string {
    const trimmed = prefix.replace(/\/+$/, '');
    if (trimmed === '') return this.prefix;
    assertSafeKey(trimmed);
    return `${this.prefix}${trimmed}/`;
  }

  private fail(error: unknown, key?: string): unknown {
    const name = s3Name(error);
    if (name === 'NoSuchBucket') {
      return new Error(`S3 bucket "${this.bucket}" does not exist (${this.url})`, { cause: error });
    }
    if (key !== undefined && (name === 'NoSuchKey' || name === 'NotFound' || s3Status(error) === 404)) {
      return notFound('blob', key);
    }
    return toStoreUnavailable(error, `blob store (${this.url})`);
  }

  /** `durable` changes nothing here: an object is durable once S3 has accepted it. */
  async put(key: string, body: BlobBody, options: BlobPutOptions = {}): Promise<BlobStat> {
    const Key = this.objectKey(key);
    const ContentType = options.contentType ?? 'application/octet-stream';
    if (!(body instanceof Readable)) {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      try {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: bytes, ContentLength: bytes.length, ContentType }));
      } catch (error) {
        throw this.fail(error);
      }
      return { size: bytes.length };
    }

    let size = 0;
    // An error of the caller's stream (a client that went away) is not the store's fault: it is
    // rethrown as it is, not mapped to STORE_UNAVAILABLE.
    let sourceError: unknown;
    async function* counted(source: Readable): AsyncGenerator<Buffer> {
      try {
        for await (const chunk of source) {
          const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
          size += buffer.length;
          yield buffer;
        }
      } catch (error) {
        sourceError = error;
        throw error;
      }
    }
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key, Body: Readable.from(counted(body), { objectMode: false }), ContentType },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      // On failure lib-storage sends AbortMultipartUpload before done() rejects, so S3 keeps no
      // parts (and bills none). Nothing is visible under Key unless the upload completed.
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      // The caller's stream may still be open (e.g. an HTTP request body): end it, as pipeline() would.
      if (!body.destroyed) body.destroy();
      if (sourceError !== undefined) throw sourceError;
      throw this.fail(error);
    }
    return { size };
  }

  async get(key: string): Promise<Readable> {
    const Key = this.objectKey(key);
    let response;
    try {
      response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
    } catch (error) {
      throw this.fail(error, key);
    }
    const body = response.Body as Readable | undefined;
    if (!body) return Readable.from([]);
    relaxBodyTimeout(body);
    return body;
  }

  async stat(key: string): Promise<BlobStat | null> {
    const Key = this.objectKey(key);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return { size: head.ContentLength ?? 0 };
    } catch (error) {
      // Without s3:ListBucket S3 answers 403 for a missing key: docs/stores.md lists the permission.
      if (s3Name(error) !== 'NoSuchBucket' && s3Status(error) === 404) return null;
      throw this.fail(error);
    }
  }

  async download(key: string, destination: string): Promise<void> {
    await mkdir(dirname(destination), { recursive: true });
    // Written next to the destination and renamed, so a failed download leaves no partial file.
    const tmp = join(dirname(destination), `.${basename(destination)}.${randomUUID()}.partial`);
    try {
      // The SDK retries requests, not a body that breaks mid-way: retry the whole download.
      await withRetry(
        async () => {
          const body = await this.get(key);
          try {
            await pipeline(body, createWriteStream(tmp));
          } catch (error) {
            throw this.fail(error);
          }
        },
        { attempts: 3, baseMs: 200 },
      );
      await rename(tmp, destination);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    const Key = this.objectKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (error) {
      if (s3Status(error) === 404 && s3Name(error) !== 'NoSuchBucket') return;
      throw this.fail(error);
    }
  }

  /** Deletes `prefix` itself and every key under `prefix/` (never `prefix2/…`). */
  async deletePrefix(prefix: string): Promise<void> {
    const trimmed = prefix.replace(/\/+$/, '');
    assertSafeKey(trimmed);
    await this.delete(trimmed);
    const Prefix = this.listPrefix(trimmed);
    try {
      // Each page is deleted before the next is listed; the continuation token is a key position,
      // so deleting behind it does not skip anything.
      let ContinuationToken: string | undefined;
      do {
        const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix, ContinuationToken, MaxKeys: 1000 }));
        const objects = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
        if (objects.length > 0) {
          const result = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: objects, Quiet: true } }));
          const failed = result.Errors ?? [];
          if (failed.length > 0) {
            const first = failed[0]!;
            throw new Error(`S3 could not delete ${failed.length} object(s) under ${Prefix}, e.g. ${first.Key}: ${first.Code} ${first.Message}`);
          }
        }
        ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (ContinuationToken);
    } catch (error) {
      throw this.fail(error);
    }
  }

  /** Keys under `prefix/` ('' for all), relative to the store, sorted. */
  async list(prefix: string): Promise<string[]> {
    const Prefix = this.listPrefix(prefix);
    const keys: string[] = [];
    try {
      let ContinuationToken: string | undefined;
      do {
        const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix, ContinuationToken }));
        for (const object of page.Contents ?? []) {
          if (object.Key) keys.push(object.Key.slice(this.prefix.length));
        }
        ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (ContinuationToken);
    } catch (error) {
      throw this.fail(error);
    }
    return keys.sort();
  }

  /** Aborts multipart uploads under this store's prefix started more than `olderThanMs` ago. */
  async sweepStaging(olderThanMs: number, options: { dryRun?: boolean } = {}): Promise<{ removed: number; bytes: number }> {
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    try {
      let KeyMarker: string | undefined;
      let UploadIdMarker: string | undefined;
      do {
        const page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.prefix || undefined, KeyMarker, UploadIdMarker }));
        for (const upload of page.Uploads ?? []) {
          if (!upload.Key || !upload.UploadId || !upload.Initiated || upload.Initiated.getTime() > cutoff) continue;
          if (!options.dryRun) await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId }));
          removed++;
        }
        KeyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        UploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
      } while (KeyMarker);
    } catch (error) {
      throw this.fail(error);
    }
    return { removed, bytes: 0 }; // S3 does not say how many bytes the parts held
  }

  async ping(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      if (s3Status(error) === 404) {
        throw new Error(`S3 bucket "${this.bucket}" does not exist (${this.url})`, { cause: error });
      }
      throw this.fail(error);
    }
  }

  /** Closes the client's sockets. */
  async close(): Promise<void> {
    this.client.destroy();
  }
}
