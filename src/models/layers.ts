// The layers a model definition may use: torch.nn class names with PyTorch's constructor argument
// names, types and defaults. One TypeBox schema per layer (the OpenAPI document shows the union),
// and `validateLayers`, which checks a list against those same schemas with one precise message per
// problem (ajv's messages for a 25-way union name none of the things a user needs to fix).
import { Type, type Static, type TSchema } from 'typebox';
import { TrainyardError, type FieldError } from '../errors.ts';

// ---------------------------------------------------------------------------------------------
// Argument building blocks

const posInt = (description: string, options: object = {}) => Type.Integer({ minimum: 1, description, ...options });
const bool = (description: string, defaultValue: boolean) => Type.Boolean({ description, default: defaultValue });

/** An int, or a tuple of `n` ints (PyTorch's `_size_1_t` / `_size_2_t`). */
const size1 = (min: 0 | 1, description: string, options: object = {}) =>
  Type.Union([Type.Integer({ minimum: min }), Type.Tuple([Type.Integer({ minimum: min })])], { description, ...options });
const size2 = (min: 0 | 1, description: string, options: object = {}) =>
  Type.Union([Type.Integer({ minimum: min }), Type.Tuple([Type.Integer({ minimum: min }), Type.Integer({ minimum: min })])], {
    description,
    ...options,
  });

const convPadding1 = Type.Union(
  [Type.Integer({ minimum: 0 }), Type.Tuple([Type.Integer({ minimum: 0 })]), Type.Literal('same'), Type.Literal('valid')],
  { description: "Zero padding on both sides, or 'same' (output as long as the input; stride must be 1) or 'valid' (no padding).", default: 0 },
);
const convPadding2 = Type.Union(
  [
    Type.Integer({ minimum: 0 }),
    Type.Tuple([Type.Integer({ minimum: 0 }), Type.Integer({ minimum: 0 })]),
    Type.Literal('same'),
    Type.Literal('valid'),
  ],
  { description: "Zero padding on each side of height and width, or 'same' (stride must be 1) or 'valid' (no padding).", default: 0 },
);

/** Accepted because PyTorch code has it; the trainer always builds the layer out of place. */
const inplace = Type.Optional(bool('Accepted for compatibility; the platform always runs it out of place.', false));

/** PyTorch's defaults of each layer's omitted arguments (filled in by shape inference). */
const DEFAULTS: Record<string, Record<string, unknown>> = {};

/**
 * One layer's schema. Defaults are written into each argument's description, not as `default`
 * keywords: ajv in strict mode (Fastify's) refuses `default` inside a union, and the layers are one.
 */
function layer<T extends string, P extends Record<string, TSchema>>(type: T, properties: P, description: string) {
  const defaults: Record<string, unknown> = {};
  const props: Record<string, TSchema> = { ...properties };
  for (const [key, original] of Object.entries(props)) {
    if (!('default' in original)) continue;
    // A copy, as schemas are shared; with TypeBox's hidden markers ('~optional', '~kind').
    const schema = Object.defineProperties({}, Object.getOwnPropertyDescriptors(original)) as TSchema & { default?: unknown; description?: string };
    const value = schema.default;
    delete schema.default;
    defaults[key] = value;
    schema.description = `${schema.description ?? ''} Default: ${JSON.stringify(value)}.`.trim();
    props[key] = schema;
  }
  DEFAULTS[type] = defaults;
  return Type.Object({ type: Type.Literal(type), ...(props as P) }, { additionalProperties: false, title: type, description });
}

// ---------------------------------------------------------------------------------------------
// The layers

export const LinearSchema = layer(
  'Linear',
  {
    in_features: Type.Optional(posInt('Size of each input row (the last dimension); inferred when omitted.')),
    out_features: posInt('Size of each output row.'),
    bias: Type.Optional(bool('Learn an additive bias.', true)),
  },
  'y = xAᵀ + b on the last dimension.',
);

