// Formatting shared by the CLI and the dashboard, so both show sizes and metrics the same way.

/** A byte count in decimal units (`1.25 MB`); '' when there is none. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** Flattens `{val: {accuracy: 0.9}}` to `{'val.accuracy': 0.9}` (flat metrics stay as they are). */
export function flatMetrics(metrics: unknown, prefix = ''): Record<string, number | string> {
  const flat: Record<string, number | string> = {};
  if (!metrics || typeof metrics !== 'object') return flat;
  for (const [key, value] of Object.entries(metrics as Record<string, unknown>)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (typeof value === 'number' || typeof value === 'string') flat[name] = value;
    else if (value && typeof value === 'object' && !Array.isArray(value)) Object.assign(flat, flatMetrics(value, name));
  }
  return flat;
}
