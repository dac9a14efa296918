// Runs the CodeDeploy lifecycle for real, as the agent would on an instance: the hooks from
// appspec.yml in order, the Install step copying the revision into a temporary install directory,
// systemctl replaced by a shim (test/deploy/fixtures/systemctl-shim.sh) that runs the installed
// unit's ExecStart, and a local server on a free port with SQLite. Then checks that a failing
// migration stops the deployment in AfterInstall.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse } from 'yaml';

const root = resolve(import.meta.dirname, '../..');
const shim = join(root, 'test/deploy/fixtures/systemctl-shim.sh');

interface AppSpec {
  files: { source: string; destination: string }[];
  hooks: Record<string, { location: string; timeout: number; runas?: string }[]>;
}
const appspec = parse(readFileSync(join(root, 'appspec.yml'), 'utf8')) as AppSpec;
// A deployment starts node a few times (migrate, server); on a loaded two-core machine that can
// take far longer than the ~10 s it takes when idle.
const HEAVY = 150_000;
const ORDER = ['ApplicationStop', 'BeforeInstall', 'Install', 'AfterInstall', 'ApplicationStart', 'ValidateService'] as const;

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

let work: string;
let installDir: string;
let port: number;
let env: NodeJS.ProcessEnv;

/** The revision: what `git archive` puts in the bundle, less what the server doesn't need here. */
function installRevision(): void {
  for (const path of ['package.json', 'package-lock.json', 'appspec.yml', 'bin', 'src', 'deploy']) {
    cpSync(join(root, path), join(installDir, path), { recursive: true });
  }
  // Reuse the repository's dependencies rather than `npm ci` (TRAINYARD_SKIP_NPM_CI=1).
  if (!existsSync(join(installDir, 'node_modules'))) symlinkSync(join(root, 'node_modules'), join(installDir, 'node_modules'), 'dir');
}

function writeEnvFile(databaseUrl: string): void {
  writeFileSync(
    join(work, 'trainyard.env'),
    [
      'TRAINYARD_HOST=127.0.0.1',
      `TRAINYARD_PORT=${port}`,
      `TRAINYARD_DATA_DIR=${join(work, 'data')}`,
      `TRAINYARD_DATABASE_URL=${databaseUrl}`,
      'TRAINYARD_AUTO_MIGRATE=false',
      'TRAINYARD_LOG_LEVEL=warn',
      '',
    ].join('\n'),
  );
}

function runHook(hook: string, extraEnv: NodeJS.ProcessEnv = {}) {
  if (hook === 'Install') {
    installRevision();
    return { status: 0, stdout: '', stderr: '' };
  }
  const [entry] = appspec.hooks[hook];
  // CodeDeploy runs hook scripts from the unpacked revision (the archive), not the install directory.
  return spawnSync(join(root, entry.location), [], { cwd: root, env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 90_000 });
}

function readyz(): Promise<{ status: number; body: { ready: boolean } }> {
  return fetch(`http://127.0.0.1:${port}/readyz`).then(async (r) => ({ status: r.status, body: (await r.json()) as { ready: boolean } }));
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'trainyard-codedeploy-'));
  installDir = join(work, 'app');
  mkdirSync(join(work, 'state'));
  port = await freePort();
  writeEnvFile(`sqlite:${join(work, 'data', 'trainyard.db')}`);
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TRAINYARD_ENV_FILE: join(work, 'trainyard.env'),
    TRAINYARD_INSTALL_DIR: installDir,
    TRAINYARD_SYSTEMCTL: shim,
    TRAINYARD_SYSTEMD_DIR: join(work, 'systemd'),
    TRAINYARD_USER: userInfo().username,
    TRAINYARD_NODE: process.execPath,
    TRAINYARD_SKIP_NPM_CI: '1',
    TRAINYARD_VALIDATE_TIMEOUT: '60',
    SHIM_UNIT_DIR: join(work, 'systemd'),
    SHIM_STATE_DIR: join(work, 'state'),
  };
});

afterAll(() => {
  if (!work) return;
  spawnSync(shim, ['stop', 'trainyard'], { env });
  rmSync(work, { recursive: true, force: true });
});