export const ReLUSchema = layer('ReLU', { inplace }, 'max(0, x).');
export const LeakyReLUSchema = layer(
  'LeakyReLU',
  { negative_slope: Type.Optional(Type.Number({ default: 0.01, description: 'Slope for negative inputs.' })), inplace },
  'max(0, x) + negative_slope · min(0, x).',
);
export const ELUSchema = layer('ELU', { alpha: Type.Optional(Type.Number({ default: 1, description: 'α of the ELU formulation.' })), inplace }, 'Exponential linear unit.');
export const GELUSchema = layer(
  'GELU',
  {
    approximate: Type.Optional(
      Type.Union([Type.Literal('none'), Type.Literal('tanh')], { default: 'none', description: "'tanh' uses the tanh approximation." }),
    ),
  },
  'Gaussian error linear unit.',
);
export const SiLUSchema = layer('SiLU', { inplace }, 'x · sigmoid(x) (swish).');
export const TanhSchema = layer('Tanh', {}, 'tanh(x).');
export const SigmoidSchema = layer('Sigmoid', {}, '1 / (1 + exp(-x)). Not as the last layer of a classifier: the platform applies it.');
export const SoftplusSchema = layer(
  'Softplus',
  {
    beta: Type.Optional(Type.Number({ exclusiveMinimum: 0, default: 1, description: 'β of 1/β · log(1 + exp(β·x)).' })),
    threshold: Type.Optional(Type.Number({ default: 20, description: 'Above β·x > threshold the layer is linear.' })),
  },
  'Smooth approximation of ReLU.',
);
export const DropoutSchema = layer(
  'Dropout',
  {
    p: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'Probability of zeroing an element while training.' })),
    inplace,
  },
  'Randomly zeroes elements while training.',
);
export const BatchNorm1dSchema = layer(
  'BatchNorm1d',
  {
    num_features: Type.Optional(posInt('C of a [C] or [C, L] input row; inferred when omitted.')),
    eps: Type.Optional(Type.Number({ exclusiveMinimum: 0, default: 1e-5, description: 'Added to the variance for numerical stability.' })),
    momentum: Type.Optional(
      Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()], {
        default: 0.1,
        description: 'Weight of the running mean and variance update; null for a cumulative average.',
      }),
    ),
    affine: Type.Optional(bool('Learn a per-channel scale and shift (2·C parameters).', true)),
    track_running_stats: Type.Optional(bool('Keep running mean and variance (buffers, not parameters) for evaluation.', true)),
  },
  'Batch normalisation over [C] or [C, L] rows.',
);
export const LayerNormSchema = layer(
  'LayerNorm',
  {
    normalized_shape: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1 }), Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1 })], {
        description: 'The trailing dimensions to normalise over; when omitted, the last dimension.',
      }),
    ),
    eps: Type.Optional(Type.Number({ exclusiveMinimum: 0, default: 1e-5, description: 'Added to the variance for numerical stability.' })),
    elementwise_affine: Type.Optional(bool('Learn a scale and shift per normalised element.', true)),
  },
  'Layer normalisation over the trailing dimensions.',
);
export const IdentitySchema = layer('Identity', {}, 'Passes its input through.');
export const FlattenSchema = layer(
  'Flatten',
  {
    start_dim: Type.Optional(Type.Integer({ default: 1, description: 'First dimension to flatten (0 is the batch).' })),
    end_dim: Type.Optional(Type.Integer({ default: -1, description: 'Last dimension to flatten.' })),
  },
  'Flattens a range of dimensions into one.',
);
export const UnflattenSchema = layer(
  'Unflatten',
  {
    dim: Type.Integer({ description: 'Dimension to unflatten (0 is the batch, so 1 is the first dimension of a row).' }),
    unflattened_size: Type.Array(Type.Integer(), {
      minItems: 1,
      description: 'The new shape of that dimension, e.g. [1, 8, 8]; one entry may be -1 (inferred).',
    }),
  },
  'Expands one dimension into several, e.g. 64 pixel columns into a [1, 8, 8] image.',
);

