import { describe, expect, it } from 'vitest';
import { timeOrderedId } from './request-id.ts';

describe('timeOrderedId', () => {
  it('is a version 7 UUID with the RFC variant', () => {
    expect(timeOrderedId()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('carries its millisecond timestamp in the first 48 bits', () => {
    const at = Date.UTC(2026, 11, 4, 4, 30, 0, 123);
    expect(Number.parseInt(timeOrderedId(at).replace('-', '').slice(0, 12), 16)).toBe(at);
  });

  it('sorts by time, so ids made later come later in an index', () => {
    const ids = [0, 1, 2, 1000, 86_400_000].map((offset) => timeOrderedId(1_700_000_000_000 + offset));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(Array.from({ length: 1000 }, () => timeOrderedId(5))).size).toBe(1000);
  });
});
