// Expand/contract, checked: during a deploy the migrate job moves the schema forward while the
// previous release is still serving (old API instances, Batch jobs already running), and a
// rollback puts the previous release back on the migrated schema. So every migration must leave
// the previous release's queries working (docs/deploy.md, "Migrations: expand, then contract").
//
// This runs the previous release's own metadata store conformance suite, with its own store code
// (`git archive <previous release>`), against databases migrated by *this* checkout's
// `trainyard migrate`. Only the suite's fixture changes: its databases come migrated, and the two
// tests about the old migrator itself are left out (an old migrator refuses a schema with
// migrations it does not know, and it no longer runs in a deployment: the migrate job does).
//
// The previous release is TRAINYARD_PREVIOUS_RELEASE when set (deploy.yml sets it to the commit
// the stack runs now), else the parent of the commit that added the newest migration (or HEAD when
// that migration is not committed yet). SQLite always; MariaDB too with TRAINYARD_TEST_MYSQL_URL.
import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
const SUITE = 'test/metadata-store.conformance.test.ts';

function migrationFiles(dir = join(root, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return migrationFiles(path);
    return /\/migrations\/\d{4}_[\w-]+\.ts$/.test(path) && !path.endsWith('.test.ts') ? [relative(root, path)] : [];
  });
}

function previousRelease(): { commit: string; why: string } {
  const given = process.env.TRAINYARD_PREVIOUS_RELEASE;
  if (given) return { commit: git('rev-parse', '--verify', `${given}^{commit}`), why: 'TRAINYARD_PREVIOUS_RELEASE' };
  const newest = migrationFiles().sort((a, b) => a.split('/').pop()!.localeCompare(b.split('/').pop()!)).pop();
  if (!newest) throw new Error('no migrations found under src/');
  const added = git('log', '--diff-filter=A', '--format=%H', '-1', '--', newest);
  if (!added) return { commit: git('rev-parse', 'HEAD'), why: `${newest} is not committed yet` };
  return { commit: git('rev-parse', `${added}^`), why: `the parent of ${added.slice(0, 12)}, which added ${newest}` };
}

const FIXTURE = `// Written by test/deploy/migrations-compat.test.ts: the previous release's fixture, with every
// metadata database migrated by the current checkout's \`trainyard migrate\` before the suite sees it.
import { execFileSync } from 'node:child_process';
import { METADATA_STORES as PREVIOUS } from './stores.previous.ts';
export * from './stores.previous.ts';

export const METADATA_STORES = PREVIOUS.map((config) => ({
  ...config,
  async create() {
    const fixture = await config.create();
    execFileSync(process.execPath, [process.env.COMPAT_CURRENT_BIN, 'migrate'], {
      env: { ...process.env, TRAINYARD_DATABASE_URL: fixture.url, TRAINYARD_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (process.env.COMPAT_EXTRA_SQL && config.name === 'sqlite') {
      const { default: Database } = await import('better-sqlite3');
      const db = new Database(fixture.url.slice('sqlite:'.length));
      db.exec(process.env.COMPAT_EXTRA_SQL);
      db.close();
    }
    return fixture;
  },
}));
`;

const work = mkdtempSync(join(tmpdir(), 'trainyard-compat-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The previous release's tree (store code, test support, its suite) with the migrated fixture. */
function checkout(commit: string): string {
  const dir = join(work, commit.slice(0, 12));
  if (existsSync(dir)) return dir;
  mkdirSync(dir);
  const paths = ['package.json', 'vitest.config.ts', 'src', 'test/support', SUITE].filter((p) => git('ls-tree', '--name-only', commit, p) !== '');
  const archive = spawnSync('git', ['archive', '--format=tar', commit, ...paths], { cwd: root, maxBuffer: 1 << 30 });
  expect(archive.status, String(archive.stderr)).toBe(0);
  const untar = spawnSync('tar', ['-x', '-C', dir], { input: archive.stdout });
  expect(untar.status, String(untar.stderr)).toBe(0);
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  renameSync(join(dir, 'test/support/stores.ts'), join(dir, 'test/support/stores.previous.ts'));
  writeFileSync(join(dir, 'test/support/stores.ts'), FIXTURE);
  return dir;
}

interface VitestReport {
  numPassedTests: number;
  numFailedTests: number;
  testResults: { assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[];
}

function runSuite(dir: string, extraEnv: Record<string, string> = {}): VitestReport {
  const out = join(dir, `report-${Date.now()}.json`);
  const result = spawnSync(
    process.execPath,
    [join(root, 'node_modules/vitest/vitest.mjs'), 'run', SUITE, '--root', dir, '--reporter=json', `--outputFile=${out}`, '--testNamePattern', '^(?!.*migrat)'],
    { cwd: dir, encoding: 'utf8', env: { ...process.env, COMPAT_CURRENT_BIN: join(root, 'bin/trainyard.mjs'), ...extraEnv }, timeout: 240_000 },
  );
  if (!existsSync(out)) throw new Error(`the previous release's suite did not run:\n${result.stdout}\n${result.stderr}`);
  return JSON.parse(readFileSync(out, 'utf8')) as VitestReport;
}

const failures = (report: VitestReport) =>
  report.testResults.flatMap((f) => f.assertionResults.filter((a) => a.status === 'failed').map((a) => `${a.fullName}: ${a.failureMessages[0]?.split('\n')[0]}`));

describe('migrations are backward-compatible with the previous release', () => {
  const previous = previousRelease();

  it(`the previous release's store conformance suite passes on this release's schema (${previous.why})`, () => {
    const report = runSuite(checkout(previous.commit));
    expect(failures(report)).toEqual([]);
    // Round trips, numbers, unique violations, transactions: a real run, not an empty one.
    expect(report.numPassedTests).toBeGreaterThanOrEqual(10);
  }, 300_000);

  it('would catch a migration that breaks the previous release (a renamed column: contract before expand)', () => {
    // SQLite only: the break is injected there, and a MariaDB run would only add time.
    const report = runSuite(checkout(previous.commit), { COMPAT_EXTRA_SQL: 'ALTER TABLE models RENAME COLUMN description TO summary', TRAINYARD_TEST_MYSQL_URL: '' });
    expect(failures(report).some((f) => /sqlite.*round-trips/.test(f)), failures(report).join('\n')).toBe(true);
  }, 300_000);
});
