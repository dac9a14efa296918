// Reading an import's objects from S3 (or an S3-compatible server: TRAINYARD_S3_ENDPOINT) with the
// process's own credentials (the AWS SDK's default chain: environment, shared config, instance or
// task role). A request never carries keys. Listing applies the import limits as it goes, so a
// prefix of millions of objects fails after TRAINYARD_IMPORT_MAX_OBJECTS + 1 keys, not at the end.
//
// Failures are sorted as the job engine needs them: what the user can fix (no such bucket or key,
// access denied, too many objects or bytes) is an ImportSourceError; anything else (the store
// unreachable, a 5xx, a connection reset mid-object) is a plain Error, which the engine retries.
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../config.ts';
import { createS3Client, relaxBodyTimeout } from '../../store/blobs/s3-blob-store.ts';
import type { DatasetFormat } from '../service.ts';
import { isAllowed, listPrefix, matchesLocation, type AllowEntry, type ImportLocation } from './location.ts';

export interface SourceObject {
  key: string;
  size: number;
  /** `s3://bucket/key`, as errors name it. */
  url: string;
}

/** A failure the user can act on (fails the job at once). */
export class ImportSourceError extends Error {
  override name = 'ImportSourceError';
}

/** The format an object's name says it is; undefined when it says none Trainyard reads. */
export function formatOfKey(key: string): DatasetFormat | undefined {
  const ext = /\.([A-Za-z0-9]+)$/.exec(key)?.[1]?.toLowerCase();
  if (ext === 'parquet' || ext === 'pq') return 'parquet';
  if (ext === 'jsonl' || ext === 'ndjson') return 'jsonl';
  if (ext === 'csv' || ext === 'tsv' || ext === 'txt') return 'csv';
  return undefined;
}

/** Every object of one import has one format; throws ImportSourceError naming an object that differs. */
export function formatOfObjects(objects: SourceObject[]): DatasetFormat {
  const first = objects[0];
  const format = formatOfKey(first.key);
  if (!format) throw new ImportSourceError(`${first.url}: its name does not say its format: Trainyard imports .parquet, .jsonl (.ndjson) and .csv objects`);
  for (const object of objects) {
    const other = formatOfKey(object.key);
    if (other !== format) throw new ImportSourceError(`${object.url}: ${other ? `is ${other}, but ${first.url} is ${format}` : 'its name does not say its format'}: one import reads objects of one format`);
  }
  return format;
}

interface S3ErrorShape {
  name?: string;
  $metadata?: { httpStatusCode?: number };
}

/** A user-fixable failure as an ImportSourceError; anything else as it is. */
function sorted(error: unknown, what: string): unknown {
  const e = error as S3ErrorShape | null;
  const status = e?.$metadata?.httpStatusCode;
  if (e?.name === 'NoSuchBucket') return new ImportSourceError(`${what}: the bucket does not exist`);
  if (e?.name === 'NoSuchKey' || status === 404) return new ImportSourceError(`${what}: no such object`);
  if (e?.name === 'AccessDenied' || status === 403) return new ImportSourceError(`${what}: access denied: the server's (or worker's) AWS credentials may not read it`);
  return error;
}

export class ImportSource {
  private readonly client: S3Client;

  constructor(config: Pick<Config, 's3Endpoint' | 'importRegion'>) {
    this.client = createS3Client(config.s3Endpoint, { region: config.importRegion });
  }

  /** The objects the location names, in key order, within the limits; throws ImportSourceError when none match or a limit is passed. */
  async list(location: ImportLocation, limits: { allow: AllowEntry[]; maxObjects: number; maxBytes: number }, signal?: AbortSignal): Promise<SourceObject[]> {
    const objects: SourceObject[] = [];
    let bytes = 0;
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: location.bucket, Prefix: listPrefix(location) || undefined, ContinuationToken: token }), { abortSignal: signal });
      } catch (error) {
        throw sorted(error, location.url);
      }
      for (const item of page.Contents ?? []) {
        const key = item.Key ?? '';
        if (!matchesLocation(location, key)) continue;
        const url = `s3://${location.bucket}/${key}`;
        // Defence in depth: the location was allowed at submission, and listing stays under it.
        if (!isAllowed(limits.allow, location, key)) throw new ImportSourceError(`${url} is outside TRAINYARD_IMPORT_ALLOW`);
        objects.push({ key, size: Number(item.Size ?? 0), url });
        bytes += Number(item.Size ?? 0);
        if (objects.length > limits.maxObjects) throw new ImportSourceError(`${location.url} matches more than ${limits.maxObjects} objects (TRAINYARD_IMPORT_MAX_OBJECTS)`);
        if (bytes > limits.maxBytes) throw new ImportSourceError(`${location.url} matches more than ${limits.maxBytes} bytes (TRAINYARD_IMPORT_MAX_BYTES)`);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    if (objects.length === 0) {
      throw new ImportSourceError(location.kind === 'object' ? `${location.url}: no such object` : `${location.url} matches no objects`);
    }
    return objects;
  }

  /** The object's bytes as a stream (aborted with `signal`). */
  async open(bucket: string, object: SourceObject, signal?: AbortSignal): Promise<Readable> {
    let response;
    try {
      response = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: object.key }), { abortSignal: signal });
    } catch (error) {
      const user = sorted(error, object.url);
      if (user !== error || signal?.aborted) throw user;
      // The store failing (retried by the engine): the message names the object.
      throw new Error(`reading ${object.url} failed: ${(error as Error).message}`, { cause: error });
    }
    const body = response.Body as Readable | undefined;
    if (!body) throw new Error(`${object.url}: the object store sent no body`);
    relaxBodyTimeout(body);
    return body;
  }

  close(): void {
    this.client.destroy();
  }
}
