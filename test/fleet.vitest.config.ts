// Runs the database-outage acceptance with the real MariaDB stopped and restarted
// (TRAINYARD_TEST_STOP_MARIADB=1). That stops the server every MariaDB test shares, so this file
// runs alone, after the main suite, never beside other MariaDB tests:
//
//   TRAINYARD_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test npx vitest run --config test/fleet.vitest.config.ts
//
// In the main suite (vitest.config.ts) the same file runs with a TCP proxy in place of the stop,
// which is safe in parallel.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/fleet.db-outage.test.ts'],
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 300_000,
    hookTimeout: 120_000,
    env: { TRAINYARD_TEST_STOP_MARIADB: '1' },
  },
});
