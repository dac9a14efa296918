import { describe, expect, it } from 'vitest';
import { parseDateTime, parseDateTimeBytes } from './datetime.ts';
import { CsvProfiler } from './csv/profiler.ts';

describe('parseDateTime', () => {
  it('reads ISO 8601 dates and timestamps, UTC without an offset', () => {
    expect(parseDateTime('2026-03-01')).toBe(Date.UTC(2026, 2, 1));
    expect(parseDateTime('2026-03-01T12:30')).toBe(Date.UTC(2026, 2, 1, 12, 30));
    expect(parseDateTime('2026-03-01 12:30:15')).toBe(Date.UTC(2026, 2, 1, 12, 30, 15));
    expect(parseDateTime('2026-03-01T12:30:15.250Z')).toBe(Date.UTC(2026, 2, 1, 12, 30, 15, 250));
    expect(parseDateTime('2026-03-01T12:30:15+02:00')).toBe(Date.UTC(2026, 2, 1, 10, 30, 15));
    expect(parseDateTime('2026-03-01T12:30:15-0130')).toBe(Date.UTC(2026, 2, 1, 14, 0, 15));
    expect(parseDateTime(' 2024-02-29 ')).toBe(Date.UTC(2024, 1, 29));
  });

  it('refuses what is not a valid date or timestamp', () => {
    for (const text of ['2026-13-01', '2026-02-30', '2025-02-29', '2026-03-01T24:00', '2026-3-1', '20260301', '2026-03-01T12', 'March 1, 2026', '2026-03-01T12:00:00+25:00', '1', '', 'NA']) {
      expect(parseDateTime(text), text).toBeNaN();
    }
  });

  it('reads bytes as it reads text', () => {
    for (const text of ['2026-03-01', '2026-03-01T12:30:15.5Z', 'nope', '2026-02-30']) {
      const bytes = Buffer.from(`xx${text}yy`);
      expect(Object.is(parseDateTimeBytes(bytes, 2, 2 + text.length), parseDateTime(text)), text).toBe(true);
    }
  });
});

describe('CSV datetime columns', () => {
  it('types a column of ISO dates and timestamps datetime, with min and max as ISO text', () => {
    const profiler = new CsvProfiler();
    profiler.feed(Buffer.from('when,day,mixed,n\n2026-03-01T12:00:00+01:00,2026-01-02,2026-01-01,1\n,2025-12-31,soon,2\n2026-03-01T10:00:00Z,NA,2026-01-03,3\n'));
    const { columns } = profiler.finish();
    expect(columns.map((c) => c.type)).toEqual(['datetime', 'datetime', 'string', 'integer']);
    expect(columns[0]).toMatchObject({ min: '2026-03-01T10:00:00.000Z', max: '2026-03-01T11:00:00.000Z', missing_count: 1, distinct_count: 2, mean: null, std: null });
    expect(columns[1]).toMatchObject({ min: '2025-12-31T00:00:00.000Z', max: '2026-01-02T00:00:00.000Z', missing_count: 1 });
    expect(columns[2]).toMatchObject({ min: null, max: null });
  });
});
