import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TrainyardError } from '../errors.ts';
import type { LayerSpec } from '../models/layers.ts';
import { decodeParams, encodeParams, gridSize, parseSearchSpace, samplerSpace, trialInputs, type Strategy } from './search-space.ts';
import { MINIMIZED_METRICS, TASK_METRICS, resolveObjective } from './request.ts';

const layers: LayerSpec[] = [{ type: 'Linear', out_features: 32 }, { type: 'ReLU' }, { type: 'Dropout', p: 0.1 }, { type: 'Linear', out_features: 3 }];
const context = (strategy: Strategy = 'tpe') => ({ layers, hyperparameters: { epochs: 5 }, strategy });

function problems(input: unknown, strategy: Strategy = 'tpe'): Array<{ field: string; message: string }> {
  try {
    parseSearchSpace(input, context(strategy));
  } catch (error) {
    expect(error).toBeInstanceOf(TrainyardError);
    expect((error as TrainyardError).code).toBe('INVALID_SEARCH_SPACE');
    return (error as TrainyardError).errors;
  }
  throw new Error('expected the space to be refused');
}

describe('parseSearchSpace', () => {
  it('accepts the issue’s example and keeps each distribution', () => {
    const space = parseSearchSpace(
      {
        'optimizer.lr': { log_uniform: [0.0001, 0.1] },
        'layers[0].out_features': { choice: [16, 32, 64, 128] },
        'layers[2].p': { uniform: [0.0, 0.5] },
        'optimizer.weight_decay': { uniform: [0, 0.01] },
        batch_size: { int_uniform: [16, 128], step: 16 },
        'optimizer.type': { choice: ['Adam', 'AdamW', 'SGD'] },
        'layers[1].type': { choice: ['ReLU', 'GELU', 'SiLU'] },
      },
      context(),
    );
    expect(space['optimizer.lr']).toEqual({ path: 'optimizer.lr', kind: 'float', low: 0.0001, high: 0.1, log: true, points: 3 });
    expect(space.batch_size).toEqual({ path: 'batch_size', kind: 'int', low: 16, high: 128, step: 16 });
    expect(space['layers[0].out_features']).toMatchObject({ kind: 'choice', choices: [16, 32, 64, 128] });
  });

  it.each([
    [{}, 'search_space', 'at least one'],
    [{ 'optimizer.lr': { uniform: [0.1, 0.01] } }, 'search_space.optimizer.lr', 'low (0.1) is greater than high (0.01)'],
    [{ 'optimizer.lr': { log_uniform: [0, 0.1] } }, 'search_space.optimizer.lr', 'log_uniform needs bounds > 0'],
    [{ 'optimizer.lrr': { uniform: [0.1, 0.2] } }, 'search_space.optimizer.lrr', 'is not a hyperparameter (they are epochs, batch_size, optimizer.type, optimizer.lr'],
    [{ 'layers[7].out_features': { choice: [8] } }, 'search_space.layers[7].out_features', 'layer index 7 is out of range: the model has 4 layers'],
    [{ 'layers[2].out_features': { choice: [8] } }, 'search_space.layers[2].out_features', 'a Dropout, which has no argument "out_features" (its arguments: p'],
    [{ 'layers[0].out_features': { uniform: [8, 64] } }, 'search_space.layers[0].out_features', 'takes integers: use int_uniform or choice'],
    [{ 'layers[2].p': { uniform: [0, 1.5] } }, 'search_space.layers[2].p', 'the value 1.5 is not valid there: layers[2].p'],
    [{ 'optimizer.lr': { uniform: [0, 0.1] } }, 'search_space.optimizer.lr', 'the value 0 is not valid there: hyperparameters.optimizer.lr must be > 0'],
    [{ batch_size: { int_uniform: [16, 100], step: 16 } }, 'search_space.batch_size', 'high - low (84) is not a multiple of step (16)'],
    [{ 'optimizer.type': { uniform: [0, 1] } }, 'search_space.optimizer.type', 'uniform needs a numeric parameter; this one takes other values: use choice'],
    [{ 'optimizer.type': { choice: ['Adam', 'Adagrad'] } }, 'search_space.optimizer.type', 'the value "Adagrad" is not valid there'],
    [{ 'optimizer.lr': { choice: [] } }, 'search_space.optimizer.lr', 'non-empty list'],
    [{ 'optimizer.lr': { choice: [0.1, 0.1] } }, 'search_space.optimizer.lr', 'lists a value twice'],
    [{ 'optimizer.lr': { uniform: [0.1, 0.2], choice: [0.1] } }, 'search_space.optimizer.lr', 'has both uniform and choice'],
    [{ 'optimizer.lr': { normal: [0, 1] } }, 'search_space.optimizer.lr', 'must have one of uniform'],
    [{ 'optimizer.lr': { uniform: [0.1, 0.2], step: 2 } }, 'search_space.optimizer.lr', '"step" is not an option of uniform'],
    [{ 'optimizer.lr': { uniform: [0.1, 0.2], points: 4 } }, 'search_space.optimizer.lr', 'points applies to the grid strategy only'],
    [{ 'Layers[0]': { choice: [1] } }, 'search_space.Layers[0]', 'is not a parameter path'],
    [{ 'optimizer.lr': { uniform: [0.001, 'x'] } }, 'search_space.optimizer.lr', 'must be [low, high], two finite numbers'],
  ])('refuses %j: %s %s', (space, field, message) => {
    const found = problems(space);
    expect(found[0].field).toBe(field);
    expect(found[0].message).toContain(message);
  });

  it('lists every problem, not only the first', () => {
    const found = problems({ 'optimizer.lr': { uniform: [1, 0] }, 'layers[9].p': { uniform: [0, 0.5] }, 'optimizer.momentum': { uniform: [0, 0.9] } });
    expect(found.map((p) => p.field)).toEqual(['search_space.optimizer.lr', 'search_space.layers[9].p']);
  });

  it('sizes the grid: choices, every step of int_uniform, and points of a range', () => {
    const space = parseSearchSpace(
      { 'optimizer.lr': { log_uniform: [0.001, 0.1], points: 3 }, batch_size: { int_uniform: [16, 64], step: 16 }, 'optimizer.type': { choice: ['Adam', 'SGD'] } },
      context('grid'),
    );
    expect(gridSize(space)).toBe(3 * 4 * 2);
    expect(problems({ a: { choice: [1] } }, 'grid')[0].field).toBe('search_space.a');
    const tooBig = { 'optimizer.lr': { uniform: [0.001, 0.1], points: 100 }, 'optimizer.momentum': { uniform: [0, 0.9], points: 100 }, 'optimizer.weight_decay': { uniform: [0, 0.1], points: 11 } };
    expect(problems(tooBig, 'grid')[0].message).toContain('the grid has 110000 points; at most 100000');
  });

  it('round-trips parameters through the sampler’s encoding (choices by index)', () => {
    const space = parseSearchSpace({ 'optimizer.lr': { log_uniform: [0.001, 0.1] }, 'layers[0].out_features': { choice: [16, 32] }, 'lr_scheduler': { choice: [null, { type: 'StepLR', step_size: 2 }] } }, context());
    expect(samplerSpace(space)['layers[0].out_features']).toEqual({ type: 'categorical', n: 2 });
    const params = decodeParams(space, { 'optimizer.lr': 0.01, 'layers[0].out_features': 1, lr_scheduler: 1 });
    expect(params).toEqual({ 'optimizer.lr': 0.01, 'layers[0].out_features': 32, lr_scheduler: { type: 'StepLR', step_size: 2 } });
    expect(encodeParams(space, params)).toEqual({ 'optimizer.lr': 0.01, 'layers[0].out_features': 1, lr_scheduler: 1 });
    expect(() => decodeParams(space, { 'optimizer.lr': 0.01, 'layers[0].out_features': 5, lr_scheduler: 0 })).toThrow(/choice index 5/);
  });

  it('builds a trial’s layers and hyperparameters from the base, leaving the base untouched', () => {
    const space = parseSearchSpace({ 'optimizer.lr': { log_uniform: [0.001, 0.1] }, 'layers[2].p': { uniform: [0, 0.5] }, 'layers[1].type': { choice: ['ReLU', 'GELU'] } }, context());
    const trial = trialInputs(space, { 'optimizer.lr': 0.02, 'layers[2].p': 0.3, 'layers[1].type': 'GELU' }, { layers, hyperparameters: { epochs: 5, optimizer: { type: 'SGD' } } });
    expect(trial.hyperparameters).toEqual({ epochs: 5, optimizer: { type: 'SGD', lr: 0.02 } });
    expect(trial.layers[1].type).toBe('GELU');
    expect(trial.layers[2]).toMatchObject({ type: 'Dropout', p: 0.3 });
    expect(layers[2]).toEqual({ type: 'Dropout', p: 0.1 });
  });
});

