// The committed contract files (contracts/) must be what the TypeBox schemas generate today: a schema
// change without `npx tsx scripts/gen-contracts.ts` fails here. The trainer reads these files at run
// time and its tests (trainer/tests/test_contracts.py) validate job.json and its events against them.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { CONTRACTS_DIR, generateContractFiles } from '../scripts/gen-contracts.ts';
import { LAYER_TYPES } from '../src/models/layers.ts';
import { inferShapes } from '../src/models/shapes.ts';
import { resolveHyperparameters } from '../src/training/hyperparameters.ts';
import { TrainerJobSchema, trainerJob } from '../src/training/trainer-job.ts';
import type { PreparedData } from '../src/training/prepare.ts';

describe('generated contracts', () => {
  const files = generateContractFiles();

  it('match the TypeBox schemas (run `npx tsx scripts/gen-contracts.ts` when this fails)', () => {
    expect(readdirSync(CONTRACTS_DIR).filter((name) => name.endsWith('.json')).sort()).toEqual(Object.keys(files).sort());
    for (const [name, text] of Object.entries(files)) {
      expect(readFileSync(join(CONTRACTS_DIR, name), 'utf8') === text, `contracts/${name} is stale`).toBe(true);
    }
  });

  it('list every layer type with its defaults in the catalogue', () => {
    const catalogue = JSON.parse(files['layers.schema.json']) as { definitions: Record<string, { properties: Record<string, { default?: unknown }> }> };
    expect(Object.keys(catalogue.definitions)).toEqual([...LAYER_TYPES]);
    expect(catalogue.definitions.Dropout.properties.p.default).toBe(0.5);
    expect(catalogue.definitions.Conv2d.properties.padding_mode.default).toBe('zeros');
  });

  it('describe the job.json the platform writes', () => {
    const layers = inferShapes([{ type: 'Linear', out_features: 8 }, { type: 'ReLU' }, { type: 'BatchNorm1d' }, { type: 'Linear', out_features: 1 }], [3]).layers;
    const prepared = {
      preprocessing: { features: ['a', 'b', 'c'].map((name) => ({ name, kind: 'numeric', impute: 0, mean: 0, std: 1 })), width: 3 },
      target: { name: 'y', kind: 'label', classes: ['no', 'yes'] },
      inputDim: 3,
      outputDim: 1,
      files: { train_x: 'train_x.npy', train_y: 'train_y.npy', val_x: 'val_x.npy', val_y: 'val_y.npy' },
    } as unknown as PreparedData;
    const hyperparameters = resolveHyperparameters(
      { optimizer: { type: 'SGD', lr: 0.1, momentum: 0.9, nesterov: true }, lr_scheduler: { type: 'ReduceLROnPlateau', cooldown: 1 }, early_stopping: {} },
      'binary_classification',
    );
    const job = JSON.parse(JSON.stringify(trainerJob('binary_classification', hyperparameters, prepared, layers, 1, { resume: [{ file: 'resume/2.pt', sha256: 'a'.repeat(64) }], initWeights: 'init/state_dict.pt' }))) as unknown;
    expect([...Value.Errors(TrainerJobSchema, job)]).toEqual([]);
    // A layer without the arguments shape inference fills in is not a job's layer.
    const unresolved = { ...(job as object), layers: [{ type: 'Linear', out_features: 1 }] };
    expect(Value.Check(TrainerJobSchema, unresolved)).toBe(false);
  });
});
