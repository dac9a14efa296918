// The container images in deploy/ can't be built here (no Docker engine), so these tests read the
// Dockerfiles and check what a build or a run would trip over: COPY sources that don't exist (or
// that .dockerignore leaves out), entrypoint commands the CLI doesn't have, root users, Python in
// the API image, install scripts beyond better-sqlite3's.
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { buildProgram } from '../../src/cli/main.ts';
import { copies, last, parseDockerfile, words, type Stage } from './dockerfile.ts';
import { databaseUrlFromSecret } from '../../deploy/database-url.mjs';

const root = resolve(import.meta.dirname, '../..');
const IMAGES = ['Dockerfile.api', 'Dockerfile.trainer', 'Dockerfile.trainer-cuda'] as const;
const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

function isIgnored(path: string): boolean {
  const clean = path.replace(/\/$/, '');
  return ignored.some((pattern) => {
    const p = pattern.replace(/^\//, '').replace(/\/$/, '');
    if (p.startsWith('**/')) {
      const tail = p.slice(3);
      if (tail.startsWith('*')) return clean.endsWith(tail.slice(1));
      return clean.split('/').includes(tail);
    }
    if (p.endsWith('*')) return clean.startsWith(p.slice(0, -1));
    return clean === p || clean.startsWith(`${p}/`);
  });
}

let commands: string[];
beforeAll(() => {
  commands = buildProgram().commands.map((c) => c.name());
});

const final = (stages: Stage[]) => stages[stages.length - 1];

describe.each(IMAGES)('deploy/%s', (file) => {
  const stages = parseDockerfile(join(root, 'deploy', file));
  const runtime = final(stages);
  const workdir = last(runtime, 'WORKDIR')?.raw ?? '/';

  it('is multi-stage, with named build stages that COPY --from refers to', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const names = new Set(stages.map((s) => s.name).filter(Boolean));
    for (const stage of stages) {
      for (const copy of copies(stage)) if (copy.from) expect(names, `COPY --from=${copy.from}`).toContain(copy.from);
    }
  });

  it('copies only paths that exist in the repository and are in the build context', () => {
    for (const stage of stages) {
      for (const copy of copies(stage)) {
        if (copy.from) continue;
        for (const source of copy.sources) {
          expect(existsSync(join(root, source)), `${file}: COPY ${source}`).toBe(true);
          expect(isIgnored(source), `${file}: COPY ${source} is excluded by .dockerignore`).toBe(false);
        }
      }
    }
  });

  it('runs as a non-root user', () => {
    const user = last(runtime, 'USER')?.raw;
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    // Nothing after USER switches back.
    const index = runtime.instructions.findLastIndex((i) => i.keyword === 'USER');
    expect(runtime.instructions.slice(index + 1).some((i) => i.keyword === 'USER')).toBe(false);
  });

  it('starts through deploy/entrypoint.mjs, which is copied into the image, with a command the CLI has', () => {
    const entrypoint = words(last(runtime, 'ENTRYPOINT')!.raw);
    expect(entrypoint[0]).toBe('node');
    const script = entrypoint[1];
    const copied = copies(runtime).some(
      (c) => !c.from && c.sources.some((s) => posix.join(posix.resolve(workdir, c.destination.endsWith('/') ? c.destination : posix.dirname(c.destination)), posix.basename(s)) === script),
    );
    expect(copied, `${script} is COPYed`).toBe(true);
    expect(script.endsWith('deploy/entrypoint.mjs')).toBe(true);
    const cmd = words(last(runtime, 'CMD')!.raw);
    expect(commands).toContain(cmd[0]);
  });

  it('installs production dependencies with install scripts off except better-sqlite3, and skips the ONNX Runtime CUDA download', () => {
    const runs = stages.flatMap((s) => s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.raw));
    const install = runs.find((r) => r.includes('npm ci'));
    expect(install).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(install).toMatch(/npm rebuild better-sqlite3/);
    const envs = stages.flatMap((s) => s.instructions.filter((i) => i.keyword === 'ENV').map((i) => i.raw));
    expect(envs.join(' ')).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip/);
  });
});

describe('the API image', () => {
  const stages = parseDockerfile(join(root, 'deploy', 'Dockerfile.api'));
  const runtime = final(stages);

  it('has no Python in its final stage', () => {
    expect(runtime.from).toMatch(/^node:20/);
    for (const i of runtime.instructions) {
      if (i.keyword === 'RUN') expect(i.raw).not.toMatch(/python|pip/i);
      if (i.keyword === 'COPY') expect(i.raw).not.toMatch(/trainer/);
    }
  });

  it('checks /healthz and serves `trainyard server` on a public interface', () => {
    expect(last(runtime, 'HEALTHCHECK')?.raw).toMatch(/\/healthz/);
    expect(words(last(runtime, 'CMD')!.raw)).toEqual(['server']);
    expect(last(runtime, 'ENV')?.raw ?? '').toMatch(/TRAINYARD_HOST=0\.0\.0\.0/);
  });
});

