import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, TrainyardError, problemType } from './errors.ts';
import { JOB_ERROR_CODES } from './jobs/errors.ts';

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
/** The text of one `## ` section of docs/errors.md. */
const section = (title: string): string => doc.split(/^## /m).find((part) => part.startsWith(title)) ?? '';
const documented = new Map([...section('API error codes').matchAll(/^\| `([A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]));
const documentedJobCodes = new Map(
  [...section('Job error codes').matchAll(/^\| `([A-Z0-9_]+)` \| (\d{3}) \| (yes|no) \|/gm)].map((m) => [m[1], { status: Number(m[2]), retryable: m[3] === 'yes' }]),
);

describe('error registry', () => {
  it('documents every code in docs/errors.md with its status, and nothing else', () => {
    for (const [code, { status }] of Object.entries(ERROR_CODES)) expect(documented.get(code), code).toBe(status);
    expect([...documented.keys()].sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it('documents every job error code with its status and whether it is retried, and nothing else', () => {
    for (const [code, { status, retryable }] of Object.entries(JOB_ERROR_CODES)) expect(documentedJobCodes.get(code), code).toEqual({ status, retryable });
    expect([...documentedJobCodes.keys()].sort()).toEqual(Object.keys(JOB_ERROR_CODES).sort());
  });

  it('gives each error its registry status and a stable problem type', () => {
    const error = new TrainyardError('CSV_RAGGED_ROW', 'line 3', { errors: [{ field: 'body', line: 3, message: 'x' }] });
    expect(error.status).toBe(400);
    expect(problemType('CSV_RAGGED_ROW')).toBe('urn:trainyard:problem:csv-ragged-row');
  });
});
