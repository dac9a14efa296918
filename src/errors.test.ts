import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, TrainyardError, problemType } from './errors.ts';

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
const documented = new Map([...doc.matchAll(/^\| `([A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]));

describe('error registry', () => {
  it('documents every code in docs/errors.md with its status, and nothing else', () => {
    for (const [code, { status }] of Object.entries(ERROR_CODES)) expect(documented.get(code), code).toBe(status);
    expect([...documented.keys()].sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it('gives each error its registry status and a stable problem type', () => {
    const error = new TrainyardError('CSV_RAGGED_ROW', 'line 3', { errors: [{ field: 'body', line: 3, message: 'x' }] });
    expect(error.status).toBe(400);
    expect(problemType('CSV_RAGGED_ROW')).toBe('urn:trainyard:problem:csv-ragged-row');
  });
});
