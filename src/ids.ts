// Opaque ids that sort by creation time: a prefix, 10 characters of millisecond time and 16 random
// characters (Crockford base32), so `ORDER BY id` lists newest last and cursors are just ids.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

function encodeTime(ms: number): string {
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

function encodeRandom(): string {
  const bytes = randomBytes(16);
  let out = '';
  for (const byte of bytes) out += ALPHABET[byte % 32];
  return out;
}

export type IdPrefix = 'ds' | 'mdl' | 'mv' | 'job' | 'tok' | 'tun';

export function newId(prefix: IdPrefix, now = Date.now()): string {
  return `${prefix}_${encodeTime(now)}${encodeRandom()}`;
}

export const nowIso = (): string => new Date().toISOString();

/**
 * The id of the dataset a job makes (a prediction-log export): the job id's time and random part
 * under the dataset prefix. Every attempt of the job stages under it, so an attempt finds what an
 * earlier one left (staged blobs, or a dataset recorded just before a crash), and gc can tell that
 * the staging belongs to a job still running (jobOfDatasetId).
 */
export const jobDatasetId = (jobId: string): string => `ds_${jobId.slice(jobId.indexOf('_') + 1)}`;

/** The job a dataset id would belong to if a job made it (the inverse of jobDatasetId). */
export const jobOfDatasetId = (datasetId: string): string => `job_${datasetId.slice(datasetId.indexOf('_') + 1)}`;

/** When an id from newId was made (ms since the epoch); undefined for anything else. */
export function idTime(id: string): number | undefined {
  const match = /^[a-z]+_([0-9a-z]{10})[0-9a-z]{16}$/.exec(id);
  if (!match) return undefined;
  let ms = 0;
  for (const c of match[1]) {
    const digit = ALPHABET.indexOf(c);
    if (digit < 0) return undefined;
    ms = ms * 32 + digit;
  }
  return ms;
}
