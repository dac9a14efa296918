import { describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import { Value } from 'typebox/value';
import { TrainyardError } from '../errors.ts';
import { ModelSchema, ModelSpecBodySchema, ModelSpecSchema, deepFreeze, featureColumns, parseModelSpec, toModelResponse } from './spec.ts';

function thrown(fn: () => unknown): TrainyardError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TrainyardError) return error;
    throw error;
  }
  throw new Error('expected a TrainyardError');
}

const MLP = [{ type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Dropout', p: 0.2 }, { type: 'Linear', out_features: 1 }];
const valid = () => ({ name: 'breast-cancer.mlp_v1', task: 'binary_classification', target: 'diagnosis', layers: structuredClone(MLP) });

describe('ModelSpecSchema', () => {
  it('accepts a valid body and documents the layer union', () => {
    expect(Value.Check(ModelSpecSchema, valid())).toBe(true);
    expect(Value.Check(ModelSpecBodySchema, valid())).toBe(true);
    expect(JSON.stringify(ModelSpecSchema.properties.layers)).toContain('"Conv2d"');
  });

  it('declares layers loosely in the body schema, so validateLayers gives the messages', () => {
    expect(Value.Check(ModelSpecBodySchema, { ...valid(), layers: [{ type: 'Bogus', x: 1 }] })).toBe(true);
    expect(Value.Check(ModelSpecSchema, { ...valid(), layers: [{ type: 'Bogus', x: 1 }] })).toBe(false);
  });

  it('compiles as a Fastify body schema with the app’s ajv options (strict mode)', async () => {
    const app = Fastify({ ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: true } } });
    app.post('/full', { schema: { body: ModelSpecSchema, response: { 200: ModelSchema } } }, async () => null);
    app.post('/loose', { schema: { body: ModelSpecBodySchema } }, async (request) => request.body);
    await app.ready();
    const reply = await app.inject({ method: 'POST', url: '/loose', payload: { ...valid(), layers: [{ type: 'Linear', units: 3 }] } });
    expect(reply.statusCode).toBe(200);
    expect(reply.json().layers).toEqual([{ type: 'Linear', units: 3 }]);
    await app.close();
  });

  it('rejects bad names and unknown properties', () => {
    expect(Value.Check(ModelSpecSchema, { ...valid(), name: '-x' })).toBe(false);
    expect(Value.Check(ModelSpecSchema, { ...valid(), name: 'a'.repeat(201) })).toBe(false);
    expect(Value.Check(ModelSpecSchema, { ...valid(), epochs: 3 })).toBe(false);
  });
});

describe('parseModelSpec', () => {
  it('returns the spec with explicit preprocessing defaults', () => {
    const spec = parseModelSpec(valid());
    expect(spec).toEqual({ ...valid(), preprocessing: { max_categories: 50, impute: 'mean' } });
    expect('features' in spec).toBe(false);
    expect('description' in spec).toBe(false);
  });

  it('keeps description, features and max_categories', () => {
    const spec = parseModelSpec({ ...valid(), description: 'an MLP', features: ['radius', 'texture'], preprocessing: { max_categories: 10 } });
    expect(spec.description).toBe('an MLP');
    expect(spec.features).toEqual(['radius', 'texture']);
    expect(spec.preprocessing).toEqual({ max_categories: 10, impute: 'mean' });
  });

  it('freezes the spec all the way down', () => {
    const spec = parseModelSpec(valid());
    expect(Object.isFrozen(spec)).toBe(true);
    expect(Object.isFrozen(spec.layers)).toBe(true);
    expect(Object.isFrozen(spec.layers[0])).toBe(true);
    expect(Object.isFrozen(spec.preprocessing)).toBe(true);
    expect(() => {
      (spec.layers[0] as { out_features: number }).out_features = 3;
    }).toThrow(TypeError);
  });

  it('does not share objects with the input', () => {
    const input = valid();
    const spec = parseModelSpec(input);
    input.layers[0].out_features = 2;
    expect((spec.layers[0] as { out_features: number }).out_features).toBe(64);
    expect(Object.isFrozen(input.layers[0])).toBe(false);
  });

  it('requires name, task, target and layers, naming each', () => {
    const error = thrown(() => parseModelSpec({}));
    expect(error.code).toBe('INVALID_MODEL_SPEC');
    expect(error.errors.map((e) => e.field)).toEqual(['name', 'task', 'target', 'layers']);
    expect(error.errors[1].message).toBe('is required: one of binary_classification, multiclass_classification, regression');
  });

  it('rejects a body that is not an object', () => {
    expect(thrown(() => parseModelSpec('x')).errors[0].field).toBe('body');
  });

  it('names bad values', () => {
    const error = thrown(() => parseModelSpec({ ...valid(), name: 'my model', task: 'classification', target: 3 }));
    expect(error.errors.map((e) => e.field)).toEqual(['name', 'task', 'target']);
    expect(error.errors[1].message).toContain('is "classification"');
    expect(thrown(() => parseModelSpec({ ...valid(), name: 'x'.repeat(201) })).errors[0].message).toContain('at most 200');
  });

  it('rejects unknown top-level properties', () => {
    expect(thrown(() => parseModelSpec({ ...valid(), epochs: 5 })).errors[0]).toMatchObject({ field: 'epochs' });
  });

  it('rejects features that include the target, repeat or are empty', () => {
    expect(thrown(() => parseModelSpec({ ...valid(), features: ['a', 'diagnosis'] })).errors[0].message).toContain('includes the target column "diagnosis"');
    expect(thrown(() => parseModelSpec({ ...valid(), features: ['a', 'a'] })).errors[0].message).toBe('lists "a" twice');
    expect(thrown(() => parseModelSpec({ ...valid(), features: [] })).errors[0].field).toBe('features');
  });

  it('checks preprocessing options', () => {
    expect(thrown(() => parseModelSpec({ ...valid(), preprocessing: { max_categories: 0 } })).errors[0].field).toBe('preprocessing.max_categories');
    expect(thrown(() => parseModelSpec({ ...valid(), preprocessing: { impute: 'median' } })).errors[0].field).toBe('preprocessing.impute');
    expect(thrown(() => parseModelSpec({ ...valid(), preprocessing: { scale: false } })).errors[0].field).toBe('preprocessing.scale');
  });

  it('reports layer problems with the other problems, naming the layer', () => {
    const error = thrown(() => parseModelSpec({ ...valid(), name: '', layers: [{ type: 'Linear', out_features: 64 }, { type: 'Relu' }] }));
    expect(error.errors.map((e) => e.field)).toEqual(['name', 'layers[1].type']);
  });

  it('rejects an empty layer list', () => {
    expect(thrown(() => parseModelSpec({ ...valid(), layers: [] })).errors).toEqual([{ field: 'layers', message: 'must contain at least one layer' }]);
  });

  it('checks the structure: consecutive sizes and the output width for the task', () => {
    const mismatch = thrown(() => parseModelSpec({ ...valid(), layers: [{ type: 'Linear', out_features: 64 }, { type: 'Linear', in_features: 32, out_features: 1 }] }));
    expect(mismatch.errors[0].field).toBe('layers[1].in_features');
    const output = thrown(() => parseModelSpec({ ...valid(), layers: [{ type: 'Linear', out_features: 2 }] }));
    expect(output.errors[0].message).toBe('the last layer outputs 2 values but a binary_classification model must output 1 (a raw score)');
  });

  it('enforces the parameter budget when it is given', () => {
    const big = { ...valid(), layers: [{ type: 'Linear', in_features: 1000, out_features: 1000 }, { type: 'Linear', out_features: 1 }] };
    expect(thrown(() => parseModelSpec(big, { maxParameters: 100_000 })).code).toBe('MODEL_TOO_LARGE');
    expect(parseModelSpec(big).layers).toHaveLength(2);
  });
});

