import { describe, expect, it } from 'vitest';
import { JobRunners, type JobRunner } from './runner.ts';

const runner = (kind: string): JobRunner => ({ kind, run: async () => undefined });

describe('JobRunners', () => {
  it('registers kinds by name and finds them; an unknown kind has no runner', () => {
    const runners = new JobRunners().register(runner('training')).register(runner('data-import')).register(runner('tuning_study'));
    expect(runners.kinds).toEqual(['training', 'data-import', 'tuning_study']);
    expect(runners.get('data-import')?.kind).toBe('data-import');
    expect(runners.get('export')).toBeUndefined();
  });

  it('loads a declared kind’s code on first use only, once, and again after a failed load', async () => {
    let loads = 0;
    let fail = true;
    const runners = new JobRunners().register({
      kind: 'lazy',
      coordinator: true,
      load: async () => {
        loads++;
        if (fail) throw new Error('broken install');
        return runner('lazy');
      },
    });
    expect(runners.coordinatorKinds).toEqual(['lazy']);
    expect(loads).toBe(0);
    await expect(runners.load('lazy')).rejects.toThrow('broken install');
    fail = false;
    const [a, b] = await Promise.all([runners.load('lazy'), runners.load('lazy')]);
    expect(a).toBe(b);
    expect(loads).toBe(2);
    expect(await runners.load('unknown')).toBeUndefined();
    const wrong = new JobRunners().register({ kind: 'one', load: async () => runner('other') });
    await expect(wrong.load('one')).rejects.toThrow(/loaded the runner of "other"/);
  });

  it('declares every kind of this build without loading any of their code', async () => {
    const { jobRunners } = await import('../cli/job-kinds.ts');
    const runners = jobRunners();
    expect(runners.kinds).toEqual(['training', 'inference', 'tuning', 'export', 'import']);
    expect(runners.coordinatorKinds).toEqual(['tuning']);
    expect(runners.get('training')?.accelerated).toBe(true);
    for (const kind of runners.kinds) expect((await runners.load(kind))?.kind).toBe(kind);
  });

  it('lists the kinds that declare themselves coordinators, and only those', () => {
    const runners = new JobRunners().register(runner('training')).register({ ...runner('study'), coordinator: true }).register({ ...runner('export'), coordinator: false });
    expect(runners.coordinatorKinds).toEqual(['study']);
    expect(new JobRunners().register(runner('training')).coordinatorKinds).toEqual([]);
  });

  it('refuses a kind registered twice', () => {
    const runners = new JobRunners().register(runner('training'));
    expect(() => runners.register(runner('training'))).toThrow(/registered twice/);
  });

  it('refuses kinds the jobs table or a URL could not hold: empty, over 32 characters, upper case, spaces', () => {
    for (const kind of ['', 'x'.repeat(33), 'Training', 'batch inference', '1st', 'a/b']) {
      expect(() => new JobRunners().register(runner(kind)), kind).toThrow(/1 to 32 lowercase/);
    }
    expect(new JobRunners().register(runner('x'.repeat(32))).kinds).toHaveLength(1);
  });
});
