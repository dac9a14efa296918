// The application user (the stack's multi-user rotated secret) must exist before rotation can
// take it over: the migrate job, which logs in as the master user, creates it when it is missing,
// with the secret's current password, and grants it what the API and the jobs do (rows, not
// schema). An existing user keeps its password: rotation owns it from then on.
import { createConnection } from 'mysql2/promise';

/**
 * @param {string} masterUrl mysql:// URL of the master user
 * @param {string} appSecretString the application user's secret JSON (username, password, dbname)
 */
export async function ensureAppUser(masterUrl, appSecretString) {
  let secret;
  try {
    secret = JSON.parse(appSecretString);
  } catch {
    throw new Error('the application user secret is not JSON');
  }
  const { username, password, dbname } = secret;
  if (!username || !password || !dbname) throw new Error('the application user secret lacks username, password or dbname');
  const connection = await createConnection({ uri: masterUrl, connectTimeout: 10_000 });
  try {
    await connection.query('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?', [username, '%', password]);
    await connection.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${connection.escapeId(dbname)}.* TO ?@?`, [username, '%']);
  } finally {
    await connection.end();
  }
}
