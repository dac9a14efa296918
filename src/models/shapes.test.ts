// Every expected number here is computed by hand from PyTorch's documented formulas:
//   conv / pool: L_out = floor((L + 2·padding − dilation·(kernel − 1) − 1) / stride) + 1
//   (ceil instead of floor in ceil_mode, dropping a last window that starts in the right padding);
//   Linear params = out·in + out; Conv params = out·(in/groups)·prod(kernel) + out;
//   BatchNorm1d affine = 2·C; LayerNorm elementwise_affine = 2·prod(normalized_shape).
import { describe, expect, it } from 'vitest';
import { TrainyardError } from '../errors.ts';
import { validateLayers, type LayerSpec } from './layers.ts';
import { checkStructure, inferShapes, windowOutput } from './shapes.ts';

const L = (layers: unknown[]): LayerSpec[] => validateLayers(layers);
const one = (layer: unknown, input: number[]) => inferShapes(L([layer]), input);

function thrown(fn: () => unknown): TrainyardError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TrainyardError) return error;
    throw error;
  }
  throw new Error('expected a TrainyardError');
}

describe('windowOutput (ATen pooling_output_shape)', () => {
  it('computes the floor formula', () => {
    expect(windowOutput(8, 3, 1, 1, 1, false)).toBe(8);
    expect(windowOutput(100, 5, 2, 1, 2, false)).toBe(47); // floor((100+2-8-1)/2)+1
    expect(windowOutput(10, 3, 2, 0, 1, false)).toBe(4); // floor(7/2)+1
  });
  it('computes ceil mode', () => {
    expect(windowOutput(10, 3, 2, 0, 1, true)).toBe(5); // ceil(7/2)+1
    expect(windowOutput(5, 2, 2, 1, 1, false)).toBe(3);
    // ceil((5+2-1-1)/2)+1 = 4, but the 4th window would start at 6 ≥ 5+1, inside the right padding
    expect(windowOutput(5, 2, 2, 1, 1, true)).toBe(3);
    expect(windowOutput(6, 4, 3, 0, 1, true)).toBe(2); // ceil(2/3)+1; 2nd window starts at 3 < 6
  });
  it('goes below 1 when the kernel does not fit', () => {
    expect(windowOutput(2, 3, 1, 0, 1, false)).toBe(0);
  });
});