const convProperties = <K extends TSchema, P extends TSchema>(kernel: K, stride: K, padding: P, dilation: K) => ({
  in_channels: Type.Optional(posInt('Channels of the input (C of [C, …]); inferred when omitted.')),
  out_channels: posInt('Channels produced.'),
  kernel_size: kernel,
  stride: Type.Optional(stride),
  padding: Type.Optional(padding),
  dilation: Type.Optional(dilation),
  groups: Type.Optional(posInt('Blocked connections from input to output channels; must divide both.', { default: 1 })),
  bias: Type.Optional(bool('Learn an additive bias per output channel.', true)),
  padding_mode: Type.Optional(
    Type.Union([Type.Literal('zeros'), Type.Literal('reflect'), Type.Literal('replicate'), Type.Literal('circular')], {
      default: 'zeros',
      description: 'How the padding is filled.',
    }),
  ),
});

export const Conv1dSchema = layer(
  'Conv1d',
  convProperties(
    size1(1, 'Length of the kernel.'),
    size1(1, 'Stride of the convolution.', { default: 1 }),
    convPadding1,
    size1(1, 'Spacing between kernel elements.', { default: 1 }),
  ),
  '1-D convolution over [C, L] rows.',
);
export const Conv2dSchema = layer(
  'Conv2d',
  convProperties(
    size2(1, 'Height and width of the kernel.'),
    size2(1, 'Stride of the convolution.', { default: 1 }),
    convPadding2,
    size2(1, 'Spacing between kernel elements.', { default: 1 }),
  ),
  '2-D convolution over [C, H, W] rows.',
);

const STRIDE_DOC = 'Stride of the window; defaults to kernel_size.';
const PAD_DOC = 'Implicit padding on both sides; at most half the kernel size.';

export const MaxPool1dSchema = layer(
  'MaxPool1d',
  {
    kernel_size: size1(1, 'Size of the window.'),
    stride: Type.Optional(Type.Union([size1(1, STRIDE_DOC), Type.Null()], { description: STRIDE_DOC })),
    padding: Type.Optional(size1(0, PAD_DOC + ' Pads with -∞.', { default: 0 })),
    dilation: Type.Optional(size1(1, 'Spacing between window elements.', { default: 1 })),
    ceil_mode: Type.Optional(bool('Use ceil instead of floor for the output length.', false)),
  },
  'Max pooling over [C, L] rows.',
);
export const MaxPool2dSchema = layer(
  'MaxPool2d',
  {
    kernel_size: size2(1, 'Size of the window.'),
    stride: Type.Optional(Type.Union([size2(1, STRIDE_DOC), Type.Null()], { description: STRIDE_DOC })),
    padding: Type.Optional(size2(0, PAD_DOC + ' Pads with -∞.', { default: 0 })),
    dilation: Type.Optional(size2(1, 'Spacing between window elements.', { default: 1 })),
    ceil_mode: Type.Optional(bool('Use ceil instead of floor for the output size.', false)),
  },
  'Max pooling over [C, H, W] rows.',
);
export const AvgPool1dSchema = layer(
  'AvgPool1d',
  {
    kernel_size: size1(1, 'Size of the window.'),
    stride: Type.Optional(Type.Union([size1(1, STRIDE_DOC), Type.Null()], { description: STRIDE_DOC })),
    padding: Type.Optional(size1(0, PAD_DOC + ' Pads with zeros.', { default: 0 })),
    ceil_mode: Type.Optional(bool('Use ceil instead of floor for the output length.', false)),
    count_include_pad: Type.Optional(bool('Include the zero padding in the averaging.', true)),
  },
  'Average pooling over [C, L] rows.',
);
export const AvgPool2dSchema = layer(
  'AvgPool2d',
  {
    kernel_size: size2(1, 'Size of the window.'),
    stride: Type.Optional(Type.Union([size2(1, STRIDE_DOC), Type.Null()], { description: STRIDE_DOC })),
    padding: Type.Optional(size2(0, PAD_DOC + ' Pads with zeros.', { default: 0 })),
    ceil_mode: Type.Optional(bool('Use ceil instead of floor for the output size.', false)),
    count_include_pad: Type.Optional(bool('Include the zero padding in the averaging.', true)),
    divisor_override: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], { default: null, description: 'Divide by this instead of the window size.' }),
    ),
  },
  'Average pooling over [C, H, W] rows.',
);
export const AdaptiveAvgPool1dSchema = layer(
  'AdaptiveAvgPool1d',
  { output_size: posInt('Length of the output.') },
  'Average pooling to a fixed output length, whatever the input length.',
);
export const AdaptiveAvgPool2dSchema = layer(
  'AdaptiveAvgPool2d',
  {
    output_size: Type.Union(
      [
        Type.Integer({ minimum: 1 }),
        Type.Tuple([Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]), Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])]),
      ],
      { description: 'Output height and width (one int for a square); null keeps that input size.' },
    ),
  },
  'Average pooling to a fixed output size, whatever the input size.',
);

