// A real S3-protocol server for tests: s3rver (in this process) on 127.0.0.1, a free port, a fresh
// temp directory and one bucket. s3rver lacks two calls the store relies on, AbortMultipartUpload
// and ListMultipartUploads; they are answered here from s3rver's own upload directory so tests
// can check that a failed upload leaves no parts behind. Its ListObjectsV2 pagination is broken
// on Node ≥ 17 (its continuation tokens use DES, which OpenSSL 3 refuses: InternalError beyond
// 1000 keys), so ListObjectsV2 is answered here too, from s3rver's own listing. It can also be taken down and brought
// back on the same port, or made to answer errors, to test outages.
//
//   const s3 = await startS3Server();
//   const store = S3BlobStore.fromUrl(s3.bucketUrl, s3.endpoint, { credentials: s3.credentials });
//   spawn('trainyard', ['server'], { env: { ...process.env, ...s3.env } });
//   await s3.stop();
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listenSwitchable } from './switchable-server.ts';

interface S3rverObject {
  key: string;
  size: number;
  lastModifiedDate: Date;
  metadata: Record<string, string>;
}
interface S3rverApp {
  store: {
    listObjects(
      bucket: string,
      options: { prefix?: string; startAfter?: string; maxKeys?: number },
    ): Promise<{ objects: S3rverObject[]; isTruncated: boolean }>;
  };
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  configureBuckets(): Promise<unknown>;
  logger?: { close(): void; exceptions?: { unhandle(): void } };
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverApp;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

/** s3rver checks signatures against this key pair. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface S3Fault {
  /** HTTP status to answer, e.g. 503 or 500; 0 with `stallMs`: answer normally, late. */
  status: number;
  /** Hold each matching request this long before answering (with `status` 0: then serve it as usual). */
  stallMs?: number;
  /** S3 error code in the XML body (default ServiceUnavailable / InternalError by status). */
  code?: string;
  /** Only requests this returns true for fail (default all), e.g. `(req) => req.url.includes('partNumber=')`. */
  match?: (req: IncomingMessage) => boolean;
}

export interface S3TestServer {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly bucket: string;
  /** s3://<bucket>/<prefix> */
  readonly bucketUrl: string;
  readonly credentials: typeof S3RVER_CREDENTIALS;
  /** Environment for a child process (a server or worker) to use this S3: blob URL, endpoint, keys, region. */
  readonly env: Record<string, string>;
  /** s3rver's directory (objects are files under `<dir>/<bucket>/`). */
  readonly directory: string;
  /** Multipart uploads started and neither completed nor aborted, under the bucket. */
  pendingMultipartUploads(): Promise<{ key: string; uploadId: string; initiated: Date }[]>;
  /** Every request received, as `METHOD /path?query`, oldest first. */
  readonly requests: readonly string[];
  /** Answer every (matching) request with an S3 error until `setFault(null)`. */
  setFault(fault: S3Fault | null): void;
  /** Stop listening and drop open connections (the endpoint refuses connections) … */
  down(): Promise<void>;
  /** … and listen again on the same port. */
  up(): Promise<void>;
  /** Shut down and delete the directory. */
  stop(): Promise<void>;
}

function xml(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
}

