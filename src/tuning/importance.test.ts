import { describe, expect, it } from 'vitest';
import { seededRandom } from '../training/prepare.ts';
import { groupIndices, MIN_TRIALS_FOR_IMPORTANCE, paramImportance } from './importance.ts';
import type { SearchSpace } from './search-space.ts';
import type { Trial, TrialState } from './trials.ts';

const SPACE: SearchSpace = {
  'optimizer.lr': { path: 'optimizer.lr', kind: 'float', low: 1e-4, high: 1e-1, log: true, points: 3 },
  'layers[0].out_features': { path: 'layers[0].out_features', kind: 'int', low: 16, high: 128, step: 16 },
  'optimizer.type': { path: 'optimizer.type', kind: 'choice', choices: ['Adam', 'SGD'] },
};

function trial(number: number, params: Trial['params'], objective: number | null, state: TrialState = 'succeeded'): Trial {
  return { study_id: 'tun_x', number, job_id: `job_${number}`, state, params, objective, epochs_run: 3, error: null, created_at: '', finished_at: '' };
}

/** A study whose objective is driven by `lr` alone (plus a little noise), with the other parameters sampled at random. */
function lrDrivenStudy(count: number, seed = 7): Trial[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => {
    const lr = 10 ** (-4 + 3 * random());
    const width = 16 * (1 + Math.floor(random() * 8));
    const type = random() < 0.5 ? 'Adam' : 'SGD';
    return trial(i, { 'optimizer.lr': lr, 'layers[0].out_features': width, 'optimizer.type': type }, (Math.log10(lr) + 2.5) ** 2 + 0.05 * random());
  });
}

describe('parameter importance', () => {
  it('gives the parameter that drives the objective nearly all the importance, and the others almost none', () => {
    const report = paramImportance(SPACE, lrDrivenStudy(40))!;
    expect(report.method).toBe('binned_anova_ranks');
    expect(report.trials_used).toBe(40);
    expect(report.params[0].param).toBe('optimizer.lr');
    expect(report.params[0].importance).toBeGreaterThan(0.75);
    expect(report.params[0].variance_explained).toBeGreaterThan(0.6);
    for (const other of report.params.slice(1)) expect(other.variance_explained).toBeLessThan(0.15);
    expect(report.params.reduce((a, p) => a + p.importance, 0)).toBeCloseTo(1, 3);
    expect(report.params.find((p) => p.param === 'optimizer.type')!.groups).toBe(2);
    expect(report.params.find((p) => p.param === 'optimizer.lr')!.groups).toBe(5); // ⌊√40⌋ = 6, at most 5 quantile bins
  });

  it('finds a choice parameter that matters, and reads the objective by rank so one diverged trial does not decide', () => {
    const trials = lrDrivenStudy(16).map((t) => ({ ...t, objective: (t.params['optimizer.type'] === 'SGD' ? 1 : 0) + 0.01 * t.number }));
    trials[3] = { ...trials[3], objective: 1e6 };
    const report = paramImportance(SPACE, trials)!;
    expect(report.params[0].param).toBe('optimizer.type');
    // Two groups cannot explain all the variance of ranks (each group's ranks still spread): at most 0.75 with 8 and 8.
    expect(report.params[0].variance_explained).toBeGreaterThan(0.3);
    expect(report.params[0].importance).toBeGreaterThan(0.5);
  });

  it('scores pure noise near zero: the chance correction removes what k groups explain by accident', () => {
    const random = seededRandom(3);
    const trials = lrDrivenStudy(25).map((t) => ({ ...t, objective: random() }));
    const report = paramImportance(SPACE, trials)!;
    for (const p of report.params) expect(p.variance_explained).toBeLessThan(0.2);
  });

  it('uses succeeded trials only, and gives no estimate below the minimum of them', () => {
    const trials = lrDrivenStudy(MIN_TRIALS_FOR_IMPORTANCE + 4);
    const pruned = trials.map((t, i) => (i >= MIN_TRIALS_FOR_IMPORTANCE - 1 ? { ...t, state: 'pruned' as const } : t));
    expect(paramImportance(SPACE, pruned)).toBeNull();
    expect(paramImportance(SPACE, trials.slice(0, MIN_TRIALS_FOR_IMPORTANCE))?.trials_used).toBe(MIN_TRIALS_FOR_IMPORTANCE);
    const failed = [...trials, trial(99, {}, null, 'failed')];
    expect(paramImportance(SPACE, failed)?.trials_used).toBe(trials.length);
  });

  it('gives every parameter 0 when all trials scored the same, and a parameter with one value 0', () => {
    const flat = lrDrivenStudy(8).map((t) => ({ ...t, objective: 0.5 }));
    expect(paramImportance(SPACE, flat)!.params.every((p) => p.importance === 0 && p.variance_explained === 0)).toBe(true);
    const oneType = lrDrivenStudy(12).map((t) => ({ ...t, params: { ...t.params, 'optimizer.type': 'Adam' } }));
    expect(paramImportance(SPACE, oneType)!.params.find((p) => p.param === 'optimizer.type')).toMatchObject({ importance: 0, groups: 1 });
  });

  it('bins numbers into equal-count quantiles with ties kept together, and groups few distinct values or choices by value', () => {
    expect(groupIndices([5, 1, 2, 8, 3, 7, 4, 6], 4)).toEqual([2, 0, 0, 3, 1, 3, 1, 2]);
    expect(groupIndices([1, 1, 1, 1, 2, 3, 4, 5], 4)).toEqual([0, 0, 0, 0, 2, 2, 3, 3]);
    expect(groupIndices([0.1, 0.3, 0.1, 0.3, 0.1], 2)).toEqual([0, 1, 0, 1, 0]);
    expect(groupIndices([{ type: 'StepLR' }, 'x', { type: 'StepLR' }], 2)).toEqual([0, 1, 0]);
  });
});