/** Every layer schema by its torch.nn class name. */
export const LAYER_SCHEMAS = {
  Linear: LinearSchema,
  ReLU: ReLUSchema,
  LeakyReLU: LeakyReLUSchema,
  ELU: ELUSchema,
  GELU: GELUSchema,
  SiLU: SiLUSchema,
  Tanh: TanhSchema,
  Sigmoid: SigmoidSchema,
  Softplus: SoftplusSchema,
  Dropout: DropoutSchema,
  BatchNorm1d: BatchNorm1dSchema,
  LayerNorm: LayerNormSchema,
  Identity: IdentitySchema,
  Flatten: FlattenSchema,
  Unflatten: UnflattenSchema,
  Conv1d: Conv1dSchema,
  Conv2d: Conv2dSchema,
  MaxPool1d: MaxPool1dSchema,
  MaxPool2d: MaxPool2dSchema,
  AvgPool1d: AvgPool1dSchema,
  AvgPool2d: AvgPool2dSchema,
  AdaptiveAvgPool1d: AdaptiveAvgPool1dSchema,
  AdaptiveAvgPool2d: AdaptiveAvgPool2dSchema,
} as const;

export type LayerType = keyof typeof LAYER_SCHEMAS;
export const LAYER_TYPES = Object.freeze(Object.keys(LAYER_SCHEMAS)) as readonly LayerType[];

export const LayerSchema = Type.Union(Object.values(LAYER_SCHEMAS) as unknown as [
  typeof LinearSchema, typeof ReLUSchema, typeof LeakyReLUSchema, typeof ELUSchema, typeof GELUSchema, typeof SiLUSchema,
  typeof TanhSchema, typeof SigmoidSchema, typeof SoftplusSchema, typeof DropoutSchema, typeof BatchNorm1dSchema,
  typeof LayerNormSchema, typeof IdentitySchema, typeof FlattenSchema, typeof UnflattenSchema, typeof Conv1dSchema,
  typeof Conv2dSchema, typeof MaxPool1dSchema, typeof MaxPool2dSchema, typeof AvgPool1dSchema, typeof AvgPool2dSchema,
  typeof AdaptiveAvgPool1dSchema, typeof AdaptiveAvgPool2dSchema,
], { description: 'A torch.nn layer: `type` is the class name, the other properties its constructor arguments.' });

export const LayersSchema = Type.Array(LayerSchema, {
  minItems: 1,
  description: 'The network, as torch.nn.Sequential of these layers. in_features / in_channels / num_features may be omitted: they are inferred.',
});

export type LayerSpec = Static<typeof LayerSchema>;

export type DeepReadonly<T> = T extends readonly unknown[]
  ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** A layer as stored in a frozen spec. Every function here accepts it. */
export type ReadonlyLayerSpec = DeepReadonly<LayerSpec>;
export type LayerOf<T extends LayerType> = Extract<LayerSpec, { type: T }>;

