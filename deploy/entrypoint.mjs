#!/usr/bin/env node
// Entrypoint of the images and of the systemd unit: `node deploy/entrypoint.mjs <trainyard args>`.
// When TRAINYARD_DATABASE_URL is not set and TRAINYARD_DB_SECRET is (the secret's JSON, injected
// by ECS / AWS Batch `secrets`: the migrate job, with the master user), it builds the URL from it;
// with TRAINYARD_APP_DB_SECRET too (the migrate job), it creates the application user if missing.
// Long-running processes (the API instances, training and inference jobs) are given
// TRAINYARD_DATABASE_SECRET_ARN instead and read the secret themselves when they connect, so that
// they survive its rotation (src/store/metadata/database-secret.ts).
// Then it runs the `trainyard` command with the same arguments, in this process.
import { databaseUrlFromSecret } from './database-url.mjs';

const env = process.env;
if (!env.TRAINYARD_DATABASE_URL && env.TRAINYARD_DB_SECRET) {
  try {
    env.TRAINYARD_DATABASE_URL = databaseUrlFromSecret(env.TRAINYARD_DB_SECRET, env);
  } catch (error) {
    process.stderr.write(`trainyard: ${error.message}\n`);
    process.exit(2);
  }
}
// The migrate job also gets the application user's secret: that user is created if missing.
if (env.TRAINYARD_APP_DB_SECRET && env.TRAINYARD_DATABASE_URL) {
  const { ensureAppUser } = await import('./app-user.mjs');
  try {
    await ensureAppUser(env.TRAINYARD_DATABASE_URL, env.TRAINYARD_APP_DB_SECRET);
  } catch (error) {
    process.stderr.write(`trainyard: could not create the application database user: ${error.message}\n`);
    process.exit(2);
  }
}
// The raw secrets are not needed past this point; child processes (the trainer) do not get them.
delete env.TRAINYARD_DB_SECRET;
delete env.TRAINYARD_APP_DB_SECRET;

await import('../bin/trainyard.mjs');
