import { mkdtemp, rm } from 'node:fs/promises';
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
