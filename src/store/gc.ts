// Garbage collection of blobs: what `trainyard gc` lists (--dry-run) and removes, and the staging
// sweep every server runs at start and periodically.
//
// Every blob belongs to a row through its key: `datasets/<dataset id>/…`, `jobs/<job id>/…` and
// `models/<model>/<job id>-a<attempt>/…` (a version's blob_prefix). A group whose row does not exist
// is an orphan: an upload or a job whose process died between writing its blobs and recording them
// (or failed to clean up after itself). Safe while other servers run: ids carry their creation
// time, and a group younger than `minAgeMs` (an upload or job that may still be recording) is never
// touched; a model prefix whose job is still queued or running is kept whatever its age, and so is a
// dataset a queued or running job is making (an export stages under its job's id, jobDatasetId);
// the job's status is read before its version row, so a job that finishes meanwhile is seen with its version.
// A job's checkpoints are kept while it is queued or running; once it has ended they are orphans
// (its job process deletes them at the end, but a job failed by the reaper or the AWS Batch
// reconciler never gets there), removed with their job_checkpoints rows.
// Keys of any other shape are reported and never removed.
import type { Platform } from '../platform.ts';
import { idTime, jobOfDatasetId } from '../ids.ts';
import { ownerOfKey } from './blobs/keys.ts';
import { sweepLocalStaging } from '../datasets/table/staging.ts';

export interface GcGroup {
  /** The blob prefix (deleted with deletePrefix). */
  prefix: string;
  kind: 'dataset' | 'job' | 'job-checkpoints' | 'model-version';
  keys: number;
}

export interface GcReport {
  orphans: GcGroup[];
  /** Orphan-looking groups younger than minAgeMs, left alone. */
  young: number;
  /** Keys that match no known layout (never removed). */
  unknown: string[];
  /** Stale staging (file store temp files, S3 incomplete multipart uploads). */
  staging: { removed: number; bytes: number };
  dryRun: boolean;
}

const BATCH = 500;

async function existing<T extends string>(values: T[], lookup: (chunk: T[]) => Promise<string[]>): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < values.length; i += BATCH) for (const v of await lookup(values.slice(i, i + BATCH))) found.add(v);
  return found;
}

export async function collectGarbage(platform: Platform, options: { dryRun: boolean; minAgeMs: number; now?: number }): Promise<GcReport> {
  const { db } = platform.metadata;
  const now = options.now ?? Date.now();
  const groups = new Map<string, GcGroup & { id: string }>();
  const unknown: string[] = [];
  for (const key of await platform.blobs.list('')) {
    const owner = ownerOfKey(key);
    if (!owner) {
      unknown.push(key);
      continue;
    }
    const group = groups.get(owner.prefix);
    if (group) group.keys++;
    else groups.set(owner.prefix, { ...owner, keys: 1 });
  }
  let young = 0;
  const old = [...groups.values()].filter((g) => {
    const made = idTime(g.id);
    if (made !== undefined && now - made >= options.minAgeMs) return true;
    young++;
    return false;
  });
  const ids = (kind: GcGroup['kind']) => [...new Set(old.filter((g) => g.kind === kind).map((g) => g.id))];
  const datasets = await existing(ids('dataset'), async (chunk) => (await db.selectFrom('datasets').select('id').where('id', 'in', chunk).execute()).map((r) => r.id));
  const jobs = await existing([...new Set([...ids('job'), ...ids('model-version')])], async (chunk) =>
    (await db.selectFrom('jobs').select('id').where('id', 'in', chunk).execute()).map((r) => r.id),
  );
  // Jobs that may still record a version or a dataset: their status first, then the rows.
  const active = await existing([...ids('model-version'), ...ids('job-checkpoints'), ...ids('dataset').map(jobOfDatasetId)], async (chunk) =>
    (await db.selectFrom('jobs').select('id').where('id', 'in', chunk).where('status', 'in', ['queued', 'running']).execute()).map((r) => r.id),
  );
  const prefixes = old.filter((g) => g.kind === 'model-version').map((g) => g.prefix);
  const versions = await existing(prefixes, async (chunk) => (await db.selectFrom('model_versions').select('blob_prefix').where('blob_prefix', 'in', chunk).execute()).map((r) => r.blob_prefix));
  const orphans = old.filter((g) => {
    if (g.kind === 'dataset') return !datasets.has(g.id) && !active.has(jobOfDatasetId(g.id));
    if (g.kind === 'job') return !jobs.has(g.id);
    if (g.kind === 'job-checkpoints') return !active.has(g.id);
    return !active.has(g.id) && !versions.has(g.prefix);
  });
  if (!options.dryRun) {
    for (const group of orphans) {
      await platform.blobs.deletePrefix(group.prefix);
      if (group.kind === 'job-checkpoints') await db.deleteFrom('job_checkpoints').where('job_id', '=', group.id).execute();
      platform.logger.info({ prefix: group.prefix, kind: group.kind, keys: group.keys }, 'gc: removed orphaned blobs');
    }
  }
  const blobStaging = await platform.blobs.sweepStaging(options.minAgeMs, { dryRun: options.dryRun });
  const localStaging = await sweepLocalStaging(platform.config.dataDir, options.minAgeMs, { dryRun: options.dryRun, now });
  const staging = { removed: blobStaging.removed + localStaging.removed, bytes: blobStaging.bytes + localStaging.bytes };
  return { orphans: orphans.map(({ prefix, kind, keys }) => ({ prefix, kind, keys })), young, unknown, staging, dryRun: options.dryRun };
}

/**
 * Sweeps stale staging now and every `intervalMs` (unref'd: it never keeps a process alive).
 * Returns the stop function.
 */
export function startStagingSweeper(platform: Platform, staleMs: number, intervalMs = Math.max(60_000, Math.min(staleMs, 3_600_000))): () => void {
  const sweep = async () => {
    try {
      const blob = await platform.blobs.sweepStaging(staleMs);
      const local = await sweepLocalStaging(platform.config.dataDir, staleMs);
      const removed = blob.removed + local.removed;
      const bytes = blob.bytes + local.bytes;
      if (removed > 0) platform.logger.info({ removed, bytes }, 'removed stale blob staging left by writes that never finished');
    } catch (error) {
      platform.logger.warn({ err: error }, 'could not sweep stale blob staging');
    }
  };
  void sweep();
  const timer = setInterval(() => void sweep(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
