import { formatBytes as bytes } from '../../src/client/format.ts';

export { flatMetrics } from '../../src/client/format.ts';

/** A byte count, or '—' when there is none. */
export const formatBytes = (value: number | null | undefined): string => bytes(value) || '—';

export function formatNumber(value: unknown, digits = 4): string {
  if (value === null || value === undefined || value === '') return '—';
  if (typeof value !== 'number') return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2);
  return Number(value.toFixed(digits)).toString();
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString('en-GB', { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function duration(from: string | null | undefined, to: string | null | undefined): string {
  if (!from) return '—';
  const ms = (to ? Date.parse(to) : Date.now()) - Date.parse(from);
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}


export const STATUS_COLORS: Record<string, string> = {
  queued: 'gray',
  running: 'blue',
  succeeded: 'green',
  failed: 'red',
  cancelled: 'orange',
  pruned: 'grape', // a tuning trial stopped by the pruning rule
  ready: 'green',
  // drift statuses (monitoring)
  ok: 'green',
  warn: 'yellow',
  drift: 'red',
  no_data: 'gray',
};

/** The metrics worth a column, most telling first: training and validation loss, then validation metrics. */
export function pickMetrics(names: string[], max: number): string[] {
  const rank = (name: string) =>
    name === 'train_loss' ? 0 : name === 'val_loss' ? 1 : name.startsWith('val_') ? 2 : name.startsWith('train_') ? 4 : /epoch|seconds|^lr$/.test(name) ? 9 : 3;
  return names
    .map((name, index) => ({ name, index }))
    .filter(({ name }) => rank(name) < 9)
    .sort((a, b) => rank(a.name) - rank(b.name) || a.index - b.index)
    .slice(0, max)
    .map(({ name }) => name);
}
