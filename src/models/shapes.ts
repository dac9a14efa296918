// Shape inference for a layer list, as PyTorch computes it: each layer is checked against the
// shape the previous one outputs (per row, without the batch dimension), omitted sizes
// (in_features, in_channels, num_features, normalized_shape) are filled in, and parameters are
// counted exactly as `sum(p.numel() for p in model.parameters())` would.
//
// One engine serves two callers: `inferShapes` (at POST /v1/training-jobs, with the dataset's
// feature width) and `checkStructure` (at POST /v1/models, before any dataset: the input width is
// unknown, written `null`, and every check that does not depend on it is still made).
import { TrainyardError, type ErrorCode } from '../errors.ts';
import { layerDefaults, type LayerOf, type LayerType, type ReadonlyLayerSpec } from './layers.ts';
import type { Task } from './task.ts';

export type { Task } from './task.ts';

/** A layer with every argument explicit: defaults applied and inferred sizes filled in. */
export type ResolvedLayer = { [K in LayerType]: Required<LayerOf<K>> }[LayerType];

export interface LayerShape {
  index: number;
  type: LayerType;
  input: number[];
  output: number[];
  parameters: number;
}

export interface ShapeReport {
  layers: ResolvedLayer[];
  shapes: LayerShape[];
  outputShape: number[];
  parameters: number;
}

/** Like LayerShape, with `null` for what depends on the unknown input width. */
export interface StructureShape {
  index: number;
  type: LayerType;
  input: (number | null)[];
  output: (number | null)[];
  parameters: number | null;
}

export interface StructureReport {
  shapes: StructureShape[];
  outputShape: (number | null)[];
  /** null when some layer's count depends on the input width. */
  parameters: number | null;
  /** Parameters known without the input width: a lower bound of the total. */
  knownParameters: number;
  /** The input width the layers require (e.g. a first Linear with in_features), if they fix one. */
  inputFeatures: number | null;
}

export interface ShapeOptions {
  /** Parameter budget: more is MODEL_TOO_LARGE. */
  maxParameters?: number;
  /** The final output must be [expectedOutput] (1 for binary and regression, C for multiclass). */
  expectedOutput?: number;
  /** Names the task in messages; binary and regression imply expectedOutput 1. */
  task?: Task;
}

type Dim = number | null;

/** The name of spatial axis `i` of a 1-d ([C, L]) or 2-d ([C, H, W]) row. */
const axisName = (d: number, i: number): string => (d === 1 ? 'length' : i === 0 ? 'height' : 'width');
const fmt = (n: number): string => n.toLocaleString('en-US');
const shapeText = (shape: readonly Dim[]): string => `[${shape.map((d) => (d === null ? '?' : d)).join(', ')}]`;
const prod = (dims: readonly Dim[]): Dim => dims.reduce<Dim>((a, d) => (a === null || d === null ? null : a * d), 1);
const tuple = (v: number | readonly (number | null)[], n: number): (number | null)[] =>
  typeof v === 'number' ? Array.from({ length: n }, () => v) : [...v];

class ShapeError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
    readonly code: ErrorCode = 'INVALID_MODEL_SPEC',
  ) {
    super(reason);
  }
}

interface Context {
  at: string;
  /** "the input has" or "the previous layer (layers[1], ReLU) outputs". */
  outputs: string;
  /** "the input" or "the output of the previous layer (layers[1], ReLU)". */
  output: string;
  /** The incoming shape is still the untouched model input (so a mismatch is about the dataset). */
  fromInput: boolean;
  /** The input shape is the dataset's (inferShapes), not unknown (checkStructure). */
  datasetKnown: boolean;
  /** Records the input width a layer requires when the input width is unknown. */
  pinInput: (width: number) => void;
}

/** What a row must look like for a layer needing rank `rank`, with an actionable hint. */
function rankError(ctx: Context, type: string, want: string, got: readonly Dim[], hint: string): ShapeError {
  const actual = got.length === 1 ? `flat rows of ${got[0] ?? 'some'} features` : `${shapeText(got)} per row`;
  return new ShapeError(ctx.at, `${type} needs each row to be ${want}, but ${ctx.outputs} ${actual}${hint ? `; ${hint}` : ''}`);
}

