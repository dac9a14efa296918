import { describe, expect, it } from 'vitest';
import { importanceText, parseSpace } from './tune.ts';

describe('parseSpace (trainyard tune --space)', () => {
  it('reads the short forms and JSON', () => {
    expect(
      parseSpace([
        'optimizer.lr=log_uniform:0.0001,0.1',
        'layers[0].out_features=choice:16,32,64',
        'batch_size=int_uniform:16,128,16',
        'layers[2].p=uniform:0,0.5',
        'optimizer.type=choice:Adam,AdamW',
        'lr_scheduler={"choice":[null,{"type":"StepLR","step_size":5}]}',
      ]),
    ).toEqual({
      'optimizer.lr': { log_uniform: [0.0001, 0.1] },
      'layers[0].out_features': { choice: [16, 32, 64] },
      batch_size: { int_uniform: [16, 128], step: 16 },
      'layers[2].p': { uniform: [0, 0.5] },
      'optimizer.type': { choice: ['Adam', 'AdamW'] },
      lr_scheduler: { choice: [null, { type: 'StepLR', step_size: 5 }] },
    });
  });

  it.each([
    ['optimizer.lr', /expects path=distribution/],
    ['optimizer.lr=normal:0,1', /is not uniform:…/],
    ['optimizer.lr=uniform:0.1', /uniform takes low,high/],
    ['batch_size=int_uniform:1,2,3,4', /int_uniform takes low,high\[,step\]/],
    ['x={"uniform":', /is not valid JSON/],
  ])('refuses %s', (entry, message) => {
    expect(() => parseSpace([entry])).toThrow(message);
  });
});

describe('importanceText (trainyard tuning-jobs show)', () => {
  it('lists parameters most important first, and says when there are too few trials', () => {
    const report = {
      method: 'binned_anova_ranks' as const,
      trials_used: 16,
      params: [
        { param: 'optimizer.lr', importance: 0.8234, variance_explained: 0.61, groups: 4 },
        { param: 'layers[2].p', importance: 0.1766, variance_explained: 0.13, groups: 4 },
      ],
    };
    expect(importanceText(report)).toBe('optimizer.lr 0.82, layers[2].p 0.18 (over 16 succeeded trials)');
    expect(importanceText(null)).toMatch(/needs 6 succeeded trials/);
  });
});