describe('inferShapes: MLPs', () => {
  it('counts the breast-cancer MLP 30-64-64-1: 6209 parameters', () => {
    const report = inferShapes(
      L([{ type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: 1 }]),
      [30],
      { expectedOutput: 1 },
    );
    // 30·64+64 = 1984; 64·64+64 = 4160; 64·1+1 = 65
    expect(report.shapes.map((s) => s.parameters)).toEqual([1984, 0, 4160, 0, 65]);
    expect(report.parameters).toBe(6209);
    expect(report.outputShape).toEqual([1]);
    expect(report.shapes.map((s) => s.output)).toEqual([[64], [64], [64], [64], [1]]);
  });

  it('fills in in_features and every default', () => {
    const report = inferShapes(L([{ type: 'Linear', out_features: 8 }, { type: 'LeakyReLU' }, { type: 'Dropout' }, { type: 'Linear', out_features: 3, bias: false }]), [5]);
    expect(report.layers).toEqual([
      { type: 'Linear', in_features: 5, out_features: 8, bias: true },
      { type: 'LeakyReLU', negative_slope: 0.01, inplace: false },
      { type: 'Dropout', p: 0.5, inplace: false },
      { type: 'Linear', in_features: 8, out_features: 3, bias: false },
    ]);
    expect(report.parameters).toBe(5 * 8 + 8 + 8 * 3);
  });

  it('counts the bench MLP 32-64-64-1: 6337 parameters', () => {
    const report = inferShapes(L([{ type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: 1 }]), [32]);
    expect(report.parameters).toBe(32 * 64 + 64 + 64 * 64 + 64 + 65);
  });

  it('keeps the shape through every activation, Dropout and Identity', () => {
    for (const type of ['ReLU', 'LeakyReLU', 'ELU', 'GELU', 'SiLU', 'Tanh', 'Sigmoid', 'Softplus', 'Dropout', 'Identity']) {
      const report = one({ type }, [7]);
      expect(report.outputShape).toEqual([7]);
      expect(report.parameters).toBe(0);
    }
  });

  it('accepts a given in_features that fits', () => {
    expect(one({ type: 'Linear', in_features: 4, out_features: 2 }, [4]).parameters).toBe(10);
  });

  it('names the layer when in_features does not fit the previous layer', () => {
    const error = thrown(() =>
      inferShapes(L([{ type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', in_features: 32, out_features: 1 }]), [30]),
    );
    expect(error.code).toBe('INVALID_MODEL_SPEC');
    expect(error.errors).toEqual([
      { field: 'layers[2].in_features', message: 'is 32 but the previous layer (layers[1], ReLU) outputs 64 features' },
    ]);
    expect(error.message).toBe('layers[2].in_features: is 32 but the previous layer (layers[1], ReLU) outputs 64 features');
  });

  it('reports a stated input width that does not fit the dataset as INCOMPATIBLE_DATASET', () => {
    const error = thrown(() => inferShapes(L([{ type: 'Linear', in_features: 20, out_features: 1 }]), [30]));
    expect(error.code).toBe('INCOMPATIBLE_DATASET');
    expect(error.errors[0]).toEqual({ field: 'layers[0].in_features', message: 'is 20 but the input has 30 features' });
  });

  it('applies Linear to the last dimension of a multi-dimensional row', () => {
    const report = inferShapes(L([{ type: 'Unflatten', dim: 1, unflattened_size: [8, 16] }, { type: 'Linear', out_features: 5 }]), [128]);
    expect(report.outputShape).toEqual([8, 5]);
    expect(report.parameters).toBe(16 * 5 + 5);
    expect(report.layers[1]).toMatchObject({ in_features: 16 });
  });

  it('explains a Linear mismatch on a multi-dimensional row', () => {
    const error = thrown(() => inferShapes(L([{ type: 'Unflatten', dim: 1, unflattened_size: [8, 16] }, { type: 'Linear', in_features: 128, out_features: 5 }]), [128]));
    expect(error.errors[0].message).toBe('is 128 but the previous layer (layers[0], Unflatten) outputs [8, 16] per row, whose last dimension is 16');
  });
});

describe('inferShapes: normalisation', () => {
  it('BatchNorm1d on [C]: 2·C parameters when affine', () => {
    const report = one({ type: 'BatchNorm1d' }, [64]);
    expect(report.parameters).toBe(128);
    expect(report.layers[0]).toEqual({ type: 'BatchNorm1d', num_features: 64, eps: 1e-5, momentum: 0.1, affine: true, track_running_stats: true });
  });

  it('BatchNorm1d without affine has no parameters (running stats are buffers)', () => {
    expect(one({ type: 'BatchNorm1d', affine: false }, [64]).parameters).toBe(0);
  });

  it('BatchNorm1d on [C, L] normalises the channels', () => {
    const report = inferShapes(L([{ type: 'Unflatten', dim: 1, unflattened_size: [16, 4] }, { type: 'BatchNorm1d', num_features: 16 }]), [64]);
    expect(report.outputShape).toEqual([16, 4]);
    expect(report.parameters).toBe(32);
  });

  it('BatchNorm1d rejects a wrong num_features and 3-D rows', () => {
    const error = thrown(() => inferShapes(L([{ type: 'Linear', out_features: 10 }, { type: 'BatchNorm1d', num_features: 12 }]), [4]));
    expect(error.errors[0]).toEqual({ field: 'layers[1].num_features', message: 'is 12 but the previous layer (layers[0], Linear) outputs 10 features' });
    const rank = thrown(() => inferShapes(L([{ type: 'Unflatten', dim: 1, unflattened_size: [1, 8, 8] }, { type: 'BatchNorm1d' }]), [64]));
    expect(rank.errors[0].field).toBe('layers[1]');
    expect(rank.errors[0].message).toContain('BatchNorm1d needs each row to be [C] or [C, L]');
    expect(rank.errors[0].message).toContain('[1, 8, 8]');
  });

  it('LayerNorm defaults to the last dimension', () => {
    const report = one({ type: 'LayerNorm' }, [64]);
    expect(report.parameters).toBe(128);
    expect(report.layers[0]).toEqual({ type: 'LayerNorm', normalized_shape: [64], eps: 1e-5, elementwise_affine: true });
  });

  it('LayerNorm over trailing dimensions [4, 4] of [8, 4, 4]: 32 parameters', () => {
    const report = inferShapes(L([{ type: 'Unflatten', dim: 1, unflattened_size: [8, 4, 4] }, { type: 'LayerNorm', normalized_shape: [4, 4] }]), [128]);
    expect(report.outputShape).toEqual([8, 4, 4]);
    expect(report.parameters).toBe(32);
  });

  it('LayerNorm accepts an int and counts nothing without elementwise_affine', () => {
    expect(one({ type: 'LayerNorm', normalized_shape: 10, elementwise_affine: false }, [10]).parameters).toBe(0);
  });

  it('LayerNorm rejects a normalized_shape that is not the trailing dimensions', () => {
    const error = thrown(() => inferShapes(L([{ type: 'Linear', out_features: 8 }, { type: 'LayerNorm', normalized_shape: [16] }]), [4]));
    expect(error.code).toBe('INVALID_MODEL_SPEC');
    expect(error.errors[0].field).toBe('layers[1].normalized_shape');
    const tooLong = thrown(() => inferShapes(L([{ type: 'LayerNorm', normalized_shape: [2, 4] }]), [8]));
    expect(tooLong.errors[0].message).toContain('only 1 dimension');
  });
});

describe('inferShapes: Flatten and Unflatten', () => {
  const image = { type: 'Unflatten', dim: 1, unflattened_size: [8, 4, 4] };
  it('Flatten() flattens a row', () => {
    expect(inferShapes(L([image, { type: 'Flatten' }]), [128]).outputShape).toEqual([128]);
  });
  it('Flatten(start_dim=2) keeps the channels', () => {
    expect(inferShapes(L([image, { type: 'Flatten', start_dim: 2 }]), [128]).outputShape).toEqual([8, 16]);
    expect(inferShapes(L([image, { type: 'Flatten', start_dim: -2 }]), [128]).outputShape).toEqual([8, 16]);
  });
  it('Flatten(1, 2) merges the first two dimensions of a row', () => {
    expect(inferShapes(L([image, { type: 'Flatten', start_dim: 1, end_dim: 2 }]), [128]).outputShape).toEqual([32, 4]);
  });
  it('Flatten on a flat row changes nothing', () => {
    expect(one({ type: 'Flatten' }, [30]).outputShape).toEqual([30]);
  });
  it('Flatten rejects out-of-range and reversed dims', () => {
    expect(thrown(() => one({ type: 'Flatten', start_dim: 3 }, [30])).errors[0].field).toBe('layers[0].start_dim');
    expect(thrown(() => one({ type: 'Flatten', start_dim: -2 }, [30])).errors[0].message).toContain('batch');
    const reversed = thrown(() => inferShapes(L([image, { type: 'Flatten', start_dim: 3, end_dim: 2 }]), [128]));
    expect(reversed.errors[0]).toEqual({ field: 'layers[1].start_dim', message: '(3) comes after end_dim (2)' });
  });
  it('Unflatten infers one -1', () => {
    expect(one({ type: 'Unflatten', dim: 1, unflattened_size: [2, -1] }, [64]).outputShape).toEqual([2, 32]);
    expect(inferShapes(L([{ type: 'Unflatten', dim: 1, unflattened_size: [8, 16] }, { type: 'Unflatten', dim: -1, unflattened_size: [4, 4] }]), [128]).outputShape).toEqual([8, 4, 4]);
  });
  it('Unflatten rejects sizes whose product is not the dimension', () => {
    const error = thrown(() => one({ type: 'Unflatten', dim: 1, unflattened_size: [1, 8, 8] }, [60]));
    expect(error.code).toBe('INCOMPATIBLE_DATASET');
    expect(error.errors[0]).toEqual({ field: 'layers[0].unflattened_size', message: 'is [1, 8, 8] (64 values) but the input has 60 features' });
    const notMultiple = thrown(() => one({ type: 'Unflatten', dim: 1, unflattened_size: [3, -1] }, [64]));
    expect(notMultiple.errors[0].message).toContain('not a multiple of 3');
  });
  it('Unflatten rejects a dim out of range', () => {
    expect(thrown(() => one({ type: 'Unflatten', dim: 2, unflattened_size: [2, 2] }, [4])).errors[0].field).toBe('layers[0].dim');
  });
});

describe('inferShapes: convolutions', () => {
  it('the 64-pixel example: Unflatten + Conv2d + MaxPool2d + Flatten + Linear', () => {
    const report = inferShapes(
      L([
        { type: 'Unflatten', dim: 1, unflattened_size: [1, 8, 8] },
        { type: 'Conv2d', out_channels: 8, kernel_size: 3, padding: 1 },
        { type: 'ReLU' },
        { type: 'MaxPool2d', kernel_size: 2 },
        { type: 'Flatten' },
        { type: 'Linear', out_features: 10 },
      ]),
      [64],
      { expectedOutput: 10 },
    );
    expect(report.shapes.map((s) => s.output)).toEqual([[1, 8, 8], [8, 8, 8], [8, 8, 8], [8, 4, 4], [128], [10]]);
    // Conv2d 8·1·3·3 + 8 = 80; Linear 128·10 + 10 = 1290
    expect(report.shapes.map((s) => s.parameters)).toEqual([0, 80, 0, 0, 0, 1290]);
    expect(report.parameters).toBe(1370);
    expect(report.layers[1]).toEqual({
      type: 'Conv2d', in_channels: 1, out_channels: 8, kernel_size: 3, stride: 1, padding: 1, dilation: 1, groups: 1, bias: true, padding_mode: 'zeros',
    });
    expect(report.layers[3]).toEqual({ type: 'MaxPool2d', kernel_size: 2, stride: 2, padding: 0, dilation: 1, ceil_mode: false });
    expect(report.layers[5]).toMatchObject({ in_features: 128 });
  });

  it('Conv1d with stride, padding and dilation: L = floor((100+2-8-1)/2)+1 = 47, 336 parameters', () => {
    const report = inferShapes(
      L([{ type: 'Unflatten', dim: 1, unflattened_size: [4, 100] }, { type: 'Conv1d', out_channels: 16, kernel_size: 5, stride: 2, padding: 1, dilation: 2 }]),
      [400],
    );
    expect(report.outputShape).toEqual([16, 47]);
    expect(report.parameters).toBe(16 * 4 * 5 + 16);
  });

  it('Conv1d with groups: 8·(4/2)·3 + 8 = 56 parameters', () => {
    const report = inferShapes(L([{ type: 'Unflatten', dim: 1, unflattened_size: [4, 10] }, { type: 'Conv1d', out_channels: 8, kernel_size: 3, groups: 2 }]), [40]);
    expect(report.outputShape).toEqual([8, 8]);
    expect(report.parameters).toBe(56);
  });

  it('Conv2d with per-axis kernel, stride and padding and no bias', () => {
    const report = inferShapes(
      L([
        { type: 'Unflatten', dim: 1, unflattened_size: [3, 32, 32] },
        { type: 'Conv2d', out_channels: 6, kernel_size: [3, 5], stride: [1, 2], padding: [1, 2], bias: false },
      ]),
      [3072],
    );
    // H: floor((32+2-2-1)/1)+1 = 32; W: floor((32+4-4-1)/2)+1 = 16
    expect(report.outputShape).toEqual([6, 32, 16]);
    expect(report.parameters).toBe(6 * 3 * 3 * 5);
  });

  it("'same' keeps the length (even kernels too) and 'valid' pads nothing", () => {
    const image = { type: 'Unflatten', dim: 1, unflattened_size: [2, 10] };
    expect(inferShapes(L([image, { type: 'Conv1d', out_channels: 3, kernel_size: 4, padding: 'same' }]), [20]).outputShape).toEqual([3, 10]);
    expect(inferShapes(L([image, { type: 'Conv1d', out_channels: 3, kernel_size: 3, padding: 'valid' }]), [20]).outputShape).toEqual([3, 8]);
    expect(inferShapes(L([image, { type: 'Conv1d', out_channels: 3, kernel_size: 3, dilation: 3, padding: 'same' }]), [20]).outputShape).toEqual([3, 10]);
  });

  it('Conv2d on flat rows asks for an Unflatten', () => {
    const error = thrown(() => inferShapes(L([{ type: 'Conv2d', out_channels: 8, kernel_size: 3 }]), [64]));
    expect(error.errors[0].field).toBe('layers[0]');
    expect(error.errors[0].message).toContain('Conv2d needs each row to be [C, H, W] (channels, height, width), but the input has flat rows of 64 features');
    expect(error.errors[0].message).toContain('Unflatten');
  });

  it('Conv2d names a wrong in_channels', () => {
    const error = thrown(() => inferShapes(L([{ type: 'Unflatten', dim: 1, unflattened_size: [1, 8, 8] }, { type: 'Conv2d', in_channels: 3, out_channels: 8, kernel_size: 3 }]), [64]));
    expect(error.errors[0]).toEqual({
      field: 'layers[1].in_channels',
      message: 'is 3 but the previous layer (layers[0], Unflatten) outputs [1, 8, 8] per row, which has 1 channels',
    });
  });

  it('Conv2d rejects groups that do not divide the inferred channels', () => {
    const error = thrown(() => inferShapes(L([{ type: 'Unflatten', dim: 1, unflattened_size: [3, 4, 4] }, { type: 'Conv2d', out_channels: 6, kernel_size: 1, groups: 2 }]), [48]));
    expect(error.errors[0]).toEqual({ field: 'layers[1].groups', message: 'is 2, which does not divide the 3 input channels' });
  });

  it('rejects a kernel larger than the padded input', () => {
    const error = thrown(() => inferShapes(L([{ type: 'Unflatten', dim: 1, unflattened_size: [1, 2, 2] }, { type: 'Conv2d', out_channels: 1, kernel_size: 3 }]), [4]));
    expect(error.errors[0]).toEqual({
      field: 'layers[1].kernel_size',
      message: 'spans 3 (kernel 3, dilation 1) but the previous layer (layers[0], Unflatten) outputs [1, 2, 2], whose height is 2: no output would be left',
    });
    // with padding 1 the 3×3 kernel fits a 2×2 input: (2+2-2-1)+1 = 2
    expect(inferShapes(L([{ type: 'Unflatten', dim: 1, unflattened_size: [1, 2, 2] }, { type: 'Conv2d', out_channels: 1, kernel_size: 3, padding: 1 }]), [4]).outputShape).toEqual([1, 2, 2]);
  });
});

describe('inferShapes: pooling', () => {
  const rows1 = { type: 'Unflatten', dim: 1, unflattened_size: [4, 10] };
  it('MaxPool1d(3, stride 2) on length 10: floor 4, ceil 5', () => {
    expect(inferShapes(L([rows1, { type: 'MaxPool1d', kernel_size: 3, stride: 2 }]), [40]).outputShape).toEqual([4, 4]);
    expect(inferShapes(L([rows1, { type: 'MaxPool1d', kernel_size: 3, stride: 2, ceil_mode: true }]), [40]).outputShape).toEqual([4, 5]);
  });
  it('MaxPool2d with dilation 2, kernel 3 on 7×7: stride 3, floor((7-4-1)/3)+1 = 1', () => {
    const report = inferShapes(L([{ type: 'Unflatten', dim: 1, unflattened_size: [1, 7, 7] }, { type: 'MaxPool2d', kernel_size: 3, dilation: 2 }]), [49]);
    expect(report.outputShape).toEqual([1, 1, 1]);
  });
  it('AvgPool2d(2, stride 1, padding 1) on 4×4: 5×5', () => {
    const report = inferShapes(L([{ type: 'Unflatten', dim: 1, unflattened_size: [3, 4, 4] }, { type: 'AvgPool2d', kernel_size: 2, stride: 1, padding: 1 }]), [48]);
    expect(report.outputShape).toEqual([3, 5, 5]);
    expect(report.parameters).toBe(0);
    expect(report.layers[1]).toEqual({ type: 'AvgPool2d', kernel_size: 2, stride: 1, padding: 1, ceil_mode: false, count_include_pad: true, divisor_override: null });
  });
  it('AvgPool1d stride null means kernel_size', () => {
    const report = inferShapes(L([rows1, { type: 'AvgPool1d', kernel_size: 2, stride: null }]), [40]);
    expect(report.outputShape).toEqual([4, 5]);
    expect(report.layers[1]).toMatchObject({ stride: 2 });
  });
  it('rejects a window larger than the input', () => {
    const error = thrown(() => inferShapes(L([{ type: 'Unflatten', dim: 1, unflattened_size: [2, 3] }, { type: 'AvgPool1d', kernel_size: 4 }]), [6]));
    expect(error.errors[0].field).toBe('layers[1].kernel_size');
    expect(error.errors[0].message).toContain('no output would be left');
  });
  it('rejects pooling a flat row', () => {
    expect(thrown(() => one({ type: 'MaxPool1d', kernel_size: 2 }, [10])).errors[0].message).toContain('[C, L]');
  });
  it('AdaptiveAvgPool1d and 2d give the requested size', () => {
    expect(inferShapes(L([rows1, { type: 'AdaptiveAvgPool1d', output_size: 3 }]), [40]).outputShape).toEqual([4, 3]);
    const image = { type: 'Unflatten', dim: 1, unflattened_size: [8, 5, 7] };
    expect(inferShapes(L([image, { type: 'AdaptiveAvgPool2d', output_size: 2 }]), [280]).outputShape).toEqual([8, 2, 2]);
    expect(inferShapes(L([image, { type: 'AdaptiveAvgPool2d', output_size: [null, 2] }]), [280]).outputShape).toEqual([8, 5, 2]);
    expect(thrown(() => inferShapes(L([rows1, { type: 'AdaptiveAvgPool2d', output_size: 2 }]), [40])).errors[0].field).toBe('layers[1]');
  });
});

describe('inferShapes: budget and output', () => {
  const mlp = L([{ type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: 1 }]);
  it('passes at the budget and fails one parameter under it', () => {
    expect(inferShapes(mlp, [30], { maxParameters: 6209 }).parameters).toBe(6209);
    const error = thrown(() => inferShapes(mlp, [30], { maxParameters: 6208 }));
    expect(error.code).toBe('MODEL_TOO_LARGE');
    expect(error.message).toContain('6,209 parameters');
    expect(error.message).toContain('limit of 6,208');
    expect(error.message).toContain('layers[2] (Linear) with 4,160');
  });

  it('requires [1] for binary classification, naming the task', () => {
    const layers = L([{ type: 'Linear', out_features: 3 }]);
    const error = thrown(() => inferShapes(layers, [4], { expectedOutput: 1, task: 'binary_classification' }));
    expect(error.code).toBe('INVALID_MODEL_SPEC');
    expect(error.errors[0]).toEqual({
      field: 'layers[0].out_features',
      message: 'the last layer outputs 3 values but a binary_classification model must output 1 (a raw score)',
    });
    expect(thrown(() => inferShapes(layers, [4], { task: 'regression' })).errors[0].message).toContain('a regression model must output 1');
  });

  it('requires one score per class for multiclass', () => {
    const error = thrown(() => inferShapes(L([{ type: 'Linear', out_features: 2 }]), [4], { expectedOutput: 3, task: 'multiclass_classification' }));
    expect(error.errors[0].message).toBe(
      'the last layer outputs 2 values but a multiclass_classification model must output 3 (one raw score per class; the target has 3 classes)',
    );
    expect(inferShapes(L([{ type: 'Linear', out_features: 3 }]), [4], { expectedOutput: 3 }).outputShape).toEqual([3]);
  });

  it('names the last layer when it is not a Linear', () => {
    const error = thrown(() => inferShapes(L([{ type: 'Linear', out_features: 2 }, { type: 'ReLU' }]), [4], { expectedOutput: 1 }));
    expect(error.errors[0].field).toBe('layers[1]');
  });

  it('rejects a multi-dimensional output', () => {
    const error = thrown(() => inferShapes(L([{ type: 'Unflatten', dim: 1, unflattened_size: [1, 4] }]), [4], { expectedOutput: 1 }));
    expect(error.errors[0].message).toContain('outputs [1, 4] per row');
    expect(error.errors[0].message).toContain('Flatten');
  });

  it('rejects a classifier that ends in Sigmoid (the platform applies it)', () => {
    const error = thrown(() => inferShapes(L([{ type: 'Linear', out_features: 1 }, { type: 'Sigmoid' }]), [4], { task: 'binary_classification' }));
    expect(error.errors[0].field).toBe('layers[1]');
    expect(error.errors[0].message).toContain('remove this Sigmoid');
    expect(inferShapes(L([{ type: 'Linear', out_features: 1 }, { type: 'Sigmoid' }]), [4], { task: 'regression' }).parameters).toBe(5);
  });

  it('rejects an input without features', () => {
    expect(thrown(() => inferShapes(mlp, [0])).code).toBe('INCOMPATIBLE_DATASET');
    expect(() => inferShapes(mlp, [])).toThrow(TypeError);
  });

  it('accepts frozen layers', () => {
    const frozen = Object.freeze(mlp.map((l) => Object.freeze({ ...l })));
    expect(inferShapes(frozen, [30]).parameters).toBe(6209);
  });
});

describe('checkStructure (no dataset yet)', () => {
  it('leaves the first layer’s count unknown when the input width is unknown', () => {
    const report = checkStructure(L([{ type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: 1 }]));
    expect(report.shapes[0]).toEqual({ index: 0, type: 'Linear', input: [null], output: [64], parameters: null });
    expect(report.parameters).toBeNull();
    expect(report.knownParameters).toBe(65);
    expect(report.inputFeatures).toBeNull();
    expect(report.outputShape).toEqual([1]);
  });

  it('learns the input width from a first Linear with in_features and counts everything', () => {
    const report = checkStructure(L([{ type: 'Linear', in_features: 30, out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', out_features: 1 }]));
    expect(report.inputFeatures).toBe(30);
    expect(report.parameters).toBe(30 * 64 + 64 + 65);
    expect(report.shapes[0].input).toEqual([30]);
  });

  it('learns it through shape-preserving layers and from an Unflatten', () => {
    expect(checkStructure(L([{ type: 'Dropout' }, { type: 'BatchNorm1d', num_features: 12 }, { type: 'Linear', out_features: 1 }])).inputFeatures).toBe(12);
    const report = checkStructure(
      L([{ type: 'Unflatten', dim: 1, unflattened_size: [1, 8, 8] }, { type: 'Conv2d', out_channels: 8, kernel_size: 3, padding: 1 }, { type: 'Flatten' }, { type: 'Linear', out_features: 10 }]),
    );
    expect(report.inputFeatures).toBe(64);
    expect(report.parameters).toBe(80 + 512 * 10 + 10);
  });

  it('checks consecutive known sizes', () => {
    const error = thrown(() => checkStructure(L([{ type: 'Linear', out_features: 64 }, { type: 'ReLU' }, { type: 'Linear', in_features: 32, out_features: 1 }])));
    expect(error.code).toBe('INVALID_MODEL_SPEC');
    expect(error.errors[0]).toEqual({ field: 'layers[2].in_features', message: 'is 32 but the previous layer (layers[1], ReLU) outputs 64 features' });
  });

  it('treats a conflict between two stated input widths as a spec error', () => {
    const error = thrown(() => checkStructure(L([{ type: 'BatchNorm1d', num_features: 30 }, { type: 'Linear', in_features: 20, out_features: 1 }])));
    expect(error.code).toBe('INVALID_MODEL_SPEC');
    expect(error.errors[0].field).toBe('layers[1].in_features');
  });

  it('knows rows are flat: Conv2d first needs an Unflatten', () => {
    const error = thrown(() => checkStructure(L([{ type: 'Conv2d', out_channels: 8, kernel_size: 3 }])));
    expect(error.errors[0].message).toContain('Unflatten');
  });

  it('follows unknown sizes through Unflatten with -1 and convolutions', () => {
    const report = checkStructure(
      L([
        { type: 'Unflatten', dim: 1, unflattened_size: [1, -1] },
        { type: 'Conv1d', out_channels: 4, kernel_size: 3 },
        { type: 'AdaptiveAvgPool1d', output_size: 2 },
        { type: 'Flatten' },
        { type: 'Linear', out_features: 1 },
      ]),
    );
    expect(report.shapes.map((s) => s.output)).toEqual([[1, null], [4, null], [4, 2], [8], [1]]);
    expect(report.parameters).toBe(4 * 3 + 4 + 8 + 1);
  });

  it('checks the output width for binary and regression', () => {
    const error = thrown(() => checkStructure(L([{ type: 'Linear', out_features: 2 }]), { task: 'binary_classification' }));
    expect(error.errors[0].message).toContain('must output 1 (a raw score)');
    expect(checkStructure(L([{ type: 'Linear', out_features: 5 }]), { task: 'multiclass_classification' }).outputShape).toEqual([5]);
    const single = thrown(() => checkStructure(L([{ type: 'Linear', out_features: 1 }]), { task: 'multiclass_classification' }));
    expect(single.errors[0]).toEqual({
      field: 'layers[0].out_features',
      message: 'the last layer outputs 1 value but a multiclass_classification model must output one raw score per class (at least 2)',
    });
  });

  it('enforces the budget on what it can count', () => {
    const layers = L([{ type: 'Linear', out_features: 1000 }, { type: 'Linear', out_features: 1000 }, { type: 'Linear', out_features: 1 }]);
    const error = thrown(() => checkStructure(layers, { maxParameters: 1_000_000 }));
    expect(error.code).toBe('MODEL_TOO_LARGE');
    expect(error.message).toContain('at least 1,002,001 parameters');
  });

  it('rejects an empty list', () => {
    expect(thrown(() => checkStructure([])).errors[0].field).toBe('layers');
  });
});

// Generated once from PyTorch 1.13 (Debian's python3-torch): each stack after an Unflatten to the
// given row shape was built with nn layers and run on a [2, F] batch; the output shape per row and
// sum(p.numel() for p in model.parameters()) are PyTorch's, not ours.
describe('inferShapes agrees with PyTorch 1.13', () => {
  const OK: [unknown[], number[], number[], number][] = [
    [[{"type":"LayerNorm","normalized_shape":[9,5]}], [4, 9, 5], [4, 9, 5], 90],
    [[{"type":"LayerNorm","normalized_shape":[10]},{"type":"Flatten"},{"type":"Linear","out_features":4}], [1, 10], [4], 64],
    [[{"type":"Flatten","start_dim":2,"end_dim":2}], [2, 5], [2, 5], 0],
    [[{"type":"AdaptiveAvgPool1d","output_size":6},{"type":"Flatten"},{"type":"Linear","out_features":4}], [1, 4], [4], 28],
    [[{"type":"AvgPool1d","kernel_size":3,"ceil_mode":true}], [2, 11], [2, 4], 0],
    [[{"type":"MaxPool1d","kernel_size":2,"stride":2,"ceil_mode":true},{"type":"Flatten"},{"type":"Linear","out_features":1}], [3, 5], [1], 10],
    [[{"type":"AvgPool2d","kernel_size":2,"padding":1}], [1, 4, 4], [1, 3, 3], 0],
    [[{"type":"AdaptiveAvgPool2d","output_size":4}], [1, 7, 6], [1, 4, 4], 0],
    [[{"type":"Conv1d","out_channels":3,"kernel_size":[4],"groups":1,"padding":"valid","bias":false},{"type":"Flatten"},{"type":"Linear","out_features":3}], [4, 5], [3], 69],
    [[{"type":"AdaptiveAvgPool1d","output_size":2}], [3, 3], [3, 2], 0],
    [[{"type":"Conv1d","out_channels":3,"kernel_size":[3],"groups":1,"dilation":2,"padding":"same","bias":false}], [2, 3], [3, 3], 18],
    [[{"type":"Conv1d","out_channels":1,"kernel_size":[4],"groups":1,"dilation":1,"padding":"same"},{"type":"Flatten"},{"type":"Linear","out_features":1}], [1, 8], [1], 14],
    [[{"type":"MaxPool2d","kernel_size":3,"padding":1,"dilation":3,"ceil_mode":true}], [2, 12, 3], [2, 4, 1], 0],
    [[{"type":"MaxPool2d","kernel_size":1,"padding":0,"ceil_mode":true},{"type":"Flatten"},{"type":"Linear","out_features":4}], [3, 9, 9], [4], 976],
    [[{"type":"AdaptiveAvgPool2d","output_size":[2,6]},{"type":"Flatten"},{"type":"Linear","out_features":5}], [3, 5, 6], [5], 185],
    [[{"type":"Flatten","start_dim":-2,"end_dim":-1},{"type":"Flatten"},{"type":"Linear","out_features":2}], [1, 5], [2], 12],
    [[{"type":"Conv2d","out_channels":1,"kernel_size":[4,5],"groups":1,"dilation":1,"padding":3},{"type":"Flatten"},{"type":"Linear","out_features":2}], [1, 11, 9], [2], 331],
    [[{"type":"MaxPool2d","kernel_size":5,"dilation":1,"ceil_mode":true},{"type":"Flatten"},{"type":"Linear","out_features":2}], [4, 9, 9], [2], 34],
    [[{"type":"BatchNorm1d"},{"type":"Flatten"},{"type":"Linear","out_features":1}], [2, 1], [1], 7],
    [[{"type":"Conv1d","out_channels":2,"kernel_size":4,"groups":1,"bias":false},{"type":"Flatten"},{"type":"Linear","out_features":4}], [3, 8], [4], 68],
    [[{"type":"AvgPool2d","kernel_size":2,"stride":1,"ceil_mode":true},{"type":"Flatten"},{"type":"Linear","out_features":1}], [3, 9, 9], [1], 193],
    [[{"type":"AvgPool1d","kernel_size":5,"padding":1,"ceil_mode":true}], [2, 10], [2, 3], 0],
    [[{"type":"Conv2d","out_channels":3,"kernel_size":[3,1],"groups":1,"stride":1,"dilation":3,"padding":0},{"type":"Flatten"},{"type":"Linear","out_features":5}], [4, 12, 12], [5], 1124],
    [[{"type":"BatchNorm1d"}], [1, 5], [1, 5], 2],
    [[{"type":"Conv1d","out_channels":2,"kernel_size":1,"groups":1}], [4, 1], [2, 1], 10],
    [[{"type":"Conv2d","out_channels":3,"kernel_size":[3,3],"groups":1,"dilation":3,"padding":3}], [4, 2, 10], [3, 2, 10], 111],
    [[{"type":"MaxPool2d","kernel_size":2,"dilation":1}], [2, 6, 5], [2, 3, 2], 0],
    [[{"type":"AvgPool2d","kernel_size":5},{"type":"Flatten"},{"type":"Linear","out_features":2}], [4, 8, 5], [2], 10],
    [[{"type":"MaxPool1d","kernel_size":3,"padding":0,"ceil_mode":true},{"type":"Flatten"},{"type":"Linear","out_features":2}], [4, 9], [2], 26],
    [[{"type":"AvgPool2d","kernel_size":2,"stride":2,"ceil_mode":true}], [4, 10, 4], [4, 5, 2], 0],
    [[{"type":"Conv1d","out_channels":2,"kernel_size":2,"groups":2,"padding":2},{"type":"Flatten"},{"type":"Linear","out_features":3}], [4, 1], [3], 37],
    [[{"type":"AvgPool2d","kernel_size":3,"stride":1,"padding":0,"ceil_mode":true}], [4, 5, 12], [4, 3, 10], 0],
    [[{"type":"AvgPool2d","kernel_size":2,"padding":1,"ceil_mode":true}], [2, 7, 12], [2, 4, 7], 0],
    [[{"type":"MaxPool1d","kernel_size":1,"stride":1},{"type":"Flatten"},{"type":"Linear","out_features":1}], [3, 11], [1], 34],
    [[{"type":"MaxPool1d","kernel_size":1,"padding":0}], [4, 4], [4, 4], 0],
    [[{"type":"MaxPool1d","kernel_size":1,"padding":0,"ceil_mode":true}], [1, 2], [1, 2], 0],
    [[{"type":"AvgPool1d","kernel_size":5,"padding":1,"ceil_mode":true},{"type":"Flatten"},{"type":"Linear","out_features":2}], [3, 9], [2], 14],
    [[{"type":"Conv2d","out_channels":3,"kernel_size":5,"groups":1,"padding":"same"},{"type":"Flatten"},{"type":"Linear","out_features":4}], [2, 1, 8], [4], 253],
    [[{"type":"MaxPool2d","kernel_size":1,"stride":1,"dilation":3,"ceil_mode":true}], [2, 8, 9], [2, 8, 9], 0],
    [[{"type":"AvgPool1d","kernel_size":4,"ceil_mode":true},{"type":"Flatten"},{"type":"Linear","out_features":3}], [2, 7], [3], 15],
    [[{"type":"MaxPool1d","kernel_size":5,"stride":1}], [4, 12], [4, 8], 0],
    [[{"type":"Conv2d","out_channels":1,"kernel_size":[2,1],"groups":1,"stride":2,"dilation":1}], [1, 10, 2], [1, 5, 1], 3],
    [[{"type":"Conv2d","out_channels":1,"kernel_size":[3,2],"groups":1,"dilation":2,"padding":"same","bias":false}], [2, 4, 12], [1, 4, 12], 12],
    [[{"type":"Conv1d","out_channels":2,"kernel_size":[4],"groups":2,"stride":2,"dilation":3,"padding":3}], [2, 11], [2, 4], 10],
    [[{"type":"AvgPool2d","kernel_size":3,"padding":0}], [4, 9, 9], [4, 3, 3], 0],
    [[{"type":"AvgPool2d","kernel_size":5,"padding":2,"ceil_mode":true},{"type":"Flatten"},{"type":"Linear","out_features":1}], [2, 11, 1], [1], 7],
    [[{"type":"MaxPool1d","kernel_size":4,"ceil_mode":true}], [1, 6], [1, 2], 0],
    [[{"type":"Conv1d","out_channels":1,"kernel_size":[1],"groups":1,"dilation":2,"padding":3},{"type":"Flatten"},{"type":"Linear","out_features":4}], [2, 4], [4], 47],
  ];
  it.each(OK)('%j on rows %j', (layers, row, output, parameters) => {
    const all = [{ type: 'Unflatten', dim: 1, unflattened_size: row }, ...layers];
    const report = inferShapes(L(all), [row.reduce((a, b) => a * b, 1)]);
    expect(report.outputShape).toEqual(output);
    expect(report.parameters).toBe(parameters);
  });

  // Stacks PyTorch refuses to run (a RuntimeError or ValueError): so must we.
  const REJECTED: [unknown[], number[]][] = [
    [[{"type":"Conv2d","out_channels":2,"kernel_size":[3,4],"groups":1,"dilation":2},{"type":"Flatten"},{"type":"Linear","out_features":2}], [3, 2, 1]],
    [[{"type":"BatchNorm1d","affine":false},{"type":"Flatten"},{"type":"Linear","out_features":4}], [4, 11, 12]],
    [[{"type":"BatchNorm1d"},{"type":"Flatten"},{"type":"Linear","out_features":2}], [3, 7, 5]],
    [[{"type":"MaxPool1d","kernel_size":5,"dilation":3}], [4, 7]],
    [[{"type":"AvgPool2d","kernel_size":4,"stride":1,"ceil_mode":true}], [1, 1, 3]],
    [[{"type":"BatchNorm1d"},{"type":"Flatten"},{"type":"Linear","out_features":4}], [3, 5, 2]],
    [[{"type":"BatchNorm1d"}], [3, 7, 12]],
    [[{"type":"BatchNorm1d"},{"type":"Flatten"},{"type":"Linear","out_features":3}], [1, 1, 5]],
    [[{"type":"Conv2d","out_channels":2,"kernel_size":[5,1],"groups":1,"dilation":2,"padding":0,"bias":false},{"type":"Flatten"},{"type":"Linear","out_features":3}], [1, 7, 3]],
    [[{"type":"BatchNorm1d"},{"type":"Flatten"},{"type":"Linear","out_features":5}], [1, 8, 11]],
    [[{"type":"Conv1d","out_channels":6,"kernel_size":[4],"groups":2,"stride":1,"dilation":3},{"type":"Flatten"},{"type":"Linear","out_features":4}], [1, 8]],
    [[{"type":"BatchNorm1d"},{"type":"Flatten"},{"type":"Linear","out_features":1}], [1, 2, 1]],
    [[{"type":"MaxPool2d","kernel_size":4}], [2, 2, 5]],
    [[{"type":"Conv2d","out_channels":6,"kernel_size":4,"groups":2,"stride":1,"bias":false},{"type":"Flatten"},{"type":"Linear","out_features":2}], [3, 8, 10]],
    [[{"type":"Conv2d","out_channels":1,"kernel_size":[2,2],"groups":1,"dilation":1,"bias":false},{"type":"Flatten"},{"type":"Linear","out_features":4}], [3, 8, 1]],
  ];
  it.each(REJECTED)('rejects %j on rows %j', (layers, row) => {
    const all = [{ type: 'Unflatten', dim: 1, unflattened_size: row }, ...layers];
    expect(() => inferShapes(L(all), [row.reduce((a, b) => a * b, 1)])).toThrow(TrainyardError);
  });
});

describe('size and activation budgets', () => {
  it('refuses sizes past MAX_SIZE and more than MAX_LAYERS layers before any shape is computed', () => {
    for (const layer of [
      { type: 'AdaptiveAvgPool1d', output_size: 1e10 },
      { type: 'Conv1d', out_channels: 1, kernel_size: 3, padding: 1e10 },
      { type: 'Linear', out_features: 2 ** 21 },
      { type: 'Unflatten', dim: 1, unflattened_size: [1, 1e10] },
    ]) {
      expect(thrown(() => L([layer])).errors[0].field, JSON.stringify(layer)).toMatch(/^layers\[0\]/);
    }
    expect(thrown(() => L(Array.from({ length: 1001 }, () => ({ type: 'ReLU' })))).errors[0].field).toBe('layers');
    expect(L(Array.from({ length: 1000 }, () => ({ type: 'ReLU' })))).toHaveLength(1000);
  });

  it('sums the elements each layer outputs per row, times the batch size, against the activation budget, naming the layer', () => {
    const layers = L([{ type: 'Unflatten', dim: 1, unflattened_size: [1, 8] }, { type: 'Conv1d', out_channels: 4, kernel_size: 3, padding: 1_000_000 }, { type: 'Flatten' }, { type: 'Linear', out_features: 1 }]);
    // [8] in; [1, 8]; [4, 2_000_006]; [8_000_024]; [1] — the Conv1d alone is 8 million per row.
    expect(() => inferShapes(layers, [8], { maxActivationElements: 20_000_000 })).not.toThrow();
    const error = thrown(() => inferShapes(layers, [8], { maxActivationElements: 20_000_000, batchSize: 64 }));
    expect(error.code).toBe('ACTIVATIONS_TOO_LARGE');
    expect(error.errors[0].field).toBe('layers[1]');
    expect(error.message).toContain('batch_size');
    expect(thrown(() => checkStructure(layers, { maxActivationElements: 1_000_000 })).code).toBe('ACTIVATIONS_TOO_LARGE');
  });
});
