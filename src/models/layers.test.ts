import { describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { TrainyardError } from '../errors.ts';
import { LAYER_SCHEMAS, LAYER_TYPES, LayerSchema, LayersSchema, describeSchema, layerDefaults, validateLayers } from './layers.ts';

/** The TrainyardError a call throws (fails the test if it does not throw one). */
function thrown(fn: () => unknown): TrainyardError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TrainyardError) return error;
    throw error;
  }
  throw new Error('expected a TrainyardError');
}

const fields = (fn: () => unknown) => thrown(fn).errors.map((e) => e.field);
const messageFor = (fn: () => unknown, field: string) => thrown(fn).errors.find((e) => e.field === field)?.message ?? '';

// One valid example per layer type, with every argument spelled out where it has one.
const EXAMPLES = [
  { type: 'Linear', in_features: 30, out_features: 64, bias: true },
  { type: 'ReLU' },
  { type: 'ReLU', inplace: true },
  { type: 'LeakyReLU', negative_slope: 0.2 },
  { type: 'ELU', alpha: 0.5 },
  { type: 'GELU', approximate: 'tanh' },
  { type: 'SiLU' },
  { type: 'Tanh' },
  { type: 'Sigmoid' },
  { type: 'Softplus', beta: 2, threshold: 10 },
  { type: 'Dropout', p: 0.2 },
  { type: 'BatchNorm1d', num_features: 64, eps: 1e-3, momentum: null, affine: false, track_running_stats: true },
  { type: 'LayerNorm', normalized_shape: [4, 4], eps: 1e-6, elementwise_affine: false },
  { type: 'Identity' },
  { type: 'Flatten', start_dim: 1, end_dim: -1 },
  { type: 'Unflatten', dim: 1, unflattened_size: [1, 8, 8] },
  { type: 'Conv1d', in_channels: 4, out_channels: 8, kernel_size: 3, stride: 1, padding: 'same', dilation: 1, groups: 2, bias: false, padding_mode: 'reflect' },
  { type: 'Conv2d', out_channels: 8, kernel_size: [3, 5], stride: [1, 2], padding: [1, 2], dilation: [1, 1] },
  { type: 'MaxPool1d', kernel_size: 3, stride: 2, padding: 1, dilation: 1, ceil_mode: true },
  { type: 'MaxPool2d', kernel_size: 2 },
  { type: 'AvgPool1d', kernel_size: [4], stride: null, padding: 2, ceil_mode: false, count_include_pad: false },
  { type: 'AvgPool2d', kernel_size: [2, 2], stride: [1, 1], divisor_override: 3 },
  { type: 'AdaptiveAvgPool1d', output_size: 5 },
  { type: 'AdaptiveAvgPool2d', output_size: [null, 2] },
];