describe('featureColumns', () => {
  const spec = parseModelSpec(valid());
  it('defaults to every column except the target', () => {
    expect(featureColumns(spec, ['radius', 'diagnosis', 'texture'])).toEqual(['radius', 'texture']);
  });
  it('uses the listed features', () => {
    expect(featureColumns({ ...spec, features: ['texture'] }, ['radius', 'diagnosis', 'texture'])).toEqual(['texture']);
  });
  it('names a missing target or feature', () => {
    const target = thrown(() => featureColumns(spec, ['radius']));
    expect(target.code).toBe('INCOMPATIBLE_DATASET');
    expect(target.errors[0].field).toBe('target');
    const feature = thrown(() => featureColumns({ ...spec, features: ['area'] }, ['radius', 'diagnosis']));
    expect(feature.errors).toEqual([{ field: 'features', message: '"area" is not a column of the dataset' }]);
  });
});

describe('toModelResponse', () => {
  it('builds a Model that matches ModelSchema', () => {
    const spec = parseModelSpec({ ...valid(), layers: [{ type: 'Linear', in_features: 30, out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: 1 }] });
    const model = toModelResponse({ id: 'mdl_1', spec, created_at: '2026-11-26T19:00:00.000Z' });
    expect(model).toMatchObject({ id: 'mdl_1', name: spec.name, description: null, features: null, parameters: 30 * 64 + 64 + 65 });
    expect(Value.Check(ModelSchema, model)).toBe(true);
  });
  it('gives null parameters when they depend on the dataset', () => {
    const model = toModelResponse({ id: 'mdl_1', spec: parseModelSpec(valid()), created_at: '2026-11-26T19:00:00.000Z' });
    expect(model.parameters).toBeNull();
  });
});

describe('deepFreeze', () => {
  it('freezes nested arrays and objects and returns the same value', () => {
    const value = { a: [{ b: 1 }], c: { d: [1, 2] } };
    expect(deepFreeze(value)).toBe(value);
    expect(Object.isFrozen(value.a[0])).toBe(true);
    expect(Object.isFrozen(value.c.d)).toBe(true);
  });
});

describe('parseModelSpec budgets', () => {
  it('refuses 200,000 layers (layers: at most 1000) and a per-row activation budget overrun', () => {
    const many = { ...valid(), layers: [...Array.from({ length: 200_000 }, () => ({ type: 'ReLU' })), { type: 'Linear', out_features: 1 }] };
    expect(thrown(() => parseModelSpec(many)).errors.some((e) => e.field === 'layers')).toBe(true);
    const wide = { ...valid(), layers: [{ type: 'Linear', in_features: 30, out_features: 1_000_000 }, { type: 'ReLU' }, { type: 'Linear', out_features: 1 }] };
    expect(thrown(() => parseModelSpec(wide, { maxActivationElements: 1_500_000 })).code).toBe('ACTIVATIONS_TOO_LARGE');
  });
});
