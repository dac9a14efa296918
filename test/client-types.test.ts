// The committed client types (src/client/generated/) must match what the server's route schemas
// produce today: a route change without `npx tsx scripts/gen-client.ts` fails here, and the types
// derived from them (src/client/types.ts) then break the CLI's and the dashboard's typecheck.
//
// Wording is not compared (descriptions, summaries, comments), only what the types are made of, so
// a reworded summary does not fail the suite; `npx tsx scripts/gen-client.ts --check` is the strict,
// byte-for-byte check. openapi-typescript comes from the dashboard's node_modules (npm ci --prefix web)
// unless the root package has it.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { API_DTS, OPENAPI_JSON, generateClientFiles } from '../scripts/gen-client.ts';

const WORDING = new Set(['description', 'summary', 'title', 'example', 'examples']);

/** The OpenAPI document without its prose. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([key, v]) => !(WORDING.has(key) && typeof v === 'string'))
        .map(([key, v]) => [key, shape(v)]),
    );
  }
  return value;
}

/** The generated TypeScript without comments and blank lines. */
function code(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '')
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== '')
    .join('\n');
}

describe('generated API client types', () => {
  it('match the route schemas (run `npx tsx scripts/gen-client.ts` when this fails)', async () => {
    const { openapiJson, apiDts } = await generateClientFiles();
    const [committedJson, committedDts] = await Promise.all([readFile(OPENAPI_JSON, 'utf8'), readFile(API_DTS, 'utf8')]);
    // The document first: its diff names the path or schema that changed.
    expect(shape(JSON.parse(committedJson)), 'src/client/generated/openapi.json is stale').toEqual(shape(JSON.parse(openapiJson)));
    expect(code(committedDts) === code(apiDts), 'src/client/generated/api.d.ts is stale').toBe(true);
  });
});
