// `trainyard gc`: removes blobs that no row references (orphans of uploads and jobs whose process
// died before recording them) and stale blob staging, on the file store or S3. Safe to run while
// servers and workers run (see src/store/gc.ts); --dry-run lists without removing.
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config.ts';
import { openPlatform } from '../platform.ts';
import { collectGarbage } from '../store/gc.ts';

function hours(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 1) throw new InvalidArgumentError('must be a number of hours ≥ 1');
  return n;
}

export function gcCommand(): Command {
  return new Command('gc')
    .description('Remove blobs no dataset, job or model version references, and stale upload staging (safe while servers run)')
    .option('--dry-run', 'list what would be removed, remove nothing')
    .option('--min-age <hours>', 'leave anything younger than this alone (an upload or job may still be recording it)', hours, 24)
    .option('--json', 'print the report as JSON')
    .action(async (options: { dryRun?: boolean; minAge: number; json?: boolean }) => {
      const config = loadConfig();
      const platform = await openPlatform(config, { migrate: false });
      try {
        const report = await collectGarbage(platform, { dryRun: Boolean(options.dryRun), minAgeMs: options.minAge * 3_600_000 });
        if (options.json) {
          process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
          return;
        }
        const verb = report.dryRun ? 'would remove' : 'removed';
        for (const group of report.orphans) process.stdout.write(`${verb} ${group.prefix}/ (${group.kind}, ${group.keys} blob${group.keys === 1 ? '' : 's'})\n`);
        process.stdout.write(
          `${report.orphans.length} orphaned group(s) ${verb}; ${report.staging.removed} stale staging item(s) ${verb}` +
            `${report.staging.bytes ? ` (${report.staging.bytes} bytes)` : ''}; ${report.young} younger than ${options.minAge} h left alone` +
            `${report.unknown.length ? `; ${report.unknown.length} key(s) of no known layout left alone, e.g. ${report.unknown[0]}` : ''}\n`,
        );
      } finally {
        await platform.close();
      }
    });
}