/** A size the layer states (or omits) against the size that arrives (`actual`, described by `what`). */
function fit(ctx: Context, arg: string, given: number | undefined, actual: Dim, what: (n: number) => string): Dim {
  if (given === undefined) return actual;
  if (actual === null) {
    if (ctx.fromInput) ctx.pinInput(given);
    return given;
  }
  if (given !== actual) throw new ShapeError(`${ctx.at}.${arg}`, `is ${given} but ${ctx.outputs} ${what(actual)}`, mismatchCode(ctx));
  return given;
}

/** A size that does not fit the dataset's width is the dataset's business; between layers, the spec's. */
const mismatchCode = (ctx: Context): ErrorCode => (ctx.fromInput && ctx.datasetKnown ? 'INCOMPATIBLE_DATASET' : 'INVALID_MODEL_SPEC');

/** Output length of a convolution or pooling window along one dimension (ATen's pooling_output_shape). */
export function windowOutput(length: number, kernel: number, stride: number, padding: number, dilation: number, ceilMode: boolean): number {
  const span = length + 2 * padding - dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1 : 0);
  let out = Math.floor(span / stride) + 1;
  // In ceil mode the last window must start inside the input or the left padding.
  if (ceilMode && (out - 1) * stride >= length + padding) out -= 1;
  return out;
}

interface Step {
  resolved: Record<string, unknown>;
  output: Dim[];
  parameters: Dim;
}

