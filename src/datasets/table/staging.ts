// Local staging of typed-format ingest (uploads and imports of Parquet and JSON Lines): one file per
// ingest under <data dir>/tmp/uploads, removed when it ends. A process killed mid-ingest leaves its
// file; the staging sweep (src/store/gc.ts: every server periodically, and `trainyard gc`) removes
// files not written to for TRAINYARD_STALE_STAGING_SECONDS.
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Where uploads and imports of typed formats are staged. */
export const stagingDir = (dataDir: string): string => join(dataDir, 'tmp', 'uploads');

/** Removes staging files not modified for `olderThanMs` (none younger: an ingest in progress keeps writing or reading its file). */
export async function sweepLocalStaging(dataDir: string, olderThanMs: number, options: { dryRun?: boolean; now?: number } = {}): Promise<{ removed: number; bytes: number }> {
  const dir = stagingDir(dataDir);
  const now = options.now ?? Date.now();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { removed: 0, bytes: 0 };
    throw error;
  }
  let removed = 0;
  let bytes = 0;
  for (const name of names) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => null);
    if (!info?.isFile() || now - Math.max(info.mtimeMs, info.atimeMs) < olderThanMs) continue;
    removed++;
    bytes += info.size;
    if (!options.dryRun) await rm(path, { force: true });
  }
  return { removed, bytes };
}