describe('layer schemas', () => {
  it('lists every layer the issue asks for', () => {
    expect([...LAYER_TYPES].sort()).toEqual(
      [
        'Linear', 'ReLU', 'LeakyReLU', 'ELU', 'GELU', 'SiLU', 'Tanh', 'Sigmoid', 'Softplus', 'Dropout', 'BatchNorm1d', 'LayerNorm',
        'Identity', 'Flatten', 'Unflatten', 'Conv1d', 'Conv2d', 'MaxPool1d', 'MaxPool2d', 'AvgPool1d', 'AvgPool2d',
        'AdaptiveAvgPool1d', 'AdaptiveAvgPool2d',
      ].sort(),
    );
  });

  it('has one example here per layer type', () => {
    expect(new Set(EXAMPLES.map((e) => e.type))).toEqual(new Set(LAYER_TYPES));
  });

  it.each(EXAMPLES)('the TypeBox union accepts $type and so does validateLayers', (example) => {
    expect(Value.Check(LayerSchema, example)).toBe(true);
    expect(validateLayers([example])).toEqual([example]);
  });

  it('rejects unknown arguments in the schema itself (additionalProperties: false)', () => {
    for (const schema of Object.values(LAYER_SCHEMAS)) expect((schema as { additionalProperties?: boolean }).additionalProperties).toBe(false);
    expect(Value.Check(LayerSchema, { type: 'Linear', out_features: 1, bogus: 1 })).toBe(false);
  });

  it('LayersSchema requires at least one layer', () => {
    expect(Value.Check(LayersSchema, [])).toBe(false);
    expect(Value.Check(LayersSchema, [{ type: 'Linear', out_features: 1 }])).toBe(true);
  });

  it('carries no `default` keyword (ajv strict mode refuses one inside a union) but documents it', () => {
    expect(JSON.stringify(LayersSchema)).not.toContain('"default"');
    expect((LAYER_SCHEMAS.Dropout.properties.p as { description?: string }).description).toContain('Default: 0.5.');
    expect(LAYER_SCHEMAS.ReLU.required).toEqual(['type']);
    expect(LAYER_SCHEMAS.SiLU.required).toEqual(['type']);
  });

  it('documents PyTorch defaults', () => {
    expect(layerDefaults('Linear')).toEqual({ bias: true });
    expect(layerDefaults('LeakyReLU')).toEqual({ negative_slope: 0.01, inplace: false });
    expect(layerDefaults('ELU')).toMatchObject({ alpha: 1 });
    expect(layerDefaults('GELU')).toEqual({ approximate: 'none' });
    expect(layerDefaults('Softplus')).toEqual({ beta: 1, threshold: 20 });
    expect(layerDefaults('Dropout')).toMatchObject({ p: 0.5 });
    expect(layerDefaults('BatchNorm1d')).toEqual({ eps: 1e-5, momentum: 0.1, affine: true, track_running_stats: true });
    expect(layerDefaults('LayerNorm')).toEqual({ eps: 1e-5, elementwise_affine: true });
    expect(layerDefaults('Flatten')).toEqual({ start_dim: 1, end_dim: -1 });
    expect(layerDefaults('Conv2d')).toEqual({ stride: 1, padding: 0, dilation: 1, groups: 1, bias: true, padding_mode: 'zeros' });
    expect(layerDefaults('MaxPool2d')).toEqual({ padding: 0, dilation: 1, ceil_mode: false });
    expect(layerDefaults('AvgPool1d')).toEqual({ padding: 0, ceil_mode: false, count_include_pad: true });
  });

  it('describes argument types in words', () => {
    expect(describeSchema(LAYER_SCHEMAS.Conv2d.properties.kernel_size)).toBe('an integer from 1 to 1048576 or a list of 2 integers from 1 to 1048576');
    expect(describeSchema(LAYER_SCHEMAS.Conv1d.properties.padding)).toBe("an integer from 0 to 1048576, a list of 1 integer from 0 to 1048576, 'same' or 'valid'");
    expect(describeSchema(LAYER_SCHEMAS.GELU.properties.approximate)).toBe("'none' or 'tanh'");
    expect(describeSchema(LAYER_SCHEMAS.Dropout.properties.p)).toBe('a number ≥ 0 and ≤ 1');
    expect(describeSchema(LAYER_SCHEMAS.Linear.properties.bias)).toBe('a boolean (true or false)');
  });
});