function step(layer: ReadonlyLayerSpec, input: Dim[], ctx: Context): Step {
  const resolved: Record<string, unknown> = { ...layerDefaults(layer.type), ...layer };
  const same = (): Step => ({ resolved, output: input, parameters: 0 });
  switch (layer.type) {
    case 'ReLU':
    case 'LeakyReLU':
    case 'ELU':
    case 'GELU':
    case 'SiLU':
    case 'Tanh':
    case 'Sigmoid':
    case 'Softplus':
    case 'Dropout':
    case 'Identity':
      return same();

    case 'Linear': {
      const last = input[input.length - 1];
      const what = (n: number) => (input.length === 1 ? `${n} features` : `${shapeText(input)} per row, whose last dimension is ${n}`);
      const inFeatures = fit(ctx, 'in_features', layer.in_features, last, what);
      resolved.in_features = inFeatures;
      const bias = layer.bias ?? true;
      const parameters = inFeatures === null ? null : layer.out_features * inFeatures + (bias ? layer.out_features : 0);
      return { resolved, output: [...input.slice(0, -1), layer.out_features], parameters };
    }

    case 'BatchNorm1d': {
      if (input.length > 2) {
        throw rankError(ctx, 'BatchNorm1d', '[C] or [C, L]', input, 'add a Flatten before it, or use LayerNorm');
      }
      const what = (n: number) => (input.length === 1 ? `${n} features` : `${shapeText(input)} per row, which has ${n} channels`);
      const c = fit(ctx, 'num_features', layer.num_features, input[0], what);
      resolved.num_features = c;
      const affine = layer.affine ?? true;
      return { resolved, output: [c, ...input.slice(1)], parameters: !affine ? 0 : c === null ? null : 2 * c };
    }

    case 'LayerNorm': {
      let normalized: Dim[];
      if (layer.normalized_shape === undefined) {
        normalized = [input[input.length - 1]];
      } else {
        const given = tuple(layer.normalized_shape, 1);
        if (given.length > input.length) {
          throw new ShapeError(
            `${ctx.at}.normalized_shape`,
            `is ${shapeText(given)} but ${ctx.outputs} ${shapeText(input)}, which has only ${input.length} dimension${input.length > 1 ? 's' : ''}`,
          );
        }
        const trailing = input.slice(input.length - given.length);
        trailing.forEach((d, i) => {
          const g = given[i] as number;
          if (d === null) {
            if (ctx.fromInput) ctx.pinInput(g);
          } else if (d !== g) {
            throw new ShapeError(
              `${ctx.at}.normalized_shape`,
              `is ${shapeText(given)} but must match the trailing dimensions of ${ctx.output} ${shapeText(input)}`,
              mismatchCode(ctx),
            );
          }
        });
        normalized = given;
      }
      const output = [...input.slice(0, input.length - normalized.length), ...normalized];
      resolved.normalized_shape = normalized;
      const size = prod(normalized);
      const affine = layer.elementwise_affine ?? true;
      return { resolved, output, parameters: !affine ? 0 : size === null ? null : 2 * size };
    }

    case 'Flatten': {
      const rank = input.length + 1; // with the batch dimension, as PyTorch counts
      const norm = (d: number, arg: string): number => {
        const n = d < 0 ? d + rank : d;
        if (n < 0 || n >= rank) {
          throw new ShapeError(
            `${ctx.at}.${arg}`,
            `is ${d}, out of range for ${ctx.output} [N, ${shapeText(input).slice(1, -1)}] (dimensions ${-rank} to ${rank - 1})`,
          );
        }
        return n;
      };
      const start = norm(layer.start_dim ?? 1, 'start_dim');
      const end = norm(layer.end_dim ?? -1, 'end_dim');
      if (start === 0) {
        throw new ShapeError(`${ctx.at}.start_dim`, 'flattens the batch dimension (0) into the rows; start at 1');
      }
      if (start > end) {
        throw new ShapeError(`${ctx.at}.start_dim`, `(${start}) comes after end_dim (${end})`);
      }
      const output = [...input.slice(0, start - 1), prod(input.slice(start - 1, end)), ...input.slice(end)];
      return { resolved, output, parameters: 0 };
    }

    case 'Unflatten': {
      const rank = input.length + 1;
      const dim = layer.dim < 0 ? layer.dim + rank : layer.dim;
      if (dim < 0 || dim >= rank) {
        throw new ShapeError(`${ctx.at}.dim`, `is ${layer.dim}, out of range for ${ctx.output} [N, ${shapeText(input).slice(1, -1)}]`);
      }
      if (dim === 0) throw new ShapeError(`${ctx.at}.dim`, 'would unflatten the batch dimension (0); use 1 for the first dimension of a row');
      const size = input[dim - 1];
      const sizes = [...layer.unflattened_size];
      const free = sizes.indexOf(-1);
      const fixed = sizes.filter((n) => n !== -1).reduce((a, n) => a * n, 1);
      const what = input.length === 1 ? `${size} features` : `size ${size} in dimension ${dim}`;
      if (free >= 0) {
        if (size !== null) {
          if (size % fixed !== 0) {
            throw new ShapeError(
              `${ctx.at}.unflattened_size`,
              `is ${shapeText(sizes)}, but ${ctx.outputs} ${what}, which is not a multiple of ${fixed}`,
              mismatchCode(ctx),
            );
          }
          sizes[free] = size / fixed;
        }
      } else if (size === null) {
        if (ctx.fromInput) ctx.pinInput(fixed);
      } else if (size !== fixed) {
        throw new ShapeError(
          `${ctx.at}.unflattened_size`,
          `is ${shapeText(sizes)} (${fixed} values) but ${ctx.outputs} ${what}`,
          mismatchCode(ctx),
        );
      }
      const out: Dim[] = sizes.map((n) => (n === -1 ? null : n));
      return { resolved, output: [...input.slice(0, dim - 1), ...out, ...input.slice(dim)], parameters: 0 };
    }

    case 'Conv1d':
    case 'Conv2d': {
      const d = layer.type === 'Conv1d' ? 1 : 2;
      if (input.length !== d + 1) {
        const want = d === 1 ? '[C, L] (channels, length)' : '[C, H, W] (channels, height, width)';
        const hint = input.length === 1 ? `use Unflatten first, e.g. {"type": "Unflatten", "dim": 1, "unflattened_size": ${d === 1 ? '[1, -1]' : '[1, 8, 8]'}}` : '';
        throw rankError(ctx, layer.type, want, input, hint);
      }
      const c = fit(ctx, 'in_channels', layer.in_channels, input[0], (n) => `${shapeText(input)} per row, which has ${n} channels`);
      resolved.in_channels = c;
      const groups = layer.groups ?? 1;
      if (c !== null && c % groups !== 0) {
        throw new ShapeError(`${ctx.at}.groups`, `is ${groups}, which does not divide the ${c} input channels`);
      }
      const kernel = tuple(layer.kernel_size, d) as number[];
      const stride = tuple(layer.stride ?? 1, d) as number[];
      const dilation = tuple(layer.dilation ?? 1, d) as number[];
      const padding = layer.padding ?? 0;
      const spatial = input.slice(1).map((length, i) => {
        if (length === null) return null;
        if (padding === 'same') return length;
        const p = padding === 'valid' ? 0 : (tuple(padding, d)[i] as number);
        const out = windowOutput(length, kernel[i], stride[i], p, dilation[i], false);
        if (out < 1) {
          const effective = dilation[i] * (kernel[i] - 1) + 1;
          throw new ShapeError(
            `${ctx.at}.kernel_size`,
            `spans ${effective} (kernel ${kernel[i]}, dilation ${dilation[i]}) but ${ctx.outputs} ${shapeText(input)}, whose ${axisName(d, i)} is ${length}` +
              (p ? ` (${length + 2 * p} with padding)` : '') + ': no output would be left',
          );
        }
        return out;
      });
      const bias = layer.bias ?? true;
      const perFilter = c === null ? null : (c / groups) * kernel.reduce((a, k) => a * k, 1);
      const parameters = perFilter === null ? null : layer.out_channels * perFilter + (bias ? layer.out_channels : 0);
      return { resolved, output: [layer.out_channels, ...spatial], parameters };
    }

    case 'MaxPool1d':
    case 'MaxPool2d':
    case 'AvgPool1d':
    case 'AvgPool2d': {
      const d = layer.type.endsWith('1d') ? 1 : 2;
      if (input.length !== d + 1) {
        const want = d === 1 ? '[C, L] (channels, length)' : '[C, H, W] (channels, height, width)';
        const hint = input.length === 1 ? 'use Unflatten first to add a channel dimension' : '';
        throw rankError(ctx, layer.type, want, input, hint);
      }
      resolved.stride = layer.stride ?? layer.kernel_size; // PyTorch's stride=None
      const kernel = tuple(layer.kernel_size, d) as number[];
      const stride = tuple(layer.stride ?? layer.kernel_size, d) as number[];
      const padding = tuple(layer.padding ?? 0, d) as number[];
      const dilation = tuple('dilation' in layer ? (layer.dilation ?? 1) : 1, d) as number[];
      const ceil = layer.ceil_mode ?? false;
      const spatial = input.slice(1).map((length, i) => {
        if (length === null) return null;
        const out = windowOutput(length, kernel[i], stride[i], padding[i], dilation[i], ceil);
        if (out < 1) {
          throw new ShapeError(
            `${ctx.at}.kernel_size`,
            `is ${kernel[i]}${dilation[i] > 1 ? ` (dilation ${dilation[i]})` : ''} but ${ctx.outputs} ${shapeText(input)}, whose ${axisName(d, i)} is ${length}` +
              (padding[i] ? ` (${length + 2 * padding[i]} with padding)` : '') + ': no output would be left',
          );
        }
        return out;
      });
      return { resolved, output: [input[0], ...spatial], parameters: 0 };
    }

    case 'AdaptiveAvgPool1d': {
      if (input.length !== 2) throw rankError(ctx, layer.type, '[C, L] (channels, length)', input, input.length === 1 ? 'use Unflatten first' : '');
      return { resolved, output: [input[0], layer.output_size], parameters: 0 };
    }

    case 'AdaptiveAvgPool2d': {
      if (input.length !== 3) {
        throw rankError(ctx, layer.type, '[C, H, W] (channels, height, width)', input, input.length === 1 ? 'use Unflatten first' : '');
      }
      const size = tuple(layer.output_size, 2);
      return { resolved, output: [input[0], size[0] ?? input[1], size[1] ?? input[2]], parameters: 0 };
    }
  }
}

