import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { detectPython, TrainerProcess } from './trainer-process.ts';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !alive(pid);
}

describe('a trainer started ahead of its job', () => {
  let dir = '';
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('is killed at once when discarded (the preparation failed): no process is left behind', async () => {
    dir = await mkdtemp(join(tmpdir(), 'trainer-'));
    const trainer = TrainerProcess.start({ python: detectPython(undefined), jobDir: dir, threads: 1 });
    const pid = trainer.pid!;
    expect(alive(pid)).toBe(true);
    trainer.discard();
    expect(await gone(pid, 5000)).toBe(true);
  });

  it('ends without training when the job was aborted before it was told to go', async () => {
    dir = await mkdtemp(join(tmpdir(), 'trainer-'));
    const trainer = TrainerProcess.start({ python: detectPython(undefined), jobDir: dir, threads: 1 });
    const controller = new AbortController();
    controller.abort('cancel');
    const events: string[] = [];
    const outcome = await trainer.run({ signal: controller.signal, onEvent: (e) => events.push(e.event), onLog: () => {} });
    expect(events).toEqual([]);
    expect(outcome.completed).toBeUndefined();
    expect(await gone(trainer.pid!, 1000)).toBe(true);
  });

  it.skipIf(process.platform !== 'linux')('sees none of the server’s secrets: only the allowlisted environment reaches the process', async () => {
    dir = await mkdtemp(join(tmpdir(), 'trainer-'));
    const secrets = {
      TRAINYARD_DATABASE_URL: 'mysql://trainyard:s3cret-db-password@db:3306/trainyard',
      TRAINYARD_TOKEN: 'ty_secret-token',
      AWS_SECRET_ACCESS_KEY: 'aws-secret',
      AWS_SESSION_TOKEN: 'aws-session',
      GITHUB_TOKEN: 'gh-secret',
    };
    Object.assign(process.env, secrets, { CUDA_VISIBLE_DEVICES: '0', LC_ALL: 'C.UTF-8' });
    let trainer: TrainerProcess;
    try {
      trainer = TrainerProcess.start({ python: detectPython(undefined), jobDir: dir, threads: 2, memoryBytes: 1 << 30 });
    } finally {
      for (const name of [...Object.keys(secrets), 'CUDA_VISIBLE_DEVICES', 'LC_ALL']) delete process.env[name];
    }
    try {
      const raw = await readFile(`/proc/${trainer.pid}/environ`, 'utf8');
      const env = Object.fromEntries(raw.split('\0').filter(Boolean).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
      for (const [name, value] of Object.entries(secrets)) {
        expect(env[name], name).toBeUndefined();
        expect(raw).not.toContain(value);
      }
      expect(env).toMatchObject({ PATH: process.env.PATH, OMP_NUM_THREADS: '2', CUDA_VISIBLE_DEVICES: '0', LC_ALL: 'C.UTF-8', TRAINYARD_TRAINER_MEMORY_BYTES: String(1 << 30), PYTHONUNBUFFERED: '1' });
    } finally {
      trainer.discard();
    }
  });

  it('reports a trainer that fails before it is told to go (no job.json) through run()', async () => {
    dir = await mkdtemp(join(tmpdir(), 'trainer-'));
    const trainer = TrainerProcess.start({ python: detectPython(undefined), jobDir: dir, threads: 1 });
    const events: string[] = [];
    const outcome = await trainer.run({ signal: new AbortController().signal, onEvent: (e) => events.push(e.event), onLog: () => {} });
    expect(outcome.exitCode).toBe(3);
    expect(outcome.failed?.message).toMatch(/job\.json/);
    expect(events).toEqual(['failed']);
  });
});
