// Database credentials read from Secrets Manager when the pool connects (TRAINYARD_DATABASE_SECRET_ARN),
// rather than once when the process starts: the secret is rotated (multi-user rotation, infra/),
// and a process that outlives a rotation must pick up the new password. The secret's JSON is an
// RDS credential (username, password, host, port, dbname), turned into a connection URL by
// deploy/database-url.mjs, the one implementation the container entrypoint uses too.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { databaseUrlFromSecret } from '../../../deploy/database-url.mjs';
import type { DatabaseSecretRef } from '../../config.ts';
import type { ConnectionSource } from './mysql-store.ts';

/**
 * The connection URL from the secret's current version: read on first use, then cached; read
 * again (concurrent callers sharing one request) when the pool's login was refused.
 */
export function secretConnectionSource(ref: DatabaseSecretRef, client: SecretsManagerClient = new SecretsManagerClient({})): ConnectionSource {
  let cached: string | undefined;
  let reading: Promise<string> | undefined;
  const fetchUrl = async () => {
    const answer = await client.send(new GetSecretValueCommand({ SecretId: ref.arn }));
    if (answer.SecretString === undefined) throw new Error(`the database secret ${ref.arn} has no SecretString`);
    cached = databaseUrlFromSecret(answer.SecretString, ref.overrides);
    return cached;
  };
  const read = () => (reading ??= fetchUrl().finally(() => (reading = undefined)));
  return {
    url(refresh) {
      return cached !== undefined && !refresh ? Promise.resolve(cached) : read();
    },
  };
}