function outputRequirement(options: ShapeOptions): { expected: number; why: string } | undefined {
  const { task } = options;
  const expected = options.expectedOutput ?? (task === 'binary_classification' || task === 'regression' ? 1 : undefined);
  if (expected === undefined) return undefined;
  const why =
    task === 'binary_classification'
      ? 'a binary_classification model must output 1 (a raw score)'
      : task === 'regression'
        ? 'a regression model must output 1 (the predicted value)'
        : task === 'multiclass_classification'
          ? `a multiclass_classification model must output ${expected} (one raw score per class; the target has ${expected} classes)`
          : `the model must output ${expected}`;
  return { expected, why };
}

interface Propagated {
  resolved: Record<string, unknown>[];
  shapes: StructureShape[];
  output: Dim[];
  parameters: Dim;
  knownParameters: number;
  inputFeatures: number | null;
}

function propagate(layers: readonly ReadonlyLayerSpec[], input: Dim[], options: ShapeOptions, datasetKnown: boolean): Propagated {
  if (layers.length === 0) throw new TrainyardError('INVALID_MODEL_SPEC', 'layers: must contain at least one layer', { errors: [{ field: 'layers', message: 'must contain at least one layer' }] });
  let shape = input;
  let fromInput = true;
  let inputFeatures: number | null = null;
  const resolved: Record<string, unknown>[] = [];
  const shapes: StructureShape[] = [];
  layers.forEach((layer, index) => {
    const prev = index === 0 ? undefined : layers[index - 1];
    const ctx: Context = {
      at: `layers[${index}]`,
      outputs: prev ? `the previous layer (layers[${index - 1}], ${prev.type}) outputs` : 'the input has',
      output: prev ? `the output of the previous layer (layers[${index - 1}], ${prev.type})` : 'the input',
      fromInput,
      datasetKnown,
      pinInput: (width) => {
        if (inputFeatures === null) inputFeatures = width;
      },
    };
    let result: Step;
    try {
      result = step(layer, shape, ctx);
    } catch (error) {
      if (!(error instanceof ShapeError)) throw error;
      throw new TrainyardError(error.code, `${error.field}: ${error.reason}`, { errors: [{ field: error.field, message: error.reason }] });
    }
    // Once the input width is pinned, the untouched input is known from here on.
    if (fromInput && inputFeatures !== null) result.output = result.output.map((d) => (d === null ? inputFeatures : d));
    const preserves = result.output.length === shape.length && result.output.every((d, i) => d === shape[i] || shape[i] === null);
    fromInput = fromInput && preserves && input.length === 1 && result.output.length === 1 && layer.type !== 'Linear';
    resolved.push(result.resolved);
    shapes.push({ index, type: layer.type, input: shape, output: result.output, parameters: result.parameters });
    shape = result.output;
  });

  const known = shapes.reduce((a, s) => a + (s.parameters ?? 0), 0);
  const total = shapes.some((s) => s.parameters === null) ? null : known;
  if (options.maxParameters !== undefined && known > options.maxParameters) {
    const largest = shapes.reduce((a, s) => ((s.parameters ?? 0) > (a.parameters ?? 0) ? s : a));
    const count = total === null ? `at least ${fmt(known)}` : fmt(known);
    const message =
      `the model has ${count} parameters, more than the limit of ${fmt(options.maxParameters)}; ` +
      `the largest layer is layers[${largest.index}] (${largest.type}) with ${fmt(largest.parameters ?? 0)}`;
    throw new TrainyardError('MODEL_TOO_LARGE', message, { errors: [{ field: 'layers', message }] });
  }

  const last = layers[layers.length - 1];
  const lastField = last.type === 'Linear' ? `layers[${layers.length - 1}].out_features` : `layers[${layers.length - 1}]`;
  const requirement = outputRequirement(options);
  if (requirement) {
    const fail = (message: string, field = lastField): never => {
      throw new TrainyardError('INVALID_MODEL_SPEC', `${field}: ${message}`, { errors: [{ field, message }] });
    };
    if (shape.length !== 1) {
      fail(`the last layer outputs ${shapeText(shape)} per row, but ${requirement.why}; end with Flatten and a Linear layer`, `layers[${layers.length - 1}]`);
    } else if (shape[0] !== null && shape[0] !== requirement.expected) {
      fail(`the last layer outputs ${shape[0]} value${shape[0] === 1 ? '' : 's'} but ${requirement.why}`);
    }
  } else if (options.task === 'multiclass_classification' && shape.length === 1 && shape[0] !== null && shape[0] < 2) {
    throw new TrainyardError('INVALID_MODEL_SPEC', `${lastField}: the last layer outputs ${shape[0]} value but a multiclass_classification model must output one raw score per class (at least 2)`, {
      errors: [{ field: lastField, message: `the last layer outputs ${shape[0]} value but a multiclass_classification model must output one raw score per class (at least 2)` }],
    });
  }
  if ((options.task === 'binary_classification' || options.task === 'multiclass_classification') && last.type === 'Sigmoid') {
    const field = `layers[${layers.length - 1}]`;
    const message = `a classifier must end with raw scores: the platform applies ${options.task === 'binary_classification' ? 'the sigmoid' : 'softmax'} itself (in the loss and at prediction time), so remove this Sigmoid`;
    throw new TrainyardError('INVALID_MODEL_SPEC', `${field}: ${message}`, { errors: [{ field, message }] });
  }
  return { resolved, shapes, output: shape, parameters: total, knownParameters: known, inputFeatures };
}

