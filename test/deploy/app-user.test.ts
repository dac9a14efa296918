// The migrate job creates the application database user (deploy/app-user.mjs) that multi-user
// rotation then takes over: on MariaDB, with a throwaway user dropped afterwards.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnection } from 'mysql2/promise';
import { ensureAppUser } from '../../deploy/app-user.mjs';
import { MYSQL_SKIP_NOTE, MYSQL_URL } from '../support/mysql.ts';

describe.skipIf(!MYSQL_URL)(`ensureAppUser${MYSQL_SKIP_NOTE}`, () => {
  const master = new URL(MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test');
  const dbname = master.pathname.slice(1);
  const username = `ty_app_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const secret = (p: string) => JSON.stringify({ username, password: p, dbname, host: master.hostname, masterarn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:master' });
  const loginAs = (p: string) => {
    const url = new URL(master);
    url.username = username;
    url.password = p;
    return createConnection({ uri: url.toString(), connectTimeout: 5000 });
  };

  beforeAll(async () => {
    await ensureAppUser(master.toString(), secret(password));
  });

  afterAll(async () => {
    const root = await createConnection({ uri: master.toString() });
    await root.query('DROP USER IF EXISTS ?@?', [username, '%']);
    await root.end();
  });

  it('creates the user with the secret’s password and row access to its database, not schema changes', async () => {
    const app = await loginAs(password);
    try {
      const [rows] = await app.query('SELECT 1 AS one');
      expect(rows).toEqual([{ one: 1 }]);
      await expect(app.query('CREATE TABLE ty_app_denied (id INT)')).rejects.toMatchObject({ code: 'ER_TABLEACCESS_DENIED_ERROR' });
    } finally {
      await app.end();
    }
  });

  it('leaves an existing user’s password alone (rotation owns it)', async () => {
    await ensureAppUser(master.toString(), secret('another-password'));
    const app = await loginAs(password);
    await app.end();
    await expect(loginAs('another-password')).rejects.toMatchObject({ code: 'ER_ACCESS_DENIED_ERROR' });
  });
});
