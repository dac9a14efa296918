// The committed client types (src/client/generated/) must match what the server's route schemas
// produce today: a route change without `npx tsx scripts/gen-client.ts` fails here, and the
// types derived from them (src/client/types.ts) then break the CLI's and the dashboard's build.
// openapi-typescript comes from the dashboard's node_modules (npm ci --prefix web).
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { API_DTS, OPENAPI_JSON, generateClientFiles } from '../scripts/gen-client.ts';

describe('generated API client types', () => {
  it('are up to date with the route schemas (run `npx tsx scripts/gen-client.ts` when this fails)', async () => {
    const { openapiJson, apiDts } = await generateClientFiles();
    const [committedJson, committedDts] = await Promise.all([readFile(OPENAPI_JSON, 'utf8'), readFile(API_DTS, 'utf8')]);
    // Compare the documents structurally first: the diff of a path or schema is the useful message.
    expect(JSON.parse(committedJson), 'src/client/generated/openapi.json is stale').toEqual(JSON.parse(openapiJson));
    expect(committedDts === apiDts, 'src/client/generated/api.d.ts is stale').toBe(true);
  });
});