/**
 * Checks the layers against a known per-row input shape (e.g. [30] for 30 feature columns after
 * preprocessing), fills in omitted sizes and counts parameters. Errors name the layer and argument:
 * INVALID_MODEL_SPEC (layers that do not fit each other, or the wrong output width),
 * INCOMPATIBLE_DATASET (a stated size that does not fit the dataset's width), MODEL_TOO_LARGE.
 */
export function inferShapes(layers: readonly ReadonlyLayerSpec[], inputShape: readonly number[], options: ShapeOptions = {}): ShapeReport {
  if (inputShape.length === 0 || inputShape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new TypeError(`inferShapes: inputShape must be a non-empty list of sizes, got ${JSON.stringify(inputShape)}`);
  }
  if (inputShape.some((d) => d === 0)) {
    throw new TrainyardError('INCOMPATIBLE_DATASET', 'the dataset has no feature columns to train on', {
      errors: [{ field: 'features', message: 'no feature columns are left to train on' }],
    });
  }
  const result = propagate(layers, [...inputShape], options, true);
  return {
    layers: result.resolved as ResolvedLayer[],
    shapes: result.shapes as LayerShape[],
    outputShape: result.output as number[],
    parameters: result.parameters as number,
  };
}

/**
 * Checks what can be checked before a dataset exists: the model input is a row of an unknown
 * number of features, [?]. Sizes that follow from the layers are checked between consecutive
 * layers, ranks are checked (Conv2d needs [C, H, W] rows, so an Unflatten first), parameters are
 * counted where they do not depend on the input width, and the budget and the output width (with
 * options.task or options.expectedOutput) are enforced.
 */
export function checkStructure(layers: readonly ReadonlyLayerSpec[], options: ShapeOptions = {}): StructureReport {
  let result = propagate(layers, [null], options, false);
  // When the layers fix the input width (a first Linear with in_features, an Unflatten to [1, 8, 8]),
  // every shape and count follows: run again with it.
  const pinned = result.inputFeatures;
  if (pinned !== null) result = { ...propagate(layers, [pinned], options, false), inputFeatures: pinned };
  return {
    shapes: result.shapes,
    outputShape: result.output,
    parameters: result.parameters,
    knownParameters: result.knownParameters,
    inputFeatures: result.inputFeatures,
  };
}