describe('appspec.yml', () => {
  it('installs the revision into /opt/trainyard/app and names a script for every lifecycle hook', () => {
    expect(appspec.files).toEqual([{ source: '/', destination: '/opt/trainyard/app' }]);
    for (const hook of ORDER.filter((h) => h !== 'Install')) {
      const [entry] = appspec.hooks[hook];
      expect(existsSync(join(root, entry.location)), entry.location).toBe(true);
      expect(entry.timeout).toBeGreaterThan(0);
    }
  });
});

describe('a CodeDeploy deployment, hook by hook', () => {
  it('installs, migrates, starts the server under the unit and validates /readyz', async () => {
    for (const hook of ORDER) {
      const result = runHook(hook);
      expect(result.status, `${hook}\n${result.stdout}\n${result.stderr}`).toBe(0);
      if (hook === 'AfterInstall') expect(result.stdout).toMatch(/applied: /);
    }
    const unit = readFileSync(join(work, 'systemd', 'trainyard.service'), 'utf8');
    expect(unit).toContain(`ExecStart=${process.execPath} ${installDir}/deploy/entrypoint.mjs server`);
    expect(unit).toContain(`EnvironmentFile=-${join(work, 'trainyard.env')}`);
    const { status, body } = await readyz();
    expect(status).toBe(200);
    expect(body.ready).toBe(true);
    const calls = readFileSync(join(work, 'state', 'calls.log'), 'utf8');
    expect(calls).toMatch(/daemon-reload[\s\S]*enable trainyard[\s\S]*restart trainyard/);
  }, HEAVY);

  const systemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
  it.skipIf(!systemdAnalyze)('installs a unit that systemd-analyze verify accepts', () => {
    const result = spawnSync('systemd-analyze', ['verify', join(work, 'systemd', 'trainyard.service')], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('deploys again over a running server: stops it, finds the database up to date, restarts', async () => {
    const before = readFileSync(join(work, 'state', 'trainyard.pid'), 'utf8');
    for (const hook of ORDER) {
      const result = runHook(hook);
      expect(result.status, `${hook}\n${result.stdout}\n${result.stderr}`).toBe(0);
      if (hook === 'ApplicationStop') expect(existsSync(join(work, 'state', 'trainyard.pid'))).toBe(false);
      if (hook === 'AfterInstall') expect(result.stdout).toMatch(/database is up to date/);
    }
    expect(readFileSync(join(work, 'state', 'trainyard.pid'), 'utf8')).not.toBe(before);
    expect((await readyz()).status).toBe(200);
  }, HEAVY);

  it('stops in AfterInstall when the migration fails, before the unit is replaced or anything starts', () => {
    const stop = runHook('ApplicationStop');
    expect(stop.status).toBe(0);
    const unitBefore = readFileSync(join(work, 'systemd', 'trainyard.service'), 'utf8');
    // A database path below a regular file: unusable for any user, root included.
    writeFileSync(join(work, 'not-a-directory'), '');
    writeEnvFile(`sqlite:${join(work, 'not-a-directory', 'trainyard.db')}`);
    try {
      expect(runHook('BeforeInstall').status).toBe(0);
      runHook('Install');
      const result = runHook('AfterInstall', { TRAINYARD_SYSTEMD_DIR: join(work, 'systemd-new') });
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/trainyard migrate failed: the deployment stops here/);
      expect(existsSync(join(work, 'systemd-new', 'trainyard.service'))).toBe(false);
      expect(readFileSync(join(work, 'systemd', 'trainyard.service'), 'utf8')).toBe(unitBefore);
      expect(existsSync(join(work, 'state', 'trainyard.pid'))).toBe(false);
    } finally {
      writeEnvFile(`sqlite:${join(work, 'data', 'trainyard.db')}`);
    }
  }, HEAVY);

  it('fails ValidateService when /readyz never answers within the deadline', () => {
    const started = Date.now();
    const result = runHook('ValidateService', { TRAINYARD_VALIDATE_TIMEOUT: '2' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/did not answer 200 within 2s/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
