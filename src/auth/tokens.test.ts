import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { type MetadataStore } from '../store/metadata/metadata-store.ts';
import { openMetadataStore } from '../store/metadata/open-metadata-store.ts';
import { migrateToLatest } from '../store/metadata/migrate.ts';
import { TrainyardError } from '../errors.ts';
import { TokenVerifier, createToken, generateToken, hashToken, hashesEqual, listTokens, looksLikeToken, revokeToken } from './tokens.ts';

let store: MetadataStore;

beforeEach(async () => {
  store = await openMetadataStore('sqlite::memory:');
  await migrateToLatest(store);
});

afterEach(async () => {
  await store.close();
});

async function rejection(promise: Promise<unknown>): Promise<TrainyardError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TrainyardError) return error;
    throw error;
  }
  throw new Error('expected a TrainyardError');
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('token format and hashing', () => {
  it('makes ty_ + 43 base64url characters (32 random bytes), different every time', () => {
    const a = generateToken();
    const b = generateToken();
    expect(a).toMatch(/^ty_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.slice(3), 'base64url')).toHaveLength(32);
    expect(a).not.toBe(b);
    expect(looksLikeToken(a)).toBe(true);
    expect(looksLikeToken(`${a}x`)).toBe(false);
    expect(looksLikeToken('ty_short')).toBe(false);
    expect(looksLikeToken(a.replace('ty_', 'tz_'))).toBe(false);
  });

  it('hashes with SHA-256 (hex) and compares digests in constant time', () => {
    const token = generateToken();
    const hash = hashToken(token);
    expect(hash).toBe(createHash('sha256').update(token).digest('hex'));
    expect(hash).toHaveLength(64);
    expect(hashesEqual(hash, hashToken(token))).toBe(true);
    expect(hashesEqual(hash, hashToken(generateToken()))).toBe(false);
    expect(hashesEqual(hash, hash.slice(2))).toBe(false);
    expect(hashesEqual(hash, 'not hex')).toBe(false);
  });
});

describe('createToken / listTokens', () => {
  it('stores only the hash, and lists never show hashes or secrets', async () => {
    const created = await createToken(store.db, { name: 'ci', scope: 'write' });
    expect(created).toMatchObject({ name: 'ci', scope: 'write', last_used_at: null, revoked_at: null });
    expect(created.id).toMatch(/^tok_/);
    const rows = await store.db.selectFrom('api_tokens').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0].token_hash).toBe(hashToken(created.token));
    expect(JSON.stringify(rows)).not.toContain(created.token);

    const listed = await listTokens(store.db);
    expect(listed).toEqual([{ id: created.id, name: 'ci', scope: 'write', created_at: created.created_at, last_used_at: null, revoked_at: null }]);
    expect(JSON.stringify(listed)).not.toContain(created.token.slice(3));
    expect(JSON.stringify(listed)).not.toContain(rows[0].token_hash);
  });

  it('refuses bad names and scopes, and a second active token of the same name', async () => {
    expect((await rejection(createToken(store.db, { name: '', scope: 'read' }))).code).toBe('INVALID_NAME');
    expect((await rejection(createToken(store.db, { name: 'has space', scope: 'read' }))).code).toBe('INVALID_NAME');
    expect((await rejection(createToken(store.db, { name: 'tok_abc', scope: 'read' }))).code).toBe('INVALID_NAME');
    const scope = await rejection(createToken(store.db, { name: 'x', scope: 'root' }));
    expect(scope.code).toBe('VALIDATION_FAILED');
    expect(scope.errors[0].field).toBe('scope');
    await createToken(store.db, { name: 'dup', scope: 'read' });
    expect((await rejection(createToken(store.db, { name: 'dup', scope: 'admin' }))).code).toBe('ALREADY_EXISTS');
    await revokeToken(store.db, 'dup');
    await expect(createToken(store.db, { name: 'dup', scope: 'admin' })).resolves.toMatchObject({ name: 'dup' });
  });

  it('pages newest first', async () => {
    const made = [];
    for (const name of ['a', 'b', 'c']) {
      made.push(await createToken(store.db, { name, scope: 'read' }));
      await new Promise((resolve) => setTimeout(resolve, 3)); // ids order by millisecond
    }
    const first = await listTokens(store.db, { limit: 2 });
    expect(first.map((t) => t.name)).toEqual(['c', 'b', 'a']); // limit + 1 rows
    const rest = await listTokens(store.db, { limit: 2, cursor: first[1].id });
    expect(rest.map((t) => t.name)).toEqual(['a']);
  });
});

