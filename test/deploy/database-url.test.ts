// The stack's MySQL refuses connections without TLS (require_secure_transport), so every process
// it starts sets TRAINYARD_DATABASE_TLS=rds and deploy/database-url.mjs asks mysql2 for TLS
// verified against the Amazon RDS CA bundle. Checked here with mysql2's own option parsing, the
// one the store's pool uses (createPool({ uri })).
import { describe, it, expect } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { createPool } from 'mysql2';
import { databaseUrlFromSecret } from '../../deploy/database-url.mjs';

interface ParsedConfig {
  host: string;
  database: string;
  ssl: false | { ca: string[]; rejectUnauthorized: boolean };
}
/** The connection options mysql2 derives from a URL, as the store's pool does (no connection is made). */
function parse(uri: string): ParsedConfig {
  const pool = createPool({ uri });
  const config = (pool as unknown as { config: { connectionConfig: ParsedConfig } }).config.connectionConfig;
  pool.end(() => {});
  return config;
}
const secret = JSON.stringify({ username: 'trainyard', password: 'p@ss/word', host: 'db.abc.us-east-1.rds.amazonaws.com', port: 3306 });

describe('database URL from the RDS secret', () => {
  it('with TRAINYARD_DATABASE_TLS=rds, mysql2 connects over TLS, verifying the server with the RDS CA bundle', () => {
    const url = databaseUrlFromSecret(secret, { TRAINYARD_DATABASE_TLS: 'rds', TRAINYARD_DB_NAME: 'trainyard' });
    const config = parse(url);
    expect(config.host).toBe('db.abc.us-east-1.rds.amazonaws.com');
    expect(config.database).toBe('trainyard');
    expect(config.ssl).not.toBe(false);
    const ssl = config.ssl as { ca: string[]; rejectUnauthorized: boolean };
    expect(ssl.rejectUnauthorized).toBe(true);
    // Real certificates: the RDS global roots (rds-ca-rsa2048-g1 and its siblings) among them.
    const subjects = ssl.ca.map((pem) => new X509Certificate(pem).subject);
    expect(subjects.length).toBeGreaterThan(10);
    expect(subjects.some((s) => /Amazon RDS .*(RSA2048|Root)/.test(s))).toBe(true);
  });

  it('without it, no TLS (local and test databases); anything else is refused', () => {
    expect(parse(databaseUrlFromSecret(secret, {})).ssl).toBe(false);
    expect(() => databaseUrlFromSecret(secret, { TRAINYARD_DATABASE_TLS: 'yes' })).toThrow(/must be "rds"/);
  });
});