function escapeXml(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export async function startS3Server(options: { bucket?: string; prefix?: string } = {}): Promise<S3TestServer> {
  const bucket = options.bucket ?? `trainyard-test-${randomBytes(4).toString('hex')}`;
  const prefix = options.prefix ?? 'blobs';
  const directory = await mkdtemp(join(tmpdir(), 'trainyard-s3rver-'));
  const app = new S3rver({
    silent: true,
    directory,
    address: '127.0.0.1',
    port: 0,
    vhostBuckets: false,
    configureBuckets: [{ name: bucket }],
  });
  await app.configureBuckets();
  const handle = app.callback();
  const uploadsDir = join(directory, bucket, '._S3rver_uploads');

  async function pendingMultipartUploads(): Promise<{ key: string; uploadId: string; initiated: Date }[]> {
    let ids: string[];
    try {
      ids = await readdir(uploadsDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const uploads = [];
    for (const uploadId of ids.sort()) {
      const key = await readFile(join(uploadsDir, uploadId, 'key'), 'utf8').catch(() => '');
      // When the upload was started: its directory's birth (mtime where the filesystem has none).
      const info = await stat(join(uploadsDir, uploadId)).catch(() => null);
      const initiated = info ? (info.birthtimeMs > 0 ? info.birthtime : info.mtime) : new Date();
      uploads.push({ key, uploadId, initiated });
    }
    return uploads;
  }

  let fault: S3Fault | null = null;
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const matched = fault && (!fault.match || fault.match(req)) ? fault : null;
    if (matched?.stallMs) {
      setTimeout(() => serve(req, res, matched), matched.stallMs);
      return;
    }
    serve(req, res, matched);
  });

  function serve(req: IncomingMessage, res: ServerResponse, matched: S3Fault | null): void {
    const url = new URL(req.url ?? '/', 'http://s3');
    const [, reqBucket, ...keyParts] = url.pathname.split('/');
    const key = decodeURIComponent(keyParts.join('/'));
    if (matched && matched.status > 0) {
      const fault = matched;
      const code = fault.code ?? (fault.status === 503 ? 'ServiceUnavailable' : 'InternalError');
      req.resume();
      return xml(res, fault.status, `<Error><Code>${code}</Code><Message>injected by the test</Message></Error>`);
    }
    // AbortMultipartUpload: DELETE /bucket/key?uploadId=…
    if (req.method === 'DELETE' && reqBucket === bucket && key && url.searchParams.has('uploadId')) {
      const uploadId = url.searchParams.get('uploadId') ?? '';
      if (!/^[0-9a-f]+$/.test(uploadId)) return xml(res, 404, '<Error><Code>NoSuchUpload</Code><Message>no such upload</Message></Error>');
      void rm(join(uploadsDir, uploadId), { recursive: true, force: true }).then(
        () => {
          res.writeHead(204);
          res.end();
        },
        () => xml(res, 500, '<Error><Code>InternalError</Code><Message>abort failed</Message></Error>'),
      );
      return;
    }
    // ListMultipartUploads: GET /bucket?uploads[&prefix=…]
    if (req.method === 'GET' && reqBucket === bucket && !key && url.searchParams.has('uploads')) {
      const wanted = url.searchParams.get('prefix') ?? '';
      void pendingMultipartUploads().then((uploads) => {
        const items = uploads
          .filter((u) => u.key.startsWith(wanted))
          .map((u) => `<Upload><Key>${escapeXml(u.key)}</Key><UploadId>${u.uploadId}</UploadId><Initiated>${u.initiated.toISOString()}</Initiated></Upload>`)
          .join('');
        xml(
          res,
          200,
          `<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>${bucket}</Bucket><Prefix>${escapeXml(wanted)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${items}</ListMultipartUploadsResult>`,
        );
      });
      return;
    }
    // ListObjectsV2 without a delimiter: GET /bucket?list-type=2[&prefix][&continuation-token][&start-after][&max-keys]
    if (req.method === 'GET' && reqBucket === bucket && !key && url.searchParams.get('list-type') === '2' && !url.searchParams.get('delimiter')) {
      const prefix = url.searchParams.get('prefix') ?? '';
      const token = url.searchParams.get('continuation-token');
      const startAfter = token ? Buffer.from(token, 'base64url').toString('utf8') : (url.searchParams.get('start-after') ?? '');
      const maxKeys = Math.min(1000, Number(url.searchParams.get('max-keys') ?? 1000) || 1000);
      void app.store.listObjects(bucket, { prefix, startAfter, maxKeys }).then(
        ({ objects, isTruncated }) => {
          const last = objects.at(-1)?.key;
          const contents = objects
            .map(
              (o) =>
                `<Contents><Key>${escapeXml(o.key)}</Key><LastModified>${o.lastModifiedDate.toISOString()}</LastModified>` +
                `<ETag>${escapeXml(o.metadata.etag ?? '')}</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
            )
            .join('');
          const next = isTruncated && last ? `<NextContinuationToken>${Buffer.from(last).toString('base64url')}</NextContinuationToken>` : '';
          xml(
            res,
            200,
            `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucket}</Name><Prefix>${escapeXml(prefix)}</Prefix>` +
              `<KeyCount>${objects.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${isTruncated}</IsTruncated>${next}${contents}</ListBucketResult>`,
          );
        },
        (error: unknown) => xml(res, 500, `<Error><Code>InternalError</Code><Message>${escapeXml(String(error))}</Message></Error>`),
      );
      return;
    }
    handle(req, res);
  }

  const { port, down, up } = await listenSwitchable(server);

  const endpoint = `http://127.0.0.1:${port}`;
  const bucketUrl = `s3://${bucket}/${prefix}`;
  // An in-process platform opened with openBlobStore() reads credentials from the environment.
  process.env.AWS_ACCESS_KEY_ID ??= S3RVER_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY ??= S3RVER_CREDENTIALS.secretAccessKey;
  process.env.AWS_REGION ??= 'us-east-1';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

  return {
    endpoint,
    bucket,
    bucketUrl,
    credentials: S3RVER_CREDENTIALS,
    env: {
      TRAINYARD_BLOB_URL: bucketUrl,
      TRAINYARD_S3_ENDPOINT: endpoint,
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    directory,
    requests,
    pendingMultipartUploads,
    setFault(next) {
      fault = next;
    },
    down,
    up,
    async stop() {
      await down();
      app.logger?.exceptions?.unhandle();
      app.logger?.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