describe('revokeToken', () => {
  it('revokes by id or by name, keeps the row, and 404s on neither', async () => {
    const a = await createToken(store.db, { name: 'a', scope: 'read' });
    const b = await createToken(store.db, { name: 'b', scope: 'admin' });
    const [byId] = await revokeToken(store.db, a.id);
    expect(byId.revoked_at).not.toBeNull();
    const [byName] = await revokeToken(store.db, 'b');
    expect(byName.id).toBe(b.id);
    const listed = await listTokens(store.db);
    expect(listed.every((t) => t.revoked_at !== null)).toBe(true);
    // Again by id: a no-op that keeps the first time. By name: no active token of that name.
    const [again] = await revokeToken(store.db, a.id);
    expect(again.revoked_at).toBe(byId.revoked_at);
    expect((await rejection(revokeToken(store.db, 'b'))).code).toBe('NOT_FOUND');
    expect((await rejection(revokeToken(store.db, 'nobody'))).code).toBe('NOT_FOUND');
  });
});

describe('TokenVerifier', () => {
  it('returns {id, name, scope} for a good token and null for anything else', async () => {
    const created = await createToken(store.db, { name: 'svc', scope: 'write' });
    const verifier = new TokenVerifier(store.db);
    expect(await verifier.verify(created.token)).toEqual({ id: created.id, name: 'svc', scope: 'write' });
    expect(await verifier.verify(generateToken())).toBeNull();
    expect(await verifier.verify('ty_nope')).toBeNull();
    expect(await verifier.verify(created.token.toUpperCase())).toBeNull();
    expect(await verifier.verify('')).toBeNull();
  });

  it('caches answers for the TTL: a revocation elsewhere lands within the window, forget() at once', async () => {
    let now = 1_000_000;
    const created = await createToken(store.db, { name: 'svc', scope: 'read' });
    const verifier = new TokenVerifier(store.db, { ttlMs: 5_000, now: () => now });
    expect(await verifier.verify(created.token)).not.toBeNull();

    await revokeToken(store.db, created.id); // e.g. the CLI, or another API server
    now += 4_000;
    expect(await verifier.verify(created.token)).not.toBeNull(); // still cached
    now += 1_001;
    expect(await verifier.verify(created.token)).toBeNull(); // window over

    const other = await createToken(store.db, { name: 'other', scope: 'read' });
    expect(await verifier.verify(other.token)).not.toBeNull();
    await revokeToken(store.db, other.id);
    verifier.forget([other.id]); // a revocation through this process
    expect(await verifier.verify(other.token)).toBeNull();
  });

  it('does one database lookup per hash per window, even for concurrent requests', async () => {
    const created = await createToken(store.db, { name: 'svc', scope: 'read' });
    let selects = 0;
    const counting = store.db.withPlugin({
      transformQuery: (args) => {
        if (args.node.kind === 'SelectQueryNode') selects++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    });
    const verifier = new TokenVerifier(counting);
    expect(verifier.peek(created.token)).toBeUndefined(); // nothing known yet: only verify() can tell
    expect(verifier.peek('garbage')).toBeNull();
    const answers = await Promise.all(Array.from({ length: 50 }, () => verifier.verify(created.token)));
    expect(answers.every((a) => a?.id === created.id)).toBe(true);
    for (let i = 0; i < 1000; i++) await verifier.verify(created.token);
    expect(verifier.peek(created.token)).toEqual({ id: created.id, name: 'svc', scope: 'read' });
    expect(selects).toBe(1);
  });

  it('writes last_used_at at most once a minute', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const created = await createToken(store.db, { name: 'svc', scope: 'read' });
    const verifier = new TokenVerifier(store.db, { ttlMs: 5_000, now: () => now });
    const lastUsed = async () => (await store.db.selectFrom('api_tokens').select('last_used_at').where('id', '=', created.id).executeTakeFirstOrThrow()).last_used_at;

    await verifier.verify(created.token);
    await flush();
    expect(await lastUsed()).toBe('2026-01-01T00:00:00.000Z');
    now += 30_000;
    await verifier.verify(created.token);
    await flush();
    expect(await lastUsed()).toBe('2026-01-01T00:00:00.000Z');
    now += 31_000;
    await verifier.verify(created.token);
    await flush();
    expect(await lastUsed()).toBe('2026-01-01T00:01:01.000Z');
  });

  it('bounds the cache so random bad tokens cannot grow memory', async () => {
    const verifier = new TokenVerifier(store.db, { maxEntries: 10 });
    for (let i = 0; i < 50; i++) expect(await verifier.verify(generateToken())).toBeNull();
    expect(verifier.size).toBeLessThanOrEqual(10);
  });

  it('does not cache a failed lookup', async () => {
    const created = await createToken(store.db, { name: 'svc', scope: 'read' });
    let fail = true;
    const flaky = store.db.withPlugin({
      transformQuery: (args) => {
        if (fail) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        return args.node;
      },
      transformResult: async (args) => args.result,
    });
    const verifier = new TokenVerifier(flaky);
    const error = await rejection(verifier.verify(created.token));
    expect(error.code).toBe('STORE_UNAVAILABLE');
    expect(error.message).not.toContain(created.token);
    fail = false;
    expect(await verifier.verify(created.token)).toMatchObject({ id: created.id });
  });
});
