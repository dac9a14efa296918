// Monitoring windows: `24h`, `7d`, … Live histograms are kept per hour, so a window covers whole
// hours: the current one and the ones before it back to now − window (at most one hour more).
import { TrainyardError } from '../errors.ts';

export const MAX_WINDOW_HOURS = 90 * 24;
const UNIT_HOURS: Record<string, number> = { h: 1, d: 24 };

export function parseWindow(text: string, field = 'window'): { hours: number; from: Date } {
  const match = /^([1-9]\d{0,4})([hd])$/.exec(text);
  const hours = match ? Number(match[1]) * UNIT_HOURS[match[2]] : NaN;
  if (!match || hours > MAX_WINDOW_HOURS) {
    throw new TrainyardError('VALIDATION_FAILED', `window must be a number of hours or days, like 24h or 7d, up to ${MAX_WINDOW_HOURS / 24}d; got "${text}"`, {
      errors: [{ field, message: 'must look like 24h or 7d (at most 90d)' }],
    });
  }
  return { hours, from: new Date(Date.now() - hours * 3600_000) };
}
