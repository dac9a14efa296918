// API tokens: creation, listing, revocation and verification.
//
// A token is `ty_` + 32 random bytes in base64url, shown once at creation. Only its SHA-256 is
// stored: a fast hash is right for a high-entropy random secret (there is nothing to brute-force,
// unlike a password), and it lets verification find the row by hash with one indexed lookup. The
// found row's hash is then compared with the computed one in constant time (defence in depth).
//
// Verification is on the hot path of every request (predict must keep doing thousands per second),
// so a TokenVerifier caches the answer for a hash for `ttlMs` (5 s): a revocation made through the
// same process takes effect at once; one made elsewhere (another API server, the CLI) within that
// window. `last_used_at` is written at most once a minute per token and process, never awaited.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Database, ApiTokenTable } from '../store/metadata/schema.ts';
import { TrainyardError } from '../errors.ts';
import { newId, nowIso } from '../ids.ts';
import { toStoreUnavailable } from '../store/metadata/errors.ts';

export const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export const TOKEN_PREFIX = 'ty_';
/** `ty_` + base64url of 32 bytes (43 characters, no padding). */
const TOKEN_PATTERN = /^ty_[A-Za-z0-9_-]{43}$/;
export const TOKEN_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$';
const NAME_RE = new RegExp(TOKEN_NAME_PATTERN);

/** Who a verified token is: never the token or its hash. */
export interface TokenIdentity {
  id: string;
  name: string;
  scope: Scope;
}

/** A token as listings show it. */
export interface TokenInfo extends TokenIdentity {
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface CreatedToken extends TokenInfo {
  /** The secret itself; returned once, never stored. */
  token: string;
}

type Db = Kysely<Database>;
type TokenRow = Selectable<ApiTokenTable>;

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** Hex SHA-256 of the whole token string (prefix included). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** True when the string has a token's shape (cheap check before any hashing or lookup). */
export function looksLikeToken(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}

/** Constant-time equality of two hex digests (false for different lengths or non-hex input). */
export function hashesEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  if (left.length !== 32 || right.length !== 32) return false;
  return timingSafeEqual(left, right);
}

const toInfo = (row: TokenRow): TokenInfo => ({
  id: row.id,
  name: row.name,
  scope: row.scope as Scope,
  created_at: row.created_at,
  last_used_at: row.last_used_at,
  revoked_at: row.revoked_at,
});

function checkName(name: string): void {
  if (!NAME_RE.test(name) || name.startsWith('tok_')) {
    const message = name.startsWith('tok_')
      ? 'must not start with "tok_" (that is how token ids look)'
      : 'must be 1–100 characters: letters, digits, ".", "_", "@" or "-", starting with a letter or digit';
    throw new TrainyardError('INVALID_NAME', `token name ${message}`, { errors: [{ field: 'name', message }] });
  }
}

/** Creates a token. Names are unique among tokens that are not revoked, so `revoke <name>` is unambiguous. */
export async function createToken(db: Db, options: { name: string; scope: string }): Promise<CreatedToken> {
  checkName(options.name);
  if (!isScope(options.scope)) {
    const message = `must be one of ${SCOPES.join(', ')}`;
    throw new TrainyardError('VALIDATION_FAILED', `scope ${message}, got "${options.scope}"`, { errors: [{ field: 'scope', message }] });
  }
  const clash = await db.selectFrom('api_tokens').select('id').where('name', '=', options.name).where('revoked_at', 'is', null).executeTakeFirst();
  if (clash) {
    throw new TrainyardError('ALREADY_EXISTS', `an active token named "${options.name}" exists (${clash.id}); revoke it or pick another name`, {
      errors: [{ field: 'name', message: 'is already used by an active token' }],
    });
  }
  const token = generateToken();
  const row: TokenRow = {
    id: newId('tok'),
    name: options.name,
    scope: options.scope,
    token_hash: hashToken(token),
    created_at: nowIso(),
    last_used_at: null,
    revoked_at: null,
  };
  await db.insertInto('api_tokens').values(row).execute();
  return { ...toInfo(row), token };
}

/** Tokens newest first (revoked ones included, with `revoked_at`); `limit + 1` rows so callers can page. */
export async function listTokens(db: Db, options: { limit?: number; cursor?: string } = {}): Promise<TokenInfo[]> {
  let query = db.selectFrom('api_tokens').select(['id', 'name', 'scope', 'created_at', 'last_used_at', 'revoked_at']);
  if (options.cursor) query = query.where('id', '<', options.cursor);
  query = query.orderBy('id', 'desc');
  if (options.limit !== undefined) query = query.limit(options.limit + 1);
  return (await query.execute()).map((row) => toInfo({ ...row, token_hash: '' }));
}

/**
 * Revokes the token with this id, or else every active token with this name. Revoked rows stay
 * (for the record). Revoking an already revoked id is a no-op that keeps the first `revoked_at`.
 * Throws NOT_FOUND when nothing matches.
 */
export async function revokeToken(db: Db, idOrName: string): Promise<TokenInfo[]> {
  const now = nowIso();
  const byId = await db.selectFrom('api_tokens').selectAll().where('id', '=', idOrName).executeTakeFirst();
  const targets = byId
    ? [byId]
    : await db.selectFrom('api_tokens').selectAll().where('name', '=', idOrName).where('revoked_at', 'is', null).execute();
  if (targets.length === 0) throw new TrainyardError('NOT_FOUND', `no token has the id "${idOrName}" and no active token has that name`);
  const active = targets.filter((t) => t.revoked_at === null).map((t) => t.id);
  if (active.length > 0) {
    await db.updateTable('api_tokens').set({ revoked_at: now }).where('id', 'in', active).where('revoked_at', 'is', null).execute();
  }
  return targets.map((t) => toInfo(t.revoked_at === null ? { ...t, revoked_at: now } : t));
}