describe('resolveObjective', () => {
  it('takes a metric the task reports, with its natural direction', () => {
    expect(resolveObjective({ metric: 'val_loss' }, 'regression')).toEqual({ metric: 'val_loss', direction: 'minimize' });
    expect(resolveObjective({ metric: 'val_accuracy', direction: 'maximize' }, 'multiclass_classification')).toEqual({ metric: 'val_accuracy', direction: 'maximize' });
  });

  it.each([
    [{ metric: 'val_accuracy' }, 'regression', 'objective.metric', 'is not a metric regression reports; use one of val_loss, val_rmse'],
    [{ metric: 'accuracy' }, 'binary_classification', 'objective.metric', 'is not a metric'],
    [{ metric: 'val_loss', direction: 'maximize' as const }, 'regression', 'objective.direction', 'val_loss is better when smaller: use minimize'],
  ] as const)('refuses %j for %s', (objective, task, field, message) => {
    try {
      resolveObjective(objective, task);
      throw new Error('expected a refusal');
    } catch (error) {
      expect((error as TrainyardError).errors[0]).toMatchObject({ field });
      expect((error as TrainyardError).errors[0].message).toContain(message);
    }
  });

  it('knows the same metrics as the trainer (trainer/trainyard_trainer/spec.py)', () => {
    const python = readFileSync(new URL('../../trainer/trainyard_trainer/spec.py', import.meta.url), 'utf8');
    for (const [task, metrics] of Object.entries(TASK_METRICS)) {
      const line = new RegExp(`"${task}": \\(([^)]*)\\)`).exec(python)?.[1];
      expect(line?.match(/"([a-z0-9_]+)"/g)?.map((m) => m.slice(1, -1))).toEqual(metrics);
    }
    expect(/MIN_MODE_METRICS = \{([^}]*)\}/.exec(python)?.[1].match(/"([a-z_]+)"/g)?.map((m) => m.slice(1, -1)).sort()).toEqual([...MINIMIZED_METRICS].sort());
  });
});
