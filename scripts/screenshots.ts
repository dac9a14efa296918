// Regenerates the dashboard screenshots in docs/screenshots/ (referenced from docs/dashboard.md) by
// running the browser end-to-end test with TRAINYARD_SCREENSHOTS set: a fresh server, the real
// upload → model → training → predict flow, and a picture of each main page along the way.
//
//   npx tsx scripts/screenshots.ts
//
// Needs the dashboard built (npm ci --prefix web && npm run --prefix web build; the test builds it
// when web/dist is missing), Debian's chromium at /usr/bin/chromium, and PyTorch for the trainer.
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const result = spawnSync('npx', ['vitest', 'run', 'test/dashboard.e2e.test.ts'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, TRAINYARD_SCREENSHOTS: 'docs/screenshots' },
});
process.exitCode = result.status ?? 1;