interface CacheEntry {
  identity: Promise<TokenIdentity | null>;
  /** The answer once the lookup settled (undefined while it is in flight). */
  settled?: TokenIdentity | null;
  expiresAt: number;
}

export interface TokenVerifierOptions {
  /** How long a verified (or rejected) token's answer is reused; the revocation window. */
  ttlMs?: number;
  /** Least time between two `last_used_at` writes for one token. */
  touchIntervalMs?: number;
  /** Most cached hashes (oldest dropped first), so random bad tokens cannot grow memory. */
  maxEntries?: number;
  now?: () => number;
  /** Told when a `last_used_at` write fails (it is never awaited by a request). */
  onTouchError?: (error: unknown) => void;
}

export const DEFAULT_CACHE_TTL_MS = 5_000;

export class TokenVerifier {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly touched = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly touchIntervalMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly onTouchError: (error: unknown) => void;

  constructor(
    private readonly db: Db,
    options: TokenVerifierOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? DEFAULT_CACHE_TTL_MS;
    this.touchIntervalMs = options.touchIntervalMs ?? 60_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
    this.onTouchError = options.onTouchError ?? (() => {});
  }

  /** The token's identity, or null when it is malformed, unknown or revoked. */
  async verify(token: string): Promise<TokenIdentity | null> {
    if (!looksLikeToken(token)) return null;
    const hash = hashToken(token);
    const known = this.settledAnswer(hash);
    if (known !== undefined) return known;
    const now = this.now();
    let entry = this.cache.get(hash);
    if (!entry || entry.expiresAt <= now) {
      if (entry) this.cache.delete(hash);
      const fresh: CacheEntry = { identity: this.lookup(hash), expiresAt: now + this.ttlMs };
      fresh.identity.then(
        (identity) => void (fresh.settled = identity),
        // A failed lookup (database down) is not an answer: don't keep it.
        () => void (this.cache.get(hash) === fresh && this.cache.delete(hash)),
      );
      this.cache.set(hash, fresh);
      this.evict();
      entry = fresh;
    }
    const identity = await entry.identity;
    if (identity) this.touch(identity.id, now);
    return identity;
  }

  /**
   * The answer without waiting, when there is one: the identity or null from a settled, fresh cache
   * entry (or null for a malformed token); undefined when only `verify` can tell. Lets the request
   * hook skip a promise on the hot path.
   */
  peek(token: string): TokenIdentity | null | undefined {
    return looksLikeToken(token) ? this.settledAnswer(hashToken(token)) : null;
  }

  private settledAnswer(hash: string): TokenIdentity | null | undefined {
    const entry = this.cache.get(hash);
    const now = this.now();
    if (!entry || entry.settled === undefined || entry.expiresAt <= now) return undefined;
    if (entry.settled) this.touch(entry.settled.id, now);
    return entry.settled;
  }

  /** Drops cached answers for these token ids (called after a revocation in this process). */
  forget(ids: Iterable<string>): void {
    const gone = new Set(ids);
    for (const [hash, entry] of this.cache) {
      // A lookup still in flight may have read the row before the revocation: drop it too.
      if (entry.settled === undefined || (entry.settled && gone.has(entry.settled.id))) this.cache.delete(hash);
    }
    for (const id of gone) this.touched.delete(id);
  }

  clear(): void {
    this.cache.clear();
    this.touched.clear();
  }

  get size(): number {
    return this.cache.size;
  }

  private async lookup(hash: string): Promise<TokenIdentity | null> {
    let row: Pick<TokenRow, 'id' | 'name' | 'scope' | 'token_hash' | 'last_used_at' | 'revoked_at'> | undefined;
    try {
      row = await this.db
        .selectFrom('api_tokens')
        .select(['id', 'name', 'scope', 'token_hash', 'last_used_at', 'revoked_at'])
        .where('token_hash', '=', hash)
        .executeTakeFirst();
    } catch (error) {
      throw toStoreUnavailable(error, 'metadata database (checking the API token)');
    }
    if (!row || !hashesEqual(row.token_hash, hash) || row.revoked_at !== null || !isScope(row.scope)) return null;
    if (row.last_used_at && !this.touched.has(row.id)) this.touched.set(row.id, Date.parse(row.last_used_at));
    return { id: row.id, name: row.name, scope: row.scope };
  }

  private touch(id: string, now: number): void {
    const last = this.touched.get(id);
    if (last !== undefined && now - last < this.touchIntervalMs) return;
    this.touched.set(id, now);
    this.db
      .updateTable('api_tokens')
      .set({ last_used_at: new Date(now).toISOString() })
      .where('id', '=', id)
      .execute()
      .catch(this.onTouchError);
  }

  private evict(): void {
    const excess = this.cache.size - this.maxEntries;
    if (excess <= 0) return;
    let dropped = 0;
    for (const hash of this.cache.keys()) {
      if (dropped++ >= excess) break;
      this.cache.delete(hash);
    }
  }
}
