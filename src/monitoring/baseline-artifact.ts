// The drift baseline stored with a model version (`baseline.json` next to manifest.json), and its reader.
import type { BlobStore } from '../store/blobs/blob-store.ts';
import { artifactKey } from '../store/blobs/keys.ts';
import type { DriftBaseline } from './baseline.ts';

export const BASELINE_ARTIFACT = 'baseline.json';

/** The version's baseline, or null for a version trained before monitoring existed. */
export async function readBaseline(blobs: BlobStore, versionPrefix: string): Promise<DriftBaseline | null> {
  const key = artifactKey(versionPrefix, BASELINE_ARTIFACT);
  if (!(await blobs.stat(key))) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of await blobs.get(key)) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as DriftBaseline;
}