// ---------------------------------------------------------------------------------------------
// Validation with precise messages

interface JsonSchema {
  type?: string;
  const?: unknown;
  anyOf?: JsonSchema[];
  items?: JsonSchema | JsonSchema[];
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  default?: unknown;
}

function bounds(s: JsonSchema): string {
  const parts: string[] = [];
  if (s.minimum !== undefined) parts.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) parts.push(`≤ ${s.maximum}`);
  if (s.exclusiveMaximum !== undefined) parts.push(`< ${s.exclusiveMaximum}`);
  return parts.length ? ' ' + parts.join(' and ') : '';
}

const flat = (s: JsonSchema): JsonSchema[] => (s.anyOf ? s.anyOf.flatMap(flat) : [s]);

/** "an integer ≥ 1", "a list of 2 integers ≥ 1", "'none' or 'tanh'" … (form: with article, bare singular, plural). */
export function describeSchema(s: JsonSchema, form: 'a' | 'one' | 'many' = 'a'): string {
  if (s.anyOf) {
    const parts = flat(s).map((x) => describeSchema(x, form));
    return parts.length <= 2 ? parts.join(' or ') : `${parts.slice(0, -1).join(', ')} or ${parts[parts.length - 1]}`;
  }
  if (s.const !== undefined) return JSON.stringify(s.const).replaceAll('"', "'");
  const noun = (one: string, many: string, article = 'a') => (form === 'many' ? many : form === 'one' ? one : `${article} ${one}`);
  switch (s.type) {
    case 'integer':
      return noun('integer', 'integers', 'an') + bounds(s);
    case 'number':
      return noun('number', 'numbers') + bounds(s);
    case 'boolean':
      return form === 'a' ? 'a boolean (true or false)' : noun('boolean', 'booleans');
    case 'string':
      return noun('string', 'strings');
    case 'null':
      return 'null';
    case 'array': {
      if (Array.isArray(s.items)) {
        const items = s.items;
        const same = items.every((x) => JSON.stringify(x) === JSON.stringify(items[0]));
        if (same) return `a list of ${items.length} ${describeSchema(items[0], items.length > 1 ? 'many' : 'one')}`;
        return `a list [${items.map((x) => describeSchema(x)).join(', ')}]`;
      }
      const of = s.items ? describeSchema(s.items, 'many') : 'values';
      return s.minItems ? `a non-empty list of ${of}` : `a list of ${of}`;
    }
  }
  return 'a valid value';
}

function matches(s: JsonSchema, v: unknown): boolean {
  if (s.anyOf) return s.anyOf.some((x) => matches(x, v));
  if (s.const !== undefined && v !== s.const) return false;
  switch (s.type) {
    case 'integer':
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) return false;
      if (s.type === 'integer' && !Number.isSafeInteger(v)) return false;
      if (s.minimum !== undefined && v < s.minimum) return false;
      if (s.maximum !== undefined && v > s.maximum) return false;
      if (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) return false;
      if (s.exclusiveMaximum !== undefined && v >= s.exclusiveMaximum) return false;
      return true;
    case 'boolean':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string';
    case 'null':
      return v === null;
    case 'array': {
      if (!Array.isArray(v)) return false;
      if (Array.isArray(s.items)) return v.length === s.items.length && s.items.every((x, i) => matches(x, v[i]));
      if (s.minItems !== undefined && v.length < s.minItems) return false;
      if (s.maxItems !== undefined && v.length > s.maxItems) return false;
      return s.items === undefined || v.every((x) => matches(s.items as JsonSchema, x));
    }
  }
  return true;
}

const shown = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 40 ? text.slice(0, 37) + '...' : text;
};