describe('validateLayers', () => {
  it('returns a copy of valid layers', () => {
    const input = [{ type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Dropout', p: 0.2 }, { type: 'Linear', out_features: 1 }];
    const out = validateLayers(input);
    expect(out).toEqual(input);
    expect(out).not.toBe(input);
    expect(out[0]).not.toBe(input[0]);
  });

  it('rejects an empty list on the field "layers"', () => {
    const error = thrown(() => validateLayers([]));
    expect(error.code).toBe('INVALID_MODEL_SPEC');
    expect(error.errors).toEqual([{ field: 'layers', message: 'must contain at least one layer' }]);
    expect(error.message).toBe('layers: must contain at least one layer');
  });

  it('rejects a non-list', () => {
    expect(fields(() => validateLayers({ type: 'Linear' }))).toEqual(['layers']);
    expect(fields(() => validateLayers(undefined))).toEqual(['layers']);
  });

  it('rejects a layer that is not an object', () => {
    expect(messageFor(() => validateLayers(['Linear']), 'layers[0]')).toContain('must be an object');
    expect(fields(() => validateLayers([null]))).toEqual(['layers[0]']);
    expect(fields(() => validateLayers([[1]]))).toEqual(['layers[0]']);
  });

  it('names an unknown layer type and lists the allowed ones', () => {
    const message = messageFor(() => validateLayers([{ type: 'Linear', out_features: 4 }, { type: 'Conv3d' }]), 'layers[1].type');
    expect(message).toContain('"Conv3d" is not a supported layer type');
    expect(message).toContain('Linear, ReLU');
    expect(message).toContain('AdaptiveAvgPool2d');
  });

  it('suggests the right spelling of a layer type', () => {
    expect(messageFor(() => validateLayers([{ type: 'linear', out_features: 4 }]), 'layers[0].type')).toContain('did you mean "Linear"?');
    expect(messageFor(() => validateLayers([{ type: 'nn.relu' }]), 'layers[0].type')).toContain('did you mean "ReLU"?');
  });

  it('requires a type', () => {
    expect(messageFor(() => validateLayers([{ out_features: 4 }]), 'layers[0].type')).toMatch(/^is required: one of Linear/);
    expect(fields(() => validateLayers([{ type: 7 }]))).toEqual(['layers[0].type']);
  });

  it('names an unknown argument and lists the layer’s arguments', () => {
    const message = messageFor(() => validateLayers([{ type: 'Linear', out_feature: 4 }]), 'layers[0].out_feature');
    expect(message).toBe('is not an argument of Linear (its arguments are in_features, out_features, bias)');
  });

  it('says when a layer takes no arguments', () => {
    expect(messageFor(() => validateLayers([{ type: 'Tanh', inplace: true }]), 'layers[0].inplace')).toBe('is not an argument of Tanh (it takes no arguments)');
  });

  it('names a missing required argument with its type', () => {
    const error = thrown(() => validateLayers([{ type: 'ReLU' }, { type: 'ReLU' }, { type: 'ReLU' }, { type: 'Linear', in_features: 3 }]));
    expect(error.errors).toEqual([{ field: 'layers[3].out_features', message: 'is required (an integer from 1 to 1048576)' }]);
    expect(error.message).toBe('layers[3].out_features: is required (an integer from 1 to 1048576)');
  });

  it('names an ill-typed argument with the expected type and the value given', () => {
    expect(messageFor(() => validateLayers([{ type: 'Linear', out_features: '64' }]), 'layers[0].out_features')).toBe('must be an integer from 1 to 1048576, got "64"');
    expect(messageFor(() => validateLayers([{ type: 'Linear', out_features: 2.5 }]), 'layers[0].out_features')).toBe('must be an integer from 1 to 1048576, got 2.5');
    expect(messageFor(() => validateLayers([{ type: 'Linear', out_features: 0 }]), 'layers[0].out_features')).toBe('must be an integer from 1 to 1048576, got 0');
    expect(messageFor(() => validateLayers([{ type: 'Linear', out_features: 1, bias: 'yes' }]), 'layers[0].bias')).toContain('must be a boolean');
    expect(messageFor(() => validateLayers([{ type: 'Dropout', p: 1.5 }]), 'layers[0].p')).toBe('must be a number ≥ 0 and ≤ 1, got 1.5');
    expect(messageFor(() => validateLayers([{ type: 'GELU', approximate: 'fast' }]), 'layers[0].approximate')).toBe('must be \'none\' or \'tanh\', got "fast"');
    expect(messageFor(() => validateLayers([{ type: 'Conv2d', out_channels: 4, kernel_size: [3, 3, 3] }]), 'layers[0].kernel_size')).toBe(
      'must be an integer from 1 to 1048576 or a list of 2 integers from 1 to 1048576, got [3,3,3]',
    );
    expect(messageFor(() => validateLayers([{ type: 'Softplus', beta: 0 }]), 'layers[0].beta')).toBe('must be a number > 0, got 0');
  });

  it('collects every problem, each naming its layer and argument', () => {
    const error = thrown(() =>
      validateLayers([{ type: 'Linear' }, { type: 'ReLU', slope: 1 }, { type: 'Dense', units: 4 }, { type: 'Dropout', p: -1 }]),
    );
    expect(error.errors.map((e) => e.field)).toEqual(['layers[0].out_features', 'layers[1].slope', 'layers[2].type', 'layers[3].p']);
    expect(error.message).toMatch(/^layers\[0\]\.out_features: is required .* \(and 3 more problems\)$/);
  });

  it("rejects 'same' padding with a stride, as PyTorch does", () => {
    const message = messageFor(() => validateLayers([{ type: 'Conv1d', out_channels: 4, kernel_size: 3, padding: 'same', stride: 2 }]), 'layers[0].padding');
    expect(message).toContain("'same' padding needs stride 1");
  });

  it('rejects groups that do not divide the channels', () => {
    expect(messageFor(() => validateLayers([{ type: 'Conv2d', out_channels: 6, kernel_size: 3, groups: 4 }]), 'layers[0].groups')).toBe(
      'is 4, which does not divide out_channels (6)',
    );
    expect(messageFor(() => validateLayers([{ type: 'Conv2d', in_channels: 3, out_channels: 6, kernel_size: 3, groups: 2 }]), 'layers[0].groups')).toBe(
      'is 2, which does not divide in_channels (3)',
    );
  });

  it('rejects pooling padding over half the kernel, as PyTorch does', () => {
    expect(messageFor(() => validateLayers([{ type: 'MaxPool2d', kernel_size: 2, padding: 2 }]), 'layers[0].padding')).toBe(
      'is 2, but must be at most half the kernel size (2 / 2 = 1)',
    );
    expect(messageFor(() => validateLayers([{ type: 'AvgPool2d', kernel_size: [4, 2], padding: [2, 2] }]), 'layers[0].padding')).toContain('(2 / 2 = 1)');
    expect(validateLayers([{ type: 'MaxPool1d', kernel_size: 3, padding: 1 }])).toHaveLength(1);
  });

  it('checks Unflatten sizes', () => {
    expect(messageFor(() => validateLayers([{ type: 'Unflatten', dim: 1, unflattened_size: [-1, 2, -1] }]), 'layers[0].unflattened_size')).toContain(
      'only once',
    );
    expect(messageFor(() => validateLayers([{ type: 'Unflatten', dim: 1, unflattened_size: [0, 2] }]), 'layers[0].unflattened_size')).toContain('≥ 1');
    expect(messageFor(() => validateLayers([{ type: 'Unflatten', dim: 0, unflattened_size: [2, 2] }]), 'layers[0].dim')).toContain('batch');
    expect(fields(() => validateLayers([{ type: 'Unflatten', unflattened_size: [2, 2] }]))).toEqual(['layers[0].dim']);
  });

  it('keeps the batch dimension out of Flatten', () => {
    expect(messageFor(() => validateLayers([{ type: 'Flatten', start_dim: 0 }]), 'layers[0].start_dim')).toContain('batch');
  });

  it('accepts AdaptiveAvgPool2d sizes with null (keep that size)', () => {
    expect(validateLayers([{ type: 'AdaptiveAvgPool2d', output_size: [null, 3] }])).toHaveLength(1);
    expect(fields(() => validateLayers([{ type: 'AdaptiveAvgPool2d', output_size: null }]))).toEqual(['layers[0].output_size']);
  });

  it('uses another base path when asked', () => {
    expect(fields(() => validateLayers([{ type: 'Linear' }], 'model.layers'))).toEqual(['model.layers[0].out_features']);
  });
});
