import { describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { TrainyardError } from '../errors.ts';
import { HyperparametersSchema, OPTIMIZER_OPTION_NAMES, ResolvedHyperparametersSchema, resolveHyperparameters } from './hyperparameters.ts';

function refusal(input: unknown): TrainyardError {
  try {
    resolveHyperparameters(input as never, 'binary_classification');
  } catch (error) {
    if (error instanceof TrainyardError) return error;
    throw error;
  }
  throw new Error('accepted');
}

describe('hyperparameters', () => {
  it('default to Adam with lr 0.001 and resolve to the stored form', () => {
    const h = resolveHyperparameters(undefined, 'regression');
    expect(h.optimizer).toEqual({ type: 'Adam', lr: 0.001, weight_decay: 0, momentum: 0 });
    expect(h.loss).toBe('mse');
    expect(Value.Check(ResolvedHyperparametersSchema, h)).toBe(true);
  });

  it("accept each optimizer's own PyTorch options, with bounds", () => {
    const adam = resolveHyperparameters({ optimizer: { type: 'AdamW', betas: [0.8, 0.99], eps: 1e-7, amsgrad: true } }, 'binary_classification');
    expect(adam.optimizer).toEqual({ type: 'AdamW', lr: 0.001, weight_decay: 0, momentum: 0, betas: [0.8, 0.99], eps: 1e-7, amsgrad: true });
    const sgd = resolveHyperparameters({ optimizer: { type: 'SGD', lr: 0.1, momentum: 0.9, nesterov: true } }, 'binary_classification');
    expect(sgd.optimizer).toMatchObject({ type: 'SGD', momentum: 0.9, nesterov: true });
    const rms = resolveHyperparameters({ optimizer: { type: 'RMSprop', alpha: 0.9, centered: true } }, 'binary_classification');
    expect(Value.Check(ResolvedHyperparametersSchema, rms)).toBe(true);
    expect(Value.Check(HyperparametersSchema, { optimizer: { betas: [0.9, 1] } })).toBe(false); // β < 1
    expect(Value.Check(HyperparametersSchema, { optimizer: { eps: 0 } })).toBe(false);
    expect(Value.Check(HyperparametersSchema, { optimizer: { foo: 1 } })).toBe(false);
    expect(OPTIMIZER_OPTION_NAMES.SGD).toEqual(['lr', 'weight_decay', 'momentum', 'dampening', 'nesterov']);
  });

  it('refuse an option of another optimizer, naming it and the options that apply', () => {
    const error = refusal({ optimizer: { type: 'SGD', betas: [0.9, 0.99], amsgrad: true } });
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.errors.map((e) => e.field)).toEqual(['hyperparameters.optimizer.betas', 'hyperparameters.optimizer.amsgrad']);
    expect(error.errors[0].message).toContain('lr, weight_decay, momentum, dampening, nesterov');
    // No type means Adam, which has no `centered`.
    expect(refusal({ optimizer: { centered: true } }).errors[0].message).toContain('not an option of Adam');
  });

  it("refuse Nesterov momentum without momentum (PyTorch's rule)", () => {
    expect(refusal({ optimizer: { type: 'SGD', nesterov: true } }).errors[0].field).toBe('hyperparameters.optimizer.nesterov');
    expect(refusal({ optimizer: { type: 'SGD', nesterov: true, momentum: 0.9, dampening: 0.1 } }).errors[0].field).toBe('hyperparameters.optimizer.nesterov');
  });

  it("keep ReduceLROnPlateau's threshold, cooldown and min_lr when given", () => {
    const h = resolveHyperparameters({ lr_scheduler: { type: 'ReduceLROnPlateau', cooldown: 2, min_lr: 1e-5 } }, 'binary_classification');
    expect(h.lr_scheduler).toEqual({ type: 'ReduceLROnPlateau', monitor: 'val_loss', factor: 0.1, patience: 5, cooldown: 2, min_lr: 1e-5 });
    expect(Value.Check(ResolvedHyperparametersSchema, h)).toBe(true);
  });
});