/** A layer type with the same spelling but another case, for "did you mean". */
function suggestType(name: string): LayerType | undefined {
  const lower = name.toLowerCase().replace(/^(torch\.)?nn\./, '');
  return LAYER_TYPES.find((t) => t.toLowerCase() === lower);
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks that go beyond the types but need no shapes (PyTorch raises them in the constructor). */
function argumentRules(layer: LayerSpec, at: string, errors: FieldError[]): void {
  const asList = (v: number | readonly number[]): readonly number[] => (typeof v === 'number' ? [v] : v);
  switch (layer.type) {
    case 'Unflatten': {
      const sizes = layer.unflattened_size;
      if (sizes.filter((n) => n === -1).length > 1) {
        errors.push({ field: `${at}.unflattened_size`, message: 'may contain -1 (inferred) only once' });
      }
      if (sizes.some((n) => n < 1 && n !== -1)) {
        errors.push({ field: `${at}.unflattened_size`, message: `must contain sizes ≥ 1 (or one -1), got ${shown(sizes)}` });
      }
      if (layer.dim === 0) errors.push({ field: `${at}.dim`, message: 'cannot be 0: dimension 0 is the batch; use 1 for the first dimension of a row' });
      break;
    }
    case 'Flatten':
      if (layer.start_dim === 0) {
        errors.push({ field: `${at}.start_dim`, message: 'cannot be 0: dimension 0 is the batch and must stay separate; use 1 (the default)' });
      }
      break;
    case 'Conv1d':
    case 'Conv2d': {
      const stride = asList(layer.stride ?? 1);
      if (layer.padding === 'same' && stride.some((s) => s !== 1)) {
        errors.push({ field: `${at}.padding`, message: "'same' padding needs stride 1 (PyTorch does not support it for strided convolutions)" });
      }
      const groups = layer.groups ?? 1;
      if (layer.out_channels % groups !== 0) {
        errors.push({ field: `${at}.groups`, message: `is ${groups}, which does not divide out_channels (${layer.out_channels})` });
      }
      if (layer.in_channels !== undefined && layer.in_channels % groups !== 0) {
        errors.push({ field: `${at}.groups`, message: `is ${groups}, which does not divide in_channels (${layer.in_channels})` });
      }
      break;
    }
    case 'MaxPool1d':
    case 'MaxPool2d':
    case 'AvgPool1d':
    case 'AvgPool2d': {
      const kernel = asList(layer.kernel_size);
      const padding = asList(layer.padding ?? 0);
      const d = layer.type.endsWith('1d') ? 1 : 2;
      for (let i = 0; i < d; i++) {
        const k = kernel[Math.min(i, kernel.length - 1)];
        const p = padding[Math.min(i, padding.length - 1)];
        if (p > Math.floor(k / 2)) {
          errors.push({ field: `${at}.padding`, message: `is ${p}, but must be at most half the kernel size (${k} / 2 = ${Math.floor(k / 2)})` });
          break;
        }
      }
      break;
    }
  }
}

/** Clones plain JSON data (the layer values are small). */
const cloneJson = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/**
 * Checks a list of layers against the layer schemas. Returns them (copied) when valid; otherwise
 * throws INVALID_MODEL_SPEC with one entry per problem, each naming the layer index and argument,
 * e.g. `{ field: 'layers[3].out_features', message: 'is required' }`.
 */
export function validateLayers(input: unknown, path = 'layers'): LayerSpec[] {
  const errors: FieldError[] = [];
  if (!Array.isArray(input)) {
    errors.push({ field: path, message: 'must be a list of layers, e.g. [{"type": "Linear", "out_features": 1}]' });
  } else if (input.length === 0) {
    errors.push({ field: path, message: 'must contain at least one layer' });
  } else {
    input.forEach((item: unknown, index) => {
      const at = `${path}[${index}]`;
      if (!isPlainObject(item)) {
        errors.push({ field: at, message: `must be an object like {"type": "Linear", "out_features": 64}, got ${shown(item)}` });
        return;
      }
      const type = item.type;
      if (type === undefined) {
        errors.push({ field: `${at}.type`, message: `is required: one of ${LAYER_TYPES.join(', ')}` });
        return;
      }
      if (typeof type !== 'string' || !Object.hasOwn(LAYER_SCHEMAS, type)) {
        const suggestion = typeof type === 'string' ? suggestType(type) : undefined;
        const hint = suggestion ? `did you mean "${suggestion}"? ` : '';
        errors.push({
          field: `${at}.type`,
          message: `${shown(type)} is not a supported layer type; ${hint}supported: ${LAYER_TYPES.join(', ')}`,
        });
        return;
      }
      const schema = LAYER_SCHEMAS[type as LayerType] as unknown as JsonSchema;
      const properties = schema.properties ?? {};
      const argumentNames = Object.keys(properties).filter((k) => k !== 'type');
      const before = errors.length;
      for (const [key, value] of Object.entries(item)) {
        if (key === 'type') continue;
        if (!Object.hasOwn(properties, key)) {
          const known = argumentNames.length ? `its arguments are ${argumentNames.join(', ')}` : 'it takes no arguments';
          errors.push({ field: `${at}.${key}`, message: `is not an argument of ${type} (${known})` });
          continue;
        }
        const argSchema = properties[key];
        if (!matches(argSchema, value)) {
          errors.push({ field: `${at}.${key}`, message: `must be ${describeSchema(argSchema)}, got ${shown(value)}` });
        }
      }
      for (const key of schema.required ?? []) {
        if (!(key in item)) errors.push({ field: `${at}.${key}`, message: `is required (${describeSchema(properties[key])})` });
      }
      if (errors.length === before) argumentRules(item as LayerSpec, at, errors);
    });
  }
  if (errors.length > 0) {
    const first = `${errors[0].field}: ${errors[0].message}`;
    const detail = errors.length === 1 ? first : `${first} (and ${errors.length - 1} more problem${errors.length > 2 ? 's' : ''})`;
    throw new TrainyardError('INVALID_MODEL_SPEC', detail, { errors });
  }
  return cloneJson(input as LayerSpec[]);
}

/** PyTorch's defaults for a layer's omitted arguments (pools' stride, which defaults to kernel_size, excepted). */
export function layerDefaults(type: LayerType): Record<string, unknown> {
  return { ...DEFAULTS[type] };
}

/** The arguments shape inference fills in when they are omitted: a resolved layer always has them. */
export const INFERRED_ARGUMENTS = ['in_features', 'num_features', 'normalized_shape', 'in_channels'] as const;

/**
 * One layer's schema as plain JSON Schema, for the generated contract files (contracts/): each
 * argument's default back as a `default` keyword (the API's copy keeps it in the description only,
 * since Fastify's strict ajv refuses `default` inside a union). `resolved` makes the inferred
 * arguments required, as in the layers a training job hands to the trainer.
 */
export function layerJsonSchema(type: LayerType, options: { resolved?: boolean } = {}): Record<string, unknown> {
  const schema = JSON.parse(JSON.stringify(LAYER_SCHEMAS[type])) as JsonSchema & { required?: string[]; description?: string };
  const properties = schema.properties ?? {};
  for (const [key, value] of Object.entries(DEFAULTS[type])) {
    const property = properties[key] as JsonSchema & { description?: string };
    property.default = value;
    property.description = property.description?.replace(/ ?Default: .*\.$/, '');
  }
  if (options.resolved) {
    const inferred = INFERRED_ARGUMENTS.filter((name) => name in properties);
    schema.required = [...new Set([...(schema.required ?? []), ...inferred])];
  }
  return schema as Record<string, unknown>;
}

/**
 * The layers a training job hands to the trainer (job.json) and records in manifest.json: shape
 * inference has filled in every inferred argument (and the defaults), so those are required here.
 */
export const ResolvedLayersSchema = Type.Array(
  Type.Unsafe<{ [K in LayerType]: Required<LayerOf<K>> }[LayerType]>({ anyOf: LAYER_TYPES.map((type) => layerJsonSchema(type, { resolved: true })) }),
  { minItems: 1, description: 'torch.nn.Sequential of these layers, every inferred argument filled in.' },
);
