// Opens the blob store a TRAINYARD_BLOB_URL names. Each store is loaded only when used (the S3
// one brings the AWS SDK), and the interface file (blob-store.ts) imports neither.
import type { BlobStore } from './blob-store.ts';

export async function openBlobStore(url: string, options: { s3Endpoint?: string } = {}): Promise<BlobStore> {
  if (url.startsWith('file://')) {
    const { FileBlobStore } = await import('./file-blob-store.ts');
    return new FileBlobStore(url.slice('file://'.length));
  }
  if (url.startsWith('s3://')) {
    const { S3BlobStore } = await import('./s3-blob-store.ts');
    return S3BlobStore.fromUrl(url, options.s3Endpoint);
  }
  throw new Error(`TRAINYARD_BLOB_URL must start with file:// or s3://, got "${url}"`);
}