describe('the trainer images', () => {
  it('run `trainyard run-job`, with PyTorch and the trainer package on PYTHONPATH', () => {
    for (const file of ['Dockerfile.trainer', 'Dockerfile.trainer-cuda']) {
      const runtime = final(parseDockerfile(join(root, 'deploy', file)));
      expect(words(last(runtime, 'CMD')!.raw)[0]).toBe('run-job');
      expect(commands).toContain('run-job');
      const env = runtime.instructions.filter((i) => i.keyword === 'ENV').map((i) => i.raw).join(' ');
      expect(env).toMatch(/PYTHONPATH=\/app\/trainer/);
      expect(copies(runtime).some((c) => c.sources.includes('trainer/'))).toBe(true);
    }
    const cpu = final(parseDockerfile(join(root, 'deploy', 'Dockerfile.trainer')));
    expect(cpu.instructions.find((i) => i.keyword === 'RUN')?.raw).toMatch(/python3-torch.*python3-numpy|python3-numpy.*python3-torch/);
    const cuda = final(parseDockerfile(join(root, 'deploy', 'Dockerfile.trainer-cuda')));
    expect(cuda.from).toMatch(/^nvidia\/cuda:[\w.]+-cudnn\d+-runtime-ubuntu22\.04$/);
  });

  it('trains with the same PyTorch release on CPU (Debian bookworm) and GPU (the CUDA wheel)', () => {
    // The CPU image takes python3-torch from its Debian release; bookworm ships 1.13.1.
    const BOOKWORM_TORCH = '1.13.1';
    const cpu = final(parseDockerfile(join(root, 'deploy', 'Dockerfile.trainer')));
    expect(cpu.from).toMatch(/bookworm/);
    const cuda = final(parseDockerfile(join(root, 'deploy', 'Dockerfile.trainer-cuda')));
    const pin = cuda.instructions.map((i) => i.raw).join('\n').match(/torch==(\d+\.\d+\.\d+)\+cu(\d+)/);
    expect(pin, 'the CUDA image pins torch==X.Y.Z+cuNNN').not.toBeNull();
    expect(pin![1]).toBe(BOOKWORM_TORCH);
    // …and the CUDA runtime the wheel is built for is the base image's.
    expect(cuda.from).toContain(`cuda:${pin![2].slice(0, 2)}.${pin![2].slice(2)}`);
    // Where Debian's package is installed (the project's reference platform), it is that release.
    const dpkg = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'python3-torch'], { encoding: 'utf8' });
    if (dpkg.status === 0) expect(dpkg.stdout).toMatch(new RegExp(`^${BOOKWORM_TORCH.replaceAll('.', '\\.')}\\b`));
  });
});

describe('deploy/entrypoint.mjs', () => {
  it('builds an encoded mysql:// URL from an RDS secret', () => {
    const secret = JSON.stringify({ username: 'trainyard', password: 'p:%?#&x', host: 'db.example.internal', port: 3306, dbname: 'trainyard' });
    const url = databaseUrlFromSecret(secret, {});
    expect(url).toBe('mysql://trainyard:p%3A%25%3F%23%26x@db.example.internal:3306/trainyard');
    const parsed = new URL(url);
    expect(decodeURIComponent(parsed.password)).toBe('p:%?#&x');
    expect(databaseUrlFromSecret(JSON.stringify({ username: 'u', password: 'p', host: 'h' }), { TRAINYARD_DB_NAME: 'other' })).toBe('mysql://u:p@h:3306/other');
    expect(() => databaseUrlFromSecret('{"username":"u"}', {})).toThrow(/password, host/);
  });

  it('builds the URL from an injected secret (the migrate job) and runs the command against that database, without the secret in its output', () => {
    // Port 1 on loopback: nothing listens, so migrate fails fast with a connection error.
    const env: NodeJS.ProcessEnv = { ...process.env, TRAINYARD_DB_SECRET: '{"username":"u","password":"s3cr3t","host":"127.0.0.1","port":1,"dbname":"trainyard"}' };
    delete env.TRAINYARD_DATABASE_URL;
    const result = spawnSync(process.execPath, [join(root, 'deploy/entrypoint.mjs'), 'migrate'], { env, encoding: 'utf8', timeout: 30_000 });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/ECONNREFUSED|connect/i);
    expect(result.stdout + result.stderr).not.toContain('s3cr3t');
  });

  it('stops with a clear message when the injected secret is not an RDS credential', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, TRAINYARD_DB_SECRET: 'not json' };
    delete env.TRAINYARD_DATABASE_URL;
    const result = spawnSync(process.execPath, [join(root, 'deploy/entrypoint.mjs'), 'migrate'], { env, encoding: 'utf8', timeout: 30_000 });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/the database secret is not JSON/);
  });
});
