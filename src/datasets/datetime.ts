// ISO 8601 dates and timestamps: the `datetime` column type. One parser serves ingest (a CSV or JSON
// Lines text column whose every value parses is `datetime`), training-data preparation and serving
// (JSON and CSV predict inputs), so what was profiled is what is encoded.
//
// Accepted: `YYYY-MM-DD`, and `YYYY-MM-DD` then `T` or one space then `HH:MM`, optionally `:SS` and
// a fraction (`.f` up to 9 digits), optionally `Z` or an offset (`+HH:MM`, `+HHMM`, `+HH`). Without
// an offset a timestamp is taken as UTC (so `2026-03-01 12:00` is the same instant everywhere; send
// an offset where local time matters). Fields must be in range (month 1–12, day within the month,
// hour 0–23, minute and second 0–59). Surrounding spaces are ignored. Anything else is not a datetime.

const DATETIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/;

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Milliseconds since 1970-01-01T00:00:00Z, or NaN when `text` is not an ISO 8601 date or timestamp. */
export function parseDateTime(text: string): number {
  const match = DATETIME.exec(text.trim());
  if (match === null) return NaN;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  if (month < 1 || month > 12 || day < 1 || day > DAYS_IN_MONTH[month - 1]) return NaN;
  if (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return NaN;
  const hour = match[4] === undefined ? 0 : Number(match[4]);
  const minute = match[5] === undefined ? 0 : Number(match[5]);
  const second = match[6] === undefined ? 0 : Number(match[6]);
  if (hour > 23 || minute > 59 || second > 59) return NaN;
  const millis = match[7] === undefined ? 0 : Number(`0.${match[7]}`) * 1000;
  let offset = 0;
  const zone = match[8];
  if (zone !== undefined && zone !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const hours = Number(digits.slice(0, 2));
    const minutes = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    if (hours > 23 || minutes > 59) return NaN;
    offset = (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes) * 60_000;
  }
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime() + millis - offset;
}

const decoder = new TextDecoder();

/** parseDateTime over bytes `buf[start, end)` (the CSV engine's cells); cheap rejection of non-dates. */
export function parseDateTimeBytes(buf: Uint8Array, start: number, end: number): number {
  // Quick checks before making a string: at least `YYYY-MM-DD`, a dash at the fifth place.
  let s = start;
  while (s < end && (buf[s] === 32 || buf[s] === 9)) s++;
  if (end - s < 10 || end - s > 40 || buf[s + 4] !== 45 || buf[s + 7] !== 45) return NaN;
  return parseDateTime(decoder.decode(buf.subarray(start, end)));
}

/** The ISO 8601 text of an instant (UTC), as profiles show datetime min and max. */
export const isoOf = (millis: number): string => new Date(millis).toISOString();
