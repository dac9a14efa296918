// Where monitoring keeps its bytes in the blob store:
//   <version prefix>/baseline.json                                    the version's drift baseline
//   monitoring/<model>/logs/<YYYY-MM-DDTHH>/<ms>-<writer>-<seq>.jsonl  prediction-log parts, by hour
import type { BlobStore } from '../store/blobs/blob-store.ts';
import type { DriftBaseline } from './baseline.ts';

export const BASELINE_ARTIFACT = 'baseline.json';

export const logPrefix = (model: string): string => `monitoring/${model}/logs`;

export const logPartKey = (model: string, hour: string, name: string): string => `${logPrefix(model)}/${hour}/${name}.jsonl`;

/** The hour folder (`YYYY-MM-DDTHH`) of a part key, or undefined for a key that is not a part. */
export function partHour(key: string): string | undefined {
  return /\/logs\/(\d{4}-\d{2}-\d{2}T\d{2})\/[^/]+\.jsonl$/.exec(key)?.[1];
}

/** The version's baseline, or null for a version trained before monitoring existed. */
export async function readBaseline(blobs: BlobStore, versionPrefix: string): Promise<DriftBaseline | null> {
  const key = `${versionPrefix}/${BASELINE_ARTIFACT}`;
  if (!(await blobs.stat(key))) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of await blobs.get(key)) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as DriftBaseline;
}
