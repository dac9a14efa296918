// trainyard monitor MODEL: drift per feature (PSI, worst first) and live quality of a served version.
import { Command } from 'commander';
import type { DriftReport } from '../../client/index.ts';
import { action, fields, formatNumber, makeClient, out, printJson, table } from './context.ts';

export function monitorCommand(): Command {
  return new Command('monitor')
    .description('Drift of live traffic against the training data, per feature (PSI), and live quality from feedback')
    .argument('<model>', 'model name')
    .option('--version <version>', 'model version (default: the production alias, else the newest version)')
    .option('--window <window>', 'hours or days back, e.g. 24h or 7d', '24h')
    .option('--json', 'print {drift, quality} as JSON')
    .action(
      action(async (name: string, options: { version?: string; window: string; json?: boolean }) => {
        const client = makeClient();
        const version = options.version ?? (await client.listVersions(name, { limit: 50 })).items.find((v) => (v.aliases ?? []).includes('production'))?.version ?? (await client.listVersions(name, { limit: 1 })).items[0]?.version;
        if (version === undefined) return out(`${name} has no trained versions yet`);
        const [settings, drift, quality] = await Promise.all([client.getMonitoring(name), client.drift(name, version, options.window), client.liveQuality(name, version, options.window)]);
        if (options.json) return printJson({ settings, drift, quality });
        out(
          fields([
            ['model', `${name} version ${version}`],
            ['logging', settings.log_sample_rate > 0 ? `${settings.log_sample_rate * 100}% of rows, kept ${settings.retention_days} days` : 'off (trainyard models monitoring MODEL --log-sample-rate 1)'],
            ['window', `${options.window} (since ${drift.from})`],
            ['live rows', drift.live_rows],
            ['status', drift.status],
            ['live quality', quality.labelled_rows > 0 ? Object.entries(quality.metrics).map(([k, v]) => `${k} ${formatNumber(v)}`).join(', ') + ` (${quality.labelled_rows} labelled)` : 'no feedback yet'],
          ]),
        );
        out();
        out(driftTable(drift));
      }),
    );
}

export function driftTable(drift: DriftReport): string {
  const rows = [...drift.features].sort((a, b) => b.psi - a.psi);
  const share = (s: { live: number } | undefined) => (s ? `${(s.live * 100).toFixed(1)}%` : '');
  return table(
    ['feature', 'psi', 'status', 'missing', 'unseen'],
    [
      ...rows.map((f) => [f.feature, formatNumber(f.psi), f.status, share(f.missing_share), share(f.unseen_share)]),
      ...(drift.prediction ? [['(prediction)', formatNumber(drift.prediction.psi), drift.prediction.status, '', '']] : []),
    ],
  );
}
