#!/usr/bin/env node
// Entrypoint of the images and of the systemd unit: `node deploy/entrypoint.mjs <trainyard args>`.
// When TRAINYARD_DATABASE_URL is not set it is assembled, at run time, from the database secret:
//   TRAINYARD_DB_SECRET      the secret's JSON, injected by ECS / AWS Batch `secrets` (containers)
//   TRAINYARD_DB_SECRET_ARN  fetched with the AWS CLI (EC2 instances, using the instance role)
// Then it runs the `trainyard` command with the same arguments, in this process.
import { execFileSync } from 'node:child_process';
import { databaseUrlFromSecret } from './database-url.mjs';

const env = process.env;
if (!env.TRAINYARD_DATABASE_URL) {
  let secret = env.TRAINYARD_DB_SECRET;
  if (!secret && env.TRAINYARD_DB_SECRET_ARN) {
    try {
      secret = execFileSync(
        env.TRAINYARD_AWS_CLI || 'aws',
        ['secretsmanager', 'get-secret-value', '--secret-id', env.TRAINYARD_DB_SECRET_ARN, '--query', 'SecretString', '--output', 'text'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
      ).trim();
    } catch (error) {
      process.stderr.write(`trainyard: could not read the database secret ${env.TRAINYARD_DB_SECRET_ARN}: ${error.message}\n`);
      process.exit(2);
    }
  }
  if (secret) {
    try {
      env.TRAINYARD_DATABASE_URL = databaseUrlFromSecret(secret, env);
    } catch (error) {
      process.stderr.write(`trainyard: ${error.message}\n`);
      process.exit(2);
    }
  }
}
// The raw secret is not needed past this point; child processes (the trainer) do not get it.
delete env.TRAINYARD_DB_SECRET;

await import('../bin/trainyard.mjs');
