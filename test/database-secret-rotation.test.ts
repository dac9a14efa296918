// A process survives a rotation of its database password (TRAINYARD_DATABASE_SECRET_ARN): the
// MySQL store reads the credentials from Secrets Manager (aws-sdk-client-mock on
// @aws-sdk/client-secrets-manager's real command and response shapes) when it first connects,
// and again when MariaDB refuses a login, here after the test changed a throwaway user's password;
// it retries once with the new one. Without MariaDB (TRAINYARD_TEST_MYSQL_URL) only the
// configuration checks run.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { GetSecretValueCommand, SecretsManagerClient, type GetSecretValueCommandOutput } from '@aws-sdk/client-secrets-manager';
import { createConnection, type Connection } from 'mysql2/promise';
import { sql } from 'kysely';
import { loadConfig, storeEnvironment } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';
import { openMysqlStore } from '../src/store/metadata/mysql-store.ts';
import { secretConnectionSource } from '../src/store/metadata/database-secret.ts';
import type { MetadataStore } from '../src/store/metadata/metadata-store.ts';
import { MYSQL_SKIP_NOTE, MYSQL_URL } from './support/mysql.ts';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:TrainyardAppUser-AbCdEf';

describe('TRAINYARD_DATABASE_SECRET_ARN configuration', () => {
  it('replaces TRAINYARD_DATABASE_URL, and is what run-job processes are handed', () => {
    const config = loadConfig({ TRAINYARD_DATABASE_SECRET_ARN: SECRET_ARN, TRAINYARD_DB_NAME: 'trainyard', TRAINYARD_DATABASE_TLS: 'rds' });
    expect(config.databaseSecret).toEqual({ arn: SECRET_ARN, overrides: { TRAINYARD_DB_NAME: 'trainyard', TRAINYARD_DATABASE_TLS: 'rds' } });
    const env = storeEnvironment(config);
    expect(env).toMatchObject({ TRAINYARD_DATABASE_SECRET_ARN: SECRET_ARN, TRAINYARD_DB_NAME: 'trainyard', TRAINYARD_DATABASE_TLS: 'rds' });
    expect(env).not.toHaveProperty('TRAINYARD_DATABASE_URL');
  });

  it('refuses both a URL and a secret, and an unknown TLS mode', () => {
    expect(() => loadConfig({ TRAINYARD_DATABASE_SECRET_ARN: SECRET_ARN, TRAINYARD_DATABASE_URL: 'mysql://u:p@h/db' })).toThrow(ConfigError);
    expect(() => loadConfig({ TRAINYARD_DATABASE_SECRET_ARN: SECRET_ARN, TRAINYARD_DATABASE_TLS: 'on' })).toThrow(/TRAINYARD_DATABASE_TLS/);
  });
});

describe.skipIf(!MYSQL_URL)(`a MySQL store on a rotated secret${MYSQL_SKIP_NOTE}`, () => {
  const server = new URL(MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test');
  const database = server.pathname.slice(1);
  const user = `ty_rot_${randomBytes(4).toString('hex')}`;
  let root: Connection;
  let secrets: AwsClientStub<SecretsManagerClient>;
  let client: SecretsManagerClient;
  let store: MetadataStore | undefined;
  let password = '';

  /** GetSecretValue's answer for the RDS credential JSON Secrets Manager keeps. */
  function secretValue(): GetSecretValueCommandOutput {
    const credential = { engine: 'mysql', host: server.hostname, port: Number(server.port || 3306), username: user, password, dbname: database };
    return {
      $metadata: { httpStatusCode: 200 },
      ARN: SECRET_ARN,
      Name: 'TrainyardAppUser',
      VersionId: randomBytes(16).toString('hex'),
      SecretString: JSON.stringify(credential),
      VersionStages: ['AWSCURRENT'],
      CreatedDate: new Date(),
    };
  }

  /** The password the secret gives out from now on (what finishSecret of a rotation does). */
  const rotateSecret = (next: string) => (password = next);
  const setDatabasePassword = (next: string) => root.query(`ALTER USER '${user}'@'%' IDENTIFIED BY '${next}'`);
  const sessions = async () => {
    const [rows] = await root.query(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?`, [user]);
    return Number((rows as { n: number }[])[0]!.n);
  };
  const gets = () => secrets.commandCalls(GetSecretValueCommand);

  beforeAll(async () => {
    root = await createConnection({ uri: server.toString(), connectTimeout: 5000 });
    password = randomBytes(12).toString('hex');
    await root.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
    await root.query(`GRANT SELECT ON \`${database}\`.* TO '${user}'@'%'`);
  });

  afterAll(async () => {
    await root?.query(`DROP USER IF EXISTS '${user}'@'%'`);
    await root?.end();
  });

  beforeEach(() => {
    client = new SecretsManagerClient({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'never-sent' } });
    secrets = mockClient(client);
    secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).callsFake(secretValue);
    store = openMysqlStore(secretConnectionSource({ arn: SECRET_ARN, overrides: {} }, client));
  });

  afterEach(async () => {
    await store?.close();
    secrets.restore();
  });

  it('reads the secret once when it connects, then keeps using the pool', async () => {
    await store!.ping();
    await store!.ping();
    expect(gets()).toHaveLength(1);
    expect(gets()[0]!.args[0].input).toEqual({ SecretId: SECRET_ARN });
  });

  it('after the password changed, a new connection re-reads the secret, retries once and succeeds; the old pool ends when its connection is back', async () => {
    const db = store!.db;
    await db.transaction().execute(async (trx) => {
      // This connection logged in with the first password and stays logged in.
      await sql`select 1`.execute(trx);
      const next = randomBytes(12).toString('hex');
      await setDatabasePassword(next);
      rotateSecret(next);
      // The pool's only other way to run this is a new connection: a new login.
      const { rows } = await sql<{ two: number }>`select 2 as two`.execute(db);
      expect(rows).toEqual([{ two: 2 }]);
      expect(gets()).toHaveLength(2);
      await sql`select 3`.execute(trx);
    });
    // The replaced pool closed its connection once the transaction gave it back.
    await expect.poll(sessions, { timeout: 5000 }).toBe(1);
    await store!.ping();
    expect(gets()).toHaveLength(2);
  });

  it('when the secret still has the refused password, the error is the server’s, after one re-read', async () => {
    await store!.ping();
    await setDatabasePassword(randomBytes(12).toString('hex')); // the database changed, the secret did not
    const db = store!.db;
    let refused: unknown;
    await db.transaction().execute(async (trx) => {
      await sql`select 1`.execute(trx);
      refused = await sql`select 2`.execute(db).catch((error: unknown) => error);
    });
    expect((refused as { code?: string }).code).toBe('ER_ACCESS_DENIED_ERROR');
    expect(gets()).toHaveLength(2);
    await setDatabasePassword(password);
  });
});
