// Runs the CodeDeploy lifecycle for real, as the agent would on an instance: the hooks from
// appspec.yml in order, the Install step copying the revision into a temporary install directory,
// systemctl replaced by a shim (test/deploy/fixtures/systemctl-shim.sh) that runs the installed
// unit's ExecStart, the AWS CLI by one that serves the settings parameter
// (test/deploy/fixtures/aws-cli-shim.sh), and a local server on a free port with SQLite. The
// database is migrated first, as deploy.yml's migrate job does; the hooks never migrate.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse } from 'yaml';

const root = resolve(import.meta.dirname, '../..');
const shim = join(root, 'test/deploy/fixtures/systemctl-shim.sh');
const awsShim = join(root, 'test/deploy/fixtures/aws-cli-shim.sh');
const PARAMETER = '/Trainyard/api/env';

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
  // The revision brings its node_modules (deploy/build-revision.sh): the repository's stand in.
  if (!existsSync(join(installDir, 'node_modules'))) symlinkSync(join(root, 'node_modules'), join(installDir, 'node_modules'), 'dir');
}

/** The settings as the stack stores them: the SSM parameter BeforeInstall writes to the env file. */
function writeEnvFile(databaseUrl: string): void {
  writeFileSync(
    join(work, 'ssm', PARAMETER.replaceAll('/', '_')),
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
  mkdirSync(join(work, 'ssm'));
  writeFileSync(join(work, 'instance.env'), `TRAINYARD_ENV_PARAMETER=${PARAMETER}\nAWS_REGION=us-east-1\n`);
  port = await freePort();
  writeEnvFile(`sqlite:${join(work, 'data', 'trainyard.db')}`);
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TRAINYARD_INSTANCE_ENV_FILE: join(work, 'instance.env'),
    TRAINYARD_ENV_FILE: join(work, 'trainyard.env'),
    TRAINYARD_AWS_CLI: awsShim,
    SHIM_SSM_DIR: join(work, 'ssm'),
    TRAINYARD_INSTALL_DIR: installDir,
    TRAINYARD_SYSTEMCTL: shim,
    TRAINYARD_SYSTEMD_DIR: join(work, 'systemd'),
    TRAINYARD_USER: userInfo().username,
    TRAINYARD_NODE: process.execPath,
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

/** What deploy.yml's migrate job does before any deployment: `trainyard migrate`, once. */
function migrate(databaseUrl: string) {
  mkdirSync(join(work, 'data'), { recursive: true });
  return spawnSync(process.execPath, [join(root, 'deploy/entrypoint.mjs'), 'migrate'], { env: { ...env, TRAINYARD_DATABASE_URL: databaseUrl }, encoding: 'utf8', timeout: 90_000 });
}

describe('a CodeDeploy deployment, hook by hook', () => {
  it('writes the settings from SSM, installs, starts the server under the unit and validates /readyz', async () => {
    const migrated = migrate(`sqlite:${join(work, 'data', 'trainyard.db')}`);
    expect(migrated.status, migrated.stderr).toBe(0);
    for (const hook of ORDER) {
      const result = runHook(hook);
      expect(result.status, `${hook}\n${result.stdout}\n${result.stderr}`).toBe(0);
      if (hook === 'BeforeInstall') expect(readFileSync(join(work, 'trainyard.env'), 'utf8')).toContain(`TRAINYARD_PORT=${port}`);
    }
    expect(readFileSync(join(work, 'state', 'aws.log'), 'utf8')).toContain(`ssm get-parameter --name ${PARAMETER}`);
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

  it('deploys again over a running server: stops it, picks up changed settings, restarts', async () => {
    const before = readFileSync(join(work, 'state', 'trainyard.pid'), 'utf8');
    const parameter = join(work, 'ssm', PARAMETER.replaceAll('/', '_'));
    writeFileSync(parameter, `${readFileSync(parameter, 'utf8')}TRAINYARD_TEST_CHANGED_SETTING=yes\n`);
    for (const hook of ORDER) {
      const result = runHook(hook);
      expect(result.status, `${hook}\n${result.stdout}\n${result.stderr}`).toBe(0);
      if (hook === 'ApplicationStop') expect(existsSync(join(work, 'state', 'trainyard.pid'))).toBe(false);
    }
    expect(readFileSync(join(work, 'trainyard.env'), 'utf8')).toContain('TRAINYARD_TEST_CHANGED_SETTING=yes');
    expect(readFileSync(join(work, 'state', 'trainyard.pid'), 'utf8')).not.toBe(before);
    expect((await readyz()).status).toBe(200);
  }, HEAVY);

  it('never touches the database in AfterInstall: a rollback must not run an older migrator on a newer schema', () => {
    expect(runHook('ApplicationStop').status).toBe(0);
    // A database path below a regular file: any attempt to open or migrate it would fail.
    writeFileSync(join(work, 'not-a-directory'), '');
    writeEnvFile(`sqlite:${join(work, 'not-a-directory', 'trainyard.db')}`);
    try {
      expect(runHook('BeforeInstall').status).toBe(0);
      runHook('Install');
      const result = runHook('AfterInstall', { TRAINYARD_SYSTEMD_DIR: join(work, 'systemd-new') });
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout + result.stderr).not.toMatch(/migrat|database/i);
    } finally {
      writeEnvFile(`sqlite:${join(work, 'data', 'trainyard.db')}`);
    }
  }, HEAVY);

  it('stops in BeforeInstall when the settings parameter cannot be read, before anything is installed', () => {
    writeFileSync(join(work, 'instance-missing.env'), 'TRAINYARD_ENV_PARAMETER=/Trainyard/missing\n');
    const result = runHook('BeforeInstall', { TRAINYARD_INSTANCE_ENV_FILE: join(work, 'instance-missing.env') });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/could not read the settings parameter \/Trainyard\/missing/);
    // The env file from the last good deployment stays.
    expect(readFileSync(join(work, 'trainyard.env'), 'utf8')).toContain(`TRAINYARD_PORT=${port}`);
  });

  it('stops in AfterInstall when the revision has no node_modules (hosts never run npm)', () => {
    const bare = join(work, 'bare-revision');
    for (const path of ['package.json', 'package-lock.json']) cpSync(join(root, path), join(bare, path), { recursive: true });
    const result = runHook('AfterInstall', { TRAINYARD_INSTALL_DIR: bare, TRAINYARD_SYSTEMD_DIR: join(work, 'systemd-bare') });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/the revision has no node_modules/);
    expect(existsSync(join(work, 'systemd-bare', 'trainyard.service'))).toBe(false);
  });

  it('fails ValidateService when /readyz never answers within the deadline', () => {
    const started = Date.now();
    const result = runHook('ValidateService', { TRAINYARD_VALIDATE_TIMEOUT: '2' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/did not answer 200 within 2s/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
